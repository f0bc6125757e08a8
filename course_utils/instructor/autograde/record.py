"""Phase B of ``course grade``, serial in the parent: scores into the gradebook, feedback, ``grades.csv`` rows.

The gradebook (SQLite) has one writer, the thread that calls these functions.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import shutil
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import nbformat
from traitlets.config import Config

from course_utils._io import atomic_write_text
from course_utils.instructor.autograde.hidden_tests import HideHiddenTests
from course_utils.instructor.autograde.results import (
    MISSING,
    RETRY_STATUSES,
    UNGRADABLE_STATUSES,
    is_scored,
    load_result,
)
from course_utils.instructor.autograde.workspace import (
    AUTOGRADED_DIR,
    EXECUTED_FILE,
    FEEDBACK_DIR,
    RESULT_FILE,
    WORK_DIR,
    GradeError,
    Workspace,
)
from course_utils.instructor.nbgrader_run import NbgraderFailed, captured_log, run_converter
from course_utils.instructor.submissions import Collection

# nbgrader's CsvExportPlugin columns, in its order; ours follow.
NBGRADER_CSV_KEYS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                     "raw_score", "late_submission_penalty", "score", "max_score")
EXTRA_CSV_KEYS = ("status", "note")
FEEDBACK_MODE_FILE = ".mode"  # in OUT/feedback/: how the feedback there was written (hidden tests shown or not)
FEEDBACK_SCORES_FILE = "feedback-scores.json"  # in OUT/work/<student>/<chapter>/: the scores its feedback shows
CSV_KEYS = NBGRADER_CSV_KEYS + EXTRA_CSV_KEYS


def record_all(ws: Workspace, collection: Collection, config: Config, *, full_feedback: bool = False,
               regrade_chapters: Iterable[str] = ()) -> tuple[list[dict], dict[tuple[str, str], dict]]:
    """Every finished result into the gradebook and feedback (only what changed); the CSV rows and the results.

    Feedback hides the hidden tests unless ``full_feedback`` (:mod:`.hidden_tests`); when the workspace's
    feedback was written the other way, all of it is written again. The scores of ``regrade_chapters`` (whose due
    date changed) are saved again, so that their late penalties follow the new date.
    """
    regrade_chapters = set(regrade_chapters)
    results: dict[tuple[str, str], dict] = {}
    feedback_settings = feedback_config(config, full=full_feedback)
    stamp = ws.out / FEEDBACK_DIR / FEEDBACK_MODE_FILE
    mode = "full" if full_feedback else "hidden tests hidden"
    rewrite_feedback = not stamp.is_file() or stamp.read_text(encoding="utf-8").strip() != mode
    for sub in collection.submissions:
        result = load_result(ws, sub.student, sub.chapter)
        if result is None:
            continue
        results[(sub.student, sub.chapter)] = result
        executed = ws.work(sub.student, sub.chapter) / EXECUTED_FILE
        graded = ws.out / AUTOGRADED_DIR / sub.student / sub.chapter / f"{sub.chapter}.ipynb"
        if result["status"] in UNGRADABLE_STATUSES or result["status"] in RETRY_STATUSES:
            forget_grades(ws, sub.student, sub.chapter)  # the student stays: nbgrader's export lists their 0
            continue
        stale = not graded.is_file() or graded.stat().st_mtime < executed.stat().st_mtime
        if stale or sub.chapter in regrade_chapters:
            save_grades(ws, result, config)
        _refresh_feedback(ws, sub.student, sub.chapter, feedback_settings, force=rewrite_feedback)
    earlier = earlier_results(ws, {(sub.student, sub.chapter) for sub in collection.submissions})
    for (student, chapter), result in sorted(earlier.items()):
        if is_scored(result) and chapter in regrade_chapters:
            save_grades(ws, result, config)
        if is_scored(result):
            _refresh_feedback(ws, student, chapter, feedback_settings, force=rewrite_feedback)
    results.update(earlier)
    atomic_write_text(stamp, mode + "\n")
    return grade_rows(ws, results), results


def _refresh_feedback(ws: Workspace, student: str, chapter: str, config: Config, *, force: bool) -> None:
    """Write the feedback unless it exists and shows the gradebook's scores as they are now: a score changed by
    hand in the formgrader, or a late penalty, writes it again."""
    feedback = ws.out / FEEDBACK_DIR / student / chapter / f"{chapter}.html"
    graded = ws.out / AUTOGRADED_DIR / student / chapter / f"{chapter}.ipynb"
    stamp = ws.work(student, chapter) / FEEDBACK_SCORES_FILE
    scores = json.dumps(_gradebook_scores(ws, student, chapter), sort_keys=True)
    shown = stamp.read_text(encoding="utf-8") if stamp.is_file() else None
    outdated = not feedback.is_file() or feedback.stat().st_mtime < graded.stat().st_mtime
    if force or outdated or shown != scores:
        write_feedback(ws, student, chapter, config)
        atomic_write_text(stamp, scores)


def _gradebook_scores(ws: Workspace, student: str, chapter: str) -> dict:
    """What a feedback file shows of the gradebook: each cell's auto and manual score and comment, the penalty."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(ws.db_url) as gb:
        try:
            submission = gb.find_submission(chapter, student)
        except MissingEntry:
            return {}
        cells = {f"{nb.name}/{grade.name}": [grade.auto_score, grade.manual_score, grade.extra_credit]
                 for nb in submission.notebooks for grade in nb.grades}
        comments = {f"{nb.name}/{c.name}": [c.auto_comment, c.manual_comment] for nb in submission.notebooks
                    for c in nb.comments}
        return {"cells": cells, "comments": comments, "penalty": submission.late_submission_penalty,
                "timestamp": str(submission.timestamp)}


def earlier_results(ws: Workspace, this_batch: set[tuple[str, str]]) -> dict[tuple[str, str], dict]:
    """The results of submissions that earlier runs graded into this workspace and this run's SUBMISSIONS do not
    hold (earlier batches: late work, another LMS export), so that ``grades.csv`` and the report cover them all."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(ws.db_url) as gb:
        for path in sorted((ws.out / WORK_DIR).glob(f"*/*/{RESULT_FILE}")):
            key = (path.parent.parent.name, path.parent.name)
            result = None if key in this_batch else load_result(ws, *key)
            if result is None:
                continue
            try:
                gb.find_assignment(key[1])  # a chapter the gradebook knows (its rows need its max score)
            except MissingEntry:
                continue
            found[key] = result
    return found


# ----------------------------------------------------------------------------------------------
# the gradebook and feedback


def _parse_timestamp(sub_timestamp: str | None):
    if not sub_timestamp:
        return None
    from nbgrader.utils import parse_utc

    try:
        return parse_utc(sub_timestamp)
    except Exception:  # an unreadable timestamp.txt: no lateness rather than no grade
        return None


def save_grades(ws: Workspace, result: dict, config: Config) -> None:
    """Score ``executed.ipynb`` into the gradebook with the preprocessors nbgrader's autograde runs after executing.

    They are ``IgnorePattern``, ``ClearMetadataPreprocessor``, ``LimitOutput``, ``SaveAutoGrades``,
    ``AssignLatePenalties`` and ``CheckCellMetadata``; the graded notebook goes to
    ``OUT/autograded/<student>/<chapter>/``, as nbgrader's autograde writes it.
    """
    from nbconvert.preprocessors import ClearMetadataPreprocessor
    from nbgrader.preprocessors import (
        AssignLatePenalties,
        CheckCellMetadata,
        IgnorePattern,
        LimitOutput,
        SaveAutoGrades,
    )

    student, chapter = result["student"], result["chapter"]
    _add_submission(ws, student, chapter, result.get("timestamp"), bool(result.get("late")))
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


def _add_submission(ws: Workspace, student: str, chapter: str, timestamp: str | None, late: bool = False) -> None:
    """Make sure the gradebook has the student and the submission (with its time, when readable).

    A submission the LMS marked late whose time is not after the due date (a file time that is not the
    submission's) gets the due date plus one second: late, so that nbgrader's late penalty applies.
    """
    import datetime as dt

    from nbgrader.api import Gradebook

    with Gradebook(ws.db_url) as gb:
        gb.update_or_create_student(student)
        parsed = _parse_timestamp(timestamp)
        due = gb.find_assignment(chapter).duedate
        if late and due is not None and (parsed is None or parsed <= due):
            parsed = due + dt.timedelta(seconds=1)
        if parsed is not None:
            gb.update_or_create_submission(chapter, student, timestamp=parsed)
        else:
            gb.update_or_create_submission(chapter, student)


def forget_grades(ws: Workspace, student: str, chapter: str) -> None:
    """Remove a submission from the gradebook (it cannot be scored, or became ungradable on a resubmission); the
    student is kept (and added if new), so that their row is in ``nbgrader export`` too."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(ws.db_url) as gb:
        gb.update_or_create_student(student)
        with contextlib.suppress(MissingEntry):
            gb.remove_submission(chapter, student)
    for folder in (AUTOGRADED_DIR, FEEDBACK_DIR):
        shutil.rmtree(ws.out / folder / student / chapter, ignore_errors=True)


def feedback_config(config: Config, *, full: bool) -> Config:
    """``config`` with :class:`HideHiddenTests` last in ``GenerateFeedback``'s preprocessors, unless ``full``."""
    if full:
        return config
    from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
    from nbgrader.preprocessors import GetGrades

    hidden = copy.deepcopy(config)
    if hidden.get("ClearHiddenTests"):  # the course's own delimiters, if it changed them
        hidden.HideHiddenTests.merge({k: v for k, v in hidden.ClearHiddenTests.items() if k.endswith("delimeter")})
    hidden.GenerateFeedback.preprocessors = [GetGrades, CSSHTMLHeaderPreprocessor, HideHiddenTests]
    return hidden


def write_feedback(ws: Workspace, student: str, chapter: str, config: Config) -> Path:
    """nbgrader's ``GenerateFeedback`` for one graded submission: ``OUT/feedback/<student>/<chapter>/``
    (``config`` from :func:`feedback_config`)."""
    from nbgrader.converters import GenerateFeedback

    try:
        run_converter(GenerateFeedback, config, ws.out, chapter, student_id=student,
                      log_name="course_utils.instructor.autograde.feedback",
                      autograded_directory=AUTOGRADED_DIR, feedback_directory=FEEDBACK_DIR)
    except NbgraderFailed as error:
        raise GradeError(f"feedback for {student}/{chapter}: {error}") from None
    return ws.out / FEEDBACK_DIR / student / chapter / f"{chapter}.html"


# ----------------------------------------------------------------------------------------------
# grades.csv and the report's scores


def _csv_value(value) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def grade_rows(ws: Workspace, results: Mapping[tuple[str, str], dict]) -> list[dict]:
    """One row per (student, chapter) over the gradebook's students and chapters, in nbgrader's CSV format:
    its columns agree with ``nbgrader export`` run in the workspace.

    Scores come from the gradebook for executed submissions; a submission that could not be run
    scores 0 with its status and reason; a student without a submission for a chapter gets nbgrader's
    0 row with status ``missing``.
    """
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(ws.db_url) as gb:
        # every student and chapter of the gradebook, as `nbgrader export` lists them, so that the two agree
        students = sorted({s for s, _ in results} | {student.id for student in gb.students})
        chapters = sorted({c for _, c in results} | {assignment.name for assignment in gb.assignments})
        for chapter in chapters:
            assignment = gb.find_assignment(chapter)
            for student in students:
                row = {"assignment": chapter, "duedate": assignment.duedate, "timestamp": "",
                       "student_id": student, "last_name": "", "first_name": "", "email": "",
                       "raw_score": 0.0, "late_submission_penalty": 0.0, "score": 0.0,
                       "max_score": assignment.max_score, "status": MISSING, "note": "no submission"}
                result = results.get((student, chapter))
                if result is not None:
                    row.update(status=result["status"], note=_note(result), timestamp=result.get("timestamp") or "")
                    if is_scored(result):
                        row.update(_gradebook_columns(gb, student, chapter))
                rows.append({key: _csv_value(row[key]) for key in CSV_KEYS})
    return rows


def _gradebook_columns(gb, student: str, chapter: str) -> dict:
    """The CSV columns the gradebook holds for a scored submission ({} when it has none)."""
    from nbgrader.api import MissingEntry

    try:
        submission = gb.find_submission(chapter, student)
    except MissingEntry:
        return {}
    person = submission.student
    return dict(timestamp=submission.timestamp or "", raw_score=submission.score,
                late_submission_penalty=submission.late_submission_penalty,
                score=max(0.0, submission.score - submission.late_submission_penalty),
                last_name=person.last_name, first_name=person.first_name, email=person.email)


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


def student_cell_scores(ws: Workspace,
                        results: Mapping[tuple[str, str], dict]) -> dict[tuple[str, str], dict[str, float]]:
    """(student, chapter) -> grade_id -> that submission's score on the test cell (ungradable ones score 0)."""
    from nbgrader.api import Gradebook, MissingEntry

    out: dict[tuple[str, str], dict[str, float]] = {}
    with Gradebook(ws.db_url) as gb:
        for (student, chapter), result in sorted(results.items()):
            per_cell = out.setdefault((student, chapter), {})
            for notebook in gb.find_assignment(chapter).notebooks:
                for grade_cell in notebook.grade_cells:
                    score = 0.0
                    if is_scored(result):
                        with contextlib.suppress(MissingEntry):
                            grade = gb.find_grade(grade_cell.name, notebook.name, chapter, student)
                            score = float(grade.score or 0.0)
                    per_cell[grade_cell.name] = score
    return out


def cell_scores(per_student: Mapping[tuple[str, str], Mapping[str, float]]) -> dict[str, dict[str, list[float]]]:
    """chapter -> grade_id -> the scores of every graded submission, from :func:`student_cell_scores`."""
    out: dict[str, dict[str, list[float]]] = {}
    for (_, chapter), per_cell in sorted(per_student.items()):
        for grade_id, score in per_cell.items():
            out.setdefault(chapter, {}).setdefault(grade_id, []).append(score)
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


def set_due_dates(ws: Workspace, due_dates: Mapping[str, object]) -> list[str]:
    """Give each chapter of ``due_dates`` (chapter -> naive-UTC datetime) its due date in the gradebook; return
    the chapters whose date changed (their grades are saved again)."""
    from nbgrader.api import Gradebook

    changed = []
    with Gradebook(ws.db_url) as gb:
        for chapter, due in sorted(due_dates.items()):
            if gb.find_assignment(chapter).duedate != due:
                gb.update_or_create_assignment(chapter, duedate=due)
                changed.append(chapter)
    return changed
