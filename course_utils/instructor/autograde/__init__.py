"""Grade a class: nbgrader's autograding, with each submission executed in a sandbox.

``course grade SUBMISSIONS --out OUT`` (see :func:`grade_class`) builds an nbgrader course directory
under ``OUT`` that an instructor can also open with nbgrader's formgrader::

    OUT/nbgrader_config.py           db_url and folder names, for `nbgrader formgrader` run in OUT
    OUT/gradebook.db                 the gradebook (one SQLite file, written only by the parent)
    OUT/solutions/, OUT/chapters/    copies of the graded chapters' sources and releases
    OUT/submitted/<student>/<ch>/    copies of the submissions (the originals are only ever read)
    OUT/work/<student>/<ch>/         executed.ipynb + result.json: one finished submission each
    OUT/autograded/<student>/<ch>/   the graded notebooks, as nbgrader's autograde writes them
    OUT/feedback/<student>/<ch>/<ch>.html
    OUT/grades.csv, OUT/report.html

Two phases, so that the only SQLite writer is one thread of the parent:

A. *execute* (parallel: ``jobs`` threads each driving one sandbox, or tasks on a Dask cluster).
   In the parent, each submission is read and sanitised with nbgrader's own preprocessors
   (``ClearOutput``, ``DeduplicateIds``, ``OverwriteKernelspec``, ``OverwriteCells`` with
   ``add_missing_cells``, ``CheckCellMetadata``), which restore every test cell from the gradebook:
   edited, replaced by ``pass``, deleted or stripped of its metadata, it runs as the instructor wrote
   it, hidden tests included. The sandbox then runs the notebook (nbgrader's ``Execute`` step) in a
   fresh temporary folder holding only the student's other files and the chapter's released files.
   As each one finishes, ``executed.ipynb`` and then ``result.json`` are written (temporary file +
   rename), so a run that is killed loses at most the submissions in flight, and a rerun executes
   only those without a ``result.json`` for the same submitted bytes.
B. *record* (serial, fast): nbgrader's ``SaveAutoGrades`` (and the rest of its autograde
   preprocessors) into the gradebook, feedback HTML with nbgrader's ``GenerateFeedback``, then
   ``grades.csv`` and ``report.html``, each replaced atomically.

A test cell that never ran (the kernel died before it, or the notebook ran out of time) gets an
error output saying so before scoring: nbgrader counts a graded cell without an error as passed.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import hashlib
import io
import json
import os
import queue
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils
from nbgrader.preprocessors import OverwriteCells

from course_utils._io import atomic_write_text
from course_utils.instructor.release import (
    IGNORE_PATTERNS,
    RELEASE_DIR,
    SOURCE_DIR,
    _fast_gradebook,
    _generate,
    captured_log,
    discover_assignments,
    last_error_line,
    load_nbgrader_config,
)
from course_utils.instructor.submissions import Collection, Submission, Unmapped, find_submissions, unpack_zip

# nbgrader's CsvExportPlugin columns, in its order; ours follow.
NBGRADER_CSV_KEYS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                     "raw_score", "late_submission_penalty", "score", "max_score")
EXTRA_CSV_KEYS = ("status", "note")
CSV_KEYS = NBGRADER_CSV_KEYS + EXTRA_CSV_KEYS

# The sandbox's outcomes (course_utils.instructor.sandbox.backend.Execution.status).
EXECUTION_STATUSES = ("ok", "cell-timeout", "notebook-timeout", "kernel-died", "sandbox-error")
# Submissions that cannot be run at all: graded 0 with the reason.
UNGRADABLE_STATUSES = ("invalid-notebook", "wrong-chapter", "not-a-notebook", "no-notebook")
MISSING = "missing"  # no submission of this student for this chapter
RETRY_STATUSES = ("sandbox-error",)  # not the student's doing: executed again on the next run

WORK_DIR, SUBMITTED_DIR, AUTOGRADED_DIR, FEEDBACK_DIR = "work", "submitted", "autograded", "feedback"
INBOX_DIR = "inbox"  # an unpacked zip of submissions
RESULT_FILE, EXECUTED_FILE = "result.json", "executed.ipynb"
WORKSPACE_FILE, LOCK_FILE = "workspace.json", ".grading.lock"
GRADEBOOK = "gradebook.db"


class GradeError(RuntimeError):
    """The class cannot be graded as asked (a busy or mismatched workspace, bad submissions path)."""


# ----------------------------------------------------------------------------------------------
# files


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes ("" when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


# ----------------------------------------------------------------------------------------------
# the workspace


@dataclass(frozen=True)
class Workspace:
    """The grading workspace ``out`` for the course at ``root`` (see the module docstring)."""

    root: Path
    out: Path
    chapters: tuple[str, ...]
    grade_ids: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.out / GRADEBOOK}"

    def work(self, student: str, chapter: str) -> Path:
        return self.out / WORK_DIR / student / chapter

    def submitted(self, student: str, chapter: str) -> Path:
        return self.out / SUBMITTED_DIR / student / chapter

    def released(self, chapter: str) -> Path:
        return self.out / RELEASE_DIR / chapter


def _source_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part in IGNORE_PATTERNS or part.endswith(".pyc") for part in path.parts):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _inside(child: Path, parent: Path) -> bool:
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


@contextlib.contextmanager
def workspace_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.grading.lock`` (flock): two runs on one workspace would corrupt the gradebook."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / LOCK_FILE, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise GradeError(f"{out} is being graded by another `course grade`; wait for it or use another --out") \
                from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def open_workspace(root: Path, out: Path, chapters: Sequence[str] | None = None) -> Workspace:
    """Create (or reopen) the grading workspace ``out`` for the chapters of the course at ``root``.

    A chapter is added to the gradebook with nbgrader's ``GenerateAssignment`` the first time;
    when its ``solutions/`` folder changed since, the workspace is refused (grades would mix two
    versions of the tests).

    Raises
    ------
    GradeError
        When ``out`` lies inside the course repository, or a chapter's source changed.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    if _inside(out, root):
        raise GradeError(f"--out {out} is inside the course repository {root}; grade outside it "
                         "(the workspace holds hidden tests and students' work), e.g. --out ../grading")
    available = discover_assignments(root)
    chosen = tuple(chapters) if chapters else tuple(available)
    unknown = [c for c in chosen if c not in available]
    if unknown:
        raise GradeError(f"unknown chapter {unknown[0]!r}; choose from: {', '.join(available)}")
    out.mkdir(parents=True, exist_ok=True)
    state_path = out / WORKSPACE_FILE
    state = json.loads(state_path.read_text(encoding="utf-8")) if state_path.is_file() else {}
    sources = state.setdefault("sources", {})
    config = load_nbgrader_config(root)
    for chapter in chosen:
        digest = _source_digest(root / SOURCE_DIR / chapter)
        if chapter in sources:
            if sources[chapter] != digest:
                raise GradeError(f"{SOURCE_DIR}/{chapter} changed since {out} was graded; grade into a new --out "
                                 "(or delete that folder) so that every submission meets the same tests")
            continue
        target = out / SOURCE_DIR / chapter
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(root / SOURCE_DIR / chapter, target,
                        ignore=shutil.ignore_patterns(*IGNORE_PATTERNS))
        _generate(chapter, out, config)  # GenerateAssignment: the gradebook learns cells, tests, points
        sources[chapter] = digest
        atomic_write_text(state_path, json.dumps(state, indent=1, sort_keys=True) + "\n")
    config_text = (
        "# Written by `course grade`: run `nbgrader formgrader` (or `nbgrader export`) in this folder.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(out)!r}\n"
        f"c.CourseDirectory.source_directory = {SOURCE_DIR!r}\n"
        f"c.CourseDirectory.release_directory = {RELEASE_DIR!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(out / GRADEBOOK)!r}\n"
    )
    if not (out / "nbgrader_config.py").is_file():
        atomic_write_text(out / "nbgrader_config.py", config_text)
    # every chapter's grade_ids, to tell a notebook submitted for the wrong chapter (graded ones: our copy)
    grade_ids = {c: frozenset(_grade_ids((out if c in sources else root) / SOURCE_DIR / c / f"{c}.ipynb"))
                 for c in available}
    return Workspace(root, out, chosen, grade_ids)


def _grade_ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.metadata.get("nbgrader"), dict) and c.metadata["nbgrader"].get("grade_id")}


# ----------------------------------------------------------------------------------------------
# phase A: prepare in the parent


@dataclass
class Job:
    """A sanitised submission ready for the sandbox."""

    submission: Submission
    notebook: nbformat.NotebookNode
    files: dict[str, bytes]  # relative path -> bytes, written into the sandbox's fresh folder
    sha256: str
    flags: list[dict]


def _copy_submission(ws: Workspace, sub: Submission) -> Path:
    """Copy the submitted files to ``OUT/submitted/<student>/<chapter>/`` (the original is only read)."""
    dest = ws.submitted(sub.student, sub.chapter)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    name = f"{sub.chapter}.ipynb" if sub.path.suffix.lower() == ".ipynb" else sub.path.name
    if sub.path.is_file():
        shutil.copyfile(sub.path, dest / name)
    for path, rel in sub.extra_files:
        target = dest / "files" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    if sub.timestamp:
        (dest / "timestamp.txt").write_text(sub.timestamp + "\n", encoding="utf-8")
    return dest / name


def _sanitize(nb: nbformat.NotebookNode, ws: Workspace, sub: Submission, config) -> nbformat.NotebookNode:
    """nbgrader's autograde sanitising step: outputs cleared, every test cell restored from the gradebook."""
    from nbgrader.preprocessors import CheckCellMetadata, ClearOutput, DeduplicateIds, OverwriteKernelspec

    resources = _resources(ws, sub)
    with captured_log("course_utils.instructor.autograde.sanitize") as (logger, _):
        for cls in (ClearOutput, DeduplicateIds, OverwriteKernelspec, RestoreCells, CheckCellMetadata):
            nb, resources = cls(config=config, log=logger)(nb, resources)  # __call__ honours `enabled`
    return nb


def _resources(ws: Workspace, sub: Submission) -> dict:
    released = nbformat.read(ws.released(sub.chapter) / f"{sub.chapter}.ipynb", as_version=4)
    cells = [(c.get("id"), c.metadata.get("nbgrader", {}).get("grade_id")) for c in released.cells]
    return {"nbgrader": {"notebook": sub.chapter, "assignment": sub.chapter, "student": sub.student,
                         "db_url": ws.db_url},
            "course_utils": {"released": cells}}


class RestoreCells(OverwriteCells):
    """nbgrader's OverwriteCells, placing a missing test cell where the released notebook had it.

    nbgrader puts a missing test cell after the cell that precedes it in the source notebook, and
    fails (``KeyError``) when that one is missing too, e.g. when a student stripped the nbgrader
    metadata of every cell. Here a missing test cell (found by grade_id) is put back:

    1. in place of the submitted cell with the released cell's id (the same cell, metadata stripped);
    2. else after the last submitted cell that came before it in the released notebook (by grade_id
       or cell id);
    3. else at the end (after the setup cells, which a test needs).

    ``resources["course_utils"]["released"]`` lists the released notebook's ``(cell id, grade_id)``.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        """nbgrader's checks, then the cell's roles (graded, answer, points) as the gradebook has them.

        nbgrader restores the source, lock and points of a known cell but keeps its ``grade`` and
        ``solution`` flags: a test cell re-flagged as an answer would go to manual grading, and one
        un-flagged as graded would never be scored.
        """
        from nbgrader.api import MissingEntry

        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id is not None:  # first: nbgrader's checksum covers these flags
            try:
                self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                pass  # unknown grade_id: nbgrader drops it
            else:
                try:
                    graded = self.gradebook.find_graded_cell(grade_id, self.notebook_id, self.assignment_id)
                except MissingEntry:
                    meta["grade"] = False
                    meta.pop("points", None)
                else:
                    meta["grade"], meta["points"] = True, float(graded.max_score)
                try:
                    self.gradebook.find_solution_cell(grade_id, self.notebook_id, self.assignment_id)
                except MissingEntry:
                    meta["solution"] = False
                else:
                    meta["solution"] = True
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        source_cells = {cell.name: cell for cell in source_nb.source_cells}
        grade_cells = {cell.name: cell for cell in source_nb.grade_cells}
        solution_ids = {cell.name for cell in source_nb.solution_cells}
        released = resources.get("course_utils", {}).get("released", [])  # [(cell id, grade_id or None)]
        order = [grade_id for _, grade_id in released if grade_id] or list(source_cells)
        for grade_id in list(order) + [g for g in grade_cells if g not in order]:
            if grade_id not in grade_cells:
                continue
            present = {c["metadata"]["nbgrader"]["grade_id"]: i for i, c in enumerate(nb.cells)
                       if (nbutils.is_grade(c) or nbutils.is_solution(c) or nbutils.is_locked(c))
                       and c["metadata"].get("nbgrader", {}).get("grade_id")}
            if grade_id in present:
                continue
            self.log.warning("Missing grade cell %s, adding it back", grade_id)
            cell = nbformat.from_dict(self.missing_cell_transform(  # nbgrader leaves nested plain dicts
                source_cells[grade_id], grade_cells[grade_id].max_score, is_solution=grade_id in solution_ids))
            by_id = {c.get("id"): i for i, c in enumerate(nb.cells)}
            cell_id = next((cid for cid, gid in released if gid == grade_id), None)
            cell["id"] = cell_id or f"restored-{grade_id}"[:64]
            if cell_id in by_id:
                nb.cells[by_id[cell_id]] = cell
                continue
            position = next((k for k, (_, gid) in enumerate(released) if gid == grade_id), None)
            before = released[:position] if position is not None else []
            earlier = [by_id[cid] for cid, _ in before if cid in by_id]
            earlier += [present[gid] for _, gid in before if gid in present]
            nb.cells.insert(max(earlier) + 1 if earlier else len(nb.cells), cell)
        return nb, resources


def prepare(ws: Workspace, sub: Submission, config) -> Job | dict:
    """Read, check and sanitise one submission: a :class:`Job` for the sandbox, or a final result dict.

    The result dict (for a submission that cannot be run) has ``status`` in ``UNGRADABLE_STATUSES``
    and a ``message`` saying why.
    """
    from course_utils.instructor.class_report import scan_flags

    copied = _copy_submission(ws, sub)
    digest = sha256_of(copied)
    base = {"student": sub.student, "chapter": sub.chapter, "source": str(sub.path), "sha256": digest,
            "layout": sub.layout, "timestamp": sub.timestamp, "mapping": sub.note}
    if not sub.path.is_file():
        return base | {"status": "no-notebook", "message": sub.note or "no notebook submitted"}
    if sub.path.suffix.lower() != ".ipynb":
        return base | {"status": "not-a-notebook",
                       "message": f"{sub.path.name} is not a notebook; submit {sub.chapter}.ipynb"}
    try:
        raw = copied.read_text(encoding="utf-8")
        nb = nbformat.reads(raw, as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no 'cells' list")
    except Exception as error:  # NotJSONError, UnicodeDecodeError, KeyError, schema problems, ...
        text = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return base | {"status": "invalid-notebook", "message": f"not a readable notebook: {text}"}
    found = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells
             if isinstance(c.get("metadata", {}).get("nbgrader"), dict)} - {None}
    own = ws.grade_ids.get(sub.chapter, frozenset())
    others = sorted(c for c, ids in ws.grade_ids.items() if c != sub.chapter and found & ids)
    if others and not found & own:
        return base | {"status": "wrong-chapter",
                       "message": f"this is the notebook of {', '.join(others)}, submitted for {sub.chapter}"}
    released = ws.released(sub.chapter) / f"{sub.chapter}.ipynb"
    flags = scan_flags(nb, released)
    try:
        nb = _sanitize(nb, ws, sub, config)
    except Exception as error:  # nbgrader refuses malformed nbgrader metadata
        return base | {"status": "invalid-notebook", "flags": flags,
                       "message": f"nbgrader could not read the cells: {type(error).__name__}: {error}"[:300]}
    files: dict[str, bytes] = {}
    for path, rel in sub.extra_files:  # the student's other files first ...
        if not rel.endswith(".ipynb"):
            files[rel] = path.read_bytes()
    released_dir = ws.released(sub.chapter)  # ... then the chapter's own files win (as in nbgrader)
    for path in sorted(released_dir.rglob("*")):
        if path.is_file() and path.suffix != ".ipynb":
            files[str(path.relative_to(released_dir))] = path.read_bytes()
    return Job(sub, nb, files, digest, flags)


# ----------------------------------------------------------------------------------------------
# phase A: execute


def write_files(workdir: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) into ``workdir``, refusing paths that leave it."""
    for rel, data in files.items():
        target = (workdir / rel).resolve()
        if not _inside(target, workdir):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def execute_in_fresh_folder(backend, notebook: nbformat.NotebookNode, files: Mapping[str, bytes], limits,
                            slot: int):
    """Run ``notebook`` with ``backend`` in a new temporary folder holding ``files``; remove the folder."""
    workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        write_files(workdir, files)
        return backend.execute(notebook, workdir=workdir, limits=limits, slot=slot)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


SLOT_LOCK_DIR = "course-grade-slots"  # under the system temp folder: one lock file per sandbox slot
MAX_SLOT = 999  # course_utils.instructor.sandbox.backend.MAX_SLOTS - 1


@contextlib.contextmanager
def claim_slot(preferred: int = 0) -> Iterator[int]:
    """Hold a sandbox slot that no other grading process on this machine holds (flock on a file per slot).

    ``preferred`` (the worker index) is taken when free, else the next free one: two ``course grade``
    runs, or several Dask worker processes, on one machine never share a slot, and so never a uid.
    """
    import fcntl

    folder = Path(tempfile.gettempdir()) / SLOT_LOCK_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    for offset in range(MAX_SLOT + 1):
        slot = (preferred + offset) % (MAX_SLOT + 1)
        fh = open(folder / f"{slot}.lock", "w")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue
        try:
            yield slot
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
            fh.close()
        return
    raise GradeError(f"all {MAX_SLOT + 1} sandbox slots of this machine are in use")


def execute_remote(notebook_json: str, files: Mapping[str, bytes], limits, backend: str) -> dict:
    """What a Dask worker runs: :func:`~course_utils.instructor.sandbox.backend.execute_notebook` in a fresh
    folder on the worker.

    The notebook and the student's files travel with the task; the slot is one that no other
    sandbox on the worker's machine holds (:func:`claim_slot`).
    """
    from course_utils.instructor.sandbox import backend as sandbox

    workdir = Path(tempfile.mkdtemp(prefix="course-grade-"))
    try:
        write_files(workdir, files)
        with claim_slot() as slot:
            return sandbox.execute_notebook(notebook_json, str(workdir), limits, backend, slot)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _from_remote(record: dict) -> tuple[nbformat.NotebookNode, str, str, float]:
    nb = record.get("notebook")
    nb = nbformat.reads(nb, as_version=4) if isinstance(nb, str) else nbformat.from_dict(nb)
    return nb, record["status"], record.get("message", ""), float(record.get("seconds", 0.0))


def _error_output(ename: str, evalue: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


def mark_unrun_tests(nb: nbformat.NotebookNode, status: str, message: str) -> list[str]:
    """Give every test cell that never ran an error output; return their grade_ids.

    nbgrader scores a graded code cell without an error output as passed, so a test cell that
    never ran (the kernel died before it, the notebook ran out of time) would earn its points. The
    sandbox already marks the cells it did not run; this is the same rule, applied to whatever
    notebook comes back (from a Dask worker, an older sandbox), so that no path skips it.
    """
    marked = []
    for i, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
            continue
        if cell.get("execution_count") is None and not any(
                o.get("output_type") == "error" for o in cell.get("outputs", [])):
            cell.setdefault("outputs", []).append(_error_output(
                "TestNotRun", f"this test did not run, so it scores 0 ({status}: {message or status})"))
            marked.append(meta.get("grade_id", f"cell {i}"))
    return marked


def record_execution(ws: Workspace, job: Job, nb: nbformat.NotebookNode, status: str, message: str,
                     seconds: float, backend_name: str) -> dict:
    """Write ``executed.ipynb`` then ``result.json`` for one finished submission (both atomically)."""
    sub = job.submission
    unrun = mark_unrun_tests(nb, status, message)
    work = ws.work(sub.student, sub.chapter)
    atomic_write_text(work / EXECUTED_FILE, nbformat.writes(nb))
    result = {"student": sub.student, "chapter": sub.chapter, "source": str(sub.path), "sha256": job.sha256,
              "layout": sub.layout, "timestamp": sub.timestamp, "mapping": sub.note, "status": status,
              "message": message, "seconds": round(seconds, 3), "backend": backend_name, "flags": job.flags,
              "not_run": unrun}
    atomic_write_text(work / RESULT_FILE, json.dumps(result, indent=1, sort_keys=True) + "\n")
    return result


def record_result(ws: Workspace, result: dict) -> dict:
    """Write the ``result.json`` of a submission that could not be run (and remove stale outputs)."""
    work = ws.work(result["student"], result["chapter"])
    with contextlib.suppress(FileNotFoundError):
        (work / EXECUTED_FILE).unlink()
    atomic_write_text(work / RESULT_FILE, json.dumps(result | {"flags": result.get("flags", [])}, indent=1,
                                                     sort_keys=True) + "\n")
    return result


def load_result(ws: Workspace, student: str, chapter: str) -> dict | None:
    """The recorded result of a submission, or None (none yet, or unreadable)."""
    path = ws.work(student, chapter) / RESULT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(ws: Workspace, sub: Submission) -> bool:
    """Whether ``sub`` has a final result for exactly the bytes it holds now."""
    result = load_result(ws, sub.student, sub.chapter)
    if result is None or result.get("status") in RETRY_STATUSES:
        return False
    if result.get("sha256") != (sha256_of(sub.path) if sub.path.is_file() else ""):
        return False
    return result.get("status") in UNGRADABLE_STATUSES or (ws.work(sub.student, sub.chapter) / EXECUTED_FILE).is_file()


# ----------------------------------------------------------------------------------------------
# running many


@dataclass
class Runner:
    """How phase A runs: ``jobs`` local threads with ``backend``, or a Dask ``scheduler``."""

    backend: object  # course_utils.instructor.sandbox.backend.Backend
    limits: object  # course_utils.instructor.sandbox.backend.Limits
    jobs: int = 1
    scheduler: str | None = None

    def run(self, jobs: Sequence[Job], on_done: Callable[[Job, nbformat.NotebookNode, str, str, float], None],
            progress: Callable[[], None] = lambda: None) -> None:
        if not jobs:
            return
        if self.scheduler:
            self._run_dask(jobs, on_done, progress)
        else:
            self._run_threads(jobs, on_done, progress)

    def _run_threads(self, jobs, on_done, progress) -> None:
        workers: queue.Queue[int] = queue.Queue()
        for index in range(self.jobs):
            workers.put(index)

        def one(job: Job):
            index = workers.get()
            started = time.monotonic()
            try:
                # slot = the worker's index (unless another grading run holds it): distinct uids at once
                with claim_slot(index) as slot:
                    execution = execute_in_fresh_folder(self.backend, copy.deepcopy(job.notebook), job.files,
                                                        self.limits, slot)
                return execution.notebook, execution.status, execution.message, execution.seconds
            except Exception as error:  # a backend failure is not the student's: retried next run
                return job.notebook, "sandbox-error", f"{type(error).__name__}: {error}", time.monotonic() - started
            finally:
                workers.put(index)

        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="course-grade")
        try:
            pending: dict[Future, Job] = {pool.submit(one, job): job for job in jobs}
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                failed = []
                for future in done:
                    job = pending.pop(future)
                    if future.exception() is not None:  # a kill: record the finished ones first
                        failed.append(future.exception())
                        continue
                    on_done(job, *future.result())  # recorded now: nothing waits for the rest of the class
                    progress()
                if failed:
                    raise failed[0]
        except BaseException:  # Ctrl-C or a kill: start nothing new (finished results are already saved)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()

    def _run_dask(self, jobs, on_done, progress) -> None:
        from distributed import Client, as_completed

        with Client(self.scheduler) as client:
            futures = {}
            for job in jobs:
                future = client.submit(execute_remote, nbformat.writes(job.notebook), job.files, self.limits,
                                       self.backend.name, pure=False, key=f"grade-{job.submission.student}-"
                                       f"{job.submission.chapter}-{job.sha256[:12]}-{time.time_ns()}")
                futures[future] = job
            for future in as_completed(futures):
                job = futures[future]
                try:
                    nb, status, message, seconds = _from_remote(future.result())
                except Exception as error:
                    nb, status, message, seconds = job.notebook, "sandbox-error", \
                        f"{type(error).__name__}: {error}", 0.0
                on_done(job, nb, status, message, seconds)
                progress()


# ----------------------------------------------------------------------------------------------
# phase B: record grades and feedback


def _parse_timestamp(sub_timestamp: str | None):
    if not sub_timestamp:
        return None
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(sub_timestamp)
    except Exception:  # an unreadable timestamp.txt: no lateness rather than no grade
        return None


def save_grades(ws: Workspace, result: dict, config) -> None:
    """nbgrader's autograde preprocessors after ``Execute``, on ``executed.ipynb``: scores into the gradebook."""
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    student, chapter = result["student"], result["chapter"]
    with Gradebook(ws.db_url) as gb:
        gb.update_or_create_student(student)
        timestamp = _parse_timestamp(result.get("timestamp"))
        if timestamp is not None:
            gb.update_or_create_submission(chapter, student, timestamp=timestamp)
        else:
            gb.update_or_create_submission(chapter, student)
    nb = nbformat.read(ws.work(student, chapter) / EXECUTED_FILE, as_version=4)
    resources = {"nbgrader": {"notebook": chapter, "assignment": chapter, "student": student,
                              "db_url": ws.db_url}}
    with captured_log("course_utils.instructor.autograde.save") as (logger, _), warnings.catch_warnings():
        # nbgrader's own session use makes SQLAlchemy warn about autoflush; the grades are saved regardless
        warnings.simplefilter("ignore", category=Warning)
        for cls in (IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, AssignLatePenalties,
                    CheckCellMetadata):
            nb, resources = cls(config=config, log=logger)(nb, resources)  # __call__ honours `enabled`
    dest = ws.out / AUTOGRADED_DIR / student / chapter
    atomic_write_text(dest / f"{chapter}.ipynb", nbformat.writes(nb))
    if result.get("timestamp"):
        atomic_write_text(dest / "timestamp.txt", result["timestamp"] + "\n")


def forget_grades(ws: Workspace, student: str, chapter: str) -> None:
    """Remove a submission from the gradebook (it became ungradable on a resubmission)."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(ws.db_url) as gb:
        with contextlib.suppress(MissingEntry):
            gb.remove_submission(chapter, student)
    for folder in (AUTOGRADED_DIR, FEEDBACK_DIR):
        shutil.rmtree(ws.out / folder / student / chapter, ignore_errors=True)


def write_feedback(ws: Workspace, student: str, chapter: str, config) -> Path:
    """nbgrader's ``GenerateFeedback`` for one graded submission: ``OUT/feedback/<student>/<chapter>/``."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    cfg = copy.deepcopy(config)
    cfg.CourseDirectory.root = str(ws.out)
    cfg.CourseDirectory.autograded_directory = AUTOGRADED_DIR
    cfg.CourseDirectory.feedback_directory = FEEDBACK_DIR
    cfg.CourseDirectory.db_url = ws.db_url
    cfg.CourseDirectory.assignment_id = chapter
    cfg.CourseDirectory.student_id = student
    cfg.CourseDirectory.notebook_id = "*"
    with captured_log("course_utils.instructor.autograde.feedback") as (logger, buffer), _fast_gradebook():
        coursedir = CourseDirectory(config=cfg, log=logger)
        converter = GenerateFeedback(coursedir=coursedir, config=cfg, log=logger)
        converter.force = True
        try:
            converter.start()
        except Exception as error:
            raise GradeError(f"feedback for {student}/{chapter}: {last_error_line(buffer.getvalue()) or error}") \
                from None
    return ws.out / FEEDBACK_DIR / student / chapter / f"{chapter}.html"


# ----------------------------------------------------------------------------------------------
# grades.csv


def _csv_value(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def grade_rows(ws: Workspace, results: Mapping[tuple[str, str], dict]) -> list[dict]:
    """One row per (student, chapter) over the students and chapters seen, in nbgrader's CSV format.

    Scores come from the gradebook for executed submissions; a submission that could not be run
    scores 0 with its status and reason; a student without a submission for a chapter that others
    submitted gets nbgrader's 0 row with status ``missing``.
    """
    from nbgrader.api import Gradebook, MissingEntry

    students = sorted({s for s, _ in results})
    chapters = sorted({c for _, c in results})
    rows = []
    with Gradebook(ws.db_url) as gb:
        for chapter in chapters:
            assignment = gb.find_assignment(chapter)
            for student in students:
                result = results.get((student, chapter))
                row = {"assignment": chapter, "duedate": assignment.duedate, "timestamp": "",
                       "student_id": student, "last_name": "", "first_name": "", "email": "",
                       "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0,
                       "max_score": assignment.max_score, "status": MISSING, "note": "no submission"}
                if result is not None:
                    row["status"], row["note"] = result["status"], _note(result)
                    row["timestamp"] = result.get("timestamp") or ""
                    if result["status"] in EXECUTION_STATUSES and result["status"] not in RETRY_STATUSES:
                        try:
                            submission = gb.find_submission(chapter, student)
                        except MissingEntry:
                            pass
                        else:
                            student_row = submission.student
                            row.update(timestamp=submission.timestamp or "", raw_score=submission.score,
                                       late_submission_penalty=submission.late_submission_penalty,
                                       score=max(0.0, submission.score - submission.late_submission_penalty),
                                       last_name=student_row.last_name, first_name=student_row.first_name,
                                       email=student_row.email)
                rows.append({key: _csv_value(row[key]) for key in CSV_KEYS})
    return rows


def _note(result: dict) -> str:
    parts = []
    if result["status"] != "ok":
        parts.append(result.get("message") or result["status"])
    if result["status"] in RETRY_STATUSES:
        parts.append("not the student's doing: run `course grade` again to grade it")
    if result.get("mapping"):
        parts.append(result["mapping"])
    if result.get("flags"):
        words = sorted({f["pattern"] for f in result["flags"]})
        parts.append(f"flagged for review (not scored): {', '.join(words)}")
    return "; ".join(p.replace("\n", " ") for p in parts)


def write_csv(path: Path, rows: Sequence[Mapping[str, str]]) -> None:
    """Write ``rows`` with nbgrader's columns first, then ours; replaces ``path`` atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(CSV_KEYS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buffer.getvalue())


def cell_scores(ws: Workspace, results: Mapping[tuple[str, str], dict]) -> dict[str, dict[str, list[float]]]:
    """chapter -> grade_id -> the scores of every graded submission (ungradable ones score 0)."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[str, dict[str, list[float]]] = {}
    with Gradebook(ws.db_url) as gb:
        for (student, chapter), result in sorted(results.items()):
            assignment = gb.find_assignment(chapter)
            per_cell = out.setdefault(chapter, {})
            for notebook in assignment.notebooks:
                for grade_cell in notebook.grade_cells:
                    score = 0.0
                    if result["status"] in EXECUTION_STATUSES and result["status"] not in RETRY_STATUSES:
                        with contextlib.suppress(MissingEntry):
                            grade = gb.find_grade(grade_cell.name, notebook.name, chapter, student)
                            score = float(grade.score or 0.0)
                    per_cell.setdefault(grade_cell.name, []).append(score)
    return out


def max_points(ws: Workspace, chapters: Iterable[str]) -> dict[str, dict[str, float]]:
    """chapter -> grade_id -> the points of that test cell."""
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(ws.db_url) as gb:
        for chapter in chapters:
            out[chapter] = {cell.name: float(cell.max_score) for nb in gb.find_assignment(chapter).notebooks
                            for cell in nb.grade_cells}
    return out


# ----------------------------------------------------------------------------------------------
# the whole run


@dataclass
class GradeRun:
    """What :func:`grade_class` did."""

    out: Path
    collection: Collection
    executed: list[str]  # keys ("student/chapter") run in the sandbox during this call
    skipped: list[str]  # keys already graded by an earlier call
    rows: list[dict]
    csv_path: Path
    report_path: Path

    @property
    def unmapped(self) -> list[Unmapped]:
        return self.collection.unmapped

    def status_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts


def locate_submissions(path: Path, out: Path) -> Path:
    """The folder of submissions: ``path`` itself, or a zip unpacked into ``OUT/inbox``."""
    path = Path(path)
    if path.is_dir():
        if _inside(out, path) or _inside(path, out):
            raise GradeError(f"SUBMISSIONS {path} and --out {out} overlap; keep the workspace apart")
        return path
    if path.is_file() and path.suffix.lower() == ".zip":
        try:
            return unpack_zip(path, out / INBOX_DIR)
        except ValueError as error:
            raise GradeError(str(error)) from None
    raise GradeError(f"SUBMISSIONS {path}: give a folder or a .zip of submissions")


def grade_class(
    submissions: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str],
    runner: Runner,
    chapters: Sequence[str] | None = None,
    progress: Callable[[int], Callable[[], None]] | None = None,
    log: Callable[[str], None] = lambda _: None,
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

    Returns
    -------
    GradeRun
    """
    from course_utils.instructor.class_report import write_report

    root, out = Path(root).resolve(), Path(out).resolve()
    with workspace_lock(out):
        ws = open_workspace(root, out, chapters)
        folder = locate_submissions(Path(submissions), out)
        collection = find_submissions(folder, ws.chapters, {c: ws.grade_ids[c] for c in ws.chapters})
        config = load_nbgrader_config(root)

        done = [s for s in collection.submissions if is_done(ws, s)]
        todo = [s for s in collection.submissions if s not in done]
        log(f"{len(collection.submissions)} submission(s) found, {len(done)} already graded, "
            f"{len(todo)} to grade; {len(collection.unmapped)} file(s) not mapped")
        jobs: list[Job] = []
        for sub in todo:
            prepared = prepare(ws, sub, config)
            if isinstance(prepared, Job):
                jobs.append(prepared)
            else:
                record_result(ws, prepared)
        tick = progress(len(jobs)) if progress else (lambda: None)
        lock = threading.Lock()

        def on_done(job: Job, nb, status, message, seconds) -> None:
            with lock:
                record_execution(ws, job, nb, status, message, seconds, runner.backend.name)

        started = time.monotonic()
        runner.run(jobs, on_done, tick)
        if jobs:
            log(f"executed {len(jobs)} notebook(s) in {time.monotonic() - started:.1f} s")
        started = time.monotonic()

        # phase B: serial, in this thread
        with warnings.catch_warnings():
            # nbgrader's gradebook API makes SQLAlchemy warn about autoflush; what it stores is right
            warnings.filterwarnings("ignore", module="nbgrader")
            warnings.filterwarnings("ignore", message=".*not in session.*")
            rows, results = _record_all(ws, collection, config)
        csv_path = out / "grades.csv"
        write_csv(csv_path, rows)
        report_path = write_report(out / "report.html", rows, cell_scores(ws, results),
                                   max_points(ws, sorted({c for _, c in results})), results, collection.unmapped,
                                   runner.backend.describe())
        log(f"recorded grades, feedback and the report in {time.monotonic() - started:.1f} s")
    executed_keys = [j.submission.key for j in jobs]
    return GradeRun(out, collection, executed_keys, [s.key for s in done], rows, csv_path, report_path)


def _record_all(ws: Workspace, collection: Collection, config) -> tuple[list[dict], dict[tuple[str, str], dict]]:
    """Phase B: every finished result into the gradebook and feedback (only what changed), then the rows."""
    results: dict[tuple[str, str], dict] = {}
    for sub in collection.submissions:
        result = load_result(ws, sub.student, sub.chapter)
        if result is None:
            continue
        results[(sub.student, sub.chapter)] = result
        executed = ws.work(sub.student, sub.chapter) / EXECUTED_FILE
        graded = ws.out / AUTOGRADED_DIR / sub.student / sub.chapter / f"{sub.chapter}.ipynb"
        feedback = ws.out / FEEDBACK_DIR / sub.student / sub.chapter / f"{sub.chapter}.html"
        if result["status"] in UNGRADABLE_STATUSES or result["status"] in RETRY_STATUSES:
            forget_grades(ws, sub.student, sub.chapter)
            continue
        if not graded.is_file() or graded.stat().st_mtime < executed.stat().st_mtime:
            save_grades(ws, result, config)
        if not feedback.is_file() or feedback.stat().st_mtime < graded.stat().st_mtime:
            write_feedback(ws, sub.student, sub.chapter, config)
    return grade_rows(ws, results), results
