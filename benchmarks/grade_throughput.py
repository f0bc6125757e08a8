"""Throughput of ``course grade``: seconds per graded notebook with --jobs 1 and --jobs 2.

Run: .venv/bin/python benchmarks/grade_throughput.py [--students 30] [--chapters 01_probability_densities
     03_cross_entropy_and_mse] [--jobs 1 2] [--unsafe]

Simulates a class: each student hands in every chosen chapter, generated from the released notebook
in chapters/ with the answers of solutions/ filled in: a third of them correct, a third partial
(the first exercise only), a third the untouched stub. The class is graded once per --jobs value
into a fresh temporary OUT (the same work each time: workspace, sandboxed execution, gradebook,
feedback, report), and the table gives wall seconds, seconds per graded notebook, submissions per
minute, and each row's speed-up over the first. Grading is CPU-bound: expect a speed-up close to
min(jobs, free cores); on a machine shared with other work, less.

Last, the same command runs again on the unchanged class (what a rerun costs: nothing to execute, the CSV, the
report and any feedback whose scores changed).

Without bubblewrap the benchmark stops with the sandbox's message; --unsafe measures unisolated runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CHAPTERS = ("01_probability_densities", "03_cross_entropy_and_mse")
KINDS = ("correct", "partial", "stub")


def make_class(folder: Path, students: int, chapters: list[str]) -> dict[str, int]:
    """Write ``students`` x ``chapters`` submissions (nbgrader layout); return how many of each kind."""
    from course_utils.instructor.submissions import simulated_submission, solution_answers

    counts = dict.fromkeys(KINDS, 0)
    for chapter in chapters:
        right = solution_answers(REPO, chapter)
        first = next(iter(right))
        for i in range(students):
            kind = KINDS[i % len(KINDS)]
            answers = {"correct": right, "partial": {first: right[first]}, "stub": {}}[kind]
            path = folder / f"student{i:03d}" / chapter / f"{chapter}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(simulated_submission(REPO, chapter, answers), path)
            counts[kind] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--chapters", nargs="+", default=list(DEFAULT_CHAPTERS))
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cell-timeout", type=float, default=60.0)
    parser.add_argument("--unsafe", action="store_true", help="grade without a sandbox (if bubblewrap is missing)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from course_utils.instructor.autograde import Runner, grade_class
    from course_utils.instructor.sandbox.backend import Limits, SandboxUnavailable, detect

    try:
        backend = detect(unsafe=args.unsafe)
    except SandboxUnavailable as error:
        print(f"cannot benchmark: {error}", file=sys.stderr)
        return 1
    limits = Limits(cell_timeout=args.cell_timeout)
    with tempfile.TemporaryDirectory(prefix="grade-throughput-") as tmp:
        tmp = Path(tmp)
        counts = make_class(tmp / "submissions", args.students, args.chapters)
        n = sum(counts.values())
        print(f"{args.students} students x {len(args.chapters)} chapters ({', '.join(args.chapters)}) = {n} "
              f"notebooks: {', '.join(f'{v} {k}' for k, v in counts.items())}")
        print(f"isolation: {backend.name}; {os.cpu_count()} CPUs; Python {platform.python_version()}; "
              f"{limits.cell_timeout:g} s per cell")
        print(f"{'jobs':>4}  {'wall s':>8}  {'s / notebook':>12}  {'notebooks / min':>15}  {'speed-up':>8}")
        first = None
        for jobs in args.jobs:
            started = time.perf_counter()
            run = grade_class(tmp / "submissions", tmp / f"out-jobs{jobs}", root=REPO,
                              runner=Runner(backend, limits, jobs=jobs), chapters=args.chapters)
            wall = time.perf_counter() - started
            graded = sum(row["status"] != "missing" for row in run.rows)
            assert graded == n, f"{n - graded} notebook(s) not graded: {run.status_counts()}"
            first = first or wall
            print(f"{jobs:>4}  {wall:>8.1f}  {wall / n:>12.2f}  {60 * n / wall:>15.1f}  {first / wall:>7.2f}x")
        started = time.perf_counter()  # the same command again on an unchanged class: nothing to execute
        run = grade_class(tmp / "submissions", tmp / f"out-jobs{args.jobs[-1]}", root=REPO,
                          runner=Runner(backend, limits, jobs=args.jobs[-1]), chapters=args.chapters)
        assert not run.executed, f"a rerun of an unchanged class executed {len(run.executed)} notebook(s)"
        print(f"rerun of the unchanged class (jobs {args.jobs[-1]}): {time.perf_counter() - started:.1f} s wall, "
              "nothing executed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
