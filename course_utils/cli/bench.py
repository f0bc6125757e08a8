"""``course bench``: the course's benchmarks (mode coverage, VAE, throughput), the same code as ``benchmarks/*.py``.

    course bench mode-coverage [--seeds 10] [--jobs 2] [--configs gan,wgan-gp,best] [--data ring,grid]
    course bench vae-digits [--seeds 3]
    course bench throughput
    common: [--quick] [--device auto|cuda|mps|cpu] [--out results.json]

The mode-coverage table gives, per row, mean ± standard error over the seeds, the worst seed and the share of
seeds that lose a mode, and under it the same scores of noise and of an untrained generator on the same seeds
(``course_utils.training.baselines``): what a model must beat.

``--quick`` runs a tiny configuration (10 steps) that finishes in seconds, to check the pipeline;
its numbers mean nothing. ``--out`` also writes the records, the summary and the environment as
JSON, atomically (a temporary file, then a rename). Torch is imported only when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from course_utils.cli.args import name_list, whole_number
from course_utils.cli.base import Command, CommandFailed, UsageError
from course_utils.cli.train import DEVICES

BENCHMARKS = ("mode-coverage", "vae-digits", "throughput")
DEFAULT_SEEDS = {"mode-coverage": 10, "vae-digits": 3, "throughput": 1}
MODE_DATA = ("ring", "grid")  # the data sets of the mode-coverage protocol (bench.MODE_DATA_NAMES)


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``course bench`` (no torch import here: ``course --help`` stays fast)."""
    parser.add_argument("benchmark", choices=BENCHMARKS, metavar="BENCHMARK",
                        help=f"what to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--seeds", type=whole_number(1, "10"), default=None,
                        help="how many seeds, FIRST..FIRST+N-1 (default: 10 for mode-coverage, 3 for vae-digits)")
    parser.add_argument("--first-seed", type=whole_number(0, "100"), default=0, metavar="FIRST",
                        help="the first seed (default 0). Report on seeds no tuning used: the course's "
                             "presets were tuned on 0-9 and 'best' checked on 100-109, so --first-seed 1000")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration that runs in seconds (for tests)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA, then MPS, then CPU")
    parser.add_argument("--jobs", type=whole_number(1, "2"), default=1,
                        help="mode-coverage runs in parallel, one single-threaded process each (default 1)")
    parser.add_argument("--configs", type=name_list, default=None, metavar="NAMES",
                        help="mode-coverage rows, comma-separated (default: all of "
                             "course_utils.bench.MODE_COVERAGE_CONFIGS: gan,wgan-gp,best)")
    parser.add_argument("--data", type=name_list, default=list(MODE_DATA), metavar="NAMES",
                        help="mode-coverage data sets, comma-separated (default: ring,grid)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the results as JSON")


def _check_names(option: str, names: list[str], choices: tuple[str, ...]) -> None:
    unknown = [n for n in names if n not in choices]
    if unknown:
        raise UsageError(f"argument {option}: unknown {', '.join(map(repr, unknown))}; "
                         f"choose from {', '.join(choices)}")


def _check_out(out: Path | None) -> None:
    if out is None:
        return
    if out.is_dir():
        raise UsageError(f"argument --out: {str(out)!r} is a folder; give a file name, e.g. results.json")
    if not out.parent.is_dir():
        raise UsageError(f"argument --out: no folder {str(out.parent)!r}; create it first")


def _mode_coverage(args: argparse.Namespace, configs: list[str], seeds: list[int], device: str):
    """Records, summary, table and extra JSON fields of the mode-coverage benchmark, one line per run as it ends."""
    from concurrent.futures.process import BrokenProcessPool

    from course_utils import bench

    def progress(record: dict) -> None:
        outcome = (f"diverged ({record['error']})" if record["error"] else
                   f"{record['modes']}/{record['n_modes']} modes, {100 * record['high_quality']:.1f}% high quality")
        print(f"  {record['data']} {record['config']} seed {record['seed']}: {outcome}, {record['wall_s']:.1f} s",
              flush=True)

    try:
        records = bench.run_mode_coverage_suite(configs, args.data, seeds, device=device, quick=args.quick,
                                                jobs=args.jobs, on_record=progress)
    except BrokenProcessPool:
        raise CommandFailed(f"a benchmark process died (out of memory?); rerun with fewer than "
                            f"--jobs {args.jobs}") from None
    from course_utils.bench.mode_coverage import format_mode_coverage_baselines, mode_coverage_baselines

    summary = bench.summarize_mode_coverage(records)
    table = bench.format_mode_coverage(summary, jobs=args.jobs, device=device, seeds=seeds)
    # noise and an untrained G, scored like the runs (the untrained G is the first row's architecture)
    baselines = mode_coverage_baselines(configs[0], args.data, seeds, quick=args.quick)
    table += "\n\n" + format_mode_coverage_baselines(baselines)
    published = {data: [row._asdict() for row in rows] for data, rows in bench.PUBLISHED.items()}
    return records, summary, table, {"jobs": args.jobs, "samples": bench.N_SAMPLES, "published": published,
                                     "baselines": baselines}


def _vae_digits(args: argparse.Namespace, seeds: list[int], device: str):
    from course_utils import bench

    records = [record for seed in seeds for record in bench.run_vae_digits(seed, device=device, quick=args.quick)]
    summary = bench.summarize_vae(records)
    return records, summary, bench.format_vae(summary, device=device), {"target_met": bench.vae_target_met(summary)}


def _throughput(args: argparse.Namespace, device: str):
    from course_utils import bench

    records = bench.run_throughput(device=device, quick=args.quick)
    return records, records, bench.format_throughput(records, device=device), {}


def run(args: argparse.Namespace) -> int:
    """Run one benchmark, print its table, and write ``--out`` when given."""
    _check_out(args.out)
    import torch

    from course_utils import bench
    from course_utils._io import atomic_write_json
    from course_utils.device import get_device

    configs = args.configs or list(bench.MODE_COVERAGE_CONFIGS)
    _check_names("--configs", configs, tuple(bench.MODE_COVERAGE_CONFIGS))
    _check_names("--data", args.data, bench.MODE_DATA_NAMES)
    try:
        device = get_device(args.device)
    except ValueError as error:
        raise UsageError(f"argument --device: {error}") from None
    seeds = list(range(args.first_seed, args.first_seed + (args.seeds or DEFAULT_SEEDS[args.benchmark])))
    if args.benchmark == "mode-coverage":
        records, summary, table, extra = _mode_coverage(args, configs, seeds, device.type)
    else:
        torch.set_num_threads(1)  # like the mode-coverage runs: one core each, comparable times
        records, summary, table, extra = (_vae_digits(args, seeds, device.type) if args.benchmark == "vae-digits"
                                          else _throughput(args, device.type))
    if args.quick:
        table += "\n--quick: a tiny configuration that checks the pipeline; its numbers mean nothing."
    print(table)
    if args.out is not None:
        result = {"benchmark": args.benchmark, "quick": args.quick, "device": device.type, "seeds": seeds,
                  "environment": bench.environment(), **extra, "records": records, "summary": summary}
        atomic_write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0


COMMAND = Command("bench", "run a benchmark: mode-coverage, vae-digits or throughput; print its table", configure,
                  run, needs_root=False)
