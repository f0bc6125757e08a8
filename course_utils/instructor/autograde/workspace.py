"""The grading workspace ``OUT`` of ``course grade``: its folders, its lock, and the chapters it grades.

The layout is described in the package docstring (:mod:`course_utils.instructor.autograde`).
``OUT/workspace.json`` records the SHA-256 of each graded chapter's ``solutions/`` folder, so that
a later run refuses to mix grades of two versions of the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from traitlets.config import Config

from course_utils._io import atomic_write_text
from course_utils._layout import CONFIG_FILE, RELEASE_DIR, SOURCE_DIR
from course_utils.instructor.nbgrader_run import GRADEBOOK, load_nbgrader_config
from course_utils.instructor.release import IGNORE_PATTERNS, discover_assignments, generate_assignment
from course_utils.instructor.submissions import unpack_zip

WORK_DIR, SUBMITTED_DIR, AUTOGRADED_DIR, FEEDBACK_DIR = "work", "submitted", "autograded", "feedback"
INBOX_DIR = "inbox"  # an unpacked zip of submissions
ZIPS_DIR = "inbox-zips"  # the zips found inside SUBMISSIONS, each unpacked into a folder named after it
RESULT_FILE, EXECUTED_FILE = "result.json", "executed.ipynb"
WORKSPACE_FILE, LOCK_FILE = "workspace.json", ".grading.lock"


class GradeError(RuntimeError):
    """The class cannot be graded as asked (a busy or mismatched workspace, bad submissions path)."""


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file's bytes ("" when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def inside(child: Path, parent: Path) -> bool:
    """Whether ``child`` is ``parent`` or lies below it (links resolved)."""
    child, parent = child.resolve(), parent.resolve()
    return child == parent or parent in child.parents


@dataclass(frozen=True)
class Workspace:
    """The grading workspace ``out`` for the course at ``root`` (see the package docstring)."""

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
    if inside(out, root):
        raise GradeError(f"--out {out} is inside the course repository {root}; grade outside it "
                         "(the workspace holds hidden tests and students' work), e.g. --out ../grading")
    available = discover_assignments(root)
    chosen = tuple(chapters) if chapters else tuple(available)
    unknown = [c for c in chosen if c not in available]
    if unknown:
        raise GradeError(f"unknown chapter {unknown[0]!r}; choose from: {', '.join(available)}")
    out.mkdir(parents=True, exist_ok=True)
    graded = _add_chapters(root, out, chosen)
    _write_formgrader_config(out)
    # every chapter's grade_ids, to tell a notebook submitted for the wrong chapter (graded ones: our copy)
    grade_ids = {c: frozenset(_grade_ids((out if c in graded else root) / SOURCE_DIR / c / f"{c}.ipynb"))
                 for c in available}
    return Workspace(root, out, chosen, grade_ids)


def _add_chapters(root: Path, out: Path, chosen: Sequence[str]) -> set[str]:
    """Add each chapter new to the workspace to its gradebook; return every chapter it has (earlier ones too).

    Raises
    ------
    GradeError
        When a chapter's ``solutions/`` folder changed since it was added.
    """
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
        _add_chapter(root, out, chapter, config)
        sources[chapter] = digest
        atomic_write_text(state_path, json.dumps(state, indent=1, sort_keys=True) + "\n")
    return set(sources)


def _add_chapter(root: Path, out: Path, chapter: str, config: Config) -> None:
    """Copy a chapter's source into the workspace and release it there: the gradebook learns its tests."""
    target = out / SOURCE_DIR / chapter
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(root / SOURCE_DIR / chapter, target, ignore=shutil.ignore_patterns(*IGNORE_PATTERNS))
    generate_assignment(chapter, out, config)  # the gradebook learns cells, tests, points


def _source_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not any(part in IGNORE_PATTERNS or part.endswith(".pyc") for part in path.parts):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _write_formgrader_config(out: Path) -> None:
    """Write ``OUT/nbgrader_config.py`` (once), so that nbgrader's formgrader (JupyterLab started in OUT, then
    Nbgrader → Formgrader) and ``nbgrader export`` run in OUT find everything."""
    if (out / CONFIG_FILE).is_file():
        return
    atomic_write_text(out / CONFIG_FILE, (
        "# Written by `course grade`: start `jupyter lab` in this folder, then Nbgrader -> Formgrader\n"
        "# (manual review); `nbgrader export` run here gives the scores of grades.csv.\n"
        "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(out)!r}\n"
        f"c.CourseDirectory.source_directory = {SOURCE_DIR!r}\n"
        f"c.CourseDirectory.release_directory = {RELEASE_DIR!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(out / GRADEBOOK)!r}\n"
    ))


def _grade_ids(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    nb = nbformat.read(path, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if isinstance(c.metadata.get("nbgrader"), dict) and c.metadata["nbgrader"].get("grade_id")}


def locate_submissions(path: Path, out: Path) -> Path:
    """The folder of submissions: ``path`` itself, or a zip unpacked into ``OUT/inbox``."""
    path = Path(path)
    if path.is_dir():
        if inside(out, path) or inside(path, out):
            raise GradeError(f"SUBMISSIONS {path} and --out {out} overlap; keep the workspace apart")
        return path
    if path.is_file() and path.suffix.lower() == ".zip":
        try:
            return unpack_zip(path, out / INBOX_DIR)
        except ValueError as error:
            raise GradeError(str(error)) from None
    raise GradeError(f"SUBMISSIONS {path}: give a folder or a .zip of submissions")
