"""The course VAE against Kingma & Welling's reference VAE on the digits, given the same wall time."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import torch
from torch import nn

from course_utils.bench.common import QUICK_STEPS, Summary, format_summary, summarize, synchronize, table, warm_up

Tensor = torch.Tensor


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
    synchronize(device)
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
    lines += table(header, rows, (False, False, True, True, True, True, True))
    met = vae_target_met(summary)
    if met is not None:
        lines.append("target (course −ELBO < reference −ELBO in the same wall time): "
                     + ("met" if met else "NOT met"))
    return "\n".join(lines)
