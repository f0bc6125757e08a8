"""``course grade``: autograde a class's submissions, each in a sandbox, into a grading workspace.

    course grade SUBMISSIONS --out OUT [--jobs N | --scheduler ADDRESS] [--unsafe] [limits]

SUBMISSIONS is a folder or a zip: nbgrader's ``<student>/<chapter>/<chapter>.ipynb``, a Canvas or
Moodle export, or flat ``<student>_<chapter>.ipynb`` files (rules: ``course_utils.instructor.submissions``).
OUT receives the gradebook, ``autograded/``, ``feedback/<student>/<chapter>/<chapter>.html``,
``grades.csv`` and ``report.html`` (``course_utils.instructor.autograde``). Running the command again on the
same OUT grades only what is missing (or was resubmitted). Without bubblewrap it refuses to run
student code unless ``--unsafe`` is given.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from course_utils.cli.args import byte_size, positive_number, whole_number
from course_utils.cli.base import Command, CommandFailed, UsageError

# course_utils.instructor.sandbox.backend.Limits's defaults, repeated so that `course --help` need not import nbformat
# (tests/test_autograde.py checks that they agree).
DEFAULT_LIMITS = {"cell_timeout": 60.0, "iopub_timeout": 60.0, "notebook_timeout": 600.0, "cpu_seconds": 600,
                  "memory_bytes": 2 * 2**30,
                  "processes": 64, "output_bytes": 2**20, "file_bytes": 64 * 2**20}


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``course grade``."""
    d = argparse.Namespace(**DEFAULT_LIMITS)
    parser.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                        help="folder or .zip of submissions (nbgrader layout, Canvas/Moodle export, flat notebooks)")
    parser.add_argument("--out", type=Path, required=True, metavar="OUT",
                        help="grading workspace, outside the repository (created, or resumed if it exists)")
    parser.add_argument("--jobs", type=whole_number(1, "2"), default=1, metavar="N",
                        help="submissions executed at once on this machine (default 1)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="run the submissions on a Dask cluster instead, e.g. tcp://10.0.0.5:8786 "
                             "(workers need this repository's environment and bubblewrap)")
    parser.add_argument("--chapter", action="append", default=None, metavar="ID", dest="chapters",
                        help="grade only this chapter (repeatable; default: every chapter in solutions/)")
    parser.add_argument("--unsafe", action="store_true",
                        help="run student code WITHOUT a sandbox when bubblewrap is unavailable (trusted code only)")
    limits = parser.add_argument_group("limits per submission")
    limits.add_argument("--cell-timeout", type=positive_number("60"), default=d.cell_timeout, metavar="S",
                        help=f"wall seconds per cell (default {d.cell_timeout:g})")
    limits.add_argument("--notebook-timeout", type=positive_number("600"), default=d.notebook_timeout,
                        metavar="S", help=f"wall seconds per notebook (default {d.notebook_timeout:g})")
    limits.add_argument("--cpu-seconds", type=whole_number(1, "600"), default=d.cpu_seconds, metavar="S",
                        help=f"CPU seconds per process (default {d.cpu_seconds})")
    limits.add_argument("--memory", type=byte_size, default=d.memory_bytes, metavar="SIZE",
                        help=f"address space per process, e.g. 1.5G (default {d.memory_bytes / 2**30:g}G)")
    limits.add_argument("--processes", type=whole_number(1, "64"), default=d.processes, metavar="N",
                        help=f"processes and threads (default {d.processes})")
    limits.add_argument("--output", type=byte_size, default=d.output_bytes, metavar="SIZE", dest="output_bytes",
                        help=f"cell output kept per notebook (default {d.output_bytes / 2**20:g}M)")
    limits.add_argument("--file-size", type=byte_size, default=d.file_bytes, metavar="SIZE", dest="file_bytes",
                        help=f"largest file written, and size of /tmp (default {d.file_bytes / 2**20:g}M)")
    parser.add_argument("--due", action="append", default=None, metavar="CHAPTER=WHEN", type=due_date,
                        help="the chapter's due date, e.g. 07_gans=2026-12-01T23:59 (UTC unless it ends in +HH:MM); "
                             "late submissions get nbgrader's late penalty (LateSubmissionPlugin in "
                             "nbgrader_config.py); repeat for more chapters")
    parser.add_argument("--full-feedback", action="store_true",
                        help="feedback as nbgrader writes it, hidden tests and tracebacks shown (default: each "
                             "hidden region is one line saying hidden tests ran; errors show their message)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def due_date(text: str) -> tuple[str, dt.datetime]:
    """``CHAPTER=WHEN`` (ISO 8601, UTC when it names no offset) as (chapter, aware datetime)."""
    chapter, sep, when = text.partition("=")
    try:
        if not (sep and chapter.strip()):
            raise ValueError
        parsed = dt.datetime.fromisoformat(when.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not CHAPTER=WHEN, e.g. 07_gans=2026-12-01T23:59 "
                                         "(UTC unless it ends in +HH:MM)") from None
    return chapter.strip(), parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _progress_bar(enabled: bool):
    def make(total: int):
        if not enabled or total == 0:
            return lambda: None
        from tqdm.auto import tqdm

        bar = tqdm(total=total, unit="notebook", desc="grading", file=sys.stderr, dynamic_ncols=True)

        def tick() -> None:
            bar.update(1)
            if bar.n >= total:
                bar.close()

        return tick

    return make


def _check_paths(args: argparse.Namespace) -> None:
    if not args.submissions.exists():
        raise UsageError(f"argument SUBMISSIONS: no such folder or zip {str(args.submissions)!r}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"argument --out: {str(args.out)!r} is a file; give a folder")
    if args.scheduler and args.jobs != 1:
        raise UsageError("argument --jobs: with --scheduler the cluster decides how many run at once; drop --jobs")


def _runner(args: argparse.Namespace):
    """The sandbox backend and its limits, said on the terminal first: what isolates the students' code."""
    from course_utils.instructor.autograde import Runner
    from course_utils.instructor.sandbox.backend import Limits, SandboxUnavailable, detect

    try:
        limits = Limits(cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                        cpu_seconds=args.cpu_seconds, memory_bytes=args.memory, processes=args.processes,
                        output_bytes=args.output_bytes, file_bytes=args.file_bytes)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        backend = detect(unsafe=args.unsafe)
    except SandboxUnavailable as error:
        raise CommandFailed(str(error)) from None
    print(f"isolation: {backend.describe()}")
    where = f"Dask cluster {args.scheduler}" if args.scheduler else f"{args.jobs} job(s) on this machine"
    print(f"limits: {limits.cell_timeout:g} s per cell, {limits.notebook_timeout:g} s per notebook, "
          f"{limits.memory_bytes / 2**30:.2g} GiB memory, {limits.processes} processes; running {where}")
    return Runner(backend, limits, jobs=args.jobs, scheduler=args.scheduler)


def run(args: argparse.Namespace) -> int:
    """Grade the class; exit 0 when every mapped submission has its row, 1 when some must be run again."""
    from course_utils.instructor.autograde import GradeError, grade_class
    from course_utils.instructor.release import display_path

    _check_paths(args)
    runner = _runner(args)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        run = grade_class(args.submissions, args.out, root=args.root, runner=runner, chapters=args.chapters,
                          progress=_progress_bar(not args.no_progress), log=print, full_feedback=args.full_feedback,
                          due_dates=dict(args.due or []))
    except GradeError as error:
        raise CommandFailed(str(error)) from None
    for item in run.unmapped:
        print(f"not graded: {display_path(item.path)}: {item.reason}")
    counts = run.status_counts()
    print("rows: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    print(f"executed {len(run.executed)} now, {len(run.skipped)} already graded; "
          f"wrote {display_path(run.csv_path)} and {display_path(run.report_path)}")
    if counts.get("sandbox-error"):
        print("some submissions hit a sandbox error (not the students' doing): run the same command again",
              file=sys.stderr)
        return 1
    return 0


COMMAND = Command("grade", "autograde submissions in a sandbox: grades.csv, feedback and a class report",
                  configure, run)
