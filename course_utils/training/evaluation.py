"""What a run measures every ``eval_every`` steps: mode coverage (ring, grid), the held-out ELBO (VAE on
digits) or the held-out accuracy (classifier). Each evaluation draws from its own seeded stream, so it
leaves the training's random streams untouched and uses the same z every time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from course_utils.metrics import held_out_elbo, mode_coverage
from course_utils.training.config import COVERAGE_SAMPLES, MODE_DATA

Tensor = torch.Tensor
Evaluation = Callable[[], dict[str, float]]


def coverage_fn(config: Any, sampler: Callable[[int, torch.Generator], Tensor],
                device: torch.device) -> Evaluation | None:
    """Mode coverage of ``sampler(n, rng)``'s samples on the ring or the grid; ``None`` for other data."""
    if config.data not in MODE_DATA:
        return None
    centers_fn, std = MODE_DATA[config.data]
    centers = centers_fn()

    def evaluate() -> dict[str, float]:
        rng = torch.Generator(device).manual_seed(config.seed + 1)
        coverage = mode_coverage(sampler(COVERAGE_SAMPLES, rng), centers, std)
        return {"modes": float(coverage.modes), "high_quality": coverage.fraction_high_quality,
                "reverse_kl": coverage.reverse_kl}

    return evaluate


def elbo_fn(model: nn.Module, test: Tensor, seed: int, device: torch.device) -> Evaluation:
    """The VAE's ELBO on the held-out ``test`` set."""

    def evaluate() -> dict[str, float]:
        rng = torch.Generator(device).manual_seed(seed + 1)
        return {"test_elbo": held_out_elbo(model, test, generator=rng)}

    return evaluate


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of ``x`` whose most probable class is ``y``."""
    return float((model(x).argmax(dim=1) == y).double().mean())


def accuracy_fn(model: nn.Module, test: tuple[Tensor, Tensor]) -> Evaluation:
    """The classifier's :func:`accuracy` on the held-out ``test = (x, y)``, in eval mode."""

    def evaluate() -> dict[str, float]:
        model.eval()
        try:
            return {"test_accuracy": accuracy(model, *test)}
        finally:
            model.train()

    return evaluate
