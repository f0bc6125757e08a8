"""The ``course`` command: ``course lab``, ``course release``, ``course check``, ``course doctor``.

Each subcommand is two functions, ``_configure_<name>(parser)`` (its arguments) and
``_run_<name>(args) -> int`` (the work), registered with :func:`register`. To add one (``train``,
``bench``, ``grade``), write the two functions and append a :class:`Command` to ``COMMANDS``.

Errors are one line on stderr, never a traceback:

- bad input (an unknown subcommand, a missing file, a bad option value): exit 2, naming the
  argument and the fix, as argparse does;
- a failure of the work itself (e.g. a source notebook that cannot be released): exit 1.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from course_utils.cli_bench import configure_bench, run_bench
from course_utils.cli_grade import configure_grade, run_grade
from course_utils.cli_train import configure_train, run_train

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


COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add a subcommand to the ``course`` command line.

    Parameters
    ----------
    command : Command
        Replaces any earlier command of the same name.

    Returns
    -------
    Command
        ``command`` itself.
    """
    COMMANDS[command.name] = command
    return command


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line: what is wrong and where to read more."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# ----------------------------------------------------------------------------------------------
# argument types


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds, e.g. 120") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive, e.g. 120")
    return value


def _relative(path: Path, root: Path | None) -> str:
    """``path`` relative to ``root`` (or the working directory) when below it."""
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


# ----------------------------------------------------------------------------------------------
# course lab


def _configure_lab(parser: argparse.ArgumentParser) -> None:
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
    from course_utils.release import RELEASE_DIR

    command = [sys.executable, "-m", "jupyter", "lab", f"--ServerApp.root_dir={RELEASE_DIR}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and cloud VMs often run as root
        command.append("--allow-root")
    return [*command, *extra]


def _run_lab(args: argparse.Namespace) -> int:
    from course_utils.release import RELEASE_DIR

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


# ----------------------------------------------------------------------------------------------
# course release


def _configure_release(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("assignments", nargs="*", metavar="ASSIGNMENT",
                        help="assignment ids to regenerate (default: all, e.g. 01_probability_densities)")


def _run_release(args: argparse.Namespace) -> int:
    from course_utils.release import RELEASE_DIR, ReleaseError, discover_assignments, release

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
        print(f"wrote {_relative(path, root)}")
    chosen = args.assignments or available
    print(f"released {len(chosen)} assignment(s) into {RELEASE_DIR}/: {', '.join(chosen)}")
    return 0


# ----------------------------------------------------------------------------------------------
# course check


def _configure_check(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="+", metavar="NOTEBOOK", help="notebook(s) to validate (.ipynb)")
    parser.add_argument("--invert", action="store_true",
                        help="pass only when every graded test fails (for freshly released notebooks)")
    parser.add_argument("--timeout", type=_positive_int, default=None, metavar="SECONDS",
                        help="per-cell time limit (default: Execute.timeout in nbgrader_config.py)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print the full error of each failing cell")


def _run_check(args: argparse.Namespace) -> int:
    from course_utils.validation import validate_notebook

    paths = [Path(p) for p in args.notebooks]
    for path in paths:
        if not path.is_file():
            raise UsageError(f"argument NOTEBOOK: no such file {str(path)!r}; give the path of a .ipynb file")
        if path.suffix != ".ipynb":
            raise UsageError(
                f"argument NOTEBOOK: {str(path)!r} is not a notebook; give the path of a .ipynb file")
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


# ----------------------------------------------------------------------------------------------
# course doctor


def _configure_doctor(parser: argparse.ArgumentParser) -> None:
    parser.description = "Say what is installed and what is wrong, with a one-line fix for each problem."


def _run_doctor(args: argparse.Namespace) -> int:
    from course_utils.doctor import diagnose, format_report

    findings = diagnose(root=args.root)
    print(format_report(findings))
    return 1 if any(f.status == "problem" for f in findings) else 0


register(Command("lab", "open the course (chapters/) in JupyterLab", _configure_lab, _run_lab,
                 passthrough=True))
register(Command("release", "regenerate chapters/ from solutions/ (instructors)", _configure_release,
                 _run_release))
register(Command("check", "validate notebooks: which graded cells fail, and why", _configure_check,
                 _run_check, needs_root=False))
register(Command("doctor", "say what is installed and what is wrong, with a fix for each", _configure_doctor,
                 _run_doctor, needs_root=False))
register(Command("train", "train a GAN, WGAN, WGAN-GP or VAE; save its checkpoint, samples and metrics",
                 configure_train, run_train, needs_root=False))
register(Command("bench", "run a benchmark: mode-coverage, vae-digits or throughput; print its table",
                 configure_bench, run_bench, needs_root=False))
register(Command("grade", "autograde submissions in a sandbox: grades.csv, feedback and a class report",
                 configure_grade, run_grade))


# ----------------------------------------------------------------------------------------------
# entry point


def build_parser() -> argparse.ArgumentParser:
    """The ``course`` argument parser.

    Returns
    -------
    argparse.ArgumentParser
        With a global ``--root`` and one subparser per registered :class:`Command`.
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
    from course_utils.release import CONFIG_FILE, find_course_root

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


if __name__ == "__main__":  # pragma: no cover
    # `python -m course_utils.cli` runs this file as __main__, a second copy of the module; the
    # sub-commands raise the UsageError of the imported `course_utils.cli`, so call that copy's main
    from course_utils.cli import main as imported_main

    sys.exit(imported_main())
