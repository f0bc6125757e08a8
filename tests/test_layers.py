"""The package's layers (pyproject.toml [tool.importlinter]): do the contracts hold, and does each one catch
the violation it is there for?

Each violation is made in a copy of ``course_utils`` (first on PYTHONPATH, so the copy is the package that
import-linter analyses); the repository is never touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO_ROOT

CONFIG = REPO_ROOT / "pyproject.toml"
LINT = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def lint_imports(package_parent: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run import-linter with the repository's contracts on ``package_parent/course_utils`` (default: the real one)."""
    env = {**os.environ, "PYTHONPATH": str(package_parent or REPO_ROOT)}
    return subprocess.run([sys.executable, "-c", LINT, str(CONFIG), "--no-cache", "--no-logo"],
                          capture_output=True, text=True, env=env, cwd=package_parent or REPO_ROOT, timeout=120)


def test_the_package_keeps_every_import_contract() -> None:
    """Do all the layer, forbidden and acyclic contracts hold for the package as committed?"""
    result = lint_imports()
    assert result.returncode == 0, (
        "an import contract is broken. A module 'not listed as layers' is new: add it to the layer it belongs to "
        "in pyproject.toml [tool.importlinter] (CONTRIBUTING.md, 'Adding a chapter'). An import that reaches up "
        f"a layer or closes a cycle: move the code down a layer instead of loosening the contract.\n{result.stdout}")
    assert "0 broken" in result.stdout


VIOLATIONS = {
    # (file to edit, or to create, in the copy; line appended; the contract that must catch it)
    "the student library imports the command line": ("data.py", "import course_utils.cli", "layers:"),
    "training imports the benchmarks": ("training/loop.py", "import course_utils.bench", "layers:"),
    "a widget imports the instructor's tools": ("widgets/kl.py", "import course_utils.instructor.release", "layers:"),
    "a new module that no layer names": ("new_chapter_experiment.py", "X = 1", "layers:"),
    "the instructor's tools import torch": ("instructor/release.py", "import torch", "the instructor's tools"),
    "the instructor's tools import torch indirectly": ("instructor/class_report.py", "import course_utils.metrics",
                                                      "the instructor's tools"),
    "the sandbox worker imports course_utils": ("instructor/sandbox/worker.py", "from course_utils import _io",
                                                "the sandbox worker"),
    "two modules import each other": ("losses.py", "import course_utils.metrics", "no import cycles"),
}


@pytest.mark.parametrize("case", list(VIOLATIONS))
def test_a_deliberate_violation_breaks_its_contract(case: str, tmp_path: Path) -> None:
    """Does import-linter fail, naming the right contract, when someone breaks a rule?"""
    path, line, contract = VIOLATIONS[case]
    shutil.copytree(REPO_ROOT / "course_utils", tmp_path / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "course_utils" / path
    target.write_text((target.read_text() if target.exists() else "") + f"\n{line}  # a deliberate violation\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0, f"{case}: import-linter did not notice\n{result.stdout}"
    broken = [block for block in result.stdout.split("\n\n") if "BROKEN" in block]
    assert any(contract in " ".join(block.split()) for block in broken), (
        f"{case}: expected the contract starting {contract!r} to be broken; output:\n{result.stdout}")
