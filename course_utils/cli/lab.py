"""``course lab``: open the course's ``chapters/`` in JupyterLab."""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from course_utils._layout import RELEASE_DIR
from course_utils.cli.base import PROG, Command, CommandFailed


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the command instead of running it")
    parser.epilog = ("Other arguments go to `jupyter lab`, e.g. `course lab --port 8890` or "
                     "`course lab -- --no-browser`.")


def lab_command(extra: Sequence[str] = ()) -> list[str]:
    """The command that ``course lab`` runs from the course root: JupyterLab serving ``chapters/``.

    Parameters
    ----------
    extra : sequence of str
        Arguments handed on to ``jupyter lab``.

    Returns
    -------
    list of str
    """
    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={RELEASE_DIR}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and cloud VMs often run as root
        command.append("--allow-root")
    return [*command, *extra]


def run(args: argparse.Namespace) -> int:
    root: Path = args.root
    extra = list(args.extra)
    if "--" in extra:  # `course lab -- --no-browser`: the separator is ours, not jupyter's
        extra.remove("--")
    command = lab_command(extra)
    if args.dry_run:
        print(f"cd {shlex.quote(str(root))} && {shlex.join(command)}")
        return 0
    if not (root / RELEASE_DIR).is_dir():
        raise CommandFailed(f"{root / RELEASE_DIR} does not exist; run `{PROG} release` first")
    try:
        return subprocess.call(command, cwd=root)
    except KeyboardInterrupt:  # JupyterLab handles Ctrl-C itself; do not add a traceback
        return 130


COMMAND = Command("lab", "open the course (chapters/) in JupyterLab", configure, run, passthrough=True)
