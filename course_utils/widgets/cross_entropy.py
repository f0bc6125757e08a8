"""Chapter 03 (cross-entropy and MSE): the loss/gradient explorer and the training race."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from course_utils.logistic import LOSSES, make_two_blobs, sigmoid_loss_curves, train_logistic
from course_utils.plotting import plain_log_labels
from course_utils.widgets.base import LiveFigure, choice, log_slider, selection_slider, slider

COLORS = {"mse": "#C44E52", "bce": "#4C72B0"}
LABELS = {"mse": "squared error (σ(z) − y)²", "bce": "cross-entropy −log p(y | z)"}
LOGIT_GRID = torch.linspace(-10, 10, 401)
# Every gradient norm the race's sliders can produce lies in [5e-9, 1.1]: a fixed axis keeps runs comparable.
GRADIENT_NORM_LIMITS = (1e-9, 3.0)


def loss_gradient_explorer() -> LiveFigure:
    """Both losses and their gradients as functions of the logit z, for the label you pick."""

    def draw(fig: Figure, logit: float, label: int) -> str:
        curves = sigmoid_loss_curves(LOGIT_GRID, label)
        here = sigmoid_loss_curves(torch.tensor([logit]), label)
        left, right = fig.axes
        for name in LOSSES:
            left.plot(curves.logits, curves.loss[name], color=COLORS[name], label=LABELS[name])
            right.plot(curves.logits, curves.gradient[name], color=COLORS[name], label=name)
            left.plot([logit], here.loss[name], "o", color=COLORS[name])
            right.plot([logit], here.gradient[name], "o", color=COLORS[name])
        # Fixed limits and legends in the half the curves never reach: both losses stay under 6 for
        # |z| <= 6 near the top centre, and d loss / dz has the sign of σ(z) − y (<= 0 for y = 1, >= 0 for y = 0).
        left.set_ylim(0, 8.5)
        left.set_xlabel("logit z")
        left.set_title(f"loss for the true label y = {label}")
        left.legend(loc="upper center")
        right.set_ylim(-1.1, 1.1)
        right.axhline(0, color="k", lw=0.5)
        right.set_xlabel("logit z")
        right.set_title("its gradient d loss / dz")
        right.legend(loc="upper left" if label == 1 else "lower left")
        return (f"loss at z = {logit:+.1f}, y = {label}:   MSE {here.loss['mse'].item():.3f},   "
                f"CE {here.loss['bce'].item():.3f}\n"
                f"d loss / dz:   MSE {here.gradient['mse'].item():+.4f},   CE {here.gradient['bce'].item():+.4f}")

    controls = {
        "logit": slider("logit z", -6.0, -10.0, 10.0, 0.5),
        "label": choice("true label y", (1, 0)),
    }
    return LiveFigure(controls, draw, ncols=2)


def training_race(n_points: int = 400) -> LiveFigure:
    """The same logistic model from the same (confidently wrong) start, trained with each loss."""
    x, y = make_two_blobs(n_points, generator=torch.Generator().manual_seed(0))

    def draw(fig: Figure, wrongness: float, learning_rate: float, steps: int) -> str:
        start = (-wrongness, -wrongness)  # the classes lie along +(1, 1): this points the other way
        runs = {name: train_logistic(x, y, name, learning_rate=learning_rate, steps=steps, initial_weight=start)
                for name in LOSSES}
        left, right = fig.axes
        for name, run in runs.items():
            left.plot(run.accuracy, color=COLORS[name], label=name)
            right.semilogy(run.gradient_norm, color=COLORS[name], label=name)
        left.set_ylim(0, 1.05)
        left.set_xlabel("gradient step")
        left.set_ylabel("training accuracy")
        left.set_title("training accuracy")
        left.legend(loc="center right")  # the curves sit near 0 or 1 at the right
        right.set_ylim(*GRADIENT_NORM_LIMITS)
        plain_log_labels(right)
        right.yaxis.set_major_formatter("{x:.0e}")
        right.set_xlabel("gradient step")
        right.set_title("gradient norm ‖∇ loss‖ (log scale)")
        right.legend(loc="upper right")
        final = {name: run.accuracy[-1] for name, run in runs.items()}
        return (f"start w = ({start[0]:.1f}, {start[1]:.1f}), learning rate {learning_rate:.2g}, {steps} steps:   "
                f"final accuracy MSE {final['mse']:.0%}, CE {final['bce']:.0%}\n"
                f"final gradient norm:   MSE {runs['mse'].gradient_norm[-1]:.1e},   "
                f"CE {runs['bce'].gradient_norm[-1]:.1e}")

    controls = {
        "wrongness": slider("how wrong the start is", 4.0, 0.0, 8.0, 0.5),
        "learning_rate": log_slider("learning rate", 0.5, -2, 1),
        "steps": selection_slider("steps", (50, 100, 200, 400), 200),
    }
    return LiveFigure(controls, draw, ncols=2)
