"""Figures for the chapters: matplotlib only, each function draws into an ``ax`` it is given.

Nothing here computes course content; it draws what a tested function returned.
"""

from __future__ import annotations

import io
import math

import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullLocator, StrMethodFormatter
from torch import distributions as D

from course_utils.distributions import cumulative, density, empirical_cdf, histogram_density

DATA_COLOR = "#4C72B0"  # samples, histograms
MODEL_COLOR = "#C44E52"  # true or model densities
ACCENT_COLOR = "#55A868"  # the quantity being explained (an interval, an arrow)


# Widget figures are drawn inside this style. A fixed title height (axes.titley) spares matplotlib
# from measuring every tick label to place each title, about a fifth of a redraw.
FAST_STYLE = {"axes.titley": 1.0, "axes.titlesize": 10, "legend.fontsize": 8}


class ChapterFigure(Figure):
    """A matplotlib Figure that a notebook shows as a picture when it is a cell's last expression.

    IPython draws a plain ``Figure`` as an image only once pyplot's inline backend has registered its formatter,
    which a chapter that never imports pyplot does not do: it would print ``<Figure size 420x320 ...>``.
    """

    def _repr_png_(self) -> bytes:
        return figure_png(self, dpi=100)


def new_figure(ncols: int = 1, *, width: float = 4.2, height: float = 3.2) -> Figure:
    """A figure with ``ncols`` axes side by side, shown as a PNG when a cell ends with it; not registered with
    pyplot, so nothing displays it twice and nothing leaks between widget updates."""
    fig = ChapterFigure(figsize=(width * ncols, height))
    # Fixed margins instead of a layout engine: constrained layout measures every tick label
    # on each draw and would triple the time of a widget update.
    fig.subplots(1, ncols, gridspec_kw=dict(left=0.6 / (width * ncols), right=1 - 0.3 / (width * ncols),
                                            bottom=0.5 / height, top=1 - 0.35 / height, wspace=0.3))
    return fig


def clear_data(fig: Figure) -> None:
    """Remove what was plotted (lines, patches, collections, images, texts, legends, titles) but
    keep the axes and their tick objects: re-creating ticks is most of the cost of a fresh figure,
    and a widget redraws the same layout each time."""
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.patches, *ax.collections, *ax.images, *ax.texts]:
            artist.remove()
        ax.containers.clear()
        if ax.get_legend() is not None:
            ax.get_legend().remove()
        for loc in ("left", "center", "right"):
            ax.set_title("", loc=loc)
        ax.relim()
        ax.set_autoscale_on(True)  # a previous set_xlim turned autoscaling off
    if fig.get_suptitle():
        fig.suptitle("")


NICE_MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0)


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7.5 times a power of ten that is >= ``value`` (> 0).

    An axis limit rounded up this way moves in a few steps as the data change, instead of with
    every redraw: the reader's eye keeps its scale, and a widget reuses its drawn axes.
    """
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"value must be a finite number > 0; got {value}")
    power = 10.0 ** math.floor(math.log10(value))
    # the tolerance keeps 0.3 at 0.3 when 0.3 / 0.1 comes out as 2.9999999999999996
    return next(m * power for m in NICE_MANTISSAS if m * power >= value * (1 - 1e-12))


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render ``fig`` to PNG bytes (what a widget shows)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_pdf(ax: Axes, dist: D.Distribution, value_range: tuple[float, float], *, label: str = "density p(x)",
             points: int = 600, **style) -> None:
    """The density curve of a 1-D distribution over ``value_range``."""
    xs = torch.linspace(*value_range, points, dtype=torch.float64)
    ax.plot(xs.numpy(), density(dist, xs).numpy(), color=style.pop("color", MODEL_COLOR), label=label, **style)
    ax.set_xlabel("x")


def plot_histogram(ax: Axes, samples, bins: int, value_range: tuple[float, float], *,
                   label: str = "histogram (density)") -> None:
    """A histogram scaled to a density, so it is comparable with a pdf."""
    edges, heights = histogram_density(samples, bins, value_range)
    ax.stairs(heights, edges, fill=True, alpha=0.45, color=DATA_COLOR, label=label)


def plot_interval(ax: Axes, dist: D.Distribution, a: float, b: float, *, label: str) -> None:
    """Shade the area under the pdf between a and b: that area, not the curve's height, is a probability."""
    xs = torch.linspace(a, b, 200, dtype=torch.float64)
    ax.fill_between(xs.numpy(), density(dist, xs).numpy(), color=ACCENT_COLOR, alpha=0.6, label=label)


def plot_inverse_cdf(ax: Axes, dist: D.Distribution, value_range: tuple[float, float], u: torch.Tensor) -> None:
    """The CDF F with arrows from a few uniform draws u on the y-axis to x = F⁻¹(u) on the x-axis."""
    xs = torch.linspace(*value_range, 400, dtype=torch.float64)
    ax.plot(xs.numpy(), cumulative(dist, xs).numpy(), color=MODEL_COLOR, label="CDF F(x)")
    x = dist.icdf(u).clamp(*value_range).numpy()
    u = u.numpy()
    # One collection per direction, not one arrow artist per draw: cheaper to render in a widget.
    ax.hlines(u, value_range[0], x, color=ACCENT_COLOR, lw=0.8)
    ax.vlines(x, 0, u, color=ACCENT_COLOR, lw=0.8)
    ax.plot(x, np.zeros_like(x), "v", color=ACCENT_COLOR, ms=4, clip_on=False)
    ax.set_xlim(*value_range)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("x = F⁻¹(u)")
    ax.set_ylabel("u ~ Uniform(0, 1)")


def plot_image_grid(ax: Axes, images: torch.Tensor, image_shape: tuple[int, int], *, ncols: int = 8,
                    title: str | None = None) -> None:
    """Tile flattened images ``(n, H·W)`` into one picture, pixel values clipped to [0, 1]."""
    images = images.detach().cpu().float().clamp(0, 1).reshape(-1, *image_shape)
    n, (h, w) = len(images), image_shape
    nrows = math.ceil(n / ncols)
    canvas = np.ones((nrows * (h + 1) + 1, ncols * (w + 1) + 1))  # white 1-pixel gutters
    for i, image in enumerate(images.numpy()):
        r, c = divmod(i, ncols)
        canvas[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = 1 - image
    ax.imshow(canvas, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=10)


def plain_log_labels(ax: Axes) -> None:
    """Label log axes as plain numbers (1,000 rather than $10^3$): matplotlib's default log labels
    go through its TeX parser on every draw, which would dominate a widget update."""
    ax.xaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:.2g}"))
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_minor_locator(NullLocator())  # unlabelled minor ticks cost a Tick object each per draw


def plot_samples(ax: Axes, data, fakes, *, title: str | None = None, data_label: str = "data",
                 fake_label: str = "G(z)") -> None:
    """Two 2-D point clouds (n, 2), the data in blue under the model's samples in red, on equal axes."""
    for points, color, label in ((data, DATA_COLOR, data_label), (fakes, MODEL_COLOR, fake_label)):
        points = torch.as_tensor(points).detach().cpu()
        ax.scatter(points[:, 0], points[:, 1], s=2, color=color, alpha=0.5, label=label)
    ax.set_aspect("equal", adjustable="datalim")
    if title:
        ax.set_title(title)


def plot_cdf_gap(ax: Axes, x: torch.Tensor, y: torch.Tensor, *, labels: tuple[str, str] = ("F_P", "F_Q"),
                 points: int = 800) -> None:
    """The empirical CDFs of two 1-D samples with the area between them shaded: that area is W₁."""
    both = torch.cat([x, y]).double()
    span = float(both.max() - both.min())
    at = torch.linspace(float(both.min()) - 0.05 * span, float(both.max()) + 0.05 * span, points, dtype=torch.float64)
    cdfs = [empirical_cdf(samples, at).numpy() for samples in (x, y)]
    ax.step(at, cdfs[0], where="post", color=DATA_COLOR, label=labels[0])
    ax.step(at, cdfs[1], where="post", color=MODEL_COLOR, label=labels[1])
    ax.fill_between(at, cdfs[0], cdfs[1], step="post", color=ACCENT_COLOR, alpha=0.35, label="area = W₁")
    ax.set(xlabel="t", ylabel="F(t)", ylim=(0, 1.02))


def plot_transport_plan(ax: Axes, x, y, plan) -> None:
    """The arrows x[i] → y[plan[i]] of a transport plan between two 2-D point clouds (n, 2)."""
    x, y = (np.asarray(torch.as_tensor(p).detach().cpu(), dtype=float) for p in (x, y))
    target = y[np.asarray(plan)]
    ax.quiver(x[:, 0], x[:, 1], target[:, 0] - x[:, 0], target[:, 1] - x[:, 1], angles="xy", scale_units="xy",
              scale=1, width=0.004, color=ACCENT_COLOR, alpha=0.8)
    ax.scatter(x[:, 0], x[:, 1], s=14, color=DATA_COLOR, label="P", zorder=3)
    ax.scatter(y[:, 0], y[:, 1], s=14, color=MODEL_COLOR, label="Q", zorder=3)
    ax.set_aspect("equal", adjustable="datalim")


def plot_runs_against_band(ax: Axes, steps, runs, band: tuple[float, float], *, ylabel: str,
                           band_label: str = "noise baseline", run_label: str = "seed") -> None:
    """One line per run of a metric over training ``steps``, over a grey band from ``band[0]`` to ``band[1]``
    (the range a baseline scores): where a line leaves the band, the run shows something noise does not."""
    ax.axhspan(band[0], band[1], color="0.8", alpha=0.7, lw=0, label=band_label)
    for i, values in enumerate(runs):
        ax.plot(steps, values, marker=".", lw=1.2, label=f"{run_label} {i}")
    ax.set_xlabel("generator steps")
    ax.set_ylabel(ylabel)
