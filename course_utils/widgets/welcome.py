"""Chapter 00 (welcome): a latent-variable model that generates digits."""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from course_utils.data import Digits
from course_utils.metrics import class_clarity, nearest_neighbours
from course_utils.plotting import plot_image_grid
from course_utils.ppca import fit_ppca
from course_utils.widgets.base import LiveFigure, slider

N_SHOWN = 24  # generated digits per draw (3 rows of 8)


def digit_generator(digits: Digits) -> LiveFigure:
    """Sample new digits from a linear-Gaussian latent model (probabilistic PCA) fitted to all
    ten classes; beside them, the nearest training image of each, to show they are not copies, and the
    median class-clarity ratio of the samples (``metrics.class_clarity``)."""

    def draw(fig: Figure, latent_dim: int, seed: int) -> str:
        model = fit_ppca(digits.x_train, latent_dim)
        samples = model.sample(N_SHOWN, torch.Generator().manual_seed(seed)).float()  # (24, 64)
        distance, index = nearest_neighbours(samples, digits.x_train)
        ratio, _ = class_clarity(samples, digits.x_train, digits.y_train)  # (24,)
        left, right = fig.axes
        plot_image_grid(left, samples, digits.image_shape, title="generated from z ~ N(0, I)")
        plot_image_grid(right, digits.x_train[index], digits.image_shape, title="the nearest training image of each")
        return (f"k = {latent_dim} ({model.num_parameters():,} numbers), seed {seed}:   "
                f"median distance to the nearest training image {float(distance.median()):.2f}\n"
                f"class-clarity ratio of these {N_SHOWN} samples: median {float(ratio.median()):.2f} "
                "(compare: noise and real digits in the cell above)")

    controls = {
        "latent_dim": slider("latent dimension k", 10, 1, 40, 1),
        "seed": slider("seed", 0, 0, 50, 1),
    }
    return LiveFigure(controls, draw, ncols=2, width=5.2, height=2.2)
