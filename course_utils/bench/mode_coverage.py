"""Mode coverage: GANs on the ring and the grid, scored by the PacGAN / VEEGAN protocol beside their published rows."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any, NamedTuple

import torch

from course_utils.bench.common import QUICK_STEPS, Summary, format_summary, single_thread, summarize, table

MODE_DATA_NAMES = ("ring", "grid")
N_SAMPLES = 2_500  # generator samples scored per run (PacGAN / VEEGAN protocol)


class GANBench(NamedTuple):
    """One row of the mode-coverage benchmark: ``GANConfig.preset(preset, data, **overrides)``."""

    label: str  # printed in the table
    preset: str  # the ``loss`` argument of GANConfig.preset
    overrides: Mapping[str, Any]  # GANConfig fields set on top of the preset
    steps: Mapping[str, int | None]  # generator updates on each data set; None: the preset's own


# The configurations of the mode-coverage benchmark, in table order: a GANConfig.preset name, overrides, and
# steps per data set (None for the preset's own). "best" is the course's best configuration on 2-D data.
# Measured on one CPU core, seed 0: GAN ring 3,000 steps 19 s (8/8 modes), grid 6,000 steps 31 s
# (20/25); WGAN-GP about 26 ms per step (5 critic updates each), grid 3,000 steps 87 s (17/25).
MODE_COVERAGE_CONFIGS: dict[str, GANBench] = {
    "gan": GANBench("GAN (non-saturating)", "gan", {}, {"ring": 3_000, "grid": 6_000}),
    "wgan-gp": GANBench("WGAN-GP", "wgan-gp", {}, {"ring": 1_500, "grid": 1_500}),
    # GANConfig.preset("best"): non-saturating GAN, R1, lr decay, batch 512, rejection sampling (its docstring)
    "best": GANBench("course best (GAN + R1 + lr decay + DRS)", "best", {}, {"ring": None, "grid": None}),
}


class Published(NamedTuple):
    """A row of a paper's table: modes captured, % high-quality samples, reverse KL (None: not reported)."""

    label: str
    modes: float
    high_quality: float  # a fraction in [0, 1]
    reverse_kl: float | None


# PacGAN (Lin et al. 2018) Table 1 and VEEGAN (Srivastava et al. 2017) Table 1, as listed in DESIGN.md.
# VEEGAN's table has no reverse-KL column.
PUBLISHED: dict[str, tuple[Published, ...]] = {
    "ring": (Published("PacGAN Table 1: GAN", 6.3, 0.982, 0.45),
             Published("PacGAN Table 1: PacGAN4", 7.8, 0.959, 0.07),
             Published("VEEGAN Table 1: VEEGAN", 8, 0.529, None)),
    "grid": (Published("PacGAN Table 1: GAN", 17.3, 0.948, 0.70),
             Published("PacGAN Table 1: PacGAN4", 24.8, 0.936, 0.04),
             Published("VEEGAN Table 1: VEEGAN", 24.6, 0.40, None)),
}


def gan_config(name: str, data: str, seed: int, *, quick: bool = False, row: GANBench | None = None):
    """The :class:`~course_utils.training.GANConfig` of benchmark row ``name`` on ``data``.

    ``row`` replaces the row of :data:`MODE_COVERAGE_CONFIGS` (to try a configuration without editing
    the table). ``quick`` keeps the model and the loss but trains for :data:`QUICK_STEPS` steps on
    1,000 points.
    """
    from course_utils.training import GANConfig

    if row is None and name not in MODE_COVERAGE_CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; choose from {', '.join(MODE_COVERAGE_CONFIGS)}")
    if data not in MODE_DATA_NAMES:
        raise ValueError(f"data must be one of {', '.join(MODE_DATA_NAMES)}; got {data!r}")
    row = row or MODE_COVERAGE_CONFIGS[name]
    config = GANConfig.preset(row.preset, data, **{**row.overrides, "seed": seed})
    steps = QUICK_STEPS if quick else row.steps.get(data) or config.steps
    extra = {"n_data": 1_000} if quick else {}
    # eval_every = steps: the loop scores once, at the end; the benchmark scores the samples itself
    return replace(config, steps=steps, eval_every=steps, **extra)


def run_mode_coverage(name: str, data: str, seed: int, *, device: str = "cpu", quick: bool = False,
                      row: GANBench | None = None) -> dict[str, Any]:
    """Train benchmark row ``name`` (or ``row``) on ``data`` with ``seed`` and score 2,500 samples.

    Returns
    -------
    dict
        ``config, data, seed, steps, modes, n_modes, high_quality`` (a fraction), ``reverse_kl`` (nan
        with no high-quality sample), ``wall_s`` (training and scoring), ``device``, ``error`` (None, or
        why training diverged: such a run counts as 0 modes and 0% high quality), ``rejection_sampling``
        (whether the config samples with DRS), and ``g_alone``: the same three numbers for plain G(z) on the
        same z, which is what PacGAN and VEEGAN score (equal to the main ones without DRS).
    """
    from course_utils.device import get_device
    from course_utils.metrics import mode_coverage
    from course_utils.training import MODE_DATA, TrainingDiverged, sample_gan, train_gan_models

    config = gan_config(name, data, seed, quick=quick, row=row)
    device = get_device(device)
    centers_fn, std = MODE_DATA[data]
    label = (row or MODE_COVERAGE_CONFIGS[name]).label
    nothing = {"modes": 0, "high_quality": 0.0, "reverse_kl": math.nan}
    record = {"config": name, "label": label, "data": data, "seed": seed, "steps": config.steps, **nothing,
              "n_modes": len(centers_fn()), "wall_s": math.nan, "device": device.type, "error": None,
              "rejection_sampling": config.drs_quantile is not None, "g_alone": nothing}
    start = time.perf_counter()
    try:
        _, models = train_gan_models(config, device=device, progress=False)
    except TrainingDiverged as error:
        return record | {"error": str(error), "wall_s": time.perf_counter() - start}
    def scores(samples) -> dict[str, Any]:
        coverage = mode_coverage(samples, centers_fn(), std)
        return {"modes": coverage.modes, "high_quality": coverage.fraction_high_quality,
                "reverse_kl": coverage.reverse_kl}

    rng = torch.Generator(device).manual_seed(seed + 1)  # the z of the History's evaluations
    reported = scores(sample_gan(models, config, N_SAMPLES, rng=rng))  # rejection-sampled where config says
    alone = reported
    if config.drs_quantile is not None:
        alone = scores(sample_gan(models, replace(config, drs_quantile=None), N_SAMPLES,
                                  rng=torch.Generator(device).manual_seed(seed + 1)))
    return record | reported | {"g_alone": alone, "wall_s": time.perf_counter() - start}


def _run_mode_coverage_task(task: tuple[str, GANBench, str, int, str, bool]) -> dict[str, Any]:
    single_thread()
    name, row, data, seed, device, quick = task
    return run_mode_coverage(name, data, seed, device=device, quick=quick, row=row)


def run_mode_coverage_suite(configs: Sequence[str] | Mapping[str, GANBench], datas: Sequence[str],
                            seeds: Sequence[int], *, device: str = "cpu", quick: bool = False, jobs: int = 1,
                            on_record: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Every (config, data, seed) run, in ``jobs`` single-threaded processes (``jobs = 1``: this process).

    ``configs``: names of :data:`MODE_COVERAGE_CONFIGS` rows, or a mapping name → :class:`GANBench`
    (the rows travel to the worker processes with each task). ``on_record`` is called with each
    record as it finishes (for progress). Returns the records in (data, config, seed) order.
    """
    if not isinstance(configs, Mapping):
        unknown = [n for n in configs if n not in MODE_COVERAGE_CONFIGS]
        if unknown:
            raise ValueError(f"unknown configuration(s) {', '.join(map(repr, unknown))}; "
                             f"choose from {', '.join(MODE_COVERAGE_CONFIGS)}")
        configs = {name: MODE_COVERAGE_CONFIGS[name] for name in configs}
    tasks = [(n, row, d, s, device, quick) for d in datas for n, row in configs.items() for s in seeds]

    def cost(task: tuple) -> int:  # critic and generator updates: a fair proxy for a run's time
        config = gan_config(task[0], task[2], 0, quick=quick, row=task[1])
        return config.steps * (config.n_critic + 1)

    order = sorted(tasks, key=cost, reverse=True)  # the longest first, so that the last to finish is short
    records = []
    if jobs == 1:
        single_thread()
        for task in order:
            records.append(_run_mode_coverage_task(task))
            if on_record:
                on_record(records[-1])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # spawn, not fork: a forked child inherits torch's thread pools and locks mid-use
        with ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=single_thread) as pool:
            futures = [pool.submit(_run_mode_coverage_task, task) for task in order]
            for future in as_completed(futures):
                records.append(future.result())
                if on_record:
                    on_record(records[-1])
    rank = {(task[0], task[2], task[3]): i for i, task in enumerate(tasks)}
    return sorted(records, key=lambda r: rank[(r["config"], r["data"], r["seed"])])


def summarize_mode_coverage(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (data, config): mean ± SE of modes, high quality and reverse KL, mean wall time per run,
    the worst seed (:func:`worst_seed`) and ``lose_mode``, how many seeds miss at least one mode."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["data"], record["config"]), []).append(record)
    rows = []
    for (data, name), group in groups.items():
        common = {"data": data, "config": name, "steps": group[0]["steps"], "n_modes": group[0]["n_modes"],
                  "seeds": len(group), "diverged": sum(r.get("error") is not None for r in group),
                  "wall_s": asdict(summarize(r["wall_s"] for r in group))}
        label = group[0].get("label")
        if any(r.get("rejection_sampling") for r in group):  # two rows: what G learnt, and what DRS reports
            alone = [{**r.get("g_alone", r), "seed": r["seed"]} for r in group]
            rows.append(common | {"label": f"{label}: G alone", "sampling": "g_alone",
                                  **_scores(alone, common["n_modes"])})
            label = f"{label}: with rejection sampling"
        rows.append(common | {"label": label, "sampling": "reported", **_scores(group, common["n_modes"])})
    return rows


def _scores(records, n_modes: int) -> dict[str, Any]:
    records = list(records)
    scores = {key: asdict(summarize(r[key] for r in records)) for key in ("modes", "high_quality", "reverse_kl")}
    return scores | {"worst": worst_seed(records), "lose_mode": sum(r["modes"] < n_modes for r in records)}


def worst_seed(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The seed with the fewest modes, ties broken by the lowest high-quality share: its ``seed, modes,
    high_quality, reverse_kl``. A mean over seeds hides a seed that loses a mode; this row shows it."""
    worst = min(records, key=lambda r: (r["modes"], r["high_quality"]))
    return {key: worst[key] for key in ("seed", "modes", "high_quality", "reverse_kl")}


def format_mode_coverage(summary: Sequence[dict[str, Any]], *, jobs: int, device: str,
                         seeds: int | Sequence[int] | None = None) -> str:
    """The mode-coverage table: our rows (mean ± SE over seeds) and the published ones, per data set.

    ``seeds``: the seeds run (named in the title), or their number.
    """
    which = ""
    if seeds is not None and not isinstance(seeds, int):
        seeds = list(seeds)
        which = f" ({seeds[0]}-{seeds[-1]})" if len(seeds) > 1 else f" ({seeds[0]})"
        seeds = len(seeds)
    seeds = seeds if seeds is not None else max((row["seeds"] for row in summary), default=0)
    lines = [f"Mode coverage, {N_SAMPLES:,} samples per run: mean ± standard error over {seeds} seed(s){which}. "
             f"device {device}, {jobs} parallel job(s), each single-threaded (wall time per run depends on it)."]
    header = ("data", "model", "steps", "modes", "high quality", "reverse KL", "worst seed: modes / HQ / rKL",
              "seeds losing a mode", "s/run")
    rows: list[list[str]] = []
    for data in MODE_DATA_NAMES:
        ours = [row for row in summary if row["data"] == data]
        if not ours:
            continue
        for row in ours:
            known = MODE_COVERAGE_CONFIGS.get(row["config"])
            label = row.get("label") or (known.label if known else row["config"])
            if row.get("diverged"):
                label += f" ({row['diverged']} diverged: 0 modes)"
            rows.append([data, label, f"{row['steps']:,}",
                         f"{format_summary(Summary(**row['modes']), 1)} / {row['n_modes']}",
                         format_summary(Summary(**row["high_quality"]), 1, percent=True),
                         format_summary(Summary(**row["reverse_kl"]), 2), _format_worst(row),
                         _format_lose_mode(row), f"{row['wall_s']['mean']:.1f}"])
        for paper in PUBLISHED[data]:
            rows.append([data, paper.label, "—", f"{paper.modes:g}", f"{100 * paper.high_quality:.1f}%",
                         "—" if paper.reverse_kl is None else f"{paper.reverse_kl:.2f}", "—", "—", "—"])
    lines += table(header, rows, (False, False, True, True, True, True, True, True, True))
    return "\n".join(lines)


def _format_worst(row: dict[str, Any]) -> str:
    worst = row.get("worst")
    if not worst:
        return "—"
    kl = worst["reverse_kl"]
    kl_text = "—" if kl is None or not math.isfinite(kl) else f"{kl:.2f}"
    return f"seed {worst['seed']}: {worst['modes']} / {100 * worst['high_quality']:.1f}% / {kl_text}"


def _format_lose_mode(row: dict[str, Any]) -> str:
    if "lose_mode" not in row:
        return "—"
    return f"{row['lose_mode']}/{row['seeds']} ({100 * row['lose_mode'] / row['seeds']:.0f}%)"


def mode_coverage_baselines(name: str, datas: Sequence[str], seeds: Sequence[int], *,
                            quick: bool = False) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The noise baselines of :mod:`course_utils.training.baselines` (uniform over the data's box, a Gaussian
    fitted to the data, the untrained generator of row ``name``) scored by the same protocol on each data set
    and seed: ``{data: {baseline: [{"seed", "modes", "high_quality", "reverse_kl"}, ...]}}``."""
    from course_utils.training.baselines import mode_coverage_baselines as baselines

    result = {}
    for data in datas:
        config = gan_config(name, data, seeds[0], quick=quick)
        coverages = baselines(config, seeds)
        result[data] = {base: [{"seed": seed, "modes": c.modes, "high_quality": c.fraction_high_quality,
                                "reverse_kl": c.reverse_kl} for seed, c in zip(seeds, found, strict=True)]
                        for base, found in coverages.items()}
    return result


def format_mode_coverage_baselines(baselines: Mapping[str, Mapping[str, list[dict[str, Any]]]]) -> str:
    """The baselines' rows (``course_utils.training.baselines.format_coverage``) under the mode-coverage table:
    what a model must beat, since uniform noise alone "captures" most of the grid's modes."""
    from course_utils.metrics import ModeCoverage
    from course_utils.training import MODE_DATA
    from course_utils.training.baselines import BASELINES, format_coverage

    lines = ["Baselines, the same protocol and seeds (modes / high quality / reverse KL, mean ± standard error): "
             "a model's row means something only where it beats these."]
    for data, rows in baselines.items():
        n_modes = len(MODE_DATA[data][0]())
        for base, records in rows.items():
            coverages = [ModeCoverage(modes=r["modes"], fraction_high_quality=r["high_quality"],
                                      reverse_kl=math.nan if r["reverse_kl"] is None else r["reverse_kl"], counts=())
                         for r in records]
            lines.append(f"{data:<5} {format_coverage(BASELINES[base], coverages, n_modes)}")
    return "\n".join(lines)
