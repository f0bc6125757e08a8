"""Chapter 07 (GANs): the optimal discriminator of two densities and the value of the game at it."""

from __future__ import annotations

import functools
import math

import torch
from matplotlib.figure import Figure
from torch import distributions as D

from course_utils.distributions import density
from course_utils.gan_theory import js_on_grid, optimal_discriminator, value_on_grid
from course_utils.plotting import ACCENT_COLOR, DATA_COLOR, MODEL_COLOR
from course_utils.widgets.base import LiveFigure, slider

F64 = dict(dtype=torch.float64)
GRID = torch.linspace(-16.0, 16.0, 1601, **F64)  # holds all the mass of every p and q the sliders make
SHOWN = (-6.0, 6.0)
SWEEP = torch.linspace(-4.0, 4.0, 33)  # the generator's means on the right panel


def _normal(mean: float, std: float) -> D.Normal:
    return D.Normal(torch.tensor(mean, **F64), torch.tensor(std, **F64))


def game_value(q_mean: float, q_std: float, p: D.Normal) -> float:
    """V(D*, G) for the generator density N(q_mean, q_std²) against ``p``, on the widget's grid."""
    q = _normal(q_mean, q_std)
    return value_on_grid(p, q, optimal_discriminator(density(p, GRID), density(q, GRID)), GRID)


def optimal_discriminator_explorer() -> LiveFigure:
    """Move the generator's density q against the data's p = N(0, 1): see D* = p/(p + q), and the value of
    the game at D*, which equals 2·JS(p, q) − log 4 and is smallest (−log 4) when q = p."""
    p = _normal(0.0, 1.0)
    shown = GRID[(GRID >= SHOWN[0]) & (GRID <= SHOWN[1])]

    @functools.lru_cache(maxsize=32)  # the curve depends on σ only: moving μ just moves the dot
    def value_sweep(q_std: float) -> list[float]:
        return [game_value(float(mean), q_std, p) for mean in SWEEP]

    def draw(fig: Figure, q_mean: float, q_std: float) -> str:
        q = _normal(q_mean, q_std)
        left, right = fig.axes
        p_x, q_x = density(p, shown), density(q, shown)
        left.plot(shown.numpy(), p_x.numpy(), color=DATA_COLOR, label="data p = N(0, 1)")
        left.plot(shown.numpy(), q_x.numpy(), color=MODEL_COLOR, label="generator q")
        left.plot(shown.numpy(), optimal_discriminator(p_x, q_x).numpy(), color=ACCENT_COLOR, lw=2,
                  label="D*(x) = p / (p + q)")
        left.axhline(0.5, color="k", lw=0.5, ls=":")
        left.set(xlim=SHOWN, ylim=(0, 2.0), xlabel="x", title="densities and the optimal discriminator")
        left.legend(loc="upper left", fontsize=8)
        sweep = value_sweep(q_std)
        value = game_value(q_mean, q_std, p)
        right.plot(SWEEP.numpy(), sweep, color=MODEL_COLOR, label=f"V(D*, G) for q = N(μ, {q_std:.1f}²)")
        right.plot([q_mean], [value], "o", color=MODEL_COLOR)
        right.axhline(-math.log(4), color="k", lw=0.8, ls="--", label="−log 4: q = p")
        right.set(xlim=(-4.2, 4.2), ylim=(-1.5, 0.1), xlabel="generator mean μ", title="the value of the game at D*")
        right.legend(loc="upper center", fontsize=8)  # the curve is lowest in the middle, highest at the ends
        js = js_on_grid(p, q, GRID)
        return (f"q = N({q_mean:+.2f}, {q_std:.1f}²):   JS(p, q) = {js:.4f} nats,   V(D*, G) = {value:.4f},   "
                f"2·JS − log 4 = {2 * js - math.log(4):.4f}")

    controls = {
        "q_mean": slider("generator mean μ", 2.0, -4.0, 4.0, 0.25),
        "q_std": slider("generator std σ", 1.0, 0.3, 3.0, 0.1),
    }
    return LiveFigure(controls, draw, ncols=2, width=4.6)
