"""Find the submissions to grade and say whose they are and for which chapter.

``course grade SUBMISSIONS`` accepts three layouts, in a folder or in a ``.zip`` of one, and maps
every file to a (student, chapter) pair, or lists it as unmappable with the reason:

1. **nbgrader's** ``<student>/<chapter>/<chapter>.ipynb`` (``nbgrader collect`` or an exchange's
   ``submitted/`` folder). The student id is the folder name, as given. Other files in the chapter
   folder travel with the notebook (they are copied into the grading sandbox); ``timestamp.txt``
   is the submission time, as in nbgrader.
2. **Canvas** "Download Submissions": a flat folder of ``<name>[_LATE]_<userid>_<fileid>_<file>``,
   e.g. ``smithjane_12345_67890_01_probability_densities.ipynb``. The student id is ``<name>``
   (Canvas's lower-case "lastfirst").
3. **Moodle** "Download all submissions": folders ``<Full Name>_<participant>_assignsubmission_file_/``
   holding the student's files (or, unzipped flat, files ``<Full Name>_<participant>_assignsubmission_file_<file>``).
   The student id is the full name in lower case with runs of other characters than letters and
   digits turned into ``_`` (``Jane Smith`` -> ``jane_smith``): Moodle's participant number changes
   from one assignment to the next, the name does not.

Any other flat file is ``<student><sep><chapter>.ipynb`` or ``<chapter><sep><student>.ipynb``
(``jsmith_01_probability_densities.ipynb``), the separator one of ``_ - . space``.

**The chapter** of a file is the one known chapter id (``01_probability_densities``) its name
contains, compared in lower case with spaces and hyphens read as ``_`` (so ``01 Probability
Densities-1.ipynb``, a Canvas resubmission, maps too). A notebook whose name names no chapter is
mapped by its content: the chapter whose grade_ids it carries. Two chapter ids in one name, or
none and no telling content, leave the file unmapped.

**Clashes**: two LMS students with the same name slug but different user numbers in the same chapter
become ``<name>_<number>`` each. Several files of one student for one chapter: the newest is graded
(Canvas: the highest file id; otherwise the latest modification time) and the others are listed
as superseded. Files that are not notebooks but name a student and a chapter become a submission
that is reported as "not a notebook"; ``.ipynb_checkpoints``, ``__MACOSX`` and ``.DS_Store`` are
skipped silently.

A ``.zip`` inside the folder (an LMS export put beside other files) is unpacked and read the same way.

Nothing here writes to the submissions; a zip is unpacked into a folder the caller names.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

# Never submissions, never reported.
SKIPPED = frozenset({".ipynb_checkpoints", "__MACOSX", ".DS_Store", "__pycache__", "Thumbs.db"})
# nbgrader's submission time file.
TIMESTAMP_FILE = "timestamp.txt"
# A zip may not unpack to more than this (a zip bomb stops here, with a message).
MAX_UNZIPPED_BYTES = 4 * 2**30

CANVAS = re.compile(r"^(?P<name>[A-Za-z0-9]+?)(?P<late>_LATE)?_(?P<uid>\d+)_(?P<fid>\d+)_(?P<file>.+)$", re.IGNORECASE)
MOODLE = re.compile(r"^(?P<name>.+?)_(?P<uid>\d+)_assign(?:submission|feedback)_[a-z]+_(?P<file>.*)$")


@dataclass(frozen=True)
class Submission:
    """One student's submission for one chapter.

    Attributes
    ----------
    student, chapter : str
        Who submitted it and for which assignment id.
    path : pathlib.Path
        The submitted file (read, never written).
    extra_files : tuple of (pathlib.Path, str)
        Other files submitted with it and their path relative to the notebook's folder.
    layout : str
        ``"nbgrader"``, ``"canvas"``, ``"moodle"`` or ``"flat"``.
    timestamp : str or None
        The submission time: ``timestamp.txt`` (nbgrader's layout), or the file's modification time in an LMS
        export (Canvas and Moodle keep the submission time in their zip), in UTC; None for other files.
    order : tuple
        Sort key among several files of one student and chapter: the largest is graded.
    note : str
        How the mapping was made when it was not by name (e.g. from the notebook's grade_ids).
    late : bool
        The LMS marked it late (Canvas's ``_LATE`` in the file name).
    """

    student: str
    chapter: str
    path: Path
    extra_files: tuple[tuple[Path, str], ...] = ()
    layout: str = "flat"
    timestamp: str | None = None
    order: tuple = ()
    note: str = ""
    uid: str = field(default="", compare=False)
    late: bool = field(default=False, compare=False)

    @property
    def key(self) -> str:
        """``<student>/<chapter>``: the submission's folder name in the grading workspace."""
        return f"{self.student}/{self.chapter}"


@dataclass(frozen=True)
class Unmapped:
    """A file that could not be given to a student and chapter, and why."""

    path: Path
    reason: str


@dataclass
class Collection:
    """What :func:`find_submissions` found: one submission per (student, chapter), and the rest."""

    submissions: list[Submission]
    unmapped: list[Unmapped]


# ----------------------------------------------------------------------------------------------
# names


def student_slug(name: str) -> str:
    """A student id from an LMS display name: lower case, other characters than letters/digits -> ``_``.

    >>> student_slug("Jane  O'Smith")
    'jane_o_smith'
    """
    return re.sub(r"[\W_]+", "_", name.casefold()).strip("_")


def _normalised(text: str) -> str:
    return re.sub(r"[\s\-]+", "_", text.casefold())


def chapter_in_name(name: str, chapters: Iterable[str]) -> str | None:
    """The one chapter id that ``name`` contains (spaces/hyphens read as ``_``, any case); else None."""
    text = _normalised(name)
    found = [c for c in chapters if _normalised(c) in text]
    # "01_x" inside "01_x_y" as well: keep the longest ids when one contains another
    found = [c for c in found if not any(c != other and _normalised(c) in _normalised(other) for other in found)]
    return found[0] if len(found) == 1 else None


def notebook_grade_ids(path: Path) -> set[str]:
    """The nbgrader grade_ids of a notebook file; empty when it cannot be read as JSON."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return set()
    ids: set[str] = set()
    cells = data.get("cells") if isinstance(data, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        meta = cell.get("metadata", {}).get("nbgrader") if isinstance(cell, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            ids.add(meta["grade_id"])
    return ids


def chapter_by_content(path: Path, grade_ids: Mapping[str, frozenset[str]]) -> str | None:
    """The one chapter whose grade_ids the notebook at ``path`` carries; None if none or several."""
    found = notebook_grade_ids(path)
    matches = [chapter for chapter, ids in grade_ids.items() if found & ids]
    return matches[0] if len(matches) == 1 else None


# ----------------------------------------------------------------------------------------------
# zip


def unpack_zip(archive: Path, dest: Path) -> Path:
    """Unpack ``archive`` into ``dest`` (created) and return the folder that holds the submissions.

    Entries with absolute paths or ``..`` are refused (they could write outside ``dest``), as is
    an archive that unpacks to more than ``MAX_UNZIPPED_BYTES``. When everything sits in one folder
    that is not a student's nbgrader folder (no chapter folders in it), that folder is returned.

    Raises
    ------
    ValueError
        For a file that is not a zip, an unsafe entry or a zip bomb; the message says which.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(f"{archive}: not a readable zip file ({error})") from None
    with zf:
        total = sum(info.file_size for info in zf.infolist())
        if total > MAX_UNZIPPED_BYTES:
            raise ValueError(f"{archive}: unpacks to {total / 2**30:.1f} GiB, more than the "
                             f"{MAX_UNZIPPED_BYTES / 2**30:.0f} GiB allowed; unpack it yourself and pass the folder")
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for info in zf.infolist():
            parts = Path(info.filename.replace("\\", "/")).parts
            if info.filename.startswith(("/", "\\")) or ".." in parts or (parts and ":" in parts[0]):
                raise ValueError(f"{archive}: unsafe entry {info.filename!r} (absolute or with '..'); "
                                 "refusing to unpack it")
            if info.is_dir():
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            # keep the LMS's submission times: "latest" among duplicates is decided by them
            stamp = _zip_time(info)
            os.utime(target, (stamp, stamp))
    entries = [p for p in dest.iterdir() if p.name not in SKIPPED]
    if len(entries) == 1 and entries[0].is_dir() and not MOODLE.match(entries[0].name + "_") \
            and not any(child.is_dir() for child in entries[0].iterdir()
                        if child.name not in SKIPPED and _looks_like_chapter_folder(child)):
        return entries[0]
    return dest


def _zip_time(info: zipfile.ZipInfo) -> float:
    import datetime as dt

    try:
        return dt.datetime(*info.date_time).timestamp()
    except ValueError:  # pragma: no cover - a corrupt date
        return 0.0


def _looks_like_chapter_folder(path: Path) -> bool:
    return bool(re.match(r"^\d\d_", path.name))


# ----------------------------------------------------------------------------------------------
# walking a submissions folder


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in SKIPPED and not p.name.startswith("._"))


def _files_under(folder: Path) -> list[Path]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIPPED or part.startswith("._") for part in rel.parts):
            continue
        if path.is_file():
            out.append(path)
    return out


def _read_timestamp(folder: Path) -> str | None:
    stamp = folder / TIMESTAMP_FILE
    try:
        return stamp.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _file_time(path: Path) -> str | None:
    """The file's modification time as nbgrader writes timestamps (UTC, ISO 8601), or None if unreadable."""
    import datetime as dt

    stamp = _mtime(path)
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat() if stamp > 0 else None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class _Finder:
    def __init__(self, chapters: Sequence[str], grade_ids: Mapping[str, frozenset[str]]):
        self.chapters = list(chapters)
        self.grade_ids = grade_ids
        self.found: list[Submission] = []
        self.unmapped: list[Unmapped] = []

    def chapter_of(self, path: Path, name: str) -> tuple[str | None, str]:
        chapter = chapter_in_name(name, self.chapters)
        if chapter is not None:
            return chapter, ""
        if path.suffix.lower() == ".ipynb":
            chapter = chapter_by_content(path, self.grade_ids)
            if chapter is not None:
                return chapter, f"chapter {chapter} read from the notebook's grade_ids (its name names none)"
        return None, ""

    # nbgrader: <student>/<chapter>/<chapter>.ipynb
    def nbgrader_student(self, folder: Path) -> None:
        student = folder.name
        for entry in _visible(folder):
            if entry.is_dir() and entry.name in self.chapters:
                notebook = entry / f"{entry.name}.ipynb"
                files = _files_under(entry)
                extras = tuple((p, str(p.relative_to(entry))) for p in files
                               if p != notebook and p.name != TIMESTAMP_FILE)
                if notebook.is_file():
                    self.found.append(Submission(student, entry.name, notebook, extras, "nbgrader",
                                                 _read_timestamp(entry), (_mtime(notebook),)))
                else:
                    # the folder says who and which chapter: a row says what is wrong
                    shown = ", ".join(rel for _, rel in extras) or "nothing"
                    self.found.append(Submission(student, entry.name, notebook, extras, "nbgrader",
                                                 _read_timestamp(entry), (0.0,),
                                                 note=f"no {entry.name}.ipynb in the folder (found: {shown})"))
            elif entry.is_dir():
                self.unmapped.append(Unmapped(entry, f"folder {entry.name!r} is not a chapter id "
                                              f"(expected one of: {', '.join(self.chapters)})"))
            else:
                self.unmapped.append(Unmapped(entry, "a file directly in a student's folder; "
                                              "expected <student>/<chapter>/<chapter>.ipynb"))

    # Moodle: <Full Name>_<participant>_assignsubmission_file_/<files>
    def moodle_folder(self, folder: Path, match: re.Match) -> None:
        student, uid = student_slug(match["name"]), match["uid"]
        files = _files_under(folder)
        notebooks = [p for p in files if p.suffix.lower() == ".ipynb"]
        others = [p for p in files if p.suffix.lower() != ".ipynb"]
        if not files:
            self.unmapped.append(Unmapped(folder, "an empty submission folder"))
        for notebook in notebooks:
            chapter, note = self.chapter_of(notebook, notebook.stem)
            if chapter is None:
                self.unmapped.append(Unmapped(notebook, "names no chapter and its content matches none"))
                continue
            extras = tuple((p, str(p.relative_to(notebook.parent))) for p in others
                           if p.parent == notebook.parent or notebook.parent in p.parents)
            self.found.append(Submission(student, chapter, notebook, extras, "moodle", _file_time(notebook),
                                         (_mtime(notebook),), note, uid))
        if not notebooks:
            self.loose_files(others, student, uid, "moodle")

    def loose_files(self, files: list[Path], student: str, uid: str, layout: str) -> None:
        for path in files:
            chapter, _ = self.chapter_of(path, path.stem)
            if chapter is None:
                self.unmapped.append(Unmapped(path, "not a notebook and names no chapter"))
            else:
                self.found.append(Submission(student, chapter, path, (), layout, _file_time(path), (_mtime(path),),
                                             uid=uid))

    def zip_file(self, archive: Path, dest: Path) -> None:
        """An export zipped inside the submissions folder: unpacked into ``dest`` and walked like the folder."""
        try:
            inner = find_submissions(unpack_zip(archive, dest), self.chapters, self.grade_ids)
        except ValueError as error:
            self.unmapped.append(Unmapped(archive, str(error)))
            return
        self.found += inner.submissions
        self.unmapped += inner.unmapped

    def flat_file(self, path: Path) -> None:
        canvas = CANVAS.match(path.name)
        moodle = MOODLE.match(path.name)
        if moodle:
            student, uid, layout, rest, order = student_slug(moodle["name"]), moodle["uid"], "moodle", \
                moodle["file"], (_mtime(path),)
        elif canvas:
            student, uid, layout, rest = canvas["name"].casefold(), canvas["uid"], "canvas", canvas["file"]
            order = (int(canvas["fid"]), _mtime(path))
        else:
            student, uid, layout, rest, order = "", "", "flat", path.name, (_mtime(path),)
        stem = rest[: -len(path.suffix)] if path.suffix and rest.endswith(path.suffix) else rest
        chapter, note = self.chapter_of(path, stem)
        if chapter is None:
            self.unmapped.append(Unmapped(path, "its name names no chapter (expected e.g. "
                                          f"<student>_{self.chapters[0] if self.chapters else '<chapter>'}.ipynb)"
                                          + ("" if path.suffix.lower() == ".ipynb" else "; not a notebook")))
            return
        if layout == "flat":
            # <student><sep><chapter> or <chapter><sep><student>
            match = re.search(re.escape(_normalised(chapter)), _normalised(stem))
            assert match is not None
            left, right = _normalised(stem)[: match.start()], _normalised(stem)[match.end():]
            student = left.strip("_-. ") or right.strip("_-. ")  # a suffix after "<student>_<chapter>" is a copy mark
            if not student:
                self.unmapped.append(Unmapped(path, "cannot tell the student from the name; expected "
                                              f"<student>_{chapter}.ipynb"))
                return
            student = student_slug(student)
        stamp = _file_time(path) if layout in ("canvas", "moodle") else None
        self.found.append(Submission(student, chapter, path, (), layout, stamp, order, note, uid,
                                     late=bool(canvas and canvas["late"])))


def find_submissions(
    folder: str | os.PathLike[str],
    chapters: Sequence[str],
    grade_ids: Mapping[str, frozenset[str]] | None = None,
    unpack_into: str | os.PathLike[str] | None = None,
) -> Collection:
    """Map every file under ``folder`` to a student and chapter (rules in the module docstring).

    Parameters
    ----------
    folder : path-like
        The submissions: nbgrader's layout, a Canvas or Moodle export, or a flat folder.
    chapters : sequence of str
        The known assignment ids.
    grade_ids : mapping of str to frozenset of str, optional
        Each chapter's grade_ids, to map a notebook whose name names no chapter by its content.
    unpack_into : path-like, optional
        Where a ``.zip`` lying in ``folder`` (an LMS export beside other files) is unpacked, into a folder named
        after it, and walked like a top-level zip. Without it such a zip is a file that names no chapter.

    Returns
    -------
    Collection
        One submission per (student, chapter), sorted; the unmapped and superseded files with reasons.
    """
    folder = Path(folder)
    finder = _Finder(chapters, grade_ids or {})
    for entry in _visible(folder):
        if entry.is_dir():
            moodle = MOODLE.match(entry.name)
            if moodle:
                finder.moodle_folder(entry, moodle)
            elif any(child.is_dir() and child.name in chapters for child in entry.iterdir()):
                finder.nbgrader_student(entry)
            else:
                finder.unmapped.append(Unmapped(entry, "a folder that is neither <student>/<chapter>/ "
                                                "(nbgrader) nor <Name>_<id>_assignsubmission_file_ (Moodle)"))
        elif entry.is_file() and entry.suffix.lower() == ".zip" and unpack_into is not None:
            finder.zip_file(entry, Path(unpack_into) / entry.stem)
        elif entry.is_file():
            finder.flat_file(entry)
    return _resolve(finder.found, finder.unmapped)


def _resolve(found: list[Submission], unmapped: list[Unmapped]) -> Collection:
    """Split same-name LMS students, keep the newest file per (student, chapter)."""
    uids: dict[tuple[str, str], set[str]] = defaultdict(set)
    for sub in found:
        if sub.uid:
            uids[(sub.student, sub.chapter)].add(sub.uid)
    renamed = [replace(sub, student=f"{sub.student}_{sub.uid}") if len(uids[(sub.student, sub.chapter)]) > 1
               else sub for sub in found]
    groups: dict[tuple[str, str], list[Submission]] = defaultdict(list)
    for sub in renamed:
        groups[(sub.student, sub.chapter)].append(sub)
    kept = []
    for key in sorted(groups):
        ranked = sorted(groups[key], key=lambda s: (s.path.suffix.lower() == ".ipynb", s.order, s.path.name))
        kept.append(ranked[-1])
        for older in ranked[:-1]:
            unmapped.append(Unmapped(older.path, f"superseded by {ranked[-1].path.name} (the newest file of "
                                     f"{key[0]} for {key[1]} is graded)"))
    return Collection(kept, sorted(unmapped, key=lambda u: str(u.path)))


# ----------------------------------------------------------------------------------------------
# simulated submissions (tests, benchmarks)


def solution_answers(root: str | os.PathLike[str], chapter: str) -> dict[str, str]:
    """grade_id -> the reference answer of each answer cell of ``solutions/<chapter>``, markers removed."""
    import nbformat

    nb = nbformat.read(Path(root) / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    out = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            lines = [line for line in cell.source.splitlines() if "BEGIN SOLUTION" not in line
                     and "END SOLUTION" not in line]
            out[meta["grade_id"]] = "\n".join(lines)
    return out


def simulated_submission(root: str | os.PathLike[str], chapter: str, answers: Mapping[str, str]):
    """The released ``chapters/<chapter>`` notebook with the answer cells named in ``answers`` filled in.

    Parameters
    ----------
    answers : mapping of str to str
        grade_id of an answer cell -> the code to put there (cells not named keep the stub).

    Returns
    -------
    nbformat.NotebookNode
    """
    import nbformat

    nb = nbformat.read(Path(root) / "chapters" / chapter / f"{chapter}.ipynb", as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = answers[grade_id]
    return nb
