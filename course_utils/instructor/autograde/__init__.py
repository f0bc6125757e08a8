"""Grade a class: nbgrader's autograding, with each submission executed in a sandbox.

``course grade SUBMISSIONS --out OUT`` (see :func:`grade_class`) builds an nbgrader course directory
under ``OUT`` that an instructor can also open with nbgrader's formgrader (JupyterLab started in OUT)::

    OUT/nbgrader_config.py           db_url and folder names, for the formgrader and `nbgrader export` in OUT
    OUT/gradebook.db                 the gradebook (one SQLite file, written only by the parent)
    OUT/solutions/, OUT/chapters/    copies of the graded chapters' sources and releases
    OUT/submitted/<student>/<ch>/    copies of the submissions (the originals are only ever read)
    OUT/work/<student>/<ch>/         executed.ipynb + result.json: one finished submission each
    OUT/autograded/<student>/<ch>/   the graded notebooks, as nbgrader's autograde writes them
    OUT/feedback/<student>/<ch>/<ch>.html
    OUT/grades.csv, OUT/report.html

nbgrader's own ``autograde`` sanitises, executes and scores in one step; here its execute step is
replaced by the sandbox, and the steps run in two phases, so that the only SQLite writer is one
thread of the parent:

A. *execute* (parallel: ``jobs`` threads each driving one sandbox, or tasks on a Dask cluster).
   In the parent, each submission is read and sanitised with nbgrader's own sanitising
   preprocessors, which restore every test cell from the gradebook (:mod:`.restore`). The sandbox
   (:mod:`course_utils.instructor.sandbox`) then runs the notebook with nbclient, in a worker
   process of its own (``sandbox.worker.GuardedClient``, not nbgrader's ``Execute``), in a fresh
   temporary folder holding only the student's other files and the chapter's released files
   (:mod:`.execute`). As each one finishes, ``executed.ipynb`` and then ``result.json`` are
   written (temporary file + rename), so a run that is killed loses at most the submissions in
   flight, and a rerun executes only those without a ``result.json`` for the same submitted bytes
   (:mod:`.results`).
B. *record* (serial, fast): the preprocessors nbgrader's autograde runs after executing (among them
   ``SaveAutoGrades``) store the scores in the gradebook, nbgrader's ``GenerateFeedback`` writes
   the feedback HTML, then ``grades.csv`` and ``report.html`` are replaced atomically (:mod:`.record`).

A test cell that never ran (the kernel died before it, or the notebook ran out of time) gets an
error output saying so before scoring: nbgrader counts a graded cell without an error as passed.

The modules, each importing only those before it: :mod:`.workspace` (the folder, its lock),
:mod:`.restore` (a submission into a Job), :mod:`.execute` (Jobs through the sandbox),
:mod:`.results` (``result.json``), :mod:`.record` (phase B), and this one (the whole run).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from course_utils.instructor.autograde.execute import Runner, mark_unrun_tests
from course_utils.instructor.autograde.record import (
    CSV_KEYS,
    cell_scores,
    max_points,
    record_all,
    set_due_dates,
    student_cell_scores,
    write_csv,
)
from course_utils.instructor.autograde.restore import Job, prepare
from course_utils.instructor.autograde.results import (
    EXECUTION_STATUSES,
    MISSING,
    RETRY_STATUSES,
    UNGRADABLE_STATUSES,
    is_done,
    load_result,
    record_execution,
    record_result,
)
from course_utils.instructor.autograde.workspace import (
    FEEDBACK_DIR,
    ZIPS_DIR,
    GradeError,
    Workspace,
    locate_submissions,
    open_workspace,
    workspace_lock,
)
from course_utils.instructor.class_report import write_report
from course_utils.instructor.nbgrader_run import load_nbgrader_config
from course_utils.instructor.submissions import Collection, Submission, Unmapped, find_submissions


@dataclass
class GradeRun:
    """What :func:`grade_class` did."""

    out: Path
    collection: Collection
    executed: list[str]  # keys ("student/chapter") run in the sandbox during this call
    skipped: list[str]  # keys of this SUBMISSIONS already graded by an earlier call (same bytes): kept
    rows: list[dict]
    csv_path: Path
    report_path: Path
    regraded: list[str] = field(default_factory=list)  # keys of executed that replaced an earlier result
    earlier: list[str] = field(default_factory=list)  # keys graded by earlier runs from other SUBMISSIONS: kept

    @property
    def unmapped(self) -> list[Unmapped]:
        return self.collection.unmapped

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts


def grade_class(
    submissions: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str],
    runner: Runner,
    chapters: Sequence[str] | None = None,
    progress: Callable[[int], Callable[[], None]] | None = None,
    log: Callable[[str], None] = lambda _: None,
    full_feedback: bool = False,
    due_dates: Mapping[str, dt.datetime] | None = None,
) -> GradeRun:
    """Grade every submission under ``submissions`` into the workspace ``out`` (module docstring).

    Parameters
    ----------
    submissions : path-like
        A folder (nbgrader layout, Canvas or Moodle export, flat notebooks) or a ``.zip`` of one.
    out : path-like
        The grading workspace; created if needed, reused (only missing work is done) if it exists.
    root : path-like
        The course repository (``solutions/``, ``nbgrader_config.py``).
    runner : Runner
        The sandbox backend and limits, and where to run (``jobs`` threads, or a Dask scheduler).
    chapters : sequence of str, optional
        Grade only these chapters (default: every chapter in ``solutions/``).
    progress : callable, optional
        ``progress(total)`` returns a function called once per finished submission.
    log : callable
        Receives one-line messages for people.
    full_feedback : bool
        Keep nbgrader's feedback as it is, hidden tests and tracebacks shown; by default each hidden region is
        one line saying that hidden tests ran, and errors show their message only (:mod:`.hidden_tests`).
    due_dates : mapping of str to datetime, optional
        Chapter -> due date (aware, or naive meaning UTC), stored in the gradebook so that nbgrader's late
        penalty (``LateSubmissionPlugin`` in ``nbgrader_config.py``) applies to the submission times.

    Returns
    -------
    GradeRun
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    with workspace_lock(out):
        ws = open_workspace(root, out, chapters)
        folder = locate_submissions(Path(submissions), out)
        collection = find_submissions(folder, ws.chapters, {c: ws.grade_ids[c] for c in ws.chapters},
                                      unpack_into=out / ZIPS_DIR)
        config = load_nbgrader_config(root)
        unknown = sorted(set(due_dates or {}) - set(ws.chapters))
        if unknown:
            raise GradeError(f"due dates for chapters this workspace does not grade: {', '.join(unknown)} "
                             f"(chapters: {', '.join(ws.chapters)})")
        new_dates = set_due_dates(ws, {c: _utc_naive(d) for c, d in (due_dates or {}).items()})
        done, todo = _split_done(ws, collection, log)
        regraded = [s.key for s in todo if load_result(ws, s.student, s.chapter) is not None]
        jobs = _execute(ws, runner, _prepare(ws, todo, config), progress, log)
        rows, csv_path, report_path = _record(ws, collection, config, runner, log, full_feedback, new_dates)
    this_batch = {s.key for s in collection.submissions}
    earlier = sorted({f"{r['student_id']}/{r['assignment']}" for r in rows if r["status"] != MISSING} - this_batch)
    log(f"this run: {len(todo) - len(regraded)} added, {len(regraded)} regraded (changed files), {len(done)} "
        f"unchanged; {len(earlier)} kept from earlier runs; grades.csv and the report cover all of them")
    return GradeRun(out, collection, [j.submission.key for j in jobs], [s.key for s in done], rows, csv_path,
                    report_path, regraded, earlier)


def _utc_naive(when: dt.datetime) -> dt.datetime:
    """nbgrader's gradebook stores naive UTC datetimes."""
    return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when


def _split_done(ws: Workspace, collection: Collection,
                log: Callable[[str], None]) -> tuple[list[Submission], list[Submission]]:
    """The submissions already graded (for the bytes they hold now), and those to grade."""
    done = [s for s in collection.submissions if is_done(ws, s)]
    todo = [s for s in collection.submissions if s not in done]
    log(f"{len(collection.submissions)} submission(s) found, {len(done)} already graded, "
        f"{len(todo)} to grade; {len(collection.unmapped)} file(s) not mapped")
    return done, todo


def _prepare(ws: Workspace, todo: Sequence[Submission], config: Config) -> list[Job]:
    """The Jobs of the submissions that can run; the others' results are recorded now."""
    jobs: list[Job] = []
    for sub in todo:
        prepared = prepare(ws, sub, config)
        if isinstance(prepared, Job):
            jobs.append(prepared)
        else:
            record_result(ws, prepared)
    return jobs


def _execute(ws: Workspace, runner: Runner, jobs: list[Job], progress: Callable[[int], Callable[[], None]] | None,
             log: Callable[[str], None]) -> list[Job]:
    """Phase A: run ``jobs`` with ``runner``, recording each as it finishes; return ``jobs``."""
    tick = progress(len(jobs)) if progress else (lambda: None)
    lock = threading.Lock()

    def on_done(job: Job, nb, status, message, seconds) -> None:
        with lock:
            record_execution(ws, job, nb, status, message, seconds, runner.backend.name)

    started = time.monotonic()
    runner.run(jobs, on_done, tick)
    if jobs:
        log(f"executed {len(jobs)} notebook(s) in {time.monotonic() - started:.1f} s")
    return jobs


def _record(ws: Workspace, collection: Collection, config: Config, runner: Runner, log: Callable[[str], None],
            full_feedback: bool, regrade_chapters: Sequence[str]) -> tuple[list[dict], Path, Path]:
    """Phase B, serial in this thread: gradebook, feedback, ``grades.csv``, ``report.html``."""
    started = time.monotonic()
    with warnings.catch_warnings():
        # nbgrader's gradebook API makes SQLAlchemy warn about autoflush; what it stores is right
        warnings.filterwarnings("ignore", module="nbgrader")
        warnings.filterwarnings("ignore", message=".*not in session.*")
        rows, results = record_all(ws, collection, config, full_feedback=full_feedback,
                                   regrade_chapters=regrade_chapters)
    csv_path = ws.out / "grades.csv"
    write_csv(csv_path, rows)
    per_student = student_cell_scores(ws, results)
    feedback = {(s, c): f"{FEEDBACK_DIR}/{s}/{c}/{c}.html" for s, c in results
                if (ws.out / FEEDBACK_DIR / s / c / f"{c}.html").is_file()}  # what the report can link to
    report_path = write_report(ws.out / "report.html", rows, cell_scores(per_student),
                               max_points(ws, sorted({c for _, c in results})), results, collection.unmapped,
                               runner.backend.describe(), per_student, feedback)
    log(f"recorded grades, feedback and the report in {time.monotonic() - started:.1f} s")
    return rows, csv_path, report_path


__all__ = ["CSV_KEYS", "EXECUTION_STATUSES", "MISSING", "RETRY_STATUSES", "UNGRADABLE_STATUSES", "GradeError",
           "GradeRun", "Runner", "grade_class", "mark_unrun_tests", "open_workspace"]
