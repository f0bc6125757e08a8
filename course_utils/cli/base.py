"""What every ``course`` subcommand shares: its two errors and its :class:`Command` record.

Errors are one line on stderr, never a traceback (``course_utils.cli.main`` prints them):

- :class:`UsageError`, bad input (a missing file, a bad option value): exit 2, naming the argument and
  the fix, as argparse does;
- :class:`CommandFailed`, the work itself failed (e.g. a notebook that cannot be released): exit 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROG = "course"


class UsageError(Exception):
    """Bad input from the command line: reported on one line, exit status 2."""


class CommandFailed(Exception):
    """The command could not do its work: reported on one line, exit status 1."""


@dataclass(frozen=True)
class Command:
    """One ``course`` subcommand.

    Attributes
    ----------
    name : str
        The subcommand (``course <name>``).
    help : str
        One line for ``course --help``.
    configure : callable
        Adds the subcommand's arguments to its ``argparse`` parser.
    run : callable
        Does the work; gets the parsed arguments (``args.root`` is the course root when
        ``needs_root``) and returns the exit status.
    needs_root : bool
        Whether the command must run inside the course repository.
    passthrough : bool
        Whether unknown arguments are handed on (in ``args.extra``) instead of refused.
    """

    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    needs_root: bool = True
    passthrough: bool = False


def relative_path(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` (or the working directory) when below it, for messages."""
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)
