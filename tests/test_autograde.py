"""The grading workspace of ``course grade`` (course_utils.instructor.autograde), mostly with a fake sandbox.

The fake backend does not start kernels: it "passes" a test cell when no answer cell still raises
NotImplementedError, and records what it was given. That is enough to check what this module
owns (what reaches the sandbox, resumability, the CSV, the rows of ungradable submissions); the
real sandbox is exercised in test_grade_adversarial.py and, through Dask, at the end of this file.
"""

from __future__ import annotations

import copy
import csv
import html
import json
import os
import re
import threading
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO_ROOT, make_course, one_line_error, snapshot

from course_utils._io import atomic_write_bytes
from course_utils.instructor.autograde import CSV_KEYS, GradeError, Runner, grade_class
from course_utils.instructor.autograde.execute import mark_unrun_tests
from course_utils.instructor.autograde.workspace import open_workspace
from course_utils.instructor.release import release
from course_utils.instructor.sandbox.backend import Execution, Limits


class FakeBackend:
    """Runs nothing; fails every test cell while an answer still raises NotImplementedError."""

    name = "fake"

    def __init__(self, *, interrupt_after: int | None = None, delay: float = 0.0):
        self.calls: list[dict] = []
        self.lock = threading.Lock()
        self.interrupt_after = interrupt_after
        self.delay = delay

    def describe(self) -> str:
        return "fake sandbox (tests)"

    def execute(self, notebook, *, workdir: Path, limits: Limits, slot: int = 0) -> Execution:
        with self.lock:
            if self.interrupt_after is not None and len(self.calls) >= self.interrupt_after:
                raise KeyboardInterrupt  # the grader is killed while this submission runs
            data = Path(workdir) / "data.txt"
            record = {"workdir": Path(workdir), "files": sorted(os.listdir(workdir)), "slot": slot,
                      "start": time.monotonic(), "sources": [c.source for c in notebook.cells],
                      "data": data.read_text() if data.exists() else None}
            self.calls.append(record)
        time.sleep(self.delay)
        record["end"] = time.monotonic()
        nb = copy.deepcopy(notebook)
        stub = any("NotImplementedError" in c.source for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("solution"))
        for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
            cell.execution_count = count
            if cell.metadata.get("nbgrader", {}).get("grade") and stub:
                cell.outputs = [nbformat.v4.new_output("error", ename="NotImplementedError", evalue="",
                                                       traceback=["NotImplementedError"])]
        return Execution(nb, "ok", "", 0.01)


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny released course with two assignments, ex and ex2 (3 points each)."""
    root = make_course(tmp_path_factory.mktemp("grading") / "course", ("ex", "ex2"))
    release(root)
    return root


def released(root: Path, chapter: str = "ex") -> nbformat.NotebookNode:
    return nbformat.read(root / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)


def answered(root: Path, chapter: str = "ex") -> nbformat.NotebookNode:
    nb = released(root, chapter)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = "def double(x):\n    return 2 * x"
    return nb


def submit(folder: Path, student: str, nb, chapter: str = "ex") -> Path:
    path = folder / student / chapter / f"{chapter}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def read_rows(out: Path) -> dict[tuple[str, str], dict]:
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        return {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}


def grade(root: Path, submissions: Path, out: Path, backend, jobs: int = 1, **kw):
    return grade_class(submissions, out, root=root, runner=Runner(backend, Limits(), jobs=jobs), **kw)


def test_tests_are_restored_and_the_sandbox_gets_only_the_students_files(graded_course: Path, tmp_path: Path) -> None:
    """Does the sandbox get the instructor's test cells (hidden ones too) in a fresh folder outside OUT?"""
    subs, out = tmp_path / "subs", tmp_path / "out"
    nb = answered(graded_course)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"  # the student "replaced" the tests
    submit(subs, "alice", nb)
    (subs / "alice" / "ex" / "notes.md").write_text("mine")
    (subs / "alice" / "ex" / "data.txt").write_text("0\n")  # the chapter's own file wins, as in nbgrader
    backend = FakeBackend()
    run = grade(graded_course, subs, out, backend)
    (call,) = backend.calls
    assert "assert double(-3) == -6" in "\n".join(call["sources"])  # hidden test restored from the gradebook
    assert "pass" not in call["sources"]
    assert call["files"] == ["data.txt", "notes.md"] and call["data"] == "42\n"
    assert not call["workdir"].exists(), "the sandbox folder should be removed afterwards"
    assert out.resolve() not in call["workdir"].resolve().parents
    assert read_rows(out)[("alice", "ex")]["score"] == "3.0"
    assert run.executed == ["alice/ex"]


def test_test_cells_keep_their_roles_whatever_the_metadata_says(graded_course: Path, tmp_path: Path) -> None:
    """Is a test cell re-flagged as an answer (or un-flagged as graded) still run and scored as a test?"""
    subs, out = tmp_path / "subs", tmp_path / "out"
    nb = released(graded_course)  # the stub: every test must fail
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            meta.update(grade=False, solution=True)
            meta.pop("points")
            cell.source = "pass"
    submit(subs, "sly", nb)
    backend = FakeBackend()
    grade(graded_course, subs, out, backend)
    assert "assert double(-3) == -6" in "\n".join(backend.calls[0]["sources"])
    row = read_rows(out)[("sly", "ex")]
    assert (row["status"], row["score"], row["max_score"]) == ("ok", "0.0", "3.0")


def test_a_rerun_grades_only_what_is_missing(graded_course: Path, tmp_path: Path) -> None:
    """After a run, does a second run execute only submissions whose result is gone or whose file changed?"""
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("ann", "ben", "cat"):
        submit(subs, student, answered(graded_course) if student != "ben" else released(graded_course))
    grade(graded_course, subs, out, FakeBackend(), jobs=2)
    first = (out / "grades.csv").read_bytes()
    (out / "work" / "cat" / "ex" / "result.json").unlink()  # as if killed before cat's result was written
    submit(subs, "ben", answered(graded_course))  # ben resubmits
    backend = FakeBackend()
    run = grade(graded_course, subs, out, backend, jobs=2)
    assert sorted(run.executed) == ["ben/ex", "cat/ex"] and run.skipped == ["ann/ex"]
    assert len(backend.calls) == 2
    rows = read_rows(out)
    assert [rows[(s, "ex")]["score"] for s in ("ann", "ben", "cat")] == ["3.0", "3.0", "3.0"]
    assert first != (out / "grades.csv").read_bytes()  # ben's new score is in
    assert grade(graded_course, subs, out, FakeBackend()).executed == []


def test_a_killed_run_keeps_what_finished(graded_course: Path, tmp_path: Path) -> None:
    """When the grader dies during the 3rd submission, are the first two kept and only the rest run again?"""
    subs, out = tmp_path / "subs", tmp_path / "out"
    for student in ("a1", "a2", "a3", "a4"):
        submit(subs, student, answered(graded_course))
    with pytest.raises(KeyboardInterrupt):
        grade(graded_course, subs, out, FakeBackend(interrupt_after=2), jobs=1)
    finished = sorted(p.parts[-3] for p in (out / "work").glob("*/ex/result.json"))
    assert finished == ["a1", "a2"]
    assert not list((out / "work").rglob("*.tmp")), "no half-written files"
    backend = FakeBackend()
    run = grade(graded_course, subs, out, backend, jobs=2)
    assert sorted(run.executed) == ["a3/ex", "a4/ex"] and len(backend.calls) == 2
    assert sorted(s for s, c in read_rows(out) if c == "ex") == ["a1", "a2", "a3", "a4"]


def test_concurrent_jobs_get_distinct_slots(graded_course: Path, tmp_path: Path) -> None:
    """With --jobs 2, do two sandboxes running at the same time always get different slots (uids)?

    Slots are claimed machine-wide (a file lock each), so which numbers a run gets depends on what
    else grades on this machine (another test may hold slots 0 and 1): only overlaps are checked.
    """
    subs, out = tmp_path / "subs", tmp_path / "out"
    for i in range(4):
        submit(subs, f"s{i}", answered(graded_course))
    backend = FakeBackend(delay=0.3)
    grade(graded_course, subs, out, backend, jobs=2)
    calls = backend.calls
    assert len(calls) == 4
    overlapping = [(a, b) for i, a in enumerate(calls) for b in calls[i + 1:]
                   if a["start"] < b["end"] and b["start"] < a["end"]]
    assert overlapping, "with --jobs 2 and 0.3 s per submission, two should have run at once"
    assert all(a["slot"] != b["slot"] for a, b in overlapping)
    assert len({c["slot"] for c in calls}) >= 2


def test_ungradable_submissions_get_a_row_saying_why(graded_course: Path, tmp_path: Path) -> None:
    """Do invalid JSON, a wrong chapter, a non-notebook and a missing chapter get 0 with a status, the rest graded?"""
    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "good", answered(graded_course))
    submit(subs, "good", answered(graded_course, "ex2"), "ex2")
    bad = subs / "broken" / "ex" / "ex.ipynb"
    bad.parent.mkdir(parents=True)
    bad.write_text("{ this is not json", encoding="utf-8")
    submit(subs, "confused", answered(graded_course, "ex2"), "ex")  # ex2's notebook handed in for ex
    pdf = subs / "scanner" / "ex"
    pdf.mkdir(parents=True)
    (pdf / "ex.pdf").write_text("%PDF")
    (subs / "loose.ipynb").write_text("{}")
    before = snapshot(subs)
    run = grade(graded_course, subs, out, FakeBackend())
    assert snapshot(subs) == before, "the submitted files must never change"
    rows = read_rows(out)
    assert list(next(iter(rows.values()))) == list(CSV_KEYS)
    status = {key: (row["status"], row["score"]) for key, row in rows.items()}
    assert status[("good", "ex")] == ("ok", "3.0") and status[("good", "ex2")] == ("ok", "3.0")
    assert status[("broken", "ex")] == ("invalid-notebook", "0.0")
    assert status[("confused", "ex")] == ("wrong-chapter", "0.0")
    assert status[("scanner", "ex")] == ("no-notebook", "0.0")
    assert status[("broken", "ex2")] == ("missing", "0.0")
    assert "ex2" in rows[("confused", "ex")]["note"] and "ex.pdf" in rows[("scanner", "ex")]["note"]
    assert [u.path.name for u in run.unmapped] == ["loose.ipynb"]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "loose.ipynb" in report and "wrong-chapter" in report
    assert "<b>Isolation:</b> fake sandbox (tests)" in report  # the report says how the code was run
    assert (out / "feedback" / "good" / "ex" / "ex.html").is_file()
    assert not (out / "feedback" / "broken").exists()


def test_a_canvas_zip_is_graded_without_touching_it(graded_course: Path, tmp_path: Path) -> None:
    """Is a Canvas zip export mapped, unpacked under OUT (the zip unchanged) and graded per student?"""
    import zipfile

    archive = tmp_path / "submissions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("smithjane_101_9001_ex.ipynb", nbformat.writes(answered(graded_course)))
        zf.writestr("doejohn_LATE_102_9002_ex-1.ipynb", nbformat.writes(released(graded_course)))
        zf.writestr("readme.txt", "exported by Canvas")
    before = archive.read_bytes()
    out = tmp_path / "out"
    run = grade(graded_course, archive, out, FakeBackend())
    assert archive.read_bytes() == before
    rows = read_rows(out)
    assert (rows[("smithjane", "ex")]["score"], rows[("doejohn", "ex")]["score"]) == ("3.0", "0.0")
    assert [u.path.name for u in run.unmapped] == ["readme.txt"]
    assert (out / "inbox" / "smithjane_101_9001_ex.ipynb").is_file()


def test_grades_csv_is_replaced_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If writing fails half-way, is the old grades.csv still whole and no temporary file left?"""
    target = tmp_path / "grades.csv"
    target.write_text("old\n")

    def fail(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_bytes(target, b"new\n")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["grades.csv"]


def test_workspace_refuses_the_repository_and_changed_sources(graded_course: Path, tmp_path: Path) -> None:
    """Is OUT inside the course refused, and a chapter whose tests changed since the last run?"""
    with pytest.raises(GradeError, match="inside the course repository"):
        open_workspace(graded_course, graded_course / "grading")
    out = tmp_path / "out"
    open_workspace(graded_course, out, ["ex"])
    source = out / "solutions" / "ex"
    assert (source / "ex.ipynb").is_file() and (out / "gradebook.db").is_file()
    changed = make_course(tmp_path / "changed", ("ex",))
    (changed / "solutions" / "ex" / "data.txt").write_text("43\n")
    with pytest.raises(GradeError, match="changed since"):
        open_workspace(changed, out, ["ex"])


def test_mark_unrun_tests_fails_tests_that_never_ran() -> None:
    """Does a test cell without an execution count or error get an error (nbgrader would score it as passed)?"""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("x = 1", execution_count=1),
        nbformat.v4.new_code_cell("assert x", metadata={"nbgrader": {"grade": True, "grade_id": "t1", "points": 1}},
                                  execution_count=2),
        nbformat.v4.new_code_cell("assert y", metadata={"nbgrader": {"grade": True, "grade_id": "t2", "points": 1}}),
    ])
    assert mark_unrun_tests(nb, "kernel-died", "the kernel died in cell 1") == ["t2"]
    assert nb.cells[2].outputs[0].ename == "TestNotRun" and not nb.cells[1].outputs


def test_cli_refuses_to_grade_without_a_sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Without bubblewrap, does `course grade` refuse (exit 1, one line with the fix) unless --unsafe?"""
    from course_utils.cli import main
    from course_utils.instructor.sandbox import backend as sandbox

    def unavailable(*, unsafe: bool = False):
        if unsafe:
            return FakeBackend()
        raise sandbox.SandboxUnavailable("bwrap not found: apt install bubblewrap, or pass --unsafe")

    monkeypatch.setattr(sandbox, "detect", unavailable)
    subs = tmp_path / "subs"
    subs.mkdir()
    args = ["--root", str(REPO_ROOT), "grade", str(subs), "--out", str(tmp_path / "out"), "--chapter", "00_welcome",
            "--no-progress"]
    assert main(args) == 1
    assert "apt install bubblewrap" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()
    assert main([*args, "--unsafe"]) == 0
    assert "isolation: fake sandbox (tests)" in capsys.readouterr().out


@pytest.mark.parametrize(("option", "value", "message"), [
    ("--memory", "lots", "not a size"), ("--jobs", "0", "must be at least 1"), ("--cell-timeout", "x", "not a number"),
    ("--due", "07_gans", "is not CHAPTER=WHEN"), ("--due", "07_gans=friday", "is not CHAPTER=WHEN")])
def test_cli_rejects_bad_limits(option: str, value: str, message: str, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    """Is a bad limit refused with one line naming it (exit 2)?"""
    from course_utils.cli import main

    assert main(["grade", str(tmp_path), "--out", str(tmp_path / "o"), option, value]) == 2
    line = one_line_error(capsys)
    assert option in line and message in line


def test_grading_on_a_dask_cluster(graded_course: Path, tmp_path: Path) -> None:
    """Does --scheduler hand submissions to Dask workers (2 processes) and grade them like local jobs?"""
    distributed = pytest.importorskip("distributed")
    from course_utils.instructor.sandbox import backend as sandbox

    try:
        backend = sandbox.detect()
    except sandbox.SandboxUnavailable:
        backend = sandbox.detect(unsafe=True)  # the Dask path is under test here, not the isolation
    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "remote1", answered(graded_course))
    submit(subs, "remote2", released(graded_course))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  worker_dashboard_address=None) as cluster:
        runner = Runner(backend, Limits(cell_timeout=30, notebook_timeout=120), scheduler=cluster.scheduler_address)
        run = grade_class(subs, out, root=graded_course, runner=runner)
    assert sorted(run.executed) == ["remote1/ex", "remote2/ex"]
    rows = read_rows(out)
    assert (rows[("remote1", "ex")]["score"], rows[("remote2", "ex")]["score"]) == ("3.0", "0.0")
    result = json.loads((out / "work" / "remote1" / "ex" / "result.json").read_text())
    assert result["status"] == "ok" and result["backend"] == backend.name


def test_cli_defaults_are_the_sandbox_defaults() -> None:
    """Do `course grade`'s default limits (kept in cli/grade.py so --help stays light) equal sandbox.Limits()?"""
    from dataclasses import asdict

    from course_utils.cli.grade import DEFAULT_LIMITS

    assert DEFAULT_LIMITS == asdict(Limits())


def _feedback_text(out: Path) -> str:
    """Every file under feedback/ as text, HTML tags removed (syntax highlighting splits code into spans)."""
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((out / "feedback").rglob("*")) if p.is_file())
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def test_feedback_never_shows_the_hidden_tests(graded_course: Path, tmp_path: Path) -> None:
    """Issue 13: the hidden test `assert double(-3) == -6` must appear in no file under feedback/, for a passing and
    a failing student, while the visible test and a note that hidden tests ran do; --full-feedback (nbgrader's own
    feedback) shows it, and switching rewrites the workspace's feedback."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "alice", answered(graded_course))
    submit(subs, "bob", released(graded_course))  # the stub: every test fails
    grade(graded_course, subs, out, FakeBackend())
    feedback = _feedback_text(out)
    assert len(list((out / "feedback").rglob("*.html"))) == 2
    assert "double(-3)" not in feedback and "assert double(2) == 4" in feedback
    assert "hidden tests ran here" in feedback and "NotImplementedError" in feedback
    grade(graded_course, subs, out, FakeBackend(), full_feedback=True)
    assert "double(-3)" in _feedback_text(out)  # nbgrader's default: what the hiding removes
    grade(graded_course, subs, out, FakeBackend())
    assert "double(-3)" not in _feedback_text(out)


def test_hiding_keeps_the_visible_tests_and_the_failure_message() -> None:
    from course_utils.instructor.autograde.hidden_tests import HIDDEN_NOTE, HideHiddenTests, hide_hidden_region

    source = "check(a)\n    ### BEGIN HIDDEN TESTS\n    secret(b)\n    ### END HIDDEN TESTS\nafter(c)"
    assert hide_hidden_region(source) == f"check(a)\n    {HIDDEN_NOTE}\nafter(c)"
    assert hide_hidden_region("a\n### BEGIN HIDDEN TESTS\nsecret") == f"a\n{HIDDEN_NOTE}"  # left open: to the end
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="b should be 3",
                                           traceback=["----> 3 secret(b)", "AssertionError: b should be 3"])]
    nb = nbformat.v4.new_notebook(cells=[cell, nbformat.v4.new_code_cell("secret(d)")])
    nb, _ = HideHiddenTests().preprocess(nb, {})
    assert "secret" not in nb.cells[0].source and "secret" not in json.dumps(nb.cells[0].outputs)
    assert nb.cells[0].outputs[0]["traceback"] == ["AssertionError: b should be 3"]
    assert nb.cells[1].source == "secret(d)"  # no hidden region: untouched


def test_batches_into_one_workspace_add_up(graded_course: Path, tmp_path: Path) -> None:
    """Issue 13: a second batch (other students, another folder) keeps the first in grades.csv and the report; a
    changed file is regraded; the run says what it added, regraded and kept."""
    first, second, third, out = tmp_path / "first", tmp_path / "second", tmp_path / "third", tmp_path / "out"
    submit(first, "alice", answered(graded_course))
    grade(graded_course, first, out, FakeBackend())
    submit(second, "bob", released(graded_course))
    submit(second, "bob", answered(graded_course, "ex2"), "ex2")
    messages: list[str] = []
    run = grade(graded_course, second, out, FakeBackend(), log=messages.append)
    rows = read_rows(out)
    assert rows[("alice", "ex")]["score"] == "3.0" and rows[("alice", "ex")]["status"] == "ok"
    assert rows[("bob", "ex")]["score"] == "0.0" and rows[("bob", "ex2")]["score"] == "3.0"
    assert rows[("alice", "ex2")]["status"] == "missing"
    assert run.earlier == ["alice/ex"] and sorted(run.executed) == ["bob/ex", "bob/ex2"] and run.regraded == []
    assert "2 added, 0 regraded (changed files), 0 unchanged; 1 kept from earlier runs" in messages[-1]
    assert "alice" in (out / "report.html").read_text(encoding="utf-8")
    submit(third, "bob", answered(graded_course))  # bob hands ex in again, now answered
    run = grade(graded_course, third, out, FakeBackend())
    assert run.regraded == ["bob/ex"] and read_rows(out)[("bob", "ex")]["score"] == "3.0"
    assert sorted(run.earlier) == ["alice/ex", "bob/ex2"] and len(read_rows(out)) == 4


def test_the_report_lists_each_student_with_links_and_flags_edited_tests(graded_course: Path, tmp_path: Path) -> None:
    """Issue 13: a sortable table of students with their score, the exercises they lost points on by grade_id and a
    link to an existing feedback file; a test cell replaced by `pass` is restored and flagged for review."""
    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "alice", answered(graded_course))
    edited = released(graded_course)
    for cell in edited.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
    submit(subs, "bob", edited)
    grade(graded_course, subs, out, FakeBackend())
    report = (out / "report.html").read_text(encoding="utf-8")
    students = report.split("<h2 id='students'>")[1].split("<h2")[0]
    assert "class='sortable'" in students and "<script>" in report
    links = re.findall(r"href='([^']+)'", students)
    assert links == ["feedback/alice/ex/ex.html", "feedback/bob/ex/ex.html"]
    assert all((out / link).is_file() for link in links)
    bob_row = next(r for r in students.split("<tr>") if "<td>bob</td>" in r)
    assert "<td>ex_double_data_test, ex_double_test</td>" in bob_row  # the stub loses both, named by grade_id
    flags = report.split("<h2 id='flags'>")[1]
    assert "edited test cell" in flags and "ex_double_test" in flags and "alice" not in flags
    assert "edited test cell" in read_rows(out)[("bob", "ex")]["note"]


def test_a_zip_inside_the_submissions_folder_is_opened(graded_course: Path, tmp_path: Path) -> None:
    """Issue 13: an LMS export zipped beside other submissions is unpacked (under OUT) and graded with them; a
    broken zip is listed with the reason."""
    import zipfile

    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "alice", answered(graded_course))
    with zipfile.ZipFile(subs / "canvas export.zip", "w") as zf:
        zf.writestr("smithjane_101_9001_ex.ipynb", nbformat.writes(answered(graded_course)))
    (subs / "broken.zip").write_bytes(b"not a zip")
    run = grade(graded_course, subs, out, FakeBackend())
    rows = read_rows(out)
    assert rows[("alice", "ex")]["score"] == rows[("smithjane", "ex")]["score"] == "3.0"
    assert [(u.path.name, "not a readable zip" in u.reason) for u in run.unmapped] == [("broken.zip", True)]
    assert (out / "inbox-zips" / "canvas export" / "smithjane_101_9001_ex.ipynb").is_file()
    assert sorted(run.skipped) == [] and grade(graded_course, subs, out, FakeBackend()).executed == []  # rerun: kept


def test_late_submissions_get_nbgraders_late_penalty(tmp_path: Path) -> None:
    """Issue 13: with a due date, Canvas's file time is the submission time and its LATE marker makes a submission
    late even when the file time is not; nbgrader's LateSubmissionPlugin ("zero" here) then sets the score."""
    import datetime as dt

    root = make_course(tmp_path / "course", ("ex",))
    with open(root / "nbgrader_config.py", "a", encoding="utf-8") as fh:
        fh.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    release(root)
    subs, out = tmp_path / "subs", tmp_path / "out"
    subs.mkdir()
    due = dt.datetime(2026, 1, 10, 12, 0, tzinfo=dt.UTC)
    for name, when in [("smithjane_101_9001_ex.ipynb", due - dt.timedelta(hours=1)),
                       ("doejohn_LATE_102_9002_ex.ipynb", due - dt.timedelta(hours=1)),
                       ("leeann_103_9003_ex.ipynb", due + dt.timedelta(hours=2))]:
        nbformat.write(answered(root), subs / name)
        os.utime(subs / name, (when.timestamp(), when.timestamp()))
    grade(root, subs, out, FakeBackend(), due_dates={"ex": due})
    rows = read_rows(out)
    assert rows[("smithjane", "ex")]["score"] == "3.0"
    assert rows[("smithjane", "ex")]["timestamp"].startswith("2026-01-10 11")
    assert rows[("doejohn", "ex")]["score"] == "0.0" and rows[("doejohn", "ex")]["late_submission_penalty"] == "3.0"
    assert rows[("leeann", "ex")]["score"] == "0.0" and rows[("leeann", "ex")]["duedate"].startswith("2026-01-10 12")
    grade(root, subs, out, FakeBackend(), due_dates={"ex": due + dt.timedelta(days=1)})  # an extension: regraded
    assert read_rows(out)[("leeann", "ex")]["score"] == "3.0" and read_rows(out)[("doejohn", "ex")]["score"] == "0.0"
    with pytest.raises(GradeError, match="due dates for chapters this workspace does not grade: nope"):
        grade(root, subs, out, FakeBackend(), due_dates={"nope": due})


def test_grades_csv_agrees_with_nbgrader_export(graded_course: Path, tmp_path: Path) -> None:
    """Issue 13: nbgrader's own CSV export of the workspace's gradebook has the same rows and columns as grades.csv,
    chapters nobody handed in and students whose file could not be graded included."""
    from nbgrader.api import Gradebook
    from nbgrader.plugins.export import CsvExportPlugin

    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "alice", answered(graded_course))  # ex only: ex2 has no submission at all
    (subs / "bob").mkdir()
    (subs / "bob_ex.txt").write_text("my answers")  # a file that is not a notebook
    grade(graded_course, subs, out, FakeBackend())
    exported = tmp_path / "export.csv"
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        CsvExportPlugin(to=str(exported)).export(gb)
    with open(exported, newline="", encoding="utf-8") as fh:
        theirs = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(fh)}
    ours = read_rows(out)
    assert set(theirs) == set(ours) == {(s, c) for s in ("alice", "bob") for c in ("ex", "ex2")}
    for key, row in theirs.items():
        assert {k: ours[key][k] for k in row} == row, key
    assert ours[("bob", "ex")]["status"] == "not-a-notebook" and ours[("alice", "ex2")]["status"] == "missing"


def test_a_score_changed_in_the_formgrader_reaches_grades_csv_and_the_feedback(graded_course: Path,
                                                                               tmp_path: Path) -> None:
    """Issue 13, manual review: a manual score set in the gradebook (what Formgrader does) is in grades.csv and the
    feedback after the same command runs again; with nothing changed, a rerun writes no feedback."""
    from nbgrader.api import Gradebook

    subs, out = tmp_path / "subs", tmp_path / "out"
    submit(subs, "bob", released(graded_course))  # the stub: 0 points
    grade(graded_course, subs, out, FakeBackend())
    feedback = out / "feedback" / "bob" / "ex" / "ex.html"
    written = feedback.stat().st_mtime_ns
    grade(graded_course, subs, out, FakeBackend())
    assert feedback.stat().st_mtime_ns == written  # unchanged class: the feedback is kept
    with Gradebook(f"sqlite:///{out / 'gradebook.db'}") as gb:
        gb.find_grade("ex_double_test", "ex", "ex", "bob").manual_score = 1.5
        gb.db.commit()
    grade(graded_course, subs, out, FakeBackend())
    assert read_rows(out)[("bob", "ex")]["score"] == "1.5"
    assert feedback.stat().st_mtime_ns != written and "1.5" in _feedback_text(out)
