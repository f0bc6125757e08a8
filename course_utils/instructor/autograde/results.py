"""One finished submission on disk: ``OUT/work/<student>/<chapter>/executed.ipynb`` and ``result.json``.

``executed.ipynb`` is written first and ``result.json`` last, each atomically, so a ``result.json``
for the submitted bytes (its ``sha256``) means the submission needs no second run.
"""

from __future__ import annotations

import contextlib
import json

import nbformat

from course_utils._io import atomic_write_text
from course_utils.instructor.autograde.execute import mark_unrun_tests
from course_utils.instructor.autograde.restore import Job
from course_utils.instructor.autograde.workspace import EXECUTED_FILE, RESULT_FILE, Workspace, sha256_of
from course_utils.instructor.submissions import Submission

# The sandbox's outcomes (course_utils.instructor.sandbox.backend.Execution.status).
EXECUTION_STATUSES = ("ok", "cell-timeout", "notebook-timeout", "kernel-died", "sandbox-error")
# Submissions that cannot be run at all: graded 0 with the reason.
UNGRADABLE_STATUSES = ("invalid-notebook", "wrong-chapter", "not-a-notebook", "no-notebook")
MISSING = "missing"  # no submission of this student for this chapter
RETRY_STATUSES = ("sandbox-error",)  # not the student's doing: executed again on the next run


def is_scored(result: dict) -> bool:
    """Whether the gradebook holds this result's scores (it ran, and a failure was not the sandbox's)."""
    return result["status"] in EXECUTION_STATUSES and result["status"] not in RETRY_STATUSES


def record_execution(ws: Workspace, job: Job, nb: nbformat.NotebookNode, status: str, message: str,
                     seconds: float, backend_name: str) -> dict:
    """Write ``executed.ipynb`` then ``result.json`` for one finished submission (both atomically)."""
    sub = job.submission
    unrun = mark_unrun_tests(nb, status, message)
    work = ws.work(sub.student, sub.chapter)
    atomic_write_text(work / EXECUTED_FILE, nbformat.writes(nb))
    result = {"student": sub.student, "chapter": sub.chapter, "source": str(sub.path), "sha256": job.sha256,
              "layout": sub.layout, "timestamp": sub.timestamp, "late": sub.late, "mapping": sub.note, "status": status,
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
