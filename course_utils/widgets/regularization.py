"""Chapter 05 (regularisation and constraints): pick a regulariser and its strength and see the fit, the loss
curves and the weights of a small network on 15 noisy points; pick a constraint on a WGAN critic and see its
surface, with the measured Lipschitz constant beside its bound. Everything is trained once and cached
(``regularization.chapter_runs``, ``regularization.critic_report``): a redraw only draws."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.plotting import ACCENT_COLOR, DATA_COLOR, MODEL_COLOR
from course_utils.regularization import (
    CONSTRAINT_STRENGTHS,
    CONSTRAINTS,
    DATA_SEED,
    DROPOUT_PROBABILITIES,
    L1_STRENGTHS,
    L2_STRENGTHS,
    STOP_STEPS,
    STRENGTH_NAMES,
    RegularizationRuns,
    chapter_runs,
    critic_data,
    critic_report,
    curve_data,
    early_stopping_step,
)
from course_utils.widgets.base import LiveFigure, choice, slider

KINDS = {
    "none": "none",
    "L2 penalty (weight decay under plain SGD, not under Adam)": "l2",
    "L1": "l1",
    "dropout": "dropout",
    "early stopping": "early_stopping",
}
NEAR_ZERO = 1e-3  # a weight this small counts as "near zero" in the readout
WEIGHT_BINS = np.linspace(-2.5, 2.5, 101)


def _selected(runs: RegularizationRuns, kind: str, level: int) -> tuple[int, int, str]:
    """(model index, recorded step index, what was chosen) for a kind and a strength level 1..6."""
    last = len(runs.steps) - 1
    if kind == "none":
        return runs.index("none"), last, "no regularisation (the strength slider does nothing here)"
    if kind == "early_stopping":
        budget = STOP_STEPS[level - 1]
        step_index = int(torch.searchsorted(runs.steps, torch.tensor(budget)))
        return runs.index("none"), min(step_index, last), f"early stopping: training stopped at step {budget:,}"
    values = {"l2": L2_STRENGTHS, "l1": L1_STRENGTHS, "dropout": DROPOUT_PROBABILITIES}[kind]
    value = values[level - 1]
    label = f"dropout p = {value:g}" if kind == "dropout" else f"{kind.upper()} penalty, λ = {value:g}"
    return runs.index(kind, value), last, label


def regularization_explorer(runs: RegularizationRuns | None = None) -> LiveFigure:
    """A regulariser and its strength (1 weakest, 6 strongest) → the network's function on the 15 points, its
    training and validation loss over the steps, and a histogram of its weights; the readout gives the losses
    and how many weights are near zero, beside the unregularised network's."""
    runs = chapter_runs() if runs is None else runs
    data = curve_data(DATA_SEED)
    truth = torch.sin(math.pi * runs.grid)
    plain = runs.index("none")
    best_plain = early_stopping_step(runs.val_loss[plain], patience=len(runs.steps))  # the lowest point

    def draw(fig: Figure, kind: str, level: int) -> str:
        fit, curves, hist = fig.axes
        model, at, label = _selected(runs, kind, level)
        fit.plot(runs.grid, truth, color="k", lw=1, ls="--", label="sin(πx)")
        fit.plot(data.x_val, data.y_val, ".", color="0.7", ms=3, label="validation points")
        fit.plot(data.x_train, data.y_train, "o", color=DATA_COLOR, ms=5, label="15 training points")
        fit.plot(runs.grid, runs.predictions[model, at], color=MODEL_COLOR, lw=2, label="the network")
        fit.set(xlim=(-1.05, 1.05), ylim=(-2.2, 2.6), xlabel="x", title="the fitted function")
        fit.legend(loc="upper left", ncol=2, fontsize=7, frameon=False)

        curves.plot(runs.steps, runs.val_loss[plain], color="0.75", lw=1, label="validation, unregularised")
        curves.plot(runs.steps, runs.train_loss[model], color=DATA_COLOR, lw=1.5, label="training")
        curves.plot(runs.steps, runs.val_loss[model], color=MODEL_COLOR, lw=1.5, label="validation")
        curves.axvline(float(runs.steps[at]), color="k", lw=0.8, ls=":")
        curves.axhline(data.noise**2, color=ACCENT_COLOR, lw=0.8, ls="--", label="noise variance")
        curves.set(
            yscale="log",
            xlim=(0, float(runs.steps[-1])),
            ylim=(1e-3, 30),
            xlabel="training step",
            ylabel="MSE",
            title="loss during training",
        )
        curves.legend(loc="upper right", ncol=2, fontsize=7, frameon=False)

        weights = runs.weights[model, at].numpy()
        counts, _ = np.histogram(np.clip(weights, WEIGHT_BINS[0], WEIGHT_BINS[-1]), bins=WEIGHT_BINS)
        hist.stairs(np.maximum(counts, 0.5), WEIGHT_BINS, baseline=0.5, fill=True, color=MODEL_COLOR)  # one artist
        hist.set(
            yscale="log",
            xlim=(WEIGHT_BINS[0], WEIGHT_BINS[-1]),
            ylim=(0.8, 3000),
            xlabel="weight",
            title="the network's weights",
        )
        near_zero = int((np.abs(weights) < NEAR_ZERO).sum())
        exact_zero = int((weights == 0).sum())
        return (
            f"{label} · step {int(runs.steps[at]):,}: training MSE {float(runs.train_loss[model, at]):.4f}, "
            f"validation MSE {float(runs.val_loss[model, at]):.4f} (noise variance {data.noise**2:.2f})\n"
            f"unregularised after {int(runs.steps[-1]):,} steps: training {float(runs.train_loss[plain, -1]):.4f},"
            f" validation {float(runs.val_loss[plain, -1]):.4f}; its validation MSE is lowest at step "
            f"{int(runs.steps[best_plain]):,} ({float(runs.val_loss[plain, best_plain]):.4f})\n"
            f"weights: {len(weights):,}, of which {near_zero:,} below {NEAR_ZERO:g} in size and {exact_zero:,} "
            f"exactly 0; largest |w| {float(np.abs(weights).max()):.2f}, Σw² {float((weights**2).sum()):.1f}"
        )

    controls = {
        "kind": choice("regulariser", list(KINDS.items()), value="l2"),
        "level": slider("strength (1 weak … 6 strong)", 5, 1, 6, 1),
    }
    return LiveFigure(controls, draw, ncols=3, width=3.6, height=3.3)


def _strength_text(kind: str, strength: float) -> str:
    return "no constraint" if kind == "none" else f"{kind.replace('_', ' ')}, {STRENGTH_NAMES[kind]} = {strength:g}"


def constraint_explorer() -> LiveFigure:
    """A constraint on a WGAN critic and its strength (1 loosest … 4 tightest) → the trained critic's surface on
    the plane with the two samples, and its profile along the line joining them; the readout sets the measured
    Lipschitz constant beside the product of the layers' spectral norms, and the critic's score beside W₁ = 2."""
    for kind, strengths in CONSTRAINT_STRENGTHS.items():  # train every setting now, so that a redraw only draws
        for strength in strengths:
            critic_report(kind, strength)
    real, fake = critic_data()
    shown = slice(0, 300)  # a few hundred points of each sample are enough to see where they lie
    profile_x = np.linspace(-3, 3, 61)  # the surface's middle row: the line y = 0 through both means

    def draw(fig: Figure, kind: str, level: int) -> str:
        surface_ax, profile_ax = fig.axes
        strengths = CONSTRAINT_STRENGTHS[kind]
        strength = strengths[min(level, len(strengths)) - 1]
        report = critic_report(kind, strength)
        surface = report.surface.numpy()
        span = max(float(np.abs(surface).max()), 1e-9)  # the colours span each critic's own range
        surface_ax.imshow(surface, origin="lower", extent=(-3, 3, -3, 3), cmap="RdBu_r", vmin=-span, vmax=span)
        surface_ax.plot(real[shown, 0], real[shown, 1], ".", color="k", ms=1.5)
        surface_ax.plot(fake[shown, 0], fake[shown, 1], ".", color="w", ms=1.5)
        surface_ax.set(
            xlim=(-3, 3), ylim=(-3, 3), xlabel="x₁", ylabel="x₂", title="critic f (red high): P black, Q white"
        )
        profile_ax.plot(profile_x, -profile_x, color=ACCENT_COLOR, lw=1, ls="--", label="1-Lipschitz optimum −x₁")
        profile_ax.plot(profile_x, surface[30], color=MODEL_COLOR, lw=2, label="trained critic f(x₁, 0)")
        profile_ax.set(xlim=(-3, 3), ylim=(-8, 8), xlabel="x₁", title="along the line x₂ = 0")
        profile_ax.legend(loc="upper right", fontsize=7, frameon=False)
        return (
            f"{_strength_text(kind, strength)}: measured Lipschitz constant (largest ‖∇f‖ on a 64 × 64 grid) "
            f"{report.lipschitz:.3f} ≤ bound (product of the layers' spectral norms) {report.bound:.3f}\n"
            f"score E_P f − E_Q f = {report.score:.3f}; W₁(P, Q) = 2, so a critic within the bound scores at "
            f"most about 2 × bound = {2 * report.bound:.3f}"
        )

    controls = {
        "kind": choice("constraint", [(k.replace("_", " "), k) for k in CONSTRAINTS], value="spectral_norm"),
        "level": slider("strength (1 loose … 4 tight)", 3, 1, 4, 1),
    }
    return LiveFigure(controls, draw, ncols=2, width=4.0, height=3.6)
