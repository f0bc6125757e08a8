"""Chapter 02 (generative vs discriminative): one data set, a model of p(x, y) and a model of p(y | x) side by side."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.generative_classifiers import error_rate, fit_gaussian_classes, fit_logistic_regression
from course_utils.plotting import DATA_COLOR, MODEL_COLOR
from course_utils.widgets.base import LiveFigure, slider

VIEW = (-5.0, 5.0)  # both panels show this square
GRID = 40  # density contours on a GRID × GRID grid of the square
TEST_POINTS = 4_000  # the error rates are measured on this many fresh points


def two_gaussian_classes(n: int, separation: float, spread: float, correlation: float,
                         generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points, half per class: class 0 ~ N((−d/2, 0), I), class 1 ~ N((d/2, 0), Σ) with standard deviations
    ``spread`` and correlation ``correlation``; returns ``(x (n, 2) float64, y (n,))``."""
    labels = torch.arange(n) % 2
    noise = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    chol = torch.tensor([[spread, 0.0], [spread * correlation, spread * math.sqrt(1 - correlation**2)]],
                        dtype=torch.float64)
    x = torch.where(labels[:, None] == 1, noise @ chol.T, noise)
    x[:, 0] += torch.where(labels == 1, separation / 2, -separation / 2)
    return x, labels


def generative_vs_discriminative_explorer() -> LiveFigure:
    """Move the classes and the sample size: the Gaussian model (left) draws its densities, its boundary and new
    samples; logistic regression (right) has only its boundary, a line."""
    xs = torch.linspace(*VIEW, GRID, dtype=torch.float64)
    grid_x, grid_y = torch.meshgrid(xs, xs, indexing="xy")
    grid = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)  # (GRID², 2)

    def draw(fig: Figure, n: int, separation: float, spread: float, correlation: float) -> str:
        x, y = two_gaussian_classes(n, separation, spread, correlation, torch.Generator().manual_seed(0))
        test_x, test_y = two_gaussian_classes(TEST_POINTS, separation, spread, correlation,
                                              torch.Generator().manual_seed(1))
        generative = fit_gaussian_classes(x, y, covariance="full", ridge=1e-3)
        discriminative = fit_logistic_regression(x, y)
        left, right = fig.axes
        joint = generative.log_joint(grid)  # (GRID², 2): log p(x, y) once, both pictures from it
        log_density = torch.logsumexp(joint, dim=1)
        density = log_density.exp().reshape(GRID, GRID).numpy()
        left.imshow(density, extent=(*VIEW, *VIEW), origin="lower", cmap="Greens", alpha=0.6,
                    vmin=0.0, vmax=float(density.max()))  # p(x): the model's own density of inputs
        posterior = (joint[:, 1] - log_density).exp().reshape(GRID, GRID).numpy()
        for ax in fig.axes:  # markers on lines: a scatter collection costs 5 ms a call here
            for label, colour in ((0, DATA_COLOR), (1, MODEL_COLOR)):
                ax.plot(x[y == label, 0], x[y == label, 1], "o", ms=3.5, color=colour)
        left.contour(xs, xs, posterior, levels=[0.5], colors="k", linewidths=1.5)
        samples, labels = generative.sample(40, torch.Generator().manual_seed(2))
        for label, colour in ((0, DATA_COLOR), (1, MODEL_COLOR)):
            left.plot(samples[labels == label, 0], samples[labels == label, 1], "x", ms=4, color=colour, alpha=0.6)
        w, b = discriminative.weights.numpy(), float(discriminative.bias)
        line = np.array(VIEW)
        if abs(w[1]) > 1e-9:  # w·x + b = 0
            right.plot(line, -(w[0] * line + b) / w[1], color="k", lw=1.5)
        else:
            right.axvline(-b / w[0], color="k", lw=1.5)
        left.set(xlim=VIEW, ylim=VIEW, title="generative: p(x) in green, samples ×")
        right.set(xlim=VIEW, ylim=VIEW, title="discriminative: p(y | x) only")
        for ax in fig.axes:
            ax.set_aspect("equal")
        inlier, outlier = torch.tensor([[0.0, 0.0]], dtype=torch.float64), torch.tensor([[0.0, 4.5]],
                                                                                         dtype=torch.float64)
        inside, outside = (float(generative.log_density(point)) for point in (inlier, outlier))
        return (f"test error: generative {error_rate(generative, test_x, test_y):.1%}, logistic regression "
                f"{error_rate(discriminative, test_x, test_y):.1%} · log p(x) at (0, 0): {inside:.2f}, "
                f"at (0, 4.5): {outside:.2f} (logistic regression has no p(x))")

    controls = {"n": slider("training points", 20, 4, 200, 2),
                "separation": slider("class distance", 2.5, 0.0, 5.0, 0.25),
                "spread": slider("class 1 spread", 1.0, 0.3, 2.5, 0.1),
                "correlation": slider("class 1 correlation", 0.0, -0.9, 0.9, 0.1)}
    return LiveFigure(controls, draw, ncols=2, width=4.0, height=4.0)
