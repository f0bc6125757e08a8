"""nbgrader's pieces run in this process: the course's config, a private log, a fast gradebook, a converter.

`course release` (``GenerateAssignment``), ``course check`` (``Validator``) and ``course grade``
(``GenerateAssignment`` for the workspace's gradebook, ``GenerateFeedback``) all run nbgrader
in-process rather than through its command line, so that its log does not reach the terminal and
a failure is reported as the one line of that log that says why.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

from traitlets.config import Config

from course_utils._layout import CONFIG_FILE, RELEASE_DIR, SOURCE_DIR

# Used when no nbgrader_config.py is found; the course's config sets the same value explicitly.
DEFAULT_CELL_TIMEOUT = 120
# Seconds to wait for a finished cell's output to arrive. nbclient's default of 4 s fails honest notebooks on a
# busy laptop: at load 4 on 2 cores the Validator failed chapter 09's solution with "Timeout waiting for IOPub
# output" after the cell had finished (nbgrader raises on it). Validate, `course check` and `course grade` all
# wait this long; nbgrader_config.py sets the same value.
IOPUB_TIMEOUT = 60
GRADEBOOK = "gradebook.db"  # the gradebook of an nbgrader course directory, at its root


class NbgraderFailed(RuntimeError):
    """An nbgrader converter failed; ``str(error)`` is the line of its log that says why."""


def load_nbgrader_config(root: str | os.PathLike[str] | None) -> Config:
    """Load ``<root>/nbgrader_config.py`` as a traitlets ``Config``.

    Parameters
    ----------
    root : path-like or None
        The course root. ``None``, or a root without the file, gives nbgrader's defaults plus the
        course's folder names and a per-cell timeout of ``DEFAULT_CELL_TIMEOUT`` seconds.

    Returns
    -------
    traitlets.config.Config
    """
    from traitlets.config.loader import PyFileConfigLoader

    config = Config()
    config.CourseDirectory.source_directory = SOURCE_DIR
    config.CourseDirectory.release_directory = RELEASE_DIR
    config.Execute.timeout = DEFAULT_CELL_TIMEOUT
    config.Execute.iopub_timeout = IOPUB_TIMEOUT
    if root is not None and (Path(root) / CONFIG_FILE).is_file():
        config.merge(PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config())
    return config


@contextlib.contextmanager
def captured_log(name: str) -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger whose records go to a string buffer rather than the terminal."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("[%(levelname)s] %(message)s"))
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    try:
        yield logger, buffer
    finally:
        logger.removeHandler(handler)


def last_error_line(log_text: str) -> str:
    """The most telling line of nbgrader's log: the last exception line of a traceback, if any."""
    lines = [line.strip() for line in log_text.splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and not line.startswith("["):
            return line
    errors = [line for line in lines if line.startswith("[ERROR]")]
    return errors[0] if errors else (lines[-1] if lines else "no log output")


@functools.cache
def _alembic_head() -> str | None:
    """The gradebook schema revision that nbgrader stamps into a new gradebook, read in-process."""
    try:
        from alembic.config import Config as AlembicConfig
        from alembic.script import ScriptDirectory
        from nbgrader.dbutil import ALEMBIC_DIR

        alembic_config = AlembicConfig()
        alembic_config.set_main_option("script_location", ALEMBIC_DIR)
        return ScriptDirectory.from_config(alembic_config).get_current_head()
    except Exception:  # pragma: no cover - fall back to nbgrader's own way
        return None


@contextlib.contextmanager
def fast_gradebook() -> Iterator[None]:
    """Create gradebooks without nbgrader's ``alembic heads`` subprocess (2 s per new gradebook).

    nbgrader runs the ``alembic`` executable from ``PATH`` only to read the schema revision it
    stamps into a new gradebook; we read the same revision in-process. If that fails, nbgrader's
    own path runs, with this interpreter's ``bin/`` first on ``PATH`` so that it finds our alembic.
    """
    import nbgrader.api

    head = _alembic_head()
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), old_path])
    try:
        if head is not None and hasattr(nbgrader.api, "get_alembic_version"):
            with mock.patch.object(nbgrader.api, "get_alembic_version", lambda: head):
                yield
        else:  # pragma: no cover
            yield
    finally:
        os.environ["PATH"] = old_path


def run_converter(converter_class: type, config: Config, course: Path, assignment_id: str, *, student_id: str,
                  log_name: str, **directories: str) -> None:
    """Run one of nbgrader's converters for one assignment of the course directory ``course``.

    Parameters
    ----------
    converter_class : type
        ``nbgrader.converters.GenerateAssignment`` or ``GenerateFeedback``.
    config : traitlets.config.Config
        The course's nbgrader config; a copy is changed, not this one.
    course : pathlib.Path
        The nbgrader course directory; its gradebook is ``course/gradebook.db``.
    assignment_id, student_id : str
        What to convert (``student_id="."`` for a release).
    log_name : str
        The private logger that receives nbgrader's log (:func:`captured_log`).
    **directories : str
        ``CourseDirectory`` folder names, e.g. ``source_directory="solutions"``.

    Raises
    ------
    NbgraderFailed
        With the line of nbgrader's log that says why (nbgrader logs the cause, then raises).
    """
    from nbgrader.coursedir import CourseDirectory

    cfg = copy.deepcopy(config)
    cfg.CourseDirectory.root = str(course)
    for name, folder in directories.items():
        setattr(cfg.CourseDirectory, name, folder)
    cfg.CourseDirectory.db_url = f"sqlite:///{course / GRADEBOOK}"
    cfg.CourseDirectory.assignment_id = assignment_id
    cfg.CourseDirectory.student_id = student_id
    cfg.CourseDirectory.notebook_id = "*"
    with captured_log(log_name) as (logger, buffer), fast_gradebook():
        coursedir = CourseDirectory(config=cfg, log=logger)
        converter = converter_class(coursedir=coursedir, config=cfg, log=logger)
        converter.force = True
        try:
            converter.start()
        except Exception as error:  # NbGraderException and others
            raise NbgraderFailed(last_error_line(buffer.getvalue()) or str(error)) from None
