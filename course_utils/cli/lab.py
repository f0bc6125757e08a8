"""``course lab``: open the course's ``chapters/`` in JupyterLab, set up for students.

The Lab it starts differs from a plain ``jupyter lab`` in four ways:

* nbgrader's instructor tools are off: the Formgrader, Create Assignment and Course List plugins are
  disabled through ``lab_config/labconfig/page_config.json`` (found through ``JUPYTER_CONFIG_PATH``), and
  the formgrader and course-list server extensions are not loaded. The Validate button and the Assignment
  List stay.
* the environment's ``bin`` folder comes first on ``PATH``, and Lab's terminal runs a non-login shell
  (a login shell reads ``/etc/profile``, which resets ``PATH`` on Debian), so ``course check ...`` works
  in Lab's terminal even when the environment was never activated.
* a chapter opens unmodified: :mod:`course_utils.cli.lab_contents` gives a notebook the ``language_info``
  the kernel will report, so that Lab has nothing to change when the kernel connects.
* it serves ``chapters/`` only.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from course_utils._layout import RELEASE_DIR
from course_utils.cli.base import PROG, Command, CommandFailed

# Read by JupyterLab through JUPYTER_CONFIG_PATH (see lab_environment).
LAB_CONFIG_DIR = Path(__file__).resolve().parents[1] / "lab_config"
# nbgrader 0.9's instructor plugins (its labextension @jupyter/nbgrader) that page_config.json, the one list,
# disables; kept: :validate-assignment (the Validate button), :assignment-list and :menu (whose Formgrader and
# Create Assignment entries vanish with their plugins)
PAGE_CONFIG = LAB_CONFIG_DIR / "labconfig" / "page_config.json"
DISABLED_LAB_PLUGINS = tuple(json.loads(PAGE_CONFIG.read_text(encoding="utf-8"))["disabledExtensions"])
# The server side of the Formgrader and the Course List; validate_assignment and assignment_list stay.
DISABLED_SERVER_EXTENSIONS = (
    "nbgrader.server_extensions.formgrader",
    "nbgrader.server_extensions.course_list",
)
# Named, not imported: importing it loads Jupyter Server, which every other `course` command can do without.
CONTENTS_MANAGER = "course_utils.cli.lab_contents.StudentContentsManager"


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
    command += [f"--ServerApp.jpserver_extensions={name}=False" for name in DISABLED_SERVER_EXTENSIONS]
    command.append(f"--ServerApp.contents_manager_class={CONTENTS_MANAGER}")
    # Without a shell_command, Lab's terminal starts a login shell whenever stdout is not a tty, and
    # Debian's /etc/profile then throws away the PATH that lab_environment sets.
    shell = os.environ.get("SHELL") or shutil.which("sh") or "/bin/sh"
    command.append(f"--ServerApp.terminado_settings=shell_command={shlex.quote(shell)}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and cloud VMs often run as root
        command.append("--allow-root")
    return [*command, *extra]


def lab_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment ``course lab`` starts JupyterLab in (its terminals and kernels inherit it).

    Parameters
    ----------
    base : mapping of str to str, optional
        The environment to start from; ``os.environ`` by default.

    Returns
    -------
    dict of str to str
        ``base`` with the folder of this Python (the environment's ``bin``, where ``course`` is) first on
        ``PATH``, and ``LAB_CONFIG_DIR`` first on ``JUPYTER_CONFIG_PATH``.
    """
    env = dict(os.environ if base is None else base)
    bin_dir = str(Path(sys.executable).parent)  # not resolved: a venv's python links to the base Python
    env["PATH"] = os.pathsep.join([bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir)])
    config = [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p and p != str(LAB_CONFIG_DIR)]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join([str(LAB_CONFIG_DIR), *config])
    return env


def run(args: argparse.Namespace) -> int:
    root: Path = args.root
    extra = list(args.extra)
    if "--" in extra:  # `course lab -- --no-browser`: the separator is ours, not jupyter's
        extra.remove("--")
    command = lab_command(extra)
    env = lab_environment()
    if args.dry_run:
        shown = " ".join(f"{key}={shlex.quote(env[key])}" for key in ("PATH", "JUPYTER_CONFIG_PATH"))
        print(f"cd {shlex.quote(str(root))} && {shown} {shlex.join(command)}")
        print(f"# disabled JupyterLab plugins (nbgrader's instructor tools): {', '.join(DISABLED_LAB_PLUGINS)}")
        return 0
    if not (root / RELEASE_DIR).is_dir():
        raise CommandFailed(f"{root / RELEASE_DIR} does not exist; run `{PROG} release` first")
    try:
        return subprocess.call(command, cwd=root, env=env)
    except KeyboardInterrupt:  # JupyterLab handles Ctrl-C itself; do not add a traceback
        return 130


COMMAND = Command("lab", "open the course (chapters/) in JupyterLab", configure, run, passthrough=True)
