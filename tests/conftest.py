"""Shared fixtures: a tiny nbgrader course built in a temporary folder, and notebook builders."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """One math thread per test process, and for the notebook kernels the tests start.

    `make test` runs 2 pytest workers on 2 cores, and each worker (and each kernel it starts for
    nbval or the Validator) would otherwise run 2 OpenMP threads: 4+ spinning threads on 2 cores made
    small-tensor tests 10-100x slower at random (0.3 s of work took up to 30 s). Kernels inherit the
    environment variable; this process needs the call, because torch may already be imported.
    """
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def nbgrader_meta(grade_id: str, *, grade: bool = False, solution: bool = False, locked: bool = False,
                  points: float | None = None) -> dict:
    """The ``metadata.nbgrader`` that JupyterLab's Create Assignment toolbar writes (schema 3)."""
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        meta["points"] = points
    return meta


def code_cell(cell_id: str, source: str, nbgrader: dict | None = None, **extra) -> dict:
    """A code cell as stored on disk (no outputs), with a fixed id so releases are comparable."""
    cell = {"cell_type": "code", "execution_count": None, "id": cell_id, "metadata": {}, "outputs": [],
            "source": source}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = nbgrader
    cell.update(extra)
    return cell


def markdown_cell(cell_id: str, source: str, nbgrader: dict | None = None) -> dict:
    """A markdown cell with a fixed id."""
    cell = {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": source}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = nbgrader
    return cell


def notebook_json(cells: list[dict]) -> dict:
    """A whole nbformat 4.5 notebook with a Python 3 kernelspec."""
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_notebook(path: Path, cells: list[dict]) -> Path:
    """Write ``cells`` as a notebook at ``path`` (parents created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook_json(cells), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return path


def exercise_cells(prefix: str = "ex") -> list[dict]:
    """A markdown cell, a data-reading cell, one solution cell and two graded test cells (one hidden)."""
    return [
        markdown_cell("intro", "# Exercise\n\nWrite `double(x)`, which returns twice `x`."),
        code_cell("read-data", 'with open("data.txt") as fh:\n    DATA = int(fh.read())'),
        code_cell(
            "answer",
            "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            nbgrader_meta(f"{prefix}_double", solution=True),
        ),
        code_cell(
            "test-visible",
            "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-3) == -6\n### END HIDDEN TESTS",
            nbgrader_meta(f"{prefix}_double_test", grade=True, locked=True, points=2),
        ),
        code_cell(
            "test-data",
            "assert double(DATA) == 84",
            nbgrader_meta(f"{prefix}_double_data_test", grade=True, locked=True, points=1),
        ),
    ]


def make_course(root: Path, assignments: tuple[str, ...] = ("ex",)) -> Path:
    """A course root with the repository's nbgrader_config.py and one tiny assignment per id."""
    root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for assignment_id in assignments:
        folder = root / "solutions" / assignment_id
        write_notebook(folder / f"{assignment_id}.ipynb", exercise_cells(assignment_id))
        (folder / "data.txt").write_text("42\n", encoding="utf-8")
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes); empty when the folder is missing."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A fresh tiny course (solutions/ex/ex.ipynb + data.txt), not yet released."""
    return make_course(tmp_path / "course")


@pytest.fixture(scope="module")
def released_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny course released once per test module (do not modify it)."""
    from course_utils.instructor.release import release

    root = make_course(tmp_path_factory.mktemp("released") / "course")
    release(root)
    return root


# ----------------------------------------------------------------------------------------------
# xdist: spread the per-chapter notebook tests over workers

NOTEBOOK_TESTS = "test_notebooks.py"


def chapter_scope(nodeid: str) -> str:
    """The xdist work unit of a test: its file, except per-chapter tests in test_notebooks.py.

    ``tests/test_notebooks.py::test_x[01_probability_densities]`` and every other test of that
    chapter share the unit ``tests/test_notebooks.py::[01_probability_densities]``, so that under
    ``--dist loadfile`` each chapter's notebook runs land on one worker, and different chapters on
    different workers (as nbval's notebooks in solutions/ already do, one file each).
    """
    path, _, rest = nodeid.partition("::")
    if path.endswith(NOTEBOOK_TESTS) and rest.endswith("]") and "[" in rest:
        return f"{path}::{rest[rest.index('['):]}"
    return path


@pytest.hookimpl(optionalhook=True)  # only pytest-xdist defines this hook
def pytest_xdist_make_scheduler(config, log):  # noqa: ANN001, ANN201
    """Under ``--dist loadfile``, group tests by :func:`chapter_scope` instead of by file."""
    if config.getoption("dist", None) != "loadfile":
        return None
    try:
        from xdist.scheduler import LoadFileScheduling
    except ImportError:  # pragma: no cover - an xdist without this class: keep its default
        return None

    class ChapterScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return chapter_scope(nodeid)

    return ChapterScheduling(config, log)


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    """The single line a `course` command wrote to stderr (asserting there was one, and no traceback)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture(scope="session")
def latency():
    """benchmarks/widget_latency.py as a module (benchmarks/ is not a package): its widget discovery."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("widget_latency", REPO_ROOT / "benchmarks" / "widget_latency.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module
