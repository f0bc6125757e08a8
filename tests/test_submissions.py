"""Mapping submitted files to a student and a chapter (course_utils.instructor.submissions); no kernels run here."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from course_utils.instructor.submissions import (
    chapter_in_name,
    find_submissions,
    student_slug,
    unpack_zip,
)

CHAPTERS = ["00_welcome", "01_probability_densities", "03_cross_entropy_and_mse"]
GRADE_IDS = {"00_welcome": frozenset({"sample-latent", "sample-latent-tests"}),
             "01_probability_densities": frozenset({"uniform-pdf", "uniform-pdf-tests"}),
             "03_cross_entropy_and_mse": frozenset({"bce-with-logits"})}


def notebook_text(*grade_ids: str) -> str:
    cells = [{"cell_type": "code", "metadata": {"nbgrader": {"grade_id": g}}, "source": "", "outputs": [],
              "execution_count": None} for g in grade_ids]
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def touch(path: Path, text: str = "{}", mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def mapped(folder: Path) -> dict[tuple[str, str], str]:
    found = find_submissions(folder, CHAPTERS, GRADE_IDS)
    return {(s.student, s.chapter): s.path.name for s in found.submissions}


def test_nbgrader_layout_maps_folder_names(tmp_path: Path) -> None:
    """Does <student>/<chapter>/<chapter>.ipynb map to that student and chapter, with its other files?"""
    touch(tmp_path / "alice" / "01_probability_densities" / "01_probability_densities.ipynb")
    touch(tmp_path / "alice" / "01_probability_densities" / "data" / "extra.csv", "1,2")
    touch(tmp_path / "alice" / "01_probability_densities" / "timestamp.txt", "2026-01-02 10:00:00 UTC")
    touch(tmp_path / "bob" / "00_welcome" / "00_welcome.ipynb")
    found = find_submissions(tmp_path, CHAPTERS)
    alice = next(s for s in found.submissions if s.student == "alice")
    assert (alice.chapter, alice.layout, alice.timestamp) == ("01_probability_densities", "nbgrader",
                                                              "2026-01-02 10:00:00 UTC")
    assert [rel for _, rel in alice.extra_files] == [str(Path("data") / "extra.csv")]
    assert mapped(tmp_path) == {("alice", "01_probability_densities"): "01_probability_densities.ipynb",
                                ("bob", "00_welcome"): "00_welcome.ipynb"}
    assert found.unmapped == []


def test_nbgrader_layout_lists_what_it_cannot_map(tmp_path: Path) -> None:
    """Are an unknown chapter folder and a stray file listed with reasons, and a missing notebook kept as a row?"""
    touch(tmp_path / "alice" / "01_probability_densities" / "01_probability_densities.ipynb")
    touch(tmp_path / "alice" / "99_unknown" / "99_unknown.ipynb")
    touch(tmp_path / "alice" / "notes.txt", "hi")
    touch(tmp_path / "carol" / "00_welcome" / "answers.pdf", "%PDF")
    found = find_submissions(tmp_path, CHAPTERS)
    reasons = {p.path.name: p.reason for p in found.unmapped}
    assert "is not a chapter id" in reasons["99_unknown"]
    assert "directly in a student's folder" in reasons["notes.txt"]
    carol = next(s for s in found.submissions if s.student == "carol")
    assert not carol.path.exists() and "answers.pdf" in carol.note


@pytest.mark.parametrize(("name", "student", "chapter"), [
    ("smithjane_12345_67890_01_probability_densities.ipynb", "smithjane", "01_probability_densities"),
    ("smithjane_LATE_12345_67891_01_probability_densities-1.ipynb", "smithjane", "01_probability_densities"),
    ("Jane Smith_12345_assignsubmission_file_00_welcome.ipynb", "jane_smith", "00_welcome"),
    ("jsmith_03_cross_entropy_and_mse.ipynb", "jsmith", "03_cross_entropy_and_mse"),
    ("03_cross_entropy_and_mse - Li Wei.ipynb", "li_wei", "03_cross_entropy_and_mse"),
    ("doejohn_1_2_01 Probability Densities (1).ipynb", "doejohn", "01_probability_densities"),
])
def test_flat_lms_names_map(tmp_path: Path, name: str, student: str, chapter: str) -> None:
    """Does a Canvas, Moodle or plain flat file name give the student and the chapter?"""
    touch(tmp_path / name)
    assert mapped(tmp_path) == {(student, chapter): name}


def test_moodle_folders_map_by_the_name_and_the_notebook(tmp_path: Path) -> None:
    """Does a Moodle folder give the student, its notebook the chapter, and its other files travel along?"""
    folder = tmp_path / "José Müller_881_assignsubmission_file_"
    touch(folder / "01_probability_densities.ipynb")
    touch(folder / "helper.py", "x = 1")
    found = find_submissions(tmp_path, CHAPTERS, GRADE_IDS)
    (sub,) = found.submissions
    assert (sub.student, sub.chapter, sub.layout) == ("josé_müller", "01_probability_densities", "moodle")
    assert [rel for _, rel in sub.extra_files] == ["helper.py"]


def test_a_renamed_notebook_maps_by_its_grade_ids(tmp_path: Path) -> None:
    """Does a notebook whose name names no chapter map to the chapter whose grade_ids it carries?"""
    touch(tmp_path / "Jane Smith_5_assignsubmission_file_" / "homework.ipynb", notebook_text("uniform-pdf-tests"))
    found = find_submissions(tmp_path, CHAPTERS, GRADE_IDS)
    (sub,) = found.submissions
    assert sub.chapter == "01_probability_densities" and "grade_ids" in sub.note


def test_unmappable_flat_files_are_listed_with_reasons(tmp_path: Path) -> None:
    """Are a file naming no chapter, two chapters, or no student listed as unmapped?"""
    touch(tmp_path / "homework.ipynb", notebook_text())
    touch(tmp_path / "jsmith_00_welcome_and_01_probability_densities.ipynb")
    touch(tmp_path / "01_probability_densities.ipynb")
    touch(tmp_path / "random folder" / "x.ipynb")
    found = find_submissions(tmp_path, CHAPTERS, GRADE_IDS)
    assert found.submissions == []
    reasons = {u.path.name: u.reason for u in found.unmapped}
    assert "names no chapter" in reasons["homework.ipynb"]
    assert "names no chapter" in reasons["jsmith_00_welcome_and_01_probability_densities.ipynb"]
    assert "cannot tell the student" in reasons["01_probability_densities.ipynb"]
    assert "neither" in reasons["random folder"]


def test_a_non_notebook_that_names_a_chapter_is_a_submission(tmp_path: Path) -> None:
    """Is smithjane_1_2_01_probability_densities.pdf kept (to get a 'not a notebook' row), not dropped?"""
    touch(tmp_path / "smithjane_1_2_01_probability_densities.pdf", "%PDF")
    (sub,) = find_submissions(tmp_path, CHAPTERS).submissions
    assert (sub.student, sub.chapter, sub.path.suffix) == ("smithjane", "01_probability_densities", ".pdf")


def test_the_newest_resubmission_wins(tmp_path: Path) -> None:
    """With several files of one student for one chapter, is the newest graded and the rest listed?"""
    touch(tmp_path / "smithjane_12345_100_01_probability_densities.ipynb", mtime=2_000_000_000)
    touch(tmp_path / "smithjane_12345_101_01_probability_densities-1.ipynb", mtime=1_000_000_000)
    touch(tmp_path / "ann_00_welcome.ipynb", mtime=1_000)
    touch(tmp_path / "ann_00_welcome (2).ipynb", mtime=2_000)
    found = find_submissions(tmp_path, CHAPTERS)
    assert mapped(tmp_path) == {("smithjane", "01_probability_densities"):
                                "smithjane_12345_101_01_probability_densities-1.ipynb",  # Canvas: higher file id
                                ("ann", "00_welcome"): "ann_00_welcome (2).ipynb"}  # otherwise: later mtime
    assert sorted(u.path.name for u in found.unmapped) == ["ann_00_welcome.ipynb",
                                                           "smithjane_12345_100_01_probability_densities.ipynb"]
    assert all(u.reason.startswith("superseded by ") for u in found.unmapped)


def test_two_students_with_one_name_are_kept_apart(tmp_path: Path) -> None:
    """Do two Canvas users both called smithjane become smithjane_<userid> instead of one overwriting the other?"""
    touch(tmp_path / "smithjane_111_1_00_welcome.ipynb")
    touch(tmp_path / "smithjane_222_2_00_welcome.ipynb")
    assert set(mapped(tmp_path)) == {("smithjane_111", "00_welcome"), ("smithjane_222", "00_welcome")}


def test_a_zip_is_unpacked_safely(tmp_path: Path) -> None:
    """Is a zip unpacked (one wrapping folder skipped), and one with a '..' entry refused?"""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("submissions/smithjane_1_2_00_welcome.ipynb", "{}")
        zf.writestr("submissions/doejohn_3_4_00_welcome.ipynb", "{}")
    folder = unpack_zip(archive, tmp_path / "inbox")
    assert folder == tmp_path / "inbox" / "submissions"
    assert set(mapped(folder)) == {("smithjane", "00_welcome"), ("doejohn", "00_welcome")}
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.ipynb", "{}")
    with pytest.raises(ValueError, match="unsafe entry"):
        unpack_zip(evil, tmp_path / "inbox2")
    assert not (tmp_path.parent / "escape.ipynb").exists()


def test_name_helpers() -> None:
    """Do the slug and the chapter match follow the documented rules?"""
    assert student_slug("  Jane  O'Smith ") == "jane_o_smith"
    assert student_slug("李 伟") == "李_伟"
    assert chapter_in_name("01 Probability-Densities copy", CHAPTERS) == "01_probability_densities"
    assert chapter_in_name("00_welcome_01_probability_densities", CHAPTERS) is None
    assert chapter_in_name("welcome", CHAPTERS) is None
