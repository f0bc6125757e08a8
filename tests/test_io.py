"""course_utils._io: the one atomic write of the package, and strict JSON."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from course_utils._io import FILE_MODE, atomic_write, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_json_is_written_atomically_and_strictly(tmp_path: Path) -> None:
    """Is NaN written as null, inf too, tuples as lists, and no temporary file left beside the result?"""
    path = atomic_write_json(tmp_path / "r.json", {"kl": float("nan"), "rows": [1.0, (2, float("inf"))]})
    assert json.loads(path.read_text()) == {"kl": None, "rows": [1.0, [2, None]]}
    assert path.read_text().endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


@pytest.mark.parametrize("write", [
    lambda p: atomic_write_bytes(p, b"new"),
    lambda p: atomic_write_text(p, "new"),
    lambda p: atomic_write_json(p, {"a": 1}),
    lambda p: atomic_write(p, lambda fh: fh.write(b"new")),
])
def test_every_write_gets_one_file_mode_whatever_the_umask(tmp_path: Path, write) -> None:
    """Does every atomic write leave 0644 (not mkstemp's 0600), even under a strict umask?"""
    old = os.umask(0o077)
    try:
        path = write(tmp_path / "sub" / "f")  # the folder is created
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    """Does an error (or Ctrl-C) half-way through keep the old content and remove the temporary file?"""
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"old")

    def half_then_interrupted(fh) -> None:
        fh.write(b"ha")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, half_then_interrupted)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


def test_the_bytes_are_flushed_to_disk_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Is fsync called on the temporary file, before os.replace makes it the file?"""
    events: list[str] = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), replace(a, b))[1])
    atomic_write_text(tmp_path / "grades.csv", "a,b\n")
    assert events == ["fsync", "replace"]
