"""The release pipeline on a tiny course built in a temporary folder (solutions/ex/ex.ipynb)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from conftest import (
    code_cell,
    exercise_cells,
    make_course,
    markdown_cell,
    nbgrader_meta,
    snapshot,
    write_notebook,
)

from course_utils._layout import find_course_root
from course_utils.instructor.release import (
    ReleaseError,
    check_source_notebook,
    discover_assignments,
    release,
)
from course_utils.instructor.validation import validate_notebook

FORBIDDEN = ("BEGIN SOLUTION", "END SOLUTION", "HIDDEN TESTS")


def test_release_replaces_solutions_with_the_stub(course: Path) -> None:
    """Does the released notebook hold the stub, the visible test, and no solution or hidden test?"""
    written = release(course)
    notebook = course / "chapters" / "ex" / "ex.ipynb"
    assert notebook in written
    text = notebook.read_text(encoding="utf-8")
    assert "raise NotImplementedError()" in text
    for marker in FORBIDDEN:
        assert marker not in text
    assert "return 2 * x" not in text  # the solution itself
    assert "double(-3)" not in text  # the hidden test itself
    assert "assert double(2) == 4" in text  # the visible test stays
    assert "Write `double(x)`" in text  # markdown stays
    nb = nbformat.read(notebook, as_version=4)
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [c.metadata.nbgrader.grade_id for c in tests] == ["ex_double_test", "ex_double_data_test"]
    assert all(c.metadata.get("editable") is False for c in tests)  # locked for students


def test_release_copies_other_files_and_leaves_no_nbgrader_state(course: Path) -> None:
    """Are non-notebook files copied, and does no gradebook, log or staging folder land in the course?"""
    release(course)
    assert (course / "chapters" / "ex" / "data.txt").read_text() == "42\n"
    assert sorted(p.name for p in course.iterdir()) == ["chapters", "nbgrader_config.py", "solutions"]
    assert sorted(p.name for p in (course / "chapters").iterdir()) == ["ex"]
    assert not list(course.rglob("gradebook.db")) and not list(course.rglob("*.log"))


def test_release_is_byte_stable(course: Path) -> None:
    """Does releasing the same sources twice give byte-identical files, each ending in one newline?"""
    release(course)
    first = snapshot(course / "chapters")
    release(course)
    second = snapshot(course / "chapters")
    assert first == second
    assert first["ex/ex.ipynb"].endswith(b"}\n")
    canonical = nbformat.writes(nbformat.reads(first["ex/ex.ipynb"].decode(), 4)) + "\n"
    assert first["ex/ex.ipynb"] == canonical.encode()


def test_release_of_one_assignment_keeps_the_others(tmp_path: Path) -> None:
    """Does release(assignments=[...]) rewrite only the named chapter and keep the other bytes?"""
    root = make_course(tmp_path / "course", ("a1", "a2"))
    release(root)
    kept = (root / "chapters" / "a2" / "a2.ipynb").read_bytes()
    (root / "solutions" / "a1" / "extra.txt").write_text("new\n")
    written = release(root, ["a1"])
    assert all("a1" in p.parts for p in written)
    assert (root / "chapters" / "a1" / "extra.txt").exists()
    assert (root / "chapters" / "a2" / "a2.ipynb").read_bytes() == kept


def test_full_release_drops_chapters_without_sources(tmp_path: Path) -> None:
    """Does a full release make chapters/ hold exactly the assignments in solutions/?"""
    root = make_course(tmp_path / "course", ("a1",))
    (root / "chapters" / "old_chapter").mkdir(parents=True)
    (root / "chapters" / "old_chapter" / "stale.txt").write_text("x")
    release(root)
    assert sorted(p.name for p in (root / "chapters").iterdir()) == ["a1"]


def test_release_into_another_folder_matches(course: Path, tmp_path: Path) -> None:
    """Does release(dest=...) write the same bytes as a release into chapters/?"""
    release(course)
    release(course, dest=tmp_path / "elsewhere")
    assert snapshot(tmp_path / "elsewhere") == snapshot(course / "chapters")


def test_unknown_assignment_and_empty_course_are_errors(tmp_path: Path) -> None:
    """Do an unknown assignment id and a course without solutions raise one-line ReleaseErrors?"""
    root = make_course(tmp_path / "course", ("a1",))
    with pytest.raises(ReleaseError, match=r"unknown assignment 'nope'.*choose from: a1"):
        release(root, ["nope"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReleaseError, match="no assignments found"):
        release(empty)
    assert not (empty / "chapters").exists()


def test_discover_and_find_root(tmp_path: Path) -> None:
    """Are assignments the folders holding <id>/<id>.ipynb, and is the root found from below?"""
    root = make_course(tmp_path / "course", ("b", "a"))
    (root / "solutions" / "notes").mkdir()
    (root / "solutions" / "notes" / "other.ipynb").write_text("{}")
    assert discover_assignments(root) == ["a", "b"]
    assert find_course_root(root / "solutions" / "a") == root.resolve()
    with pytest.raises(FileNotFoundError, match="nbgrader_config.py"):
        find_course_root(tmp_path)


# ----------------------------------------------------------------------------------------------
# malformed sources: each raises a one-line ReleaseError naming file and cell, chapters/ untouched


def _with_cell(index: int, cell: dict) -> list[dict]:
    cells = exercise_cells("ex")
    cells[index] = cell
    return cells


def _invalid_json(path: Path) -> None:
    text = path.read_text(encoding="utf-8").splitlines()
    text[3] = text[3] + " <<<<<<< HEAD"  # a merge conflict left in
    path.write_text("\n".join(text), encoding="utf-8")


MALFORMED = {
    "duplicate grade_id": (
        lambda p: write_notebook(p, _with_cell(4, code_cell(
            "test-data", "assert double(0) == 0",
            nbgrader_meta("ex_double_test", grade=True, locked=True, points=1)))),
        r"cell 4 \(grade_id 'ex_double_test'\): duplicate grade_id .*also cell 3",
    ),
    "unbalanced solution markers": (
        lambda p: write_notebook(p, _with_cell(2, code_cell(
            "answer", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x",
            nbgrader_meta("ex_double", solution=True)))),
        r"cell 2 \(grade_id 'ex_double'\): unbalanced markers: "
        r"'BEGIN SOLUTION' on line 2 has no 'END SOLUTION'",
    ),
    "unbalanced hidden tests": (
        lambda p: write_notebook(p, _with_cell(3, code_cell(
            "test-visible", "assert double(2) == 4\n### END HIDDEN TESTS",
            nbgrader_meta("ex_double_test", grade=True, locked=True, points=2)))),
        r"cell 3 \(grade_id 'ex_double_test'\): unbalanced markers: 'END HIDDEN TESTS' on line 2 has no",
    ),
    "outputs present": (
        lambda p: write_notebook(p, _with_cell(1, code_cell(
            "read-data", "DATA = 42", execution_count=3,
            outputs=[{"name": "stdout", "output_type": "stream", "text": "hi\n"}]))),
        r"cell 1 \(no grade_id\): code cell carries outputs",
    ),
    "solution marker outside a solution cell": (
        lambda p: write_notebook(p, _with_cell(1, code_cell(
            "read-data", "### BEGIN SOLUTION\nDATA = 42\n### END SOLUTION"))),
        r"cell 1 \(no grade_id\): has '### BEGIN SOLUTION' but is not a solution cell",
    ),
    "hidden tests outside a graded cell": (
        lambda p: write_notebook(p, _with_cell(1, code_cell(
            "read-data", "DATA = 42\n### BEGIN HIDDEN TESTS\nassert DATA\n### END HIDDEN TESTS"))),
        r"cell 1 \(no grade_id\): has '### BEGIN HIDDEN TESTS' but is not a graded test cell",
    ),
    "graded cell without points": (
        lambda p: write_notebook(p, _with_cell(4, code_cell(
            "test-data", "assert double(DATA) == 84",
            nbgrader_meta("ex_double_data_test", grade=True, locked=True)))),
        r"cell 4 \(grade_id 'ex_double_data_test'\): graded cell has no points",
    ),
    "solution cell without grade_id": (
        lambda p: write_notebook(p, _with_cell(2, code_cell(
            "answer", "def double(x):\n    return 2 * x",
            {k: v for k, v in nbgrader_meta("x", solution=True).items() if k != "grade_id"}))),
        r"cell 2 \(no grade_id\): solution cell has no grade_id",
    ),
    "missing cell id": (
        lambda p: write_notebook(p, _with_cell(0, {"cell_type": "markdown", "metadata": {}, "source": "#"})),
        r"cell 0 \(no grade_id\): no cell id",
    ),
    "schema error": (
        lambda p: write_notebook(p, _with_cell(0, {**markdown_cell("intro", "# Hi"), "outputs": []})),
        r"cell 0 \(no grade_id\).*does not match the nbformat schema",
    ),
    "invalid JSON": (_invalid_json, r"invalid JSON at line 4, column \d+"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_source_is_refused_and_chapters_stay(course: Path, case: str) -> None:
    """Does each malformed source raise a one-line ReleaseError naming file and cell, chapters/ untouched?"""
    release(course)
    before = snapshot(course / "chapters")
    assert before
    source = course / "solutions" / "ex" / "ex.ipynb"
    break_it, pattern = MALFORMED[case]
    break_it(source)
    with pytest.raises(ReleaseError) as caught:
        release(course)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(source.resolve())) or "solutions/ex/ex.ipynb" in message
    assert re.search(pattern, message), message
    assert snapshot(course / "chapters") == before
    assert sorted(p.name for p in course.iterdir()) == ["chapters", "nbgrader_config.py", "solutions"]


def test_one_bad_assignment_blocks_the_whole_release(tmp_path: Path) -> None:
    """When one of two assignments is broken, is neither chapter written?"""
    root = make_course(tmp_path / "course", ("a1", "a2"))
    (root / "solutions" / "a2" / "a2.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReleaseError, match=r"a2\.ipynb: invalid JSON at line 1, column 2"):
        release(root)
    assert not (root / "chapters").exists()


def test_every_problem_is_listed(course: Path) -> None:
    """Does ReleaseError.problems list every problem, one line each, while str() stays one line?"""
    cells = exercise_cells("ex")
    cells[1]["outputs"] = [{"name": "stdout", "output_type": "stream", "text": "x\n"}]
    cells[4]["metadata"]["nbgrader"]["grade_id"] = "ex_double_test"
    write_notebook(course / "solutions" / "ex" / "ex.ipynb", cells)
    with pytest.raises(ReleaseError) as caught:
        check_source_notebook(course / "solutions" / "ex" / "ex.ipynb")
    assert len(caught.value.problems) == 2
    assert "(and 1 more problem(s))" in str(caught.value)


def test_check_source_notebook_returns_the_notebook(course: Path) -> None:
    """Does a well-formed source pass the checks and come back as a NotebookNode?"""
    nb = check_source_notebook(course / "solutions" / "ex" / "ex.ipynb")
    assert isinstance(nb, nbformat.NotebookNode)
    assert len(nb.cells) == 5


def test_nbformat_4_4_without_cell_ids_is_accepted(course: Path) -> None:
    """Is an older nbformat 4.4 notebook (which has no cell ids) released, and stably?"""
    path = course / "solutions" / "ex" / "ex.ipynb"
    data = json.loads(path.read_text())
    data["nbformat_minor"] = 4
    for cell in data["cells"]:
        del cell["id"]
    path.write_text(json.dumps(data))
    release(course)
    first = snapshot(course / "chapters")
    release(course)
    assert snapshot(course / "chapters") == first


# ----------------------------------------------------------------------------------------------
# validation (each call starts a kernel: one shared release per module)


def test_validate_passes_on_the_source(released_course: Path) -> None:
    """Does the instructor's notebook (run in its own folder, reading data.txt) pass every graded test?"""
    result = validate_notebook(released_course / "solutions" / "ex" / "ex.ipynb")
    assert result.passed, result
    assert result.failed_cells == ()
    assert result.n_graded == 2


def test_validate_fails_on_the_release_and_names_the_cells(released_course: Path) -> None:
    """Does the released notebook fail validation, naming each graded cell and its error?"""
    result = validate_notebook(released_course / "chapters" / "ex" / "ex.ipynb")
    assert not result.passed
    assert result.failed_ids == ["ex_double_test", "ex_double_data_test"]
    assert all(f.message == "NotImplementedError" for f in result.failed_cells)
    assert "2 of 2 graded test cell(s) fail" in result.summary


def test_inverted_validate_passes_on_the_release(released_course: Path) -> None:
    """Does validate_notebook(invert=True) pass on the release, where every test must fail?"""
    result = validate_notebook(released_course / "chapters" / "ex" / "ex.ipynb", invert=True)
    assert result.passed, result
    assert "fail without answers, as they should" in result.summary


def test_inverted_validate_fails_on_the_source(released_course: Path) -> None:
    """Does invert=True flag the cells that pass (here, all of them on the solution notebook)?"""
    result = validate_notebook(released_course / "solutions" / "ex" / "ex.ipynb", invert=True)
    assert not result.passed
    assert result.failed_ids == ["ex_double_test", "ex_double_data_test"]


def test_validate_reports_a_wrong_answer(tmp_path: Path) -> None:
    """Does a wrong answer fail with the assertion's message, and a timeout stop a stuck cell?"""
    cells = exercise_cells("w")
    cells[2]["source"] = "def double(x):\n    return 3 * x"
    cells[3]["source"] = 'assert double(2) == 4, "double(2) should be 4"'
    cells[4]["source"] = "import time\ntime.sleep(30)"
    path = write_notebook(tmp_path / "w" / "w.ipynb", cells)
    (tmp_path / "w" / "data.txt").write_text("42\n")
    result = validate_notebook(path, timeout=2)
    assert not result.passed
    assert result.failed_ids == ["w_double_test", "w_double_data_test"]
    assert result.failed_cells[0].message == "AssertionError: double(2) should be 4"
    assert "Timeout" in result.failed_cells[1].detail or "timeout" in result.failed_cells[1].detail.lower()


def test_validate_refuses_what_is_not_a_notebook(tmp_path: Path) -> None:
    """Do a missing file and a non-notebook raise FileNotFoundError and ValueError?"""
    with pytest.raises(FileNotFoundError):
        validate_notebook(tmp_path / "missing.ipynb")
    bad = tmp_path / "bad.ipynb"
    bad.write_text("not json")
    with pytest.raises(ValueError, match="not a readable notebook"):
        validate_notebook(bad)


def test_a_heading_whose_points_disagree_with_its_cells_is_reported() -> None:
    """Does points_mismatches name the cell and the grade_ids when "(N points)" differs from the metadata, and
    say nothing when they agree?"""
    import nbformat

    from course_utils.instructor.release import points_mismatches

    def graded(grade_id: str, points: float):
        cell = nbformat.v4.new_code_cell("assert True")
        cell.metadata["nbgrader"] = {"grade": True, "grade_id": grade_id, "points": points, "solution": False}
        return cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("### Exercise 1 (3 points): one"), graded("one-tests", 3),
                nbformat.v4.new_markdown_cell("### Exercise 2 (2 points): two"), graded("two-a", 1), graded("two-b", 2),
                nbformat.v4.new_markdown_cell("## Summary (1 point of advice)")]
    [problem] = points_mismatches(nb, "solutions/x/x.ipynb")
    assert problem.startswith("solutions/x/x.ipynb: cell 2 says (2 points) but the graded cells under it carry 3")
    assert "two-a (1), two-b (2)" in problem
    nb.cells[4].metadata["nbgrader"]["points"] = 1
    assert points_mismatches(nb, "x") == []


def test_every_chapters_headings_agree_with_its_points() -> None:
    """The course itself: does every "(N points)" heading match its graded cells?"""
    from conftest import REPO_ROOT

    from course_utils.instructor.release import release_warnings

    assert release_warnings(REPO_ROOT) == []
