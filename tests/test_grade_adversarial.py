"""Bad submissions, graded in one real ``course grade`` run: does each end with its honest score?

Every submission is the released ``chapters/01_probability_densities`` notebook (the chapter that
executes fastest, about 6 s in the sandbox) with its answer cells edited programmatically. All of
them are graded together, ``--jobs 2``, in bubblewrap, with small limits (10 s per cell, 1.5 GiB),
once per session; each test then checks one row of ``grades.csv`` (and the report). The bombs
share the run with the honest submissions, so a correct notebook scoring full marks also shows
that the others did not disturb it.

Points in chapter 01: uniform-pdf-tests 2, prob-between-tests 2, sample-exponential-tests 3 (7).
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import nbformat
import pytest
from conftest import REPO_ROOT

from course_utils.cli import main
from course_utils.instructor.submissions import simulated_submission, solution_answers

CHAPTER = "01_probability_densities"
OTHER_CHAPTER = "00_welcome"
TESTS = ("uniform-pdf-tests", "prob-between-tests", "sample-exponential-tests")
FULL = 7.0

ALWAYS_EQUAL = '''
class AlwaysEqual:
    """Equal to everything, shaped like anything."""
    shape = property(lambda self: x_shape)
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__
    def __getattr__(self, name):
        return lambda *args, **kwargs: self

def uniform_pdf(x, low, high):
    global x_shape
    x_shape = x.shape
    return AlwaysEqual()
'''
RIGGED_FLOAT = '''
class RiggedFloat(float):
    def __eq__(self, other):
        return True
    __hash__ = float.__hash__

def prob_between(dist, a, b):
    return RiggedFloat(0.0)
'''


def _answers() -> dict[str, str]:
    return solution_answers(REPO_ROOT, CHAPTER)


def _grade_cells(nb) -> list:
    return [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") in TESTS]


def build_submissions(folder: Path, out: Path) -> dict[str, float | str]:
    """Write one submission per kind under ``folder`` (nbgrader layout); return kind -> expected score.

    An expected value that is a string is the row's expected ``status`` (score 0).
    """
    right = _answers()
    expected: dict[str, float | str] = {}

    def save(kind: str, nb, score: float | str) -> None:
        path = folder / kind / CHAPTER / f"{CHAPTER}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        expected[kind] = score

    def with_answers(**override: str):
        return simulated_submission(REPO_ROOT, CHAPTER, {**right, **override})

    save("stub", simulated_submission(REPO_ROOT, CHAPTER, {}), 0.0)
    save("correct", with_answers(), FULL)
    save("partial", simulated_submission(REPO_ROOT, CHAPTER, {"uniform-pdf": right["uniform-pdf"]}), 2.0)

    nb = simulated_submission(REPO_ROOT, CHAPTER, {"uniform-pdf": right["uniform-pdf"]})
    for cell in _grade_cells(nb):
        cell.source = "pass"
    save("tests-replaced-by-pass", nb, 2.0)

    nb = simulated_submission(REPO_ROOT, CHAPTER, {"prob-between": right["prob-between"]})
    nb.cells = [c for c in nb.cells if c not in _grade_cells(nb)]
    save("tests-deleted", nb, 2.0)

    nb = simulated_submission(REPO_ROOT, CHAPTER, {"uniform-pdf": right["uniform-pdf"]})
    for cell in _grade_cells(nb):
        cell.source = "pass"
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)
    save("metadata-stripped", nb, 2.0)

    save("infinite-loop", with_answers(**{"uniform-pdf": "while True:\n    pass"}), 5.0)
    # in the last answer: IPython keeps the failed frame (and its hoard) alive in sys.last_traceback, so
    # any later cell that needs memory would fail as well; the two tests before it count
    save("memory-bomb", with_answers(**{"sample-exponential": (
        "hoard = []\nwhile True:\n    hoard.append(bytearray(64 * 2**20))")}), 4.0)
    # in the last answer: the sandbox kills the bomb's copies of the kernel after the cell fails, but on a
    # busy machine the bomb can outlast the cell timeout with a kernel too busy to interrupt, which then
    # restarts and loses everything defined before (seen in CI); the two tests before it count
    save("fork-bomb", with_answers(**{"sample-exponential": "import os\nwhile True:\n    os.fork()"}), 4.0)
    save("sys-exit", with_answers(**{"uniform-pdf": right["uniform-pdf"] + "\nimport sys\nsys.exit(0)"}), FULL)
    # the kernel dies in the last answer: the two tests before it count, the last one cannot run
    save("os-exit", with_answers(**{"sample-exponential": right["sample-exponential"]
                                    + "\nimport os\nos._exit(0)"}), 4.0)
    save("always-equal", with_answers(**{"uniform-pdf": ALWAYS_EQUAL, "prob-between": RIGGED_FLOAT}), 3.0)

    solution = REPO_ROOT / "solutions" / CHAPTER / f"{CHAPTER}.ipynb"
    steal = (
        "import json\n"
        f"source = json.load(open({str(solution)!r}))  # the instructor's notebook, answers and hidden tests\n"
        f"gradebook = open({str(out / 'gradebook.db')!r}, 'rb').read()\n"
        "for cell in source['cells']:\n"
        "    if cell['metadata'].get('nbgrader', {}).get('solution'):\n"
        "        exec(''.join(cell['source']))\n")
    save("reads-solutions-and-gradebook", with_answers(**{"uniform-pdf": steal, "prob-between": steal,
                                                          "sample-exponential": steal}), 0.0)
    save("network", with_answers(**{"uniform-pdf": (
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=3).close()\n"
        "import urllib.request\nurllib.request.urlopen('http://example.com', timeout=3)\n"
        + right["uniform-pdf"])}), 5.0)
    save("print-100mb", with_answers(**{"uniform-pdf": right["uniform-pdf"] + "\nprint('x' * 100_000_000)"}), FULL)
    # deliberate monkeypatching of the test helpers: in-kernel tests cannot stop it; it is flagged
    save("patches-grading", simulated_submission(REPO_ROOT, CHAPTER, {"uniform-pdf": (
        "import course_utils.grading as grading\n"
        "grading.expect_close = grading.expect_tensor = grading.expect_raises = lambda value, *a, **k: value\n"
        "def uniform_pdf(x, low, high):\n    return x")}), "flagged")

    bad = folder / "invalid-json" / CHAPTER / f"{CHAPTER}.ipynb"
    bad.parent.mkdir(parents=True)
    bad.write_text('{"cells": [ {"cell_type": "code", "source": "oops"', encoding="utf-8")
    expected["invalid-json"] = "invalid-notebook"

    other = simulated_submission(REPO_ROOT, OTHER_CHAPTER, solution_answers(REPO_ROOT, OTHER_CHAPTER))
    save("wrong-chapter", other, "wrong-chapter")
    return expected


@pytest.fixture(scope="session")
def graded_class(tmp_path_factory: pytest.TempPathFactory):
    """The whole bad class graded once: (expected, rows by student, OUT, seconds, stdout)."""
    from course_utils.instructor.sandbox.backend import SandboxUnavailable, detect

    try:
        detect()
    except SandboxUnavailable as error:
        pytest.skip(f"no sandbox here: {error}")
    base = tmp_path_factory.mktemp("adversarial")
    submissions, out = base / "submissions", base / "out"
    expected = build_submissions(submissions, out)
    before = {p: p.read_bytes() for p in submissions.rglob("*") if p.is_file()}
    started = time.monotonic()
    status = main(["--root", str(REPO_ROOT), "grade", str(submissions), "--out", str(out), "--jobs", "2",
                   "--chapter", CHAPTER, "--cell-timeout", "10", "--notebook-timeout", "150", "--memory", "1.5G",
                   "--cpu-seconds", "120", "--no-progress"])
    seconds = time.monotonic() - started
    assert status == 0
    after = {p: p.read_bytes() for p in submissions.rglob("*") if p.is_file()}
    assert after == before, "grading changed the submitted files"
    with open(out / "grades.csv", newline="", encoding="utf-8") as fh:
        rows = {row["student_id"]: row for row in csv.DictReader(fh)}
    print(f"graded {len(rows)} adversarial submissions in {seconds:.1f} s")
    return expected, rows, out, seconds


KINDS = ["stub", "correct", "partial", "tests-replaced-by-pass", "tests-deleted", "metadata-stripped",
         "infinite-loop", "memory-bomb", "fork-bomb", "sys-exit", "os-exit", "always-equal",
         "reads-solutions-and-gradebook", "network", "print-100mb", "invalid-json", "wrong-chapter"]


@pytest.mark.parametrize("kind", KINDS)
def test_each_bad_submission_gets_its_honest_score(graded_class, kind: str) -> None:
    """Does this kind of submission end with the score its working answers deserve, and a row saying so?"""
    expected, rows, _, _ = graded_class
    row = rows[kind]
    assert row["max_score"] == str(FULL)
    if isinstance(expected[kind], str):
        assert (row["status"], float(row["score"])) == (expected[kind], 0.0), row
        assert row["note"], "an ungradable submission's row should say why"
    else:
        assert float(row["score"]) == expected[kind], row
        assert row["status"] in ("ok", "cell-timeout", "kernel-died"), row


def test_every_submission_has_exactly_one_row(graded_class) -> None:
    """Is there one row per submitted student, nbgrader's columns first, and no row lost?"""
    expected, rows, out, _ = graded_class
    assert set(rows) == set(expected)
    header = (out / "grades.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    assert header[:11] == ["assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                           "raw_score", "late_submission_penalty", "score", "max_score"]
    assert header[11:] == ["status", "note"]


def test_bombs_are_reported_by_status(graded_class) -> None:
    """Do the timeout and the dead kernel show up in the status column, with a message?"""
    _, rows, _, _ = graded_class
    assert rows["infinite-loop"]["status"] == "cell-timeout"
    assert rows["os-exit"]["status"] == "kernel-died"
    assert rows["correct"]["status"] == "ok" and rows["correct"]["note"] == ""


def test_a_huge_print_is_truncated(graded_class) -> None:
    """Is a 100 MB print cut down to the output budget in the graded notebook?"""
    _, _, out, _ = graded_class
    graded = out / "autograded" / "print-100mb" / CHAPTER / f"{CHAPTER}.ipynb"
    assert graded.stat().st_size < 4 * 2**20


def test_feedback_is_written_for_every_executed_submission(graded_class) -> None:
    """Does every executed submission get feedback/<student>/<chapter>/<chapter>.html, and no other?"""
    expected, _, out, _ = graded_class
    have = {p.parts[-3] for p in (out / "feedback").glob(f"*/{CHAPTER}/{CHAPTER}.html")}
    assert have == {k for k, v in expected.items() if not isinstance(v, str) or v == "flagged"}


def test_monkeypatching_the_helpers_is_flagged_for_review(graded_class) -> None:
    """Is a submission that patches course_utils.grading listed for review in the report and its row?"""
    _, rows, out, _ = graded_class
    assert "flagged for review" in rows["patches-grading"]["note"]
    report = (out / "report.html").read_text(encoding="utf-8")
    flags = report[report.index("id='flags'"):]
    assert "patches-grading" in flags and "course_utils.grading" in flags
    assert "correct</td>" not in flags


def test_report_summarises_the_class(graded_class) -> None:
    """Does report.html show the score histograms, the hardest exercises and the ungradable submissions?"""
    _, _, out, _ = graded_class
    report = (out / "report.html").read_text(encoding="utf-8")
    assert report.count("data:image/png;base64,") == 1  # one chapter: one row of histograms
    for grade_id in TESTS:
        assert grade_id in report[report.index("id='hardest'"):report.index("id='distributions'")]
    problems = report[report.index("id='problems'"):report.index("id='unmapped'")]
    assert "invalid-notebook" in problems and "wrong-chapter" in problems


def test_nothing_secret_reached_the_sandbox(graded_class) -> None:
    """Did the submission that reads solutions/ and the gradebook fail to open either?"""
    _, _, out, _ = graded_class
    nb = nbformat.read(out / "work" / "reads-solutions-and-gradebook" / CHAPTER / "executed.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution") for o in c.outputs
              if o.output_type == "error"]
    assert errors and all(o.ename in ("FileNotFoundError", "PermissionError") for o in errors), \
        [(o.ename, o.evalue) for o in errors]


def test_the_suite_is_quick(graded_class) -> None:
    """Does grading the whole bad class stay well under two minutes on two cores?"""
    _, _, out, seconds = graded_class
    results = [json.loads(p.read_text()) for p in (out / "work").glob(f"*/{CHAPTER}/result.json")]
    assert len(results) == len(KINDS) + 1
    assert seconds < 180, f"the adversarial run took {seconds:.0f} s"
