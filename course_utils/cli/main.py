"""The ``course`` entry point: one parser with a subparser per :class:`~course_utils.cli.base.Command`."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from course_utils._layout import CONFIG_FILE, find_course_root
from course_utils.cli import bench, check, doctor, grade, lab, release, train
from course_utils.cli.base import PROG, Command, CommandFailed, UsageError

# `course --help` lists them in this order; a new subcommand is a module with a COMMAND, added here.
COMMANDS: dict[str, Command] = {
    module.COMMAND.name: module.COMMAND for module in (lab, release, check, doctor, train, bench, grade)
}


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: what is wrong and where to read more."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``course`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        With a global ``--root`` and one subparser per command in :data:`COMMANDS`.
    """
    parser = _Parser(prog=PROG, description="The generative-models course: open it, release it, check it.")
    parser.add_argument("--root", type=Path, default=None, metavar="PATH",
                        help="the course repository (default: the nearest folder above the working "
                             "directory that holds nbgrader_config.py)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for command in COMMANDS.values():
        sub = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(sub)
    return parser


def _resolve_root(given: Path | None, required: bool) -> Path | None:
    if given is not None:
        if not (given / CONFIG_FILE).is_file():
            raise UsageError(
                f"argument --root: no {CONFIG_FILE} in {given}; give the course repository's folder")
        return given.resolve()
    try:
        return find_course_root()
    except FileNotFoundError as error:
        if required:
            raise UsageError(f"{error} (or pass --root PATH)") from None
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``course`` command line.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after ``course``; ``sys.argv[1:]`` by default.

    Returns
    -------
    int
        The exit status: 0 success, 1 the work failed (e.g. a test failed, a notebook could not be
        released), 2 bad input.
    """
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args, extra = parser.parse_known_args(argv)
    except SystemExit as exit_:  # argparse already printed its one line (or --help)
        return int(exit_.code or 0)
    command = COMMANDS[args.command]
    prog = f"{PROG} {command.name}"
    try:
        if extra and not command.passthrough:
            raise UsageError(f"unrecognized arguments: {shlex.join(extra)}")
        args.extra = extra
        args.root = _resolve_root(args.root, command.needs_root)
        return command.run(args)
    except UsageError as error:
        print(f"{prog}: error: {error} (see `{prog} --help`)", file=sys.stderr)
        return 2
    except CommandFailed as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
