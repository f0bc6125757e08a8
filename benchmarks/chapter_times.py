"""How long each chapter takes top to bottom, on this machine's device (CPU or GPU), and its slowest cells.

Run: .venv/bin/python benchmarks/chapter_times.py [--only 00] [--log-dir DIR] [--busy N]

``--busy N`` keeps N other processes spinning meanwhile (a student's other work); ``COURSE_CPU_THREADS=2``
times the chapters with torch on two threads instead of the course's one (``course_utils.device``).

Each solution notebook (``solutions/<id>/<id>.ipynb``) runs in this process, cell by cell, in a fresh
IPython namespace with the chapter's folder as working directory: no Jupyter server or kernel is needed,
so it also runs where only PyTorch, matplotlib and IPython are installed (a GPU machine). The chapters
pick their own configuration from the device (``course_utils.device.run_profile``), so on a GPU this
times the larger runs. What the cells print goes to ``DIR/<id>.log``; the table goes to stdout.
A cell that raises stops its chapter, which is reported as failed with the error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from cpu_threads import busy_processes  # noqa: E402 (a sibling script)


@dataclass
class ChapterRun:
    chapter: str
    seconds: float = 0.0
    cell_seconds: list[tuple[int, float]] = field(default_factory=list)  # (code cell number, seconds)
    error: str = ""


def code_cells(notebook: Path) -> list[str]:
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    return ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]


def run_chapter(notebook: Path, log: io.TextIOBase) -> ChapterRun:
    """Run every code cell of ``notebook`` in a fresh namespace; stop at the first error."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    run = ChapterRun(notebook.stem)
    here = Path.cwd()
    os.chdir(notebook.parent)
    start = time.perf_counter()
    try:
        for number, source in enumerate(code_cells(notebook), start=1):
            cell_start = time.perf_counter()
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                result = shell.run_cell(source, store_history=False)
            run.cell_seconds.append((number, time.perf_counter() - cell_start))
            if not result.success:
                error = result.error_in_exec or result.error_before_exec
                run.error = f"code cell {number}: {type(error).__name__}: {error}"
                break
    finally:
        os.chdir(here)
        run.seconds = time.perf_counter() - start
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the chapters whose id contains this text")
    parser.add_argument("--log-dir", type=Path, default=Path("chapter_logs"), help="where each chapter's output goes")
    parser.add_argument("--busy", type=int, default=0, help="processes kept spinning beside the chapters")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    import torch

    from course_utils.device import describe_device, get_device

    notebooks = sorted(p for p in REPO.glob("solutions/*/*.ipynb") if args.only in p.stem)
    if not notebooks:
        sys.exit(f"no chapter id contains {args.only!r}")
    args.log_dir.mkdir(parents=True, exist_ok=True)
    device = describe_device(get_device())
    print(f"python {platform.python_version()}, torch {torch.__version__}, device: {device}, "
          f"{args.busy} busy process(es) beside")
    print(f"{'chapter':<34} {'seconds':>8}  slowest cells (code cell: seconds)")
    with busy_processes(args.busy):
        _run_all(notebooks, args.log_dir)
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


def _run_all(notebooks: list[Path], log_dir: Path) -> None:
    for notebook in notebooks:
        with open(log_dir / f"{notebook.stem}.log", "w", encoding="utf-8") as log:
            run = run_chapter(notebook, log)
        slowest = sorted(run.cell_seconds, key=lambda item: -item[1])[:3]
        shown = ", ".join(f"{number}: {seconds:.1f}" for number, seconds in slowest)
        print(f"{run.chapter:<34} {run.seconds:>8.1f}  {shown}" + (f"   FAILED at {run.error}" if run.error else ""))


if __name__ == "__main__":
    main()
