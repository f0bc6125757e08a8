"""Chapter 06 (weight sharing): shift a digit and watch a convolution's feature map move with it, while an MLP's
hidden units change unrecognisably; and a parameter counter as the image grows."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import nn

from course_utils.plotting import DATA_COLOR, MODEL_COLOR
from course_utils.weight_sharing import DigitModels, parameter_counts, shift_images
from course_utils.widgets.base import LiveFigure, slider


@torch.no_grad()
def feature_maps(cnn: nn.Module, mlp: nn.Module, image: torch.Tensor, dx: int, dy: int) -> dict[str, torch.Tensor]:
    """For ``image`` (64,) shifted by (dx, dy): the image (8, 8), the CNN's first-layer map of its most active
    channel on the unshifted image (8, 8), the MLP's 64 hidden units as (8, 8), and both predictions."""
    first_layer = cnn.features[:2]  # the first convolution and its ReLU
    original = first_layer(image.reshape(1, 1, 8, 8))[0]  # (16, 8, 8)
    channel = int(original.amax(dim=(1, 2)).argmax())
    moved = shift_images(image[None], dx, dy)  # (1, 64)
    return {"image": moved.reshape(8, 8), "conv": first_layer(moved.reshape(1, 1, 8, 8))[0, channel],
            "conv_original": original[channel], "mlp": mlp.hidden(moved)[0].reshape(8, 8),
            "mlp_original": mlp.hidden(image[None])[0].reshape(8, 8),
            "cnn_says": int(cnn(moved).argmax()), "mlp_says": int(mlp(moved).argmax())}


def shift_explorer(models: DigitModels) -> LiveFigure:
    """Sliders move a test digit; three panels show it, a feature map of the CNN's first convolution and the
    MLP's hidden units. The readout compares each with the unshifted one, shifted the same way."""

    def draw(fig: Figure, digit: int, dx: int, dy: int) -> str:
        image = models.digits.x_test[digit]
        maps = feature_maps(models.cnn, models.mlp, image, dx, dy)
        titles = ("the digit, shifted", "a CNN feature map", "the MLP's 64 hidden units")
        for ax, key, title in zip(fig.axes, ("image", "conv", "mlp"), titles, strict=True):
            ax.imshow(maps[key].numpy(), cmap="gray_r", vmin=0.0, vmax=max(float(maps[key].max()), 1e-6))
            ax.set(title=title, xticks=[], yticks=[])
        expected_conv = shift_images(maps["conv_original"].reshape(1, 64), dx, dy).reshape(8, 8)
        inner = (slice(2, 6), slice(2, 6))  # away from the border, where zeros enter
        conv_gap = float((maps["conv"] - expected_conv)[inner].abs().max())
        mlp_gap = float((maps["mlp"] - maps["mlp_original"]).abs().mean())
        label = int(models.digits.y_test[digit])
        return (f"a {label}, shifted ({dx:+d}, {dy:+d}) · CNN says {maps['cnn_says']}, MLP says {maps['mlp_says']}"
                f" · CNN map vs the original map shifted: max difference {conv_gap:.3f} (centre) · MLP units changed "
                f"by {mlp_gap:.3f} on average")

    controls = {"digit": slider("test digit", 0, 0, 19, 1), "dx": slider("shift right", 0, -2, 2, 1),
                "dy": slider("shift down", 0, -2, 2, 1)}
    return LiveFigure(controls, draw, ncols=3, width=3.0, height=3.2)


def parameter_counter() -> LiveFigure:
    """An image side and a kernel size: the parameters of one dense layer and one convolution between images of
    that size (one channel in, one out), on a log scale. The dense count grows as side⁴, the convolution's never."""
    sides = np.arange(2, 65)

    def draw(fig: Figure, side: int, kernel: int) -> str:
        ax = fig.axes[0]
        # a k × k kernel has k² weights: the 1-D counts with k² in place of k
        dense = [parameter_counts(int(s) ** 2, kernel**2)["dense"] for s in sides]
        conv = [parameter_counts(int(s) ** 2, kernel**2)["convolution"] for s in sides]
        ax.plot(sides, dense, color=MODEL_COLOR, lw=2, label="dense layer: n² + n")
        ax.plot(sides, conv, color=DATA_COLOR, lw=2, label="convolution: k² + 1")
        here = parameter_counts(side * side, kernel**2)
        ax.plot([side, side], [here["convolution"], here["dense"]], "o", color="k", ms=5)
        ax.set(yscale="log", xlim=(0, 66), ylim=(1, 1e9), xlabel="image side (pixels)", ylabel="parameters",
               title="one layer, image to image")
        ax.legend(loc="upper left", fontsize=8, frameon=False)
        return (f"{side}×{side} image: dense {here['dense']:,} parameters, a {kernel}×{kernel} kernel "
                f"{here['convolution']:,} (one kernel per position: {side * side:,} positions share it)")

    controls = {"side": slider("image side", 8, 2, 64, 1), "kernel": slider("kernel size", 3, 1, 7, 2)}
    return LiveFigure(controls, draw, ncols=1, width=5.0, height=3.4)
