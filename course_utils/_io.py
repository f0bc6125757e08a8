"""Files that are never half-written: the one atomic write of the package, and strict JSON.

Every file ``course_utils`` writes for later (a checkpoint, ``config.json``, a benchmark's results, a
grading result, ``grades.csv``, the class report) goes through :func:`atomic_write`: the bytes go to a
temporary file in the same folder, are flushed to disk (``fsync``), and the file is renamed over the
target. A reader, a crash or a Ctrl-C sees the old file or the new one, never half of one.

This module imports nothing but the standard library, so every layer can use it (the instructor's
tools never import torch; a torch checkpoint passes ``torch.save`` as the ``write`` function).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

# The mode a file gets from open() under the usual umask (022): mkstemp's 0600 would hide a checkpoint or a
# grades table from a colleague's account or a web server. Privacy belongs to a folder's mode, not to the files.
FILE_MODE = 0o644


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(fh)`` on a temporary file beside ``path``, flush it to disk, then rename it to ``path``.

    Parameters
    ----------
    path : path-like
        The file to create or replace; its folder is created if needed.
    write : callable
        Writes the content to the binary file object it is given, e.g.
        ``lambda fh: torch.save(checkpoint, fh)`` or ``lambda fh: fig.savefig(fh, format="png")``.

    Returns
    -------
    pathlib.Path
        ``path``. On any error (including ``KeyboardInterrupt``) the temporary file is removed and the
        old ``path``, if any, is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())  # the bytes are on disk before the rename makes them the file
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` as UTF-8."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def without_nan(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±inf) replaced by ``None``, in nested dicts, lists and tuples.

    JSON has no NaN: Python writes ``NaN`` by default, which strict parsers (browsers, ``jq``) refuse.
    A reverse KL with no high-quality sample, for example, is NaN and is stored as ``null``.
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [without_nan(v) for v in value]
    return value


def strict_json(value: Any) -> str:
    """``value`` as strict JSON text (non-finite floats as ``null``), indented, keys sorted, with a final newline."""
    return json.dumps(without_nan(value), indent=1, sort_keys=True, allow_nan=False) + "\n"


def atomic_write_json(path: str | os.PathLike, value: Any) -> Path:
    """:func:`atomic_write_text` of :func:`strict_json` ``(value)``."""
    return atomic_write_text(path, strict_json(value))
