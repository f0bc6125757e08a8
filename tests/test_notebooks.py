"""The real course: every chapter in solutions/ against its release in chapters/.

Parametrised over the assignments that exist when pytest collects (``solutions/<id>/<id>.ipynb``),
so a new chapter is tested as soon as its notebook lands. Every test of one chapter shares an xdist
work unit (see ``chapter_scope`` in conftest.py), so ``pytest -n 2 --dist loadfile`` runs different
chapters' notebooks on different workers. nbval (configured in pyproject.toml) separately runs
every solution notebook top to bottom.

Conventions the notebooks follow (checked here; CONTRIBUTING.md "Adding a chapter" explains them):

- every notebook in solutions/ is a chapter ``solutions/NN_name/NN_name.ipynb`` (otherwise release and
  these tests would skip it without a word);
- a chapter shows at least one widget: some code cell calls a name imported from
  ``course_utils.widgets`` (``from course_utils.widgets import densities`` in the setup cell,
  then ``densities.histogram_explorer()`` in a later cell);
- at least two autograded test cells ("Autograder tests": grade, not solution, points > 0), at
  least one of them with ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``;
- grade_ids unique across the whole course; no outputs or execution counts in committed notebooks;
- a chapter imports only the student layer of course_utils: never ``course_utils.instructor``, ``cli`` or
  ``bench`` (the import contracts in pyproject.toml cover the package, this covers the notebooks).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
from conftest import REPO_ROOT, chapter_scope, snapshot

from course_utils._layout import RELEASE_DIR, SOURCE_DIR
from course_utils.instructor.prose_numbers import uncomputed_numbers
from course_utils.instructor.release import (
    check_source_notebook,
    discover_assignments,
    release,
)
from course_utils.instructor.validation import ValidationResult, validate_notebook

CHAPTERS = discover_assignments(REPO_ROOT)
FORBIDDEN = re.compile(r"BEGIN SOLUTION|END SOLUTION|HIDDEN TESTS")
STALE = f"is stale: run `make release` (or `.venv/bin/course release`) and commit {RELEASE_DIR}/"
# Chapter ids: two digits, then lower-case words joined by "_" (course grade maps submissions by them).
CHAPTER_ID = re.compile(r"\d\d_[a-z0-9]+(?:_[a-z0-9]+)*")
# Tooling above the student layer (course_utils/__init__.py): a notebook that imports it breaks for students.
NOT_FOR_NOTEBOOKS = ("course_utils.instructor", "course_utils.cli", "course_utils.bench")

per_chapter = pytest.mark.parametrize("chapter", CHAPTERS)


def source_notebook(chapter: str) -> Path:
    return REPO_ROOT / SOURCE_DIR / chapter / f"{chapter}.ipynb"


def released_notebook(chapter: str) -> Path:
    return REPO_ROOT / RELEASE_DIR / chapter / f"{chapter}.ipynb"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def autograded_tests(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """'Autograder tests' cells: graded code cells that are not answer cells."""
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
            and not c.metadata.nbgrader.get("solution")]


def _explain(result: ValidationResult) -> str:
    return result.summary + "".join(f"\n  {f.grade_id}: {f.message}" for f in result.failed_cells)


def grade_ids(nb: nbformat.NotebookNode) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")]


# ----------------------------------------------------------------------------------------------
# widget detection


def _python_source(cell_source: str) -> ast.Module | None:
    """The cell as a Python AST after IPython's transforms (magics, ``!shell``); None if not Python."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(cell_source))
    except SyntaxError:
        return None


def _widget_names(tree: ast.Module) -> set[str]:
    """Names that ``tree`` binds to course_utils.widgets or something imported from it."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "course_utils.widgets" or node.module.startswith("course_utils.widgets."):
                names.update(alias.asname or alias.name for alias in node.names)
            elif node.module == "course_utils":
                names.update(alias.asname or alias.name for alias in node.names if alias.name == "widgets")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "course_utils.widgets" or alias.name.startswith("course_utils.widgets."):
                    names.add(alias.asname or "course_utils")
    return names


def _root_name(func: ast.expr) -> str | None:
    while isinstance(func, ast.Attribute):
        func = func.value
    return func.id if isinstance(func, ast.Name) else None


def imported_modules(tree: ast.Module) -> set[str]:
    """Every module ``tree`` imports, with ``from course_utils import cli`` read as ``course_utils.cli``."""
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            modules.add(node.module)
            modules.update(f"{node.module}.{alias.name}" for alias in node.names)
    return modules


def widget_cells(nb: nbformat.NotebookNode) -> list[int]:
    """Indices of code cells that call a widget builder imported (in any cell) from course_utils.widgets."""
    trees = {i: _python_source(c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"}
    names: set[str] = set()
    for tree in trees.values():
        if tree is not None:
            names |= _widget_names(tree)
    return [i for i, tree in trees.items() if tree is not None and any(
        isinstance(node, ast.Call) and _root_name(node.func) in names for node in ast.walk(tree))]


def test_widget_detection_follows_the_convention() -> None:
    """Does widget_cells find builder calls (module or direct import) and ignore imports without a call?"""
    cells = [nbformat.v4.new_code_cell(s) for s in (
        "%matplotlib widget\nfrom course_utils.widgets import densities",
        "densities.histogram_explorer()",
        "from course_utils.widgets.welcome import digit_generator as dg\nx = 1",
        "dg(digits)",
        "import course_utils.widgets.base",
        "print('course_utils.widgets')",
        "!ls",
    )]
    assert widget_cells(nbformat.v4.new_notebook(cells=cells)) == [1, 3]
    assert widget_cells(nbformat.v4.new_notebook(cells=cells[:1] + cells[4:])) == []


def test_layer_check_reads_every_import_form() -> None:
    """Does imported_modules see `import a.b`, `from a import b` and `from a.b import c`, not relative ones?"""
    tree = ast.parse("import course_utils.cli\nfrom course_utils import bench as b\n"
                     "from course_utils.instructor.release import release\nfrom . import x")
    assert imported_modules(tree) == {"course_utils.cli", "course_utils", "course_utils.bench",
                                      "course_utils.instructor.release", "course_utils.instructor.release.release"}


def test_each_chapter_is_one_xdist_work_unit() -> None:
    """Under --dist loadfile, do one chapter's tests share a work unit, separate from other chapters?"""
    mod = "tests/test_notebooks.py"
    unit = chapter_scope(f"{mod}::test_solution_passes_validation[01_probability_densities]")
    assert unit == chapter_scope(f"{mod}::test_chapter_has_a_widget[01_probability_densities]")
    assert unit != chapter_scope(f"{mod}::test_chapter_has_a_widget[00_welcome]")
    assert chapter_scope(f"{mod}::test_at_least_one_chapter_exists") == mod
    assert chapter_scope("tests/test_release.py::test_x[invalid JSON]") == "tests/test_release.py"
    notebook = "solutions/00_welcome/00_welcome.ipynb"
    assert chapter_scope(f"{notebook}::Cell 3") == notebook


# ----------------------------------------------------------------------------------------------
# course-wide


def test_at_least_one_chapter_exists() -> None:
    """Is there at least one chapter (solutions/<id>/<id>.ipynb) to test?"""
    assert CHAPTERS, f"no {SOURCE_DIR}/<id>/<id>.ipynb in {REPO_ROOT}"


def test_every_source_notebook_is_a_chapter() -> None:
    """Does every notebook in solutions/ sit in a chapter folder, solutions/NN_name/ holding NN_name.ipynb?"""
    source = REPO_ROOT / SOURCE_DIR
    strays = sorted(str(p.relative_to(REPO_ROOT)) for p in source.rglob("*.ipynb")
                    if not any(part.startswith(".") for part in p.relative_to(source).parts)  # .ipynb_checkpoints
                    and (p.parent.parent != source or p.parent.name not in CHAPTERS))
    assert not strays, (
        f"not in a chapter, so neither released nor tested: {strays}; a chapter is "
        f"{SOURCE_DIR}/NN_name/NN_name.ipynb, the notebook named like its folder")
    bad_ids = [chapter for chapter in CHAPTERS if not CHAPTER_ID.fullmatch(chapter)]
    assert not bad_ids, f"chapter ids must look like 01_probability_densities (NN_lower_case_words): {bad_ids}"


def test_grade_ids_are_unique_across_the_course() -> None:
    """Is every grade_id used once in the whole course (so grades and feedback never mix up cells)?"""
    seen: dict[str, str] = {}
    duplicates = []
    for chapter in CHAPTERS:
        for grade_id in grade_ids(read(source_notebook(chapter))):
            if grade_id in seen:
                duplicates.append(f"{grade_id!r} in {chapter} and {seen[grade_id]}")
            seen.setdefault(grade_id, chapter)
    assert not duplicates, "duplicate grade_ids: " + "; ".join(duplicates)


def test_chapters_folder_holds_exactly_the_released_assignments() -> None:
    """Does chapters/ hold one folder per assignment in solutions/, and nothing else?"""
    folder = REPO_ROOT / RELEASE_DIR
    present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    assert present == CHAPTERS, f"{RELEASE_DIR}/ {STALE}"


# ----------------------------------------------------------------------------------------------
# per chapter


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """chapters/ regenerated from the current solutions/ into a temporary folder (once per worker)."""
    dest = tmp_path_factory.mktemp("fresh") / RELEASE_DIR
    release(REPO_ROOT, dest=dest)
    return dest


@per_chapter
def test_source_passes_the_release_checks(chapter: str) -> None:
    """Is the instructor notebook well formed for nbgrader (ids, markers, points, no outputs)?"""
    check_source_notebook(source_notebook(chapter))


@per_chapter
def test_chapter_equals_a_fresh_release(chapter: str, fresh_release: Path) -> None:
    """Is the committed chapters/<id>/ byte-identical to a regeneration from solutions/<id>/?"""
    committed = snapshot(REPO_ROOT / RELEASE_DIR / chapter)
    fresh = snapshot(fresh_release / chapter)
    assert committed.keys() == fresh.keys(), f"{RELEASE_DIR}/{chapter} {STALE}"
    changed = sorted(name for name in fresh if fresh[name] != committed[name])
    assert not changed, f"{RELEASE_DIR}/{chapter} {STALE} (differs: {', '.join(changed)})"


@per_chapter
def test_chapter_shows_no_solution_text(chapter: str) -> None:
    """Is there no BEGIN/END SOLUTION or HIDDEN TESTS text anywhere in chapters/<id>/?"""
    files = snapshot(REPO_ROOT / RELEASE_DIR / chapter)
    assert files, f"{RELEASE_DIR}/{chapter} is missing: run `make release` (or `.venv/bin/course release`)"
    leaks = [name for name, data in files.items() if FORBIDDEN.search(data.decode("utf-8", "replace"))]
    assert not leaks, f"solution or hidden-test text in {RELEASE_DIR}/{chapter}: {leaks}"


@per_chapter
def test_committed_notebooks_carry_no_outputs(chapter: str) -> None:
    """Do the committed solution and chapter notebooks have no outputs and no execution counts?"""
    paths = [source_notebook(chapter)]
    if released_notebook(chapter).exists():
        paths.append(released_notebook(chapter))
    dirty = [f"{path.relative_to(REPO_ROOT)} cell {i}"
             for path in paths for i, c in enumerate(read(path).cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count is not None)]
    assert not dirty, "outputs or execution counts in: " + ", ".join(dirty)


@per_chapter
def test_chapter_has_a_widget(chapter: str) -> None:
    """Does the chapter call at least one widget builder from course_utils.widgets?"""
    assert widget_cells(read(source_notebook(chapter))), (
        f"{chapter}: no code cell calls a builder imported from course_utils.widgets (e.g. "
        "`from course_utils.widgets import densities` in the setup cell, then `densities.histogram_explorer()`; "
        "a chapter's builders live in course_utils/widgets/<topic>.py)"
    )


@per_chapter
def test_chapter_imports_only_the_student_layer(chapter: str) -> None:
    """Does no cell import course_utils.instructor, cli or bench (tooling that students' kernels must not need)?"""
    bad = []
    for i, cell in enumerate(read(source_notebook(chapter)).cells):
        tree = _python_source(cell.source) if cell.cell_type == "code" else None
        bad += [f"cell {i} imports {module}" for module in sorted(imported_modules(tree) if tree else ())
                if any(module == top or module.startswith(top + ".") for top in NOT_FOR_NOTEBOOKS)]
    assert not bad, (f"{chapter}: " + "; ".join(bad) + ": a chapter uses the student layer only (course_utils's "
                     "top-level modules, widgets/, training/); put what it needs there")


@per_chapter
def test_chapter_has_graded_exercises_with_hidden_tests(chapter: str) -> None:
    """Are there >= 2 autograded test cells worth points, at least one with hidden tests?"""
    tests = [c for c in autograded_tests(read(source_notebook(chapter)))
             if float(c.metadata.nbgrader.get("points", 0)) > 0]
    assert len(tests) >= 2, f"{chapter}: {len(tests)} autograded test cell(s) with points; need >= 2"
    hidden = [c for c in tests if "BEGIN HIDDEN TESTS" in c.source]
    assert hidden, f"{chapter}: no test cell has ### BEGIN HIDDEN TESTS ... ### END HIDDEN TESTS"


@per_chapter
def test_solution_passes_validation(chapter: str) -> None:
    """Does the instructor notebook pass every graded test under nbgrader's Validator, does each figure it ends a
    cell with show as a picture, and does every number its prose quotes come from one of its cells (the run is
    the Validator's, so it costs nothing more)?"""
    result = validate_notebook(source_notebook(chapter))
    assert result.passed, _explain(result)
    assert result.n_graded >= 2, f"{chapter}: {result.n_graded} graded test cell(s) ran; need >= 2"
    unshown = [i for i, cell in enumerate(result.executed.cells) for out in cell.get("outputs", [])
               if out.get("data", {}).get("text/plain", "").startswith("<Figure size")
               and "image/png" not in out["data"]]
    assert not unshown, (f"{chapter}: cell(s) {unshown} end with a figure that shows as text, not a picture: draw it "
                         "on plotting.new_figure (a ChapterFigure), or display it with IPython.display")
    missing = uncomputed_numbers(result.executed)
    assert not missing, (
        f"{chapter}: figures in the text that no cell printed or set; print them from a cell, or list them "
        "with a reason in the notebook's metadata course.quoted_numbers:\n  " + "\n  ".join(map(str, missing)))


@per_chapter
def test_release_fails_every_graded_test(chapter: str, fresh_release: Path) -> None:
    """Does every graded test fail on the released notebook (Validator with invert=True passes)?"""
    result = validate_notebook(fresh_release / chapter / f"{chapter}.ipynb", invert=True)
    assert result.passed, _explain(result)
    assert result.n_graded >= 2, f"{chapter}: {result.n_graded} graded test cell(s) ran; need >= 2"
