"""Run a notebook's graded tests with nbgrader's ``Validator`` and say which cells fail, and why.

The ``nbgrader validate`` CLI exits 0 even when tests fail, so ``course check``, the notebook tests and
the instructor's checks use :func:`validate_notebook`, which returns a :class:`ValidationResult` naming
each failing cell by its grade_id. ``invert=True`` checks a released notebook: every graded test must
fail there, or the test does not test the exercise.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import nbformat
from traitlets.config import Config

from course_utils._layout import find_course_root
from course_utils.instructor.nbgrader_run import captured_log, last_error_line, load_nbgrader_config
from course_utils.instructor.release import display_path


@dataclass(frozen=True)
class CellFailure:
    """One graded cell that did not behave: its grade_id, a one-line message, the full error text."""

    grade_id: str
    message: str
    detail: str = ""


@dataclass(frozen=True)
class ValidationResult:
    """What nbgrader's Validator found in a notebook.

    Attributes
    ----------
    passed : bool
        For a student notebook (``invert=False``): every graded test cell passed. For a released
        notebook (``invert=True``): every graded test cell failed, as it should without answers.
    failed_cells : tuple of CellFailure
        The cells that broke the rule above, in notebook order.
    summary : str
        One line for people.
    n_graded : int
        Number of graded code cells (autograder tests) that the Validator scored.
    executed : NotebookNode or None
        The notebook as the Validator ran it, outputs included (None when nothing ran).
    """

    passed: bool
    failed_cells: tuple[CellFailure, ...]
    summary: str
    n_graded: int = 0
    executed: nbformat.NotebookNode | None = field(default=None, compare=False, repr=False)

    @property
    def failed_ids(self) -> list[str]:
        """The grade_ids of :attr:`failed_cells`."""
        return [failure.grade_id for failure in self.failed_cells]


def _is_autograded_test(cell: dict) -> bool:
    """A graded code cell that is not also an answer cell: an 'Autograder tests' cell."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution")


def _strip_ansi(text: str) -> str:
    from nbconvert.filters import strip_ansi

    return strip_ansi(text)


def _one_line(error_text: str) -> str:
    """The last non-empty line of an error text (the exception and its message)."""
    lines = [line.strip() for line in _strip_ansi(error_text).splitlines() if line.strip()]
    return lines[-1].rstrip(":") if lines else "failed"


def _quiet_kernel_transport(config: Config) -> None:
    """Let jupyter_client give the kernel CurveZMQ keys where it can.

    Recent ipykernel warns on stderr about every unencrypted TCP kernel; recent jupyter_client can
    provision keys (``KernelManager.transport_encryption``). Older versions lack the option: skip.
    """
    try:
        import zmq
        from jupyter_client.manager import KernelManager
    except ImportError:  # pragma: no cover - both come with nbgrader
        return
    if "transport_encryption" in KernelManager.class_trait_names() and zmq.has("curve"):
        config.KernelManager.transport_encryption = "auto"


def validate_notebook(
    path: str | os.PathLike[str],
    invert: bool = False,
    *,
    timeout: int | None = None,
) -> ValidationResult:
    """Execute a notebook with nbgrader's ``Validator`` and report its graded cells.

    The kernel runs with the notebook's folder as working directory. The per-cell timeout comes
    from ``timeout``, else from the course's ``nbgrader_config.py`` (found above the notebook),
    else :data:`~course_utils.instructor.nbgrader_run.DEFAULT_CELL_TIMEOUT`.

    Parameters
    ----------
    path : path-like
        The notebook to run.
    invert : bool
        ``False`` for a student's (or the instructor's) notebook: passes when every graded test cell
        passes. ``True`` for a freshly released notebook: passes when every graded test cell fails
        (``Validator(invert=True)`` lists the cells that pass).
    timeout : int, optional
        Seconds each cell may run.

    Returns
    -------
    ValidationResult

    Raises
    ------
    FileNotFoundError
        When ``path`` is not a file.
    ValueError
        When the file is not a readable notebook.
    """
    path = Path(path).resolve()
    _check_readable(path)
    validator = _recording_validator_class()(config=_validator_config(path, invert, timeout))
    return _validate(validator, path, invert)


def _validate(validator, path: Path, invert: bool) -> ValidationResult:
    """Run ``validator`` (a :func:`_recording_validator_class`) on ``path``, its log kept private."""
    with captured_log("course_utils.instructor.release.validator") as (logger, buffer):
        validator.log = logger
        validator.stream = io.StringIO()  # the human-readable report; we build our own
        try:
            results = validator.validate(str(path))
        except Exception as error:  # nbgrader's metadata checks raise before anything runs
            failure = CellFailure("(notebook)", f"{type(error).__name__}: {_one_line(str(error))}",
                                  last_error_line(buffer.getvalue()))
            summary = (f"{display_path(path)}: could not be validated: {failure.message}; "
                       "fetch a fresh copy of the chapter")
            return ValidationResult(False, (failure,), summary, 0)
    cells = validator.executed.cells if validator.executed is not None else []
    return replace(_interpret(results, cells, invert, display_path(path)), executed=validator.executed)


def _check_readable(path: Path) -> None:
    """FileNotFoundError or ValueError (one line) unless ``path`` is a notebook nbformat can read."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such notebook")
    try:
        nbformat.read(path, as_version=4)
    except Exception as error:  # NotJSONError, UnicodeDecodeError, ...
        raise ValueError(f"{display_path(path)}: not a readable notebook: {_one_line(str(error))}") from None


def _validator_config(path: Path, invert: bool, timeout: int | None) -> Config:
    """The nbgrader config of the course above ``path`` (if any), with the timeout and direction asked for."""
    try:
        root = find_course_root(path.parent)
    except FileNotFoundError:
        root = None
    config = load_nbgrader_config(root)
    if timeout is not None:
        config.Execute.timeout = int(timeout)
    config.Validator.invert = bool(invert)
    _quiet_kernel_transport(config)
    return config


def _recording_validator_class() -> type:
    """nbgrader's Validator, keeping the executed notebook so failures can be named by grade_id."""
    from nbgrader.validator import Validator

    class RecordingValidator(Validator):
        executed: nbformat.NotebookNode | None = None

        def _preprocess(self, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
            self.executed = super()._preprocess(nb)
            return self.executed

    return RecordingValidator


def _interpret(results: dict, cells: list, invert: bool, shown: str) -> ValidationResult:
    """Turn ``Validator.validate``'s dict (cells given by source only) into a ValidationResult."""
    n_graded = sum(_is_autograded_test(c) for c in cells)
    ids_by_source: dict[str, list[str]] = {}
    for cell in cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "(no grade_id)")
        ids_by_source.setdefault(cell.source.strip(), []).append(grade_id)

    def failure(entry: dict, message: str, detail: str = "") -> CellFailure:
        ids = ids_by_source.get(entry["source"].strip())
        return CellFailure(ids.pop(0) if ids else "(unknown cell)", message, detail)

    if results.get("type_changed"):
        failures = [failure(e, f"cell type changed from {e['old_type']} to {e['new_type']}; change it back")
                    for e in results["type_changed"]]
        summary = f"{shown}: {len(failures)} cell(s) changed type; change them back before submitting"
    elif results.get("changed"):
        failures = [failure(e, "this read-only test cell was edited; undo the edit (grading restores it)")
                    for e in results["changed"]]
        summary = f"{shown}: {len(failures)} read-only cell(s) were edited"
    elif invert:
        failures = [failure(e, "passes without an answer: its tests do not test the exercise")
                    for e in results.get("passed", [])]
        summary = (f"{shown}: {len(failures)} of {n_graded} graded test cell(s) pass without answers"
                   if failures else
                   f"{shown}: all {n_graded} graded test cell(s) fail without answers, as they should")
    else:
        failures = []
        for entry in results.get("failed", []):
            raw = _strip_ansi(entry.get("raw_error", ""))
            failures.append(failure(entry, _one_line(raw), raw))
        summary = (f"{shown}: {len(failures)} of {n_graded} graded test cell(s) fail" if failures else
                   f"{shown}: all {n_graded} graded test cell(s) pass")
    return ValidationResult(not failures, tuple(failures), summary, n_graded)
