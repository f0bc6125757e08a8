"""Turn the instructor notebooks in ``solutions/`` into the student notebooks in ``chapters/``.

Two jobs, both on top of nbgrader's own machinery (validation lives in ``course_utils.instructor.validation``):

- :func:`check_source_notebook` catches the mistakes that make ``nbgrader generate_assignment``
  fail late, obscurely, or not at all (a solution left in a cell not marked as one, an unbalanced
  ``### BEGIN SOLUTION``, a committed output), with one line that names the file and the cell.
- :func:`release` regenerates ``chapters/`` with nbgrader's ``GenerateAssignment`` converter, run
  in-process in a temporary course directory (its own gradebook), so nothing but ``chapters/``
  changes in the repository. The output is byte-stable: releasing twice gives identical files.
  (``course grade`` uses the same :func:`generate_assignment` to fill its workspace's gradebook;
  how nbgrader is run in-process is in ``course_utils.instructor.nbgrader_run``.)
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import nbformat
from nbformat.warnings import MissingIDFieldWarning
from traitlets.config import Config

from course_utils._layout import RELEASE_DIR, SOURCE_DIR
from course_utils.instructor.nbgrader_run import NbgraderFailed, load_nbgrader_config, run_converter

# Never copied into a release (nbgrader's CourseDirectory.ignore, plus macOS litter).
IGNORE_PATTERNS = (".ipynb_checkpoints", "__pycache__", "*.pyc", "feedback", ".DS_Store")
# nbgrader finds regions by substring, whatever the comment mark ("### BEGIN SOLUTION", "# BEGIN ...").
MARKER_PAIRS = (("BEGIN SOLUTION", "END SOLUTION"), ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"))
# Leftovers of an interrupted release sit beside chapters/ under these prefixes.
_STAGING_PREFIX = ".chapters-new-"
_OLD_PREFIX = ".chapters-old-"


class ReleaseError(ValueError):
    """A source notebook or course layout that cannot be released.

    ``str(error)`` is one line naming the file and the cell; ``error.problems`` lists every problem
    found, one line each.
    """

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        message = self.problems[0] if self.problems else "release failed"
        if len(self.problems) > 1:
            message += f" (and {len(self.problems) - 1} more problem(s))"
        super().__init__(message)


# ----------------------------------------------------------------------------------------------
# course layout


def discover_assignments(root: str | os.PathLike[str] = ".") -> list[str]:
    """List the assignment ids under ``<root>/solutions``: folders ``<id>`` holding ``<id>.ipynb``.

    Parameters
    ----------
    root : path-like
        The course root.

    Returns
    -------
    list of str
        Sorted assignment ids (e.g. ``["00_welcome", "01_probability_densities"]``).
    """
    source = Path(root) / SOURCE_DIR
    if not source.is_dir():
        return []
    return sorted(
        d.name for d in source.iterdir() if d.is_dir() and (d / f"{d.name}.ipynb").is_file()
    )


# ----------------------------------------------------------------------------------------------
# checking a source notebook


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else as given."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _source_text(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _cell_label(index: int, cell: dict) -> str:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
    return f"cell {index} (grade_id {grade_id!r})" if grade_id else f"cell {index} (no grade_id)"


def _marker_problems(source: str) -> Iterator[str]:
    """Yield a description of each unbalanced BEGIN/END region in ``source``."""
    for begin, end in MARKER_PAIRS:
        open_line = None
        for lineno, line in enumerate(source.splitlines(), start=1):
            if begin in line:
                if open_line is not None:
                    yield f"'{begin}' on line {lineno} before the '{end}' of line {open_line}"
                open_line = lineno
            elif end in line:
                if open_line is None:
                    yield f"'{end}' on line {lineno} has no '{begin}' above it"
                open_line = None
        if open_line is not None:
            yield f"'{begin}' on line {open_line} has no '{end}'"


def _cell_problems(index: int, cell: dict, seen_ids: dict[str, int]) -> Iterator[str]:
    """Yield the nbgrader problems of one cell (without the file name).

    ``seen_ids`` maps the grade_ids of earlier cells to their index; this cell's is added.
    """
    label = _cell_label(index, cell)
    meta = cell.get("metadata", {}).get("nbgrader")
    if meta is not None and not isinstance(meta, dict):
        yield (f"{label}: metadata.nbgrader is not an object; "
               "recreate the cell with the Create Assignment toolbar")
        return
    meta = meta or {}
    yield from _grade_id_problems(label, index, meta, seen_ids)
    if meta.get("grade"):
        points = meta.get("points")
        if points is None:
            yield f"{label}: graded cell has no points; set metadata.nbgrader.points (e.g. 1)"
        elif isinstance(points, bool) or not isinstance(points, int | float) or points < 0:
            yield f"{label}: points must be a number >= 0, got {points!r}"
    yield from _region_problems(label, _source_text(cell), meta)
    if cell.get("cell_type") == "code" and (cell.get("outputs") or cell.get("execution_count") is not None):
        yield (f"{label}: code cell carries outputs or an execution count; clear them "
               "(Edit > Clear Outputs of All Cells) and save")
    if "nbgrader" in cell.get("metadata", {}):
        yield from _schema_problems(label, cell)


def _grade_id_problems(label: str, index: int, meta: dict, seen_ids: dict[str, int]) -> Iterator[str]:
    """A cell with an nbgrader role needs a grade_id, and no other cell may have the same one."""
    grade_id = meta.get("grade_id")
    flags = (("graded", meta.get("grade")), ("solution", meta.get("solution")), ("read-only", meta.get("locked")),
             ("task", meta.get("task")))
    kinds = [name for name, flag in flags if flag]
    if kinds and not grade_id:
        yield f"{label}: {'/'.join(kinds)} cell has no grade_id; give it a unique metadata.nbgrader.grade_id"
    elif grade_id:
        if grade_id in seen_ids:
            yield (f"{label}: duplicate grade_id {grade_id!r} (also cell {seen_ids[grade_id]}); "
                   "grade_ids must be unique")
        else:
            seen_ids[grade_id] = index


def _region_problems(label: str, source: str, meta: dict) -> Iterator[str]:
    """Balanced BEGIN/END markers, each region in a cell of the right kind."""
    for problem in _marker_problems(source):
        yield f"{label}: unbalanced markers: {problem}"
    if "BEGIN SOLUTION" in source and not meta.get("solution"):
        yield (f"{label}: has '### BEGIN SOLUTION' but is not a solution cell; mark it "
               "'Autograded answer' (metadata.nbgrader.solution = true) or remove the markers")
    if "BEGIN HIDDEN TESTS" in source and not meta.get("grade"):
        yield (f"{label}: has '### BEGIN HIDDEN TESTS' but is not a graded test cell; mark it "
               "'Autograder tests' (metadata.nbgrader.grade = true, with points)")


def _schema_problems(label: str, cell: dict) -> Iterator[str]:
    """nbgrader's own check of the cell's metadata (its schema version and fields)."""
    from jsonschema import ValidationError as SchemaError
    from nbgrader.nbgraderformat import MetadataValidator
    from nbgrader.nbgraderformat.common import SchemaMismatchError

    try:
        MetadataValidator().validate_cell(nbformat.from_dict(copy.deepcopy(cell)))
    except SchemaMismatchError as error:
        yield f"{label}: {error}; run `nbgrader update` on the notebook"
    except SchemaError as error:
        yield f"{label}: nbgrader metadata: {error.message}"


def _notebook_problems(data: object) -> Iterator[str]:
    """Yield the problems of a parsed notebook JSON document (without the file name)."""
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        yield "not a Jupyter notebook (no 'cells' list)"
        return
    if data.get("nbformat") != 4:
        yield f"nbformat {data.get('nbformat')!r}; need 4 (open and save it in JupyterLab)"
        return
    cells = data["cells"]
    minor = data.get("nbformat_minor", 0)
    if isinstance(minor, int) and minor >= 5:
        yield from _cell_id_problems(cells, minor)
    schema_problem = _schema_problem(data)
    if schema_problem:
        yield schema_problem
        return
    seen_grade_ids: dict[str, int] = {}
    for index, cell in enumerate(cells):
        yield from _cell_problems(index, cell, seen_grade_ids)


def _cell_id_problems(cells: list, minor: int) -> Iterator[str]:
    """Missing or repeated cell ids (nbformat 4.5+): nbformat would invent random ones, so no two releases agree."""
    seen: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            continue
        cell_id = cell.get("id")
        if cell_id is None:
            yield (f"{_cell_label(index, cell)}: no cell id (nbformat 4.{minor} needs one); "
                   "open and save the notebook in JupyterLab")
        elif cell_id in seen:
            yield (f"{_cell_label(index, cell)}: duplicate cell id {cell_id!r} "
                   f"(also cell {seen[cell_id]}); give one of them a new id")
        else:
            seen[cell_id] = index


def _schema_problem(data: dict) -> str:
    """Where and how the document breaks the nbformat schema ("" when it does not)."""
    cells = data["cells"]
    try:
        with warnings.catch_warnings():  # missing ids are reported by _cell_id_problems, in our words
            warnings.simplefilter("ignore", MissingIDFieldWarning)
            nbformat.validate(nbformat.from_dict(copy.deepcopy(data)))
    except nbformat.ValidationError as error:
        where = list(getattr(error, "absolute_path", []) or getattr(error, "path", []))
        if len(where) >= 2 and where[0] == "cells" and isinstance(where[1], int) and where[1] < len(cells):
            where_text = _cell_label(where[1], cells[where[1]])
            rest = "/".join(str(p) for p in where[2:])
            where_text += f" at {rest}" if rest else ""
        else:
            where_text = "notebook" + (f" at {'/'.join(str(p) for p in where)}" if where else "")
        message = str(getattr(error, "message", error)).splitlines()[0]
        return f"{where_text}: does not match the nbformat schema: {message}"
    return ""


def check_source_notebook(path: str | os.PathLike[str]) -> nbformat.NotebookNode:
    """Check an instructor notebook before nbgrader turns it into a student notebook.

    Parameters
    ----------
    path : path-like
        A notebook in ``solutions/<id>/``.

    Returns
    -------
    nbformat.NotebookNode
        The notebook, read as nbformat 4.

    Raises
    ------
    ReleaseError
        With a one-line message naming the file and the cell (index and grade_id) for: invalid JSON
        (with line and column), nbformat schema errors, missing or duplicate cell ids, a graded,
        solution or read-only cell without grade_id, a duplicate grade_id, unbalanced
        ``BEGIN/END SOLUTION`` or ``BEGIN/END HIDDEN TESTS`` markers, a solution marker outside a
        solution cell, hidden tests outside a graded cell, a graded cell without points, and code
        cells that carry outputs or execution counts.
    """
    path = Path(path)
    shown = display_path(path)
    data = _read_json(path, shown)
    problems = [f"{shown}: {problem}" for problem in _notebook_problems(data)]
    if problems:
        raise ReleaseError(problems)
    return nbformat.from_dict(data)


def _read_json(path: Path, shown: str) -> object:
    """The parsed JSON of the file at ``path``; ReleaseError (naming it ``shown``) when it cannot be read."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise ReleaseError(f"{shown}: cannot read the notebook: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ReleaseError(
            f"{shown}: not UTF-8 (bad byte at offset {error.start}); save it as UTF-8"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ReleaseError(
            f"{shown}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg} "
            "(a merge conflict or a hand edit?); fix the file or restore it from git"
        ) from None


# ----------------------------------------------------------------------------------------------
# release


def generate_assignment(assignment_id: str, course: Path, config: Config) -> Path:
    """Run nbgrader's GenerateAssignment for one assignment of the nbgrader course directory ``course``.

    The gradebook ``course/gradebook.db`` learns the assignment's cells, tests and points; the
    student version is written to ``course/chapters/<assignment_id>/``, which is returned.

    Raises
    ------
    ReleaseError
        With the line of nbgrader's log that says why it failed, or when it wrote nothing.
    """
    from nbgrader.converters import GenerateAssignment

    try:
        run_converter(GenerateAssignment, config, course, assignment_id, student_id=".",
                      log_name="course_utils.instructor.release.nbgrader",
                      source_directory=SOURCE_DIR, release_directory=RELEASE_DIR)
    except NbgraderFailed as error:
        raise ReleaseError(f"{SOURCE_DIR}/{assignment_id}: nbgrader generate_assignment failed: {error}") from None
    out = course / RELEASE_DIR / assignment_id
    if not out.is_dir():
        raise ReleaseError(
            f"{SOURCE_DIR}/{assignment_id}: nbgrader wrote nothing; "
            "run `nbgrader generate_assignment` by hand to see why"
        )
    return out


def _ignored(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORE_PATTERNS)


def _copy_normalised(src: Path, dst: Path) -> None:
    """Copy nbgrader's output tree, rewriting notebooks through nbformat so the bytes are canonical."""
    for item in sorted(src.rglob("*")):
        rel = item.relative_to(src)
        if any(_ignored(part) for part in rel.parts):
            continue
        target = dst / rel
        if item.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif item.suffix == ".ipynb":
            target.parent.mkdir(parents=True, exist_ok=True)
            nb = nbformat.read(item, as_version=nbformat.NO_CONVERT)
            text = nbformat.writes(nb)
            target.write_bytes((text if text.endswith("\n") else text + "\n").encode("utf-8"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item, target)


def _remove_leftovers(parent: Path) -> None:
    """Delete staging folders that an interrupted release left beside chapters/."""
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if entry.is_dir() and entry.name.startswith((_STAGING_PREFIX, _OLD_PREFIX)):
            shutil.rmtree(entry, ignore_errors=True)


def _swap_in(staging: Path, dest: Path) -> None:
    """Replace ``dest`` by ``staging`` with two renames (the old tree is deleted afterwards)."""
    old = None
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=_OLD_PREFIX, dir=dest.parent))
        old.rmdir()
        os.replace(dest, old)
    try:
        os.replace(staging, dest)
    except BaseException:
        if old is not None:
            os.replace(old, dest)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# "(3 points)" or "(1 point)" in a markdown heading: the points a student is told an exercise is worth
_HEADING_POINTS = re.compile(r"^#+ .*\((\d+) points?\)", re.MULTILINE)


def points_mismatches(notebook: nbformat.NotebookNode, shown: str) -> list[str]:
    """Headings whose "(N points)" differs from the points of the graded cells under them (up to the next
    such heading), one line each naming the file, the cell and the grade_ids; empty when they agree.

    nbgrader grades by the cells' metadata, so a heading edited without its cells (or the reverse) tells
    students a wrong score. ``course release`` prints these as warnings.
    """
    problems = []
    heading: tuple[int, int] | None = None  # (cell index, points the heading promises)
    graded: list[tuple[str, float]] = []

    def close() -> None:
        if heading is not None:
            total = sum(points for _, points in graded)
            if total != heading[1]:
                cells = ", ".join(f"{grade_id} ({points:g})" for grade_id, points in graded) or "none"
                problems.append(f"{shown}: cell {heading[0]} says ({heading[1]} points) but the graded cells under "
                                f"it carry {total:g}: {cells}; set metadata.nbgrader.points or fix the heading")

    for index, cell in enumerate(notebook.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "markdown" and (match := _HEADING_POINTS.search(cell.source)):
            close()
            heading, graded = (index, int(match.group(1))), []
        elif meta.get("grade") and heading is not None:
            graded.append((meta.get("grade_id", f"cell {index}"), float(meta.get("points", 0))))
    close()
    return problems


def release_warnings(root: str | os.PathLike[str], assignments: Iterable[str] | None = None) -> list[str]:
    """What :func:`release` lets through but an instructor should fix: :func:`points_mismatches` of each
    chosen source notebook."""
    root = Path(root).resolve()
    found = []
    for assignment_id in _chosen_assignments(root, assignments):
        path = root / SOURCE_DIR / assignment_id / f"{assignment_id}.ipynb"
        found += points_mismatches(nbformat.read(path, as_version=4), display_path(path))
    return found


def release(
    root: str | os.PathLike[str] = ".",
    assignments: Iterable[str] | None = None,
    *,
    dest: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Regenerate ``chapters/<id>/`` from ``solutions/<id>/`` with nbgrader's generate_assignment.

    Every source notebook is checked first (:func:`check_source_notebook`); when anything fails,
    nothing under ``chapters/`` changes. The new tree is built in a temporary folder beside
    ``chapters/`` and swapped in with renames. nbgrader runs in a temporary course directory with
    its own gradebook, so no ``gradebook.db`` or log lands in the repository. Notebooks are
    rewritten through ``nbformat`` (sorted keys, one trailing newline), so two releases of the same
    sources are byte-identical. Other files in an assignment folder are copied as they are.

    Parameters
    ----------
    root : path-like
        The course root (holding ``nbgrader_config.py`` and ``solutions/``).
    assignments : iterable of str, optional
        Assignment ids to regenerate; the other chapters are kept as they are. ``None`` (default)
        regenerates every assignment and makes ``chapters/`` hold exactly those.
    dest : path-like, optional
        Where the release tree goes; ``<root>/chapters`` by default (tests release elsewhere to
        compare with the committed tree).

    Returns
    -------
    list of pathlib.Path
        Every file written, under ``dest``, sorted.

    Raises
    ------
    ReleaseError
        For an unknown assignment id, an empty ``solutions/``, a source notebook that fails the
        checks, or a failure inside nbgrader. The message is one line and names the file and cell.
    """
    root = Path(root).resolve()
    dest = (root / RELEASE_DIR) if dest is None else Path(dest).resolve()
    chosen = _chosen_assignments(root, assignments)
    _check_sources(root, chosen)
    return _stage_and_swap(root, dest, chosen, load_nbgrader_config(root), keep_others=assignments is not None)


def _stage_and_swap(root: Path, dest: Path, chosen: Sequence[str], config: Config, *, keep_others: bool) -> list[Path]:
    """Build the new release tree beside ``dest`` and swap it in; return the files written for ``chosen``.

    ``keep_others``: the chapters under ``dest`` that are not in ``chosen`` stay as they are.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(dest.parent)
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=dest.parent))
    try:
        if keep_others and dest.is_dir():
            shutil.copytree(dest, staging, dirs_exist_ok=True, symlinks=True)
            for assignment_id in chosen:
                shutil.rmtree(staging / assignment_id, ignore_errors=True)
        _generate_into(staging, root, chosen, config)
        written = [dest / p.relative_to(staging) for assignment_id in chosen
                   for p in _files_under(staging / assignment_id)]
        os.chmod(staging, 0o755)  # mkdtemp makes it 0700; chapters/ is an ordinary folder
        _swap_in(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(written)


def _chosen_assignments(root: Path, assignments: Iterable[str] | None) -> list[str]:
    """The assignment ids to release (``None``: all of them), each known; ReleaseError otherwise."""
    available = discover_assignments(root)
    if assignments is None:
        chosen = available
    else:
        chosen = list(dict.fromkeys(assignments))
        unknown = [a for a in chosen if a not in available]
        if unknown:
            raise ReleaseError(
                f"unknown assignment {unknown[0]!r}: no {SOURCE_DIR}/{unknown[0]}/{unknown[0]}.ipynb; "
                f"choose from: {', '.join(available) or '(none)'}"
            )
    if not chosen:
        raise ReleaseError(
            f"{display_path(root / SOURCE_DIR)}: no assignments found; expected {SOURCE_DIR}/<id>/<id>.ipynb"
        )
    return chosen


def _check_sources(root: Path, chosen: Sequence[str]) -> None:
    """:func:`check_source_notebook` on every notebook of the chosen assignments; one ReleaseError for all."""
    problems: list[str] = []
    for assignment_id in chosen:
        for notebook in sorted((root / SOURCE_DIR / assignment_id).glob("*.ipynb")):
            try:
                check_source_notebook(notebook)
            except ReleaseError as error:
                problems.extend(error.problems)
    if problems:
        raise ReleaseError(problems)


def _generate_into(staging: Path, root: Path, chosen: Sequence[str], config: Config) -> None:
    """Generate the chosen assignments in a temporary nbgrader course; copy them, normalised, into ``staging``."""
    with tempfile.TemporaryDirectory(prefix="course-release-") as tmp:
        course = Path(tmp)
        for assignment_id in chosen:
            shutil.copytree(
                root / SOURCE_DIR / assignment_id,
                course / SOURCE_DIR / assignment_id,
                ignore=shutil.ignore_patterns(*IGNORE_PATTERNS),
            )
        for assignment_id in chosen:
            generated = generate_assignment(assignment_id, course, config)
            _copy_normalised(generated, staging / assignment_id)
