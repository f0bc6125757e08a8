"""Chapter 01 (probability densities): four interactive figures."""

from __future__ import annotations

import functools

import torch
from matplotlib.figure import Figure

from course_utils.distributions import (
    histogram_l1_error,
    interval_report,
    inverse_cdf_sample,
    ks_distance,
    named_examples,
    push_forward,
    sample,
)
from course_utils.plotting import (
    nice_ceiling,
    plain_log_labels,
    plot_histogram,
    plot_interval,
    plot_inverse_cdf,
    plot_pdf,
)
from course_utils.widgets.base import LiveFigure, choice, log_slider, selection_slider, slider

SAMPLE_SIZES = (10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)
INVERTIBLE = ("Exponential(1)", "Gaussian N(0, 1)", "Laplace(0, 1)", "Cauchy(0, 1)", "Uniform(0, 0.25)")
TRANSFORM_LABELS = {"tanh": "tanh(2z)"}  # the formula behind a map's short name, for the title


L1_ERROR_LIMITS = (2e-3, 3.0)  # ∫|histogram − p| dx lies in [0, 2]; this shows every case of the widget


def _y_from_zero(ax, *, headroom: float = 1.0) -> None:
    """y from 0 to the tallest bar or curve times ``headroom``, rounded up to a nice number.

    Rounding keeps the axis still while small changes redraw the data (``plotting.nice_ceiling``).
    """
    ax.set_ylim(0, nice_ceiling(headroom * ax.dataLim.y1))


def _legend_above_data(ax, *, ncol: int = 2, headroom: float = 1.3) -> None:
    """Raise the y-axis top by at least ``headroom`` and put the legend in that empty band, never on the data.

    ``loc="best"`` would search for a free spot on every redraw (slow) and still covers a flat
    density such as Uniform(0, 0.25)'s: a band above the tallest bar is free for every example.
    """
    _y_from_zero(ax, headroom=headroom)
    ax.legend(loc="upper center", ncol=ncol, fontsize=8, frameon=False, borderaxespad=0.2,
              handlelength=1.5, columnspacing=1.0)


def density_vs_probability() -> LiveFigure:
    """Shrink an interval around x0: its probability goes to 0, probability / width goes to p(x0)."""
    examples = named_examples()

    def draw(fig: Figure, distribution: str, center: float, half_width: float) -> str:
        example = examples[distribution]
        lo, hi = example.value_range
        x0 = lo + center * (hi - lo)  # the slider is a fraction of the range, so it fits every example
        report = interval_report(example.dist, x0, half_width)
        ax = fig.axes[0]
        plot_pdf(ax, example.dist, example.value_range)
        plot_interval(ax, example.dist, x0 - half_width, x0 + half_width, label="P(|X − x0| ≤ h): the area")
        ax.axvline(x0, color="k", lw=0.6, ls=":")
        ax.set_title(f"{distribution}: shrink h and watch P and P / 2h", fontsize=10)
        ax.set_ylabel("density")
        _legend_above_data(ax)
        return (f"x0 = {x0:.2f}, h = {half_width:.3g}:   P(|X − {x0:.2f}| ≤ {half_width:.3g}) = "
                f"{report.probability:.4f}   ·   density p({x0:.2f}) = {report.density:.3f}   ·   "
                f"probability / width = {report.ratio:.3f}")

    controls = {
        "distribution": choice("distribution", examples, "Uniform(0, 0.25)"),
        "center": slider("x0 (fraction of range)", 0.5, 0.0, 1.0, 0.01),
        "half_width": log_slider("half-width h", 0.05, -3, 0),
    }
    return LiveFigure(controls, draw, width=7.5)


def histogram_explorer() -> LiveFigure:
    """Histograms of n samples approach the pdf as n grows; the right panel tracks the L1 error."""
    examples = named_examples()

    def draw(fig: Figure, distribution: str, n: int, bins: int, seed: int) -> str:
        example = examples[distribution]
        errors = error_curve(distribution, bins, seed)
        left, right = fig.axes
        plot_histogram(left, draws(distribution, seed)[:n], bins, example.value_range)
        plot_pdf(left, example.dist, example.value_range)
        left.set_title(f"{distribution}: histogram of the first n draws", fontsize=10)
        _legend_above_data(left)
        right.loglog(SAMPLE_SIZES, errors, "o-", color="#4C72B0")
        right.set_ylim(*L1_ERROR_LIMITS)
        plain_log_labels(right)
        right.axvline(n, color="k", lw=0.6, ls=":")
        right.set_xlabel("number of samples n")
        right.set_ylabel("∫ |histogram − p| dx")
        right.set_title("the error shrinks as n grows", fontsize=10)
        return f"n = {n:,}, {bins} bins, seed {seed}:   L1 error {errors[SAMPLE_SIZES.index(n)]:.3f}"

    @functools.lru_cache(maxsize=8)  # moving the n or bins slider reuses the same draws
    def draws(distribution: str, seed: int) -> torch.Tensor:
        """The largest sample once; smaller n are its prefixes, so the error curve is one experiment."""
        return sample(examples[distribution].dist, max(SAMPLE_SIZES), torch.Generator().manual_seed(seed))

    @functools.lru_cache(maxsize=32)  # moving the n slider only moves the marker on this curve
    def error_curve(distribution: str, bins: int, seed: int) -> list[float]:
        example = examples[distribution]
        samples = draws(distribution, seed)
        return [histogram_l1_error(samples[:m], example.dist, bins, example.value_range) for m in SAMPLE_SIZES]

    controls = {
        "distribution": choice("distribution", examples, "two-mode mixture"),
        "n": selection_slider("samples n", SAMPLE_SIZES, 100),
        "bins": slider("bins", 40, 5, 200, 5),
        "seed": slider("seed", 0, 0, 20, 1),
    }
    return LiveFigure(controls, draw, ncols=2)



def inverse_cdf_sampler() -> LiveFigure:
    """Uniform draws u pushed through F⁻¹: left the uniform, middle the map, right the result."""
    examples = named_examples()

    def draw(fig: Figure, distribution: str, n: int, seed: int) -> str:
        example = examples[distribution]
        generator = torch.Generator().manual_seed(seed)
        x = inverse_cdf_sample(example.dist, n, generator)
        u = example.dist.cdf(x)  # the uniform draws that produced x (F(F⁻¹(u)) = u)
        left, middle, right = fig.axes
        plot_histogram(left, u, 20, (0.0, 1.0), label="u ~ Uniform(0, 1)")
        _y_from_zero(left)
        left.set_title("the noise: uniform on (0, 1)", fontsize=10)
        left.set_xlabel("u")
        plot_inverse_cdf(middle, example.dist, example.value_range, u[:12])
        middle.set_title("the generator: x = F⁻¹(u)", fontsize=10)
        plot_histogram(right, x, 40, example.value_range, label="x = F⁻¹(u)")
        plot_pdf(right, example.dist, example.value_range, label="target p(x)")
        right.set_title("the result", fontsize=10)
        _legend_above_data(right, ncol=1, headroom=1.45)
        return (f"{distribution}, n = {n:,}, seed {seed}:   KS distance between the samples and the target "
                f"{ks_distance(x, example.dist):.3f}")

    controls = {
        "distribution": choice("target", INVERTIBLE),
        "n": selection_slider("samples n", SAMPLE_SIZES, 1_000),
        "seed": slider("seed", 0, 0, 20, 1),
    }
    return LiveFigure(controls, draw, ncols=3, width=3.4)


def latent_noise_explorer() -> LiveFigure:
    """Uniform vs Gaussian latent noise through the same map: what a generator can and cannot reach."""
    examples = named_examples()

    def draw(fig: Figure, latent: str, transform: str, target: str) -> str:
        example = examples[target]
        generator = torch.Generator().manual_seed(0)
        x = push_forward(latent, transform, example.dist, 20_000, generator)
        lo, hi = example.value_range
        ax = fig.axes[0]
        plot_histogram(ax, x, 60, (min(lo, -3.0), max(hi, 3.0)), label="samples g(z)")
        plot_pdf(ax, example.dist, (min(lo, -3.0), max(hi, 3.0)), label="target density")
        shown = TRANSFORM_LABELS.get(transform, transform)
        ax.set_title("what the map g makes of the noise z, against the target", fontsize=10)
        _legend_above_data(ax)
        return (f"g = {shown}, z ~ {latent}, target {target}:   "
                f"the samples span [{float(x.min()):.2f}, {float(x.max()):.2f}]")

    controls = {
        "latent": choice("latent noise z", ("uniform", "gaussian")),
        "transform": choice("map g", ("identity", "tanh", "matched")),
        "target": choice("target", INVERTIBLE[:4]),
    }
    return LiveFigure(controls, draw, width=7.5)
