"""Run the :class:`~course_utils.instructor.autograde.restore.Job` s in the sandbox: local threads or Dask workers.

Each notebook runs in a fresh temporary folder outside the workspace, holding only the files of
its Job, in a sandbox *slot* that no other grading process on the machine holds (a slot is a uid
of its own when grading as root, see :mod:`course_utils.instructor.sandbox.backend`).
"""

from __future__ import annotations

import contextlib
import copy
import queue
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import nbformat

from course_utils.instructor.autograde.restore import Job
from course_utils.instructor.autograde.workspace import GradeError, inside
from course_utils.instructor.sandbox import backend as sandbox
from course_utils.instructor.sandbox.worker import error_output

SLOT_LOCK_DIR = "course-grade-slots"  # under the system temp folder: one lock file per sandbox slot
MAX_SLOT = sandbox.MAX_SLOTS - 1

# on_done(job, executed notebook, status, message, seconds), called as each submission finishes
OnDone = Callable[[Job, nbformat.NotebookNode, str, str, float], None]


def write_files(workdir: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` (relative path -> bytes) into ``workdir``, refusing paths that leave it."""
    for rel, data in files.items():
        target = (workdir / rel).resolve()
        if not inside(target, workdir):
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
            cell.setdefault("outputs", []).append(error_output(
                "TestNotRun", f"this test did not run, so it scores 0 ({status}: {message or status})"))
            marked.append(meta.get("grade_id", f"cell {i}"))
    return marked


@dataclass
class Runner:
    """Where and how the sandbox runs: ``jobs`` local threads with ``backend``, or a Dask ``scheduler``."""

    backend: object  # course_utils.instructor.sandbox.backend.Backend
    limits: object  # course_utils.instructor.sandbox.backend.Limits
    jobs: int = 1
    scheduler: str | None = None

    def run(self, jobs: Sequence[Job], on_done: OnDone, progress: Callable[[], None] = lambda: None) -> None:
        """Execute every job; ``on_done`` then ``progress()`` as each one finishes, in this thread."""
        if not jobs:
            return
        if self.scheduler:
            self._run_dask(jobs, on_done, progress)
        else:
            self._run_threads(jobs, on_done, progress)

    def _execute_one(self, job: Job, index: int) -> tuple[nbformat.NotebookNode, str, str, float]:
        """Run one job on local worker ``index``: (notebook, status, message, seconds)."""
        started = time.monotonic()
        try:
            # slot = the worker's index (unless another grading run holds it): distinct uids at once
            with claim_slot(index) as slot:
                execution = execute_in_fresh_folder(self.backend, copy.deepcopy(job.notebook), job.files,
                                                    self.limits, slot)
            return execution.notebook, execution.status, execution.message, execution.seconds
        except Exception as error:  # a backend failure is not the student's: retried next run
            return job.notebook, "sandbox-error", f"{type(error).__name__}: {error}", time.monotonic() - started

    def _run_threads(self, jobs: Sequence[Job], on_done: OnDone, progress: Callable[[], None]) -> None:
        workers: queue.Queue[int] = queue.Queue()
        for index in range(self.jobs):
            workers.put(index)

        def one(job: Job):
            index = workers.get()
            try:
                return self._execute_one(job, index)
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

    def _run_dask(self, jobs: Sequence[Job], on_done: OnDone, progress: Callable[[], None]) -> None:
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
