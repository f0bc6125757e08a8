"""``course check NOTEBOOK``: validate notebooks as the grader will, and say which graded cells fail."""

from __future__ import annotations

import argparse
from pathlib import Path

from course_utils.cli.args import whole_number
from course_utils.cli.base import Command, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="notebook(s) to validate (.ipynb)")
    parser.add_argument("--invert", action="store_true",
                        help="pass only when every graded test fails (for freshly released notebooks)")
    parser.add_argument("--timeout", type=whole_number(1, "120"), default=None, metavar="SECONDS",
                        help="per-cell time limit (default: Execute.timeout in nbgrader_config.py)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the full error of each failing cell")


def _check_paths(paths: list[Path]) -> None:
    for path in paths:
        if not path.is_file():
            raise UsageError(f"argument NOTEBOOK: no such file {str(path)!r}; give the path of a .ipynb file")
        if path.suffix != ".ipynb":
            raise UsageError(
                f"argument NOTEBOOK: {str(path)!r} is not a notebook; give the path of a .ipynb file")


def run(args: argparse.Namespace) -> int:
    from course_utils.instructor.validation import validate_notebook  # nbgrader: slow to import

    paths = [Path(p) for p in args.notebooks]
    _check_paths(paths)
    status = 0
    for path in paths:
        try:
            result = validate_notebook(path, invert=args.invert, timeout=args.timeout)
        except ValueError as error:
            raise UsageError(f"argument NOTEBOOK: {error}") from None
        print(("PASS " if result.passed else "FAIL ") + result.summary)
        for failure in result.failed_cells:
            print(f"  {failure.grade_id}: {failure.message}")
            if args.verbose and failure.detail:
                print("\n".join("      " + line for line in failure.detail.rstrip().splitlines()))
        status = status or (0 if result.passed else 1)
    return status


COMMAND = Command("check", "validate notebooks: which graded cells fail, and why", configure, run, needs_root=False)
