"""What every benchmark shares: mean ± standard error over seeds, aligned tables, the machine, one thread per run."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

QUICK_STEPS = 10  # generator (or VAE) updates of a --quick run: seconds, for tests


@dataclass(frozen=True)
class Summary:
    """Mean and standard error of the mean of one measure over seeds."""

    mean: float  # nan when no value is finite
    sem: float  # sample standard deviation (ddof = 1) / sqrt(n); nan when n < 2
    n: int  # finite values summarised
    total: int  # values given; non-finite ones (a reverse KL with no high-quality sample) are left out


def summarize(values: Iterable[float | None]) -> Summary:
    """Mean ± standard error of the finite ``values`` (``None`` and NaN are left out and counted).

    SE = s / √n with s² = Σ (x_i − x̄)² / (n − 1), the unbiased sample variance.
    """
    values = [None if v is None else float(v) for v in values]
    finite = [v for v in values if v is not None and math.isfinite(v)]
    n = len(finite)
    mean = statistics.fmean(finite) if n else math.nan
    sem = statistics.stdev(finite) / math.sqrt(n) if n >= 2 else math.nan
    return Summary(mean=mean, sem=sem, n=n, total=len(values))


def format_summary(summary: Summary, digits: int = 2, *, percent: bool = False) -> str:
    """``"7.20 ± 0.31"`` (``"95.1 ± 1.0%"`` with ``percent``); the mean alone from one value, ``"—"``
    from none, and ``"(9/10)"`` after the text when some values were left out."""
    if math.isnan(summary.mean):
        return "—"
    scale, unit = (100.0, "%") if percent else (1.0, "")
    text = f"{scale * summary.mean:.{digits}f}"
    if not math.isnan(summary.sem):  # one value: no spread to show
        text += f" ± {scale * summary.sem:.{digits}f}"
    text += unit
    return text if summary.n == summary.total else f"{text} ({summary.n}/{summary.total})"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """Aligned columns: a header, a rule, the rows (``right[i]``: right-align column i)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = (f"{c:>{w}}" if r else f"{c:<{w}}" for c, w, r in zip(cells, widths, right, strict=True))
        return "  ".join(padded).rstrip()

    return [line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows]


def environment() -> dict[str, Any]:
    """Versions and the machine, stored with every result."""
    return {"python": platform.python_version(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def single_thread() -> None:
    """One math thread in this process: parallel benchmark runs do not fight over cores, and a run's
    wall time does not depend on how many others share the machine's thread pool."""
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    warm_up()


def warm_up() -> None:
    """The first optimizer a process builds imports ``torch._dynamo`` (about 2 s): pay that here, not
    inside a timed run."""
    torch.optim.Adam([nn.Parameter(torch.zeros(1))])


def synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work, so that a clock read after it times the work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
