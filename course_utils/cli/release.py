"""``course release``: regenerate ``chapters/`` from ``solutions/`` (instructors)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils._layout import RELEASE_DIR
from course_utils.cli.base import Command, CommandFailed, UsageError, relative_path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help="assignment ids to regenerate (default: all, e.g. 01_probability_densities)")


def run(args: argparse.Namespace) -> int:
    from course_utils.instructor.release import (  # nbgrader: slow
        ReleaseError,
        discover_assignments,
        release,
        release_warnings,
    )

    root: Path = args.root
    available = discover_assignments(root)
    for assignment in args.assignments:
        if assignment not in available:
            raise UsageError(f"argument ASSIGNMENT: unknown assignment {assignment!r}; "
                             f"choose from: {', '.join(available) or '(none: solutions/ is empty)'}")
    try:
        written = release(root, args.assignments or None)
    except ReleaseError as error:
        raise CommandFailed(f"{error}; {RELEASE_DIR}/ was left unchanged") from None
    for path in written:
        print(f"wrote {relative_path(path, root)}")
    chosen = args.assignments or available
    print(f"released {len(chosen)} assignment(s) into {RELEASE_DIR}/: {', '.join(chosen)}")
    for warning in release_warnings(root, args.assignments or None):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


COMMAND = Command("release", "regenerate chapters/ from solutions/ (instructors)", configure, run)
