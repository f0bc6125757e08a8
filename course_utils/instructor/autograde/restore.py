"""A submission, read and sanitised in the parent, becomes a :class:`Job` for the sandbox.

Sanitising is nbgrader's own autograde sanitising (``ClearOutput``, ``DeduplicateIds``,
``OverwriteKernelspec``, ``OverwriteCells``, ``CheckCellMetadata``), with ``OverwriteCells``
replaced by :class:`RestoreCells`, which restores every test cell from the gradebook: edited,
replaced by ``pass``, deleted or stripped of its metadata, it runs as the instructor wrote it,
hidden tests included. A submission that cannot be run at all becomes a result dict instead.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader import utils as nbutils
from nbgrader.preprocessors import OverwriteCells
from traitlets.config import Config

from course_utils.instructor.autograde.workspace import Workspace, sha256_of
from course_utils.instructor.class_report import edited_test_cells, scan_flags
from course_utils.instructor.nbgrader_run import captured_log
from course_utils.instructor.submissions import Submission


@dataclass
class Job:
    """A sanitised submission ready for the sandbox."""

    submission: Submission
    notebook: nbformat.NotebookNode
    files: dict[str, bytes]  # relative path -> bytes, written into the sandbox's fresh folder
    sha256: str
    flags: list[dict]


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
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id is not None:  # first: nbgrader's checksum covers these flags
            self._restore_roles(meta, grade_id)
        return super().preprocess_cell(cell, resources, cell_index)

    def _restore_roles(self, meta: dict, grade_id: str) -> None:
        """Set ``grade``, ``points`` and ``solution`` of a known cell's metadata from the gradebook."""
        from nbgrader.api import MissingEntry

        try:
            self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
        except MissingEntry:
            return  # unknown grade_id: nbgrader drops it
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
            self._put_back(nb, cell, grade_id, released, present)
        return nb, resources

    @staticmethod
    def _put_back(nb, cell, grade_id: str, released: list, present: dict[str, int]) -> None:
        """Insert the restored ``cell`` where the class docstring says (1., 2. or 3.)."""
        by_id = {c.get("id"): i for i, c in enumerate(nb.cells)}
        cell_id = next((cid for cid, gid in released if gid == grade_id), None)
        cell["id"] = cell_id or f"restored-{grade_id}"[:64]
        if cell_id in by_id:
            nb.cells[by_id[cell_id]] = cell
            return
        position = next((k for k, (_, gid) in enumerate(released) if gid == grade_id), None)
        before = released[:position] if position is not None else []
        earlier = [by_id[cid] for cid, _ in before if cid in by_id]
        earlier += [present[gid] for _, gid in before if gid in present]
        nb.cells.insert(max(earlier) + 1 if earlier else len(nb.cells), cell)


def prepare(ws: Workspace, sub: Submission, config: Config) -> Job | dict:
    """Read, check and sanitise one submission: a :class:`Job` for the sandbox, or a final result dict.

    The result dict (for a submission that cannot be run) has ``status`` in
    :data:`~course_utils.instructor.autograde.results.UNGRADABLE_STATUSES` and a ``message`` saying why.
    """
    copied = copy_submission(ws, sub)
    digest = sha256_of(copied)
    base = {"student": sub.student, "chapter": sub.chapter, "source": str(sub.path), "sha256": digest,
            "layout": sub.layout, "timestamp": sub.timestamp, "late": sub.late, "mapping": sub.note}
    if not sub.path.is_file():
        return base | {"status": "no-notebook", "message": sub.note or "no notebook submitted"}
    if sub.path.suffix.lower() != ".ipynb":
        return base | {"status": "not-a-notebook",
                       "message": f"{sub.path.name} is not a notebook; submit {sub.chapter}.ipynb"}
    nb = _read_notebook(copied)
    if isinstance(nb, str):
        return base | {"status": "invalid-notebook", "message": f"not a readable notebook: {nb}"}
    others = _chapters_it_belongs_to(ws, sub.chapter, nb)
    if others:
        return base | {"status": "wrong-chapter",
                       "message": f"this is the notebook of {', '.join(others)}, submitted for {sub.chapter}"}
    released = ws.released(sub.chapter) / f"{sub.chapter}.ipynb"
    flags = scan_flags(nb, released) + edited_test_cells(nb, released)
    try:
        nb = sanitize(nb, ws, sub, config)
    except Exception as error:  # nbgrader refuses malformed nbgrader metadata
        return base | {"status": "invalid-notebook", "flags": flags,
                       "message": f"nbgrader could not read the cells: {type(error).__name__}: {error}"[:300]}
    return Job(sub, nb, sandbox_files(ws, sub), digest, flags)


def copy_submission(ws: Workspace, sub: Submission) -> Path:
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


def _read_notebook(path: Path) -> nbformat.NotebookNode | str:
    """The notebook at ``path``, or one line saying why it cannot be read."""
    try:
        nb = nbformat.reads(path.read_text(encoding="utf-8"), as_version=4)
        if not isinstance(nb.get("cells"), list):
            raise ValueError("no 'cells' list")
    except Exception as error:  # NotJSONError, UnicodeDecodeError, KeyError, schema problems, ...
        return str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return nb


def _chapters_it_belongs_to(ws: Workspace, chapter: str, nb: nbformat.NotebookNode) -> list[str]:
    """The other chapters whose grade_ids ``nb`` holds, when it holds none of ``chapter``'s; else []."""
    found = {c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb.cells
             if isinstance(c.get("metadata", {}).get("nbgrader"), dict)} - {None}
    if found & ws.grade_ids.get(chapter, frozenset()):
        return []
    return sorted(c for c, ids in ws.grade_ids.items() if c != chapter and found & ids)


def sanitize(nb: nbformat.NotebookNode, ws: Workspace, sub: Submission, config: Config) -> nbformat.NotebookNode:
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


def sandbox_files(ws: Workspace, sub: Submission) -> dict[str, bytes]:
    """The files the sandbox's fresh folder gets: the student's other files, then the chapter's (which win)."""
    files: dict[str, bytes] = {}
    for path, rel in sub.extra_files:
        if not rel.endswith(".ipynb"):
            files[rel] = path.read_bytes()
    released_dir = ws.released(sub.chapter)  # as in nbgrader, the chapter's own files replace the student's
    for path in sorted(released_dir.rglob("*")):
        if path.is_file() and path.suffix != ".ipynb":
            files[str(path.relative_to(released_dir))] = path.read_bytes()
    return files
