"""The course's benchmarks (issue 3): mode coverage, the digits VAE against a reference, throughput.

Each benchmark is a function that runs one configuration and one seed and returns a record (a flat
dict of plain values, ready for JSON), a summary over seeds (mean ± standard error) and a table
formatter. ``course bench`` (``course_utils/cli_bench.py``) and the scripts in ``benchmarks/``
call these functions, so both print the same tables.

- :func:`run_mode_coverage`: a GAN trained on the ring or the grid, scored by the PacGAN / VEEGAN
  protocol (DESIGN.md, "Mode-coverage protocol"); :func:`format_mode_coverage` prints the published
  rows of PacGAN Table 1 and VEEGAN Table 1 beside ours.
- :func:`run_vae_digits`: the course VAE (``VAEConfig.preset("digits")``) against the plain VAE of
  Kingma & Welling given the same wall time; held-out −ELBO and importance-weighted NLL.
- :func:`run_throughput`: training steps/s of the grid WGAN-GP and the digits VAE, eager against
  faster paths (fused Adam, one critic call per critic step, ``torch.compile``; AMP and CUDA graphs
  on a GPU), measured in one run.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, NamedTuple

import torch
from torch import nn

Tensor = torch.Tensor
MODE_DATA_NAMES = ("ring", "grid")
N_SAMPLES = 2_500  # generator samples scored per run (PacGAN / VEEGAN protocol)
QUICK_STEPS = 10  # generator (or VAE) updates of a --quick run: seconds, for tests


# ============================================================================ configurations
class GANBench(NamedTuple):
    """One row of the mode-coverage benchmark: ``GANConfig.preset(preset, data, **overrides)``."""

    label: str  # printed in the table
    preset: str  # the ``loss`` argument of GANConfig.preset
    overrides: Mapping[str, Any]  # GANConfig fields set on top of the preset
    steps: Mapping[str, int | None]  # generator updates on each data set; None: the preset's own


# The configurations of the mode-coverage benchmark, in table order. "best" is the course's best
# configuration on 2-D data: CHANGE ITS ROW HERE when it is chosen (a GANConfig.preset name, overrides,
# and steps per data set, None for the preset's own). Until then it is a placeholder: WGAN-GP.
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


# ============================================================================ summaries
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


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
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


# ============================================================================ mode coverage
def run_mode_coverage(name: str, data: str, seed: int, *, device: str = "cpu", quick: bool = False,
                      row: GANBench | None = None) -> dict[str, Any]:
    """Train benchmark row ``name`` (or ``row``) on ``data`` with ``seed`` and score 2,500 samples.

    Returns
    -------
    dict
        ``config, data, seed, steps, modes, n_modes, high_quality`` (a fraction), ``reverse_kl`` (nan
        with no high-quality sample), ``wall_s`` (training and scoring), ``device``, ``error`` (None, or
        why training diverged: such a run counts as 0 modes and 0% high quality).
    """
    from course_utils.device import get_device
    from course_utils.metrics import mode_coverage
    from course_utils.training import MODE_DATA, TrainingDiverged, sample_gan, train_gan_models

    config = gan_config(name, data, seed, quick=quick, row=row)
    device = get_device(device)
    centers_fn, std = MODE_DATA[data]
    label = (row or MODE_COVERAGE_CONFIGS[name]).label
    record = {"config": name, "label": label, "data": data, "seed": seed, "steps": config.steps, "modes": 0,
              "n_modes": len(centers_fn()), "high_quality": 0.0, "reverse_kl": math.nan, "wall_s": math.nan,
              "device": device.type, "error": None}
    start = time.perf_counter()
    try:
        _, models = train_gan_models(config, device=device, progress=False)
    except TrainingDiverged as error:
        return record | {"error": str(error), "wall_s": time.perf_counter() - start}
    rng = torch.Generator(device).manual_seed(seed + 1)  # the z of the History's evaluations
    samples = sample_gan(models, config, N_SAMPLES, rng=rng)  # (2500, 2), rejection-sampled where config says
    coverage = mode_coverage(samples, centers_fn(), std)
    return record | {"modes": coverage.modes, "high_quality": coverage.fraction_high_quality,
                     "reverse_kl": coverage.reverse_kl, "wall_s": time.perf_counter() - start}


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
    """One row per (data, config): mean ± SE of modes, high quality and reverse KL, mean wall time per run."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["data"], record["config"]), []).append(record)
    rows = []
    for (data, name), group in groups.items():
        rows.append({"data": data, "config": name, "label": group[0].get("label"), "steps": group[0]["steps"],
                     "n_modes": group[0]["n_modes"], "seeds": len(group),
                     "diverged": sum(r.get("error") is not None for r in group),
                     **{key: asdict(summarize(r[key] for r in group))
                        for key in ("modes", "high_quality", "reverse_kl", "wall_s")}})
    return rows


def format_mode_coverage(summary: Sequence[dict[str, Any]], *, jobs: int, device: str,
                         seeds: int | None = None) -> str:
    """The mode-coverage table: our rows (mean ± SE over seeds) and the published ones, per data set."""
    seeds = seeds if seeds is not None else max((row["seeds"] for row in summary), default=0)
    lines = [f"Mode coverage, {N_SAMPLES:,} samples per run: mean ± standard error over {seeds} seed(s). "
             f"device {device}, {jobs} parallel job(s), each single-threaded (wall time per run depends on it)."]
    header = ("data", "model", "steps", "modes", "high quality", "reverse KL", "s/run")
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
                         format_summary(Summary(**row["reverse_kl"]), 2),
                         f"{row['wall_s']['mean']:.1f}"])
        for paper in PUBLISHED[data]:
            rows.append([data, paper.label, "—", f"{paper.modes:g}", f"{100 * paper.high_quality:.1f}%",
                         "—" if paper.reverse_kl is None else f"{paper.reverse_kl:.2f}", "—"])
    lines += _table(header, rows, (False, False, True, True, True, True, True))
    return "\n".join(lines)


# ============================================================================ VAE on digits
# The reference: the plain VAE of Kingma & Welling (2014, App. C) as pytorch/examples/vae builds it:
# one hidden layer of 400 ReLU units in the encoder and in the decoder, a 20-d latent, Bernoulli
# decoder, Adam 1e-3, batch 128. ``depth=1`` MLPVAE is exactly that network.
REFERENCE_VAE = {"model": "mlp", "latent_dim": 20, "hidden": 400, "depth": 1, "lr": 1e-3,
                 "betas": (0.9, 0.999), "batch_size": 128}
IW_SAMPLES = 1_000  # k of the importance-weighted bound (Burda et al. 2016 use 5,000 on MNIST)
ELBO_DRAWS = 10  # z draws per test image averaged in the held-out −ELBO


def vae_configs(seed: int, *, quick: bool = False):
    """``(course, reference)`` :class:`~course_utils.training.VAEConfig` for one seed."""
    from course_utils.training import VAEConfig

    course = VAEConfig.preset("digits", seed=seed)
    if quick:
        course = replace(course, steps=QUICK_STEPS)
    # the reference stops by time, not steps: steps is only an upper bound here
    reference = VAEConfig.preset("digits", **REFERENCE_VAE, seed=seed, steps=10**9, eval_every=10**9)
    return course, reference


def _evaluate_vae(model: nn.Module, test: Tensor, seed: int, k: int) -> dict[str, float]:
    from course_utils.metrics import held_out_elbo, importance_weighted_nll

    device = model.obs_logvar.device
    rng = torch.Generator(device).manual_seed(seed + 1)
    neg_elbo = -statistics.fmean(held_out_elbo(model, test, generator=rng) for _ in range(ELBO_DRAWS))
    iw_nll = importance_weighted_nll(model, test, k=k, generator=rng)
    return {"neg_elbo": neg_elbo, "iw_nll": iw_nll}


def _describe_vae(config) -> str:
    widths = "-".join(str(config.hidden) for _ in range(config.depth))
    return f"{config.model} 64-{widths}-{config.latent_dim}, batch {config.batch_size}, Adam {config.lr:g}"


def _train_vae_timed(config, train: Tensor, device: torch.device, budget: float | None):
    """``train_vae_models`` on ``train``, stopped after ``budget`` seconds (None: after config.steps);
    returns ``(history, models, wall seconds)``."""
    from course_utils.training import train_vae_models

    start = time.perf_counter()

    def stop_at_budget(step: int, history, models) -> None:
        if budget is not None and time.perf_counter() - start >= budget:
            raise KeyboardInterrupt  # the loop's documented early stop: it returns the History so far

    history, models = train_vae_models(config, train, device=device, progress=False,
                                       callback=stop_at_budget, callback_every=1)
    _sync(device)
    return history, models, time.perf_counter() - start


def run_vae_digits(seed: int, *, device: str = "cpu", quick: bool = False) -> list[dict[str, Any]]:
    """The course VAE trained for its preset's steps (wall time T measured), then the reference VAE
    trained for exactly T seconds (stopped by time); both scored on the 297 held-out digits.

    Returns
    -------
    list of dict
        Two records, ``model`` "course" then "reference": ``seed, steps, wall_s, params, neg_elbo``
        (held-out −ELBO, nats per image, mean of :data:`ELBO_DRAWS` draws of z), ``iw_nll`` (−L_k,
        k = :data:`IW_SAMPLES`), ``k``, ``description``, ``device``.
    """
    from course_utils.data import load_digits
    from course_utils.device import get_device

    warm_up()
    device = get_device(device)
    digits = load_digits()  # loaded once, outside the timed runs
    train, test = digits.x_train.to(device), digits.x_test.to(device)
    k = 10 if quick else IW_SAMPLES
    course, reference = vae_configs(seed, quick=quick)
    records = []
    budget = None
    for name, config in (("course", course), ("reference", reference)):
        history, models, wall = _train_vae_timed(config, train, device, budget)
        budget = wall if budget is None else budget  # the reference gets exactly the course VAE's wall time
        model = models["vae"]
        records.append({"model": name, "seed": seed, "steps": history.step[-1] if history.step else 0,
                        "wall_s": wall, "params": sum(p.numel() for p in model.parameters()),
                        "description": _describe_vae(config), "k": k, "device": device.type,
                        **_evaluate_vae(model, test, seed, k)})
    return records


def summarize_vae(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per model: mean ± SE over seeds of −ELBO, IW-NLL, steps and wall time."""
    rows = []
    for name in ("course", "reference"):
        group = [r for r in records if r["model"] == name]
        if group:
            rows.append({"model": name, "description": group[0]["description"], "params": group[0]["params"],
                         "k": group[0]["k"], "seeds": len(group),
                         **{key: asdict(summarize(r[key] for r in group))
                            for key in ("neg_elbo", "iw_nll", "steps", "wall_s")}})
    return rows


def vae_target_met(summary: Sequence[dict[str, Any]]) -> bool | None:
    """Does the course VAE have the lower mean held-out −ELBO? (None without both rows.)"""
    by_model = {row["model"]: row for row in summary}
    if {"course", "reference"} - by_model.keys():
        return None
    return by_model["course"]["neg_elbo"]["mean"] < by_model["reference"]["neg_elbo"]["mean"]


def format_vae(summary: Sequence[dict[str, Any]], *, device: str) -> str:
    """The VAE table, the equal-time rule and whether the target is met."""
    seeds = max((row["seeds"] for row in summary), default=0)
    k = summary[0]["k"] if summary else IW_SAMPLES
    lines = [f"VAE on the digits (1,500 train / 297 held-out images), nats per image: mean ± standard error "
             f"over {seeds} seed(s), device {device}.",
             "Equal wall time: the course VAE trains for its preset's steps; the reference then trains for "
             "exactly the course VAE's measured time, stopped by the clock."]
    header = ("model", "network", "params", "steps", "wall s", "held-out −ELBO", f"IW-NLL (k={k:,})")
    rows = [[row["model"], row["description"], f"{row['params']:,}", f"{row['steps']['mean']:,.0f}",
             f"{row['wall_s']['mean']:.1f}", format_summary(Summary(**row["neg_elbo"]), 2),
             format_summary(Summary(**row["iw_nll"]), 2)] for row in summary]
    lines += _table(header, rows, (False, False, True, True, True, True, True))
    met = vae_target_met(summary)
    if met is not None:
        lines.append("target (course −ELBO < reference −ELBO in the same wall time): "
                     + ("met" if met else "NOT met"))
    return "\n".join(lines)


# ============================================================================ throughput
THROUGHPUT_MODELS = ("wgan-gp grid", "vae digits")


class _EagerExceptDoubleBackward(nn.Module):
    """A compiled critic whose gradient-penalty call runs eagerly: ``torch.compile`` has no double
    backward (``create_graph=True``), which the penalty needs. That call is the one whose input
    requires grad while the critic's own parameters do too; every other call is compiled."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module)

    def forward(self, x: Tensor) -> Tensor:
        if x.requires_grad and torch.is_grad_enabled() and next(self.module.parameters()).requires_grad:
            return self.module(x)
        return self.compiled(x)


def _adam(params, config, variant: str) -> torch.optim.Optimizer:
    kwargs: dict[str, Any] = {"lr": config.lr, "betas": config.betas}
    if variant == "cuda-graph":
        kwargs["capturable"] = True  # Adam's step count lives on the GPU, so step() can be captured
    elif variant != "eager":
        kwargs["fused"] = True  # one kernel for every parameter's update instead of a few per tensor
    return torch.optim.Adam(params, **kwargs)


def _gan_step_fn(variant: str, device: torch.device, quick: bool) -> Callable[[], object]:
    """One WGAN-GP generator update on the grid (5 critic updates, then one of G), as ``variant`` runs it."""
    from course_utils.training import loop as T

    config = T.GANConfig.preset("wgan-gp", "grid", n_data=2_000 if quick else 50_000)
    T.seed_everything(0)
    data = T.load_training_data("grid", config.n_data, 0)[0].to(device)
    generator, critic = (m.to(device) for m in T.build_gan(config, 2))
    opt_g, opt_d = _adam(generator.parameters(), config, variant), _adam(critic.parameters(), config, variant)
    if variant == "compile":
        generator, critic = torch.compile(generator), _EagerExceptDoubleBackward(critic)
    # CUDA graphs replay the default generator's Philox stream; other variants use a seeded one like train.py
    rng = None if variant == "cuda-graph" else torch.Generator(device).manual_seed(0)

    critic_step = _one_call_critic_step if variant == "one-call-critic" else T.gan_critic_step

    def step() -> Tensor:
        for _ in range(config.n_critic):
            index = torch.randint(len(data), (config.batch_size,), generator=rng, device=device)  # (B,)
            out = critic_step(generator, critic, opt_d, data[index], config, rng)
        return T.gan_generator_step(generator, critic, opt_g, config.batch_size, config, rng)["loss_g"] + out["loss_d"]

    return _cuda_graphed(step, device) if variant == "cuda-graph" else step


def _one_call_critic_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: Tensor,
                          config, rng: torch.Generator | None) -> dict[str, Tensor]:
    """train.py's WGAN-GP critic step with one critic call instead of three: real, fake and the
    interpolates x̂ go through the critic as one batch of 3B rows (no batch norm, so each row's score
    is its own), and the penalty differentiates the x̂ rows' scores. The same loss,
    E f(fake) − E f(real) + λ E (‖∇f(x̂)‖ − 1)² (Gulrajani et al. 2017, Alg. 1), in a third of the calls."""
    batch = len(real)
    z = torch.randn(batch, config.latent_dim, generator=rng, device=real.device)  # (B, latent_dim)
    with torch.no_grad():  # no gradient into G on the critic step
        fake = generator(z).flatten(1).float()  # (B, D)
    eps = torch.rand(batch, 1, generator=rng, device=real.device)  # (B, 1): one ε per example
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)  # (B, D)
    real_scores, fake_scores, hat_scores = critic(torch.cat([real, fake, x_hat])).split(batch)  # (B,) each
    (grad,) = torch.autograd.grad(hat_scores.sum(), x_hat, create_graph=True)  # (B, D)
    gp = config.gp_lambda * ((grad.norm(dim=1) - 1) ** 2).mean()
    loss = fake_scores.mean() - real_scores.mean() + gp
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss_d": loss.detach()}


def _vae_step_fn(variant: str, device: torch.device, quick: bool) -> Callable[[], object]:
    """One Adam step of the course's digits VAE on a batch of 128, as ``variant`` runs it."""
    from course_utils import losses
    from course_utils.training import loop as T

    config = T.VAEConfig.preset("digits", amp=variant == "amp")
    T.seed_everything(0)
    data = T.load_training_data("digits", 1, 0)[0].to(device)
    model = T.build_vae(config, 64).to(device)
    optimizer = _adam(model.parameters(), config, variant)
    rng = None if variant == "cuda-graph" else torch.Generator(device).manual_seed(0)
    autocast = T._autocast(config, device)

    def loss_fn(x: Tensor, eps: Tensor) -> Tensor:
        mu, logvar = model.encode(x)  # (B, L) each
        recon = model.decode(mu + torch.exp(0.5 * logvar) * eps)  # reparameterised z (B, L) → logits (B, 64)
        return losses.negative_elbo(x, recon, mu, logvar, likelihood=model.likelihood).mean()

    if variant == "compile":
        # the random draws stay outside: dynamo cannot trace a torch.Generator argument
        compiled = torch.compile(loss_fn)

        def step() -> Tensor:
            x = data[torch.randint(len(data), (config.batch_size,), generator=rng, device=device)]  # (B, 64)
            eps = torch.randn(len(x), config.latent_dim, generator=rng, device=device)  # (B, L)
            loss = compiled(x, eps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach()

        return step

    def step() -> Tensor:  # train.py's own step
        x = data[torch.randint(len(data), (config.batch_size,), generator=rng, device=device)]  # (B, 64)
        return T.vae_step(model, optimizer, x, rng, autocast)["neg_elbo"]

    return _cuda_graphed(step, device) if variant == "cuda-graph" else step


def _cuda_graphed(step: Callable[[], Tensor], device: torch.device) -> Callable[[], Tensor]:
    """``step`` (forward, backward and optimizer steps, no host sync) captured once as a CUDA graph and
    replayed: one launch per step instead of hundreds (the "whole network capture" of PyTorch's CUDA
    graphs notes). The batch indices and the noise are drawn inside the graph from the default CUDA
    generator, whose Philox offset advances at each replay."""
    if device.type != "cuda":
        raise ValueError("CUDA graphs need a CUDA device")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()

    def replay() -> Tensor:
        graph.replay()
        return out

    return replay


def throughput_variants(device: torch.device, quick: bool = False) -> tuple[str, ...]:
    """The ways of running a training step compared on ``device``, "eager" (train.py's loop) first;
    ``quick`` leaves out "compile" (a cold compile takes tens of seconds)."""
    if device.type == "cuda":
        variants = ("eager", "fused-adam", "one-call-critic", "amp", "compile", "cuda-graph")
    else:
        variants = ("eager", "fused-adam", "one-call-critic", "compile")
    return tuple(v for v in variants if not (quick and v == "compile"))


def run_throughput(*, device: str = "cpu", quick: bool = False, repeats: int | None = None,
                   steps: int | None = None, variants: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Training steps/s of each model under each variant, measured in one run.

    Every variant is built and warmed up first (its compile time recorded as ``setup_s``); then
    ``repeats`` rounds time ``steps`` steps of each variant in turn (a busy machine slows all alike),
    and the median round gives ``steps_per_s``; ``ratio`` is that over eager's. A variant that fails
    to build (e.g. no compiler) gets ``error`` (one line) and no rate. "amp" is bf16 autocast (only the
    VAE: the 2-D toy GANs stay in fp32, see train.py).
    """
    from course_utils.device import get_device

    device = get_device(device)
    repeats = repeats or (1 if quick else 5)
    steps = steps or (3 if quick else 50)
    variants = tuple(variants or throughput_variants(device, quick))
    records = []
    for model in THROUGHPUT_MODELS:
        make = _gan_step_fn if model.startswith("wgan") else _vae_step_fn
        built: dict[str, Callable[[], object]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for variant in variants:
            row = {"model": model, "variant": variant, "device": device.type, "steps_per_s": None,
                   "ratio": None, "setup_s": None, "error": None}
            rows[variant] = row
            if variant == "amp" and model.startswith("wgan"):
                row["error"] = "not used: 2-D toy models stay in fp32"
                continue
            if variant == "one-call-critic" and not model.startswith("wgan"):
                row["error"] = "not applicable: a VAE has no critic"
                continue
            start = time.perf_counter()
            try:
                step = make(variant, device, quick)
                for _ in range(2 if quick else 10):  # warm-up: compilation, allocator, caches
                    step()
                _sync(device)
            except Exception as error:  # a variant that cannot run here is reported, not fatal
                first_line = (str(error).strip().splitlines() or [""])[0]
                row["error"] = f"{type(error).__name__}: {first_line}"[:200]
                continue
            row["setup_s"] = time.perf_counter() - start
            built[variant] = step
        rates: dict[str, list[float]] = {v: [] for v in built}
        for _ in range(repeats):
            for variant, step in built.items():
                _sync(device)
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                _sync(device)
                rates[variant].append(steps / (time.perf_counter() - start))
        for variant, values in rates.items():
            rows[variant]["steps_per_s"] = statistics.median(values)
        eager = rows.get("eager", {}).get("steps_per_s")
        for row in rows.values():
            if eager and row["steps_per_s"]:
                row["ratio"] = row["steps_per_s"] / eager
        records += rows.values()
    return records


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def format_throughput(records: Sequence[dict[str, Any]], *, device: str) -> str:
    """The throughput table: steps/s per model and variant, and the ratio to eager."""
    lines = [f"Training throughput on {device} ({torch.get_num_threads()} thread(s)); one step = one generator "
             "update with its 5 critic updates (WGAN-GP), one Adam step on 128 images (VAE). Median of rounds "
             "alternating the variants; ratio = steps/s over eager's in the same run."]
    header = ("model", "variant", "steps/s", "ratio", "setup s", "note")
    rows = []
    for r in records:
        rows.append([r["model"], r["variant"], "—" if r["steps_per_s"] is None else f"{r['steps_per_s']:.1f}",
                     "—" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                     "—" if r["setup_s"] is None else f"{r['setup_s']:.1f}", r["error"] or ""])
    lines += _table(header, rows, (False, False, True, True, True, False))
    for model in THROUGHPUT_MODELS:
        ok = [r for r in records if r["model"] == model and r["steps_per_s"]]
        if ok:
            best = max(ok, key=lambda r: r["steps_per_s"])
            lines.append(f"fastest for {model}: {best['variant']} ({best['ratio']:.2f}x eager)")
    return "\n".join(lines)
