"""course_utils.plotting: each function draws the artists it promises, with the values the math gives."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import scipy.stats as st
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure
from matplotlib.patches import StepPatch
from torch import distributions as D

from course_utils.distributions import gaussian, uniform
from course_utils.plotting import (
    ACCENT_COLOR,
    DATA_COLOR,
    MODEL_COLOR,
    clear_data,
    figure_png,
    new_figure,
    nice_ceiling,
    plain_log_labels,
    plot_histogram,
    plot_image_grid,
    plot_interval,
    plot_inverse_cdf,
    plot_pdf,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def ax():
    """One axes on an Agg canvas, drawn once at the end of each test to catch draw-time errors."""
    fig = Figure(figsize=(4, 3))
    canvas = FigureCanvasAgg(fig)
    axes = fig.add_subplot()
    yield axes
    canvas.draw()


def test_plot_pdf_line_is_scipy_pdf(ax):
    """Is plot_pdf one line over the range whose y-values are scipy's N(0.5, 2²) pdf, in the model colour?"""
    plot_pdf(ax, gaussian(0.5, 2.0), (-6.0, 7.0), points=300)
    (line,) = ax.get_lines()
    x, y = line.get_xdata(), line.get_ydata()
    assert len(x) == 300 and x[0] == -6.0 and x[-1] == 7.0
    np.testing.assert_allclose(y, st.norm.pdf(x, 0.5, 2.0), rtol=1e-6)
    assert matplotlib.colors.same_color(line.get_color(), MODEL_COLOR)
    assert line.get_label() == "density p(x)"
    assert ax.get_xlabel() == "x"


def test_plot_pdf_is_zero_outside_support_and_takes_style(ax):
    """For Uniform(0, 0.25), is the curve 4 on the support and 0 outside, with a custom colour and label?"""
    plot_pdf(ax, uniform(0.0, 0.25), (-0.1, 0.35), label="u", color="k", lw=3)
    (line,) = ax.get_lines()
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, st.uniform(0, 0.25).pdf(x), rtol=1e-6)
    assert y.max() == pytest.approx(4.0)
    assert matplotlib.colors.same_color(line.get_color(), "k") and line.get_linewidth() == 3
    assert line.get_label() == "u"


def test_plot_histogram_stairs_equal_numpy_density(ax):
    """Is plot_histogram one filled StepPatch whose heights and edges are numpy.histogram(density=True)'s?"""
    x = np.random.default_rng(0).normal(size=3_000)
    value_range = (float(x.min()), float(x.max()))
    plot_histogram(ax, torch.as_tensor(x), 25, value_range)
    (patch,) = ax.patches
    assert isinstance(patch, StepPatch) and patch.get_fill()
    values, edges, _ = patch.get_data()
    ref_values, ref_edges = np.histogram(x, bins=25, range=value_range, density=True)
    np.testing.assert_allclose(values, ref_values, rtol=1e-12)
    np.testing.assert_allclose(edges, ref_edges)
    assert matplotlib.colors.same_color(patch.get_facecolor()[:3], DATA_COLOR)
    assert patch.get_label() == "histogram (density)"


def test_plot_histogram_with_samples_outside_range(ax):
    """With samples outside the range, are the stairs count / (n · width) (area < 1), labelled as asked?"""
    x = torch.arange(-8, 9) * 0.25  # -2, -1.75, ..., 2: exactly 5 of the 17 in [0, 1]
    plot_histogram(ax, x, 4, (0.0, 1.0), label="part")
    values, edges, _ = ax.patches[0].get_data()
    np.testing.assert_allclose(values, np.array([1, 1, 1, 2]) / (17 * 0.25))  # 1.0 falls in the last bin
    np.testing.assert_allclose(edges, [0.0, 0.25, 0.5, 0.75, 1.0])
    assert np.sum(values * np.diff(edges)) == pytest.approx(5 / 17)
    assert ax.patches[0].get_label() == "part"


def polygon_area(vertices: np.ndarray) -> float:
    x, y = vertices[:, 0], vertices[:, 1]
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_plot_interval_area_is_the_probability(ax):
    """Is the shaded region under N(0,1)'s pdf from -0.5 to 1 one polygon of area ≈ scipy's cdf difference?"""
    plot_interval(ax, gaussian(), -0.5, 1.0, label="P")
    (shade,) = ax.collections
    assert isinstance(shade, PolyCollection)
    vertices = shade.get_paths()[0].vertices
    assert vertices[:, 0].min() == pytest.approx(-0.5) and vertices[:, 0].max() == pytest.approx(1.0)
    assert vertices[:, 1].max() == pytest.approx(st.norm.pdf(0.0), rel=1e-4)
    assert polygon_area(vertices) == pytest.approx(st.norm.cdf(1.0) - st.norm.cdf(-0.5), rel=1e-4)
    assert matplotlib.colors.same_color(shade.get_facecolor()[0][:3], ACCENT_COLOR)
    assert shade.get_label() == "P"


def test_plot_inverse_cdf_draws_cdf_and_guides(ax):
    """Is the CDF drawn as scipy's cdf, with one horizontal and one vertical guide per u ending at F⁻¹(u)?"""
    dist = D.Exponential(torch.tensor(1.0))
    u = torch.tensor([0.1, 0.5, 0.9, 0.999])
    plot_inverse_cdf(ax, dist, (0.0, 4.0), u)
    cdf_line = ax.get_lines()[0]
    np.testing.assert_allclose(cdf_line.get_ydata(), st.expon.cdf(cdf_line.get_xdata()), rtol=1e-6, atol=1e-9)
    x_expected = np.minimum(st.expon.ppf(u.numpy()), 4.0)  # F⁻¹(0.999) = 6.9 is clipped to the range
    segments = [
        np.asarray(s) for c in ax.collections if isinstance(c, LineCollection) for s in c.get_segments()
    ]
    horizontal = sorted((s for s in segments if s[0, 1] == s[1, 1]), key=lambda s: s[0, 1])
    vertical = sorted((s for s in segments if s[0, 0] == s[1, 0]), key=lambda s: s[0, 0])
    assert len(horizontal) == len(vertical) == 4
    for seg, ui, xi in zip(horizontal, u.tolist(), x_expected, strict=True):
        assert (
            seg[0, 1] == pytest.approx(ui) and seg[0, 0] == 0.0 and seg[1, 0] == pytest.approx(xi, rel=1e-5)
        )
    for seg, xi in zip(vertical, x_expected, strict=True):
        assert seg[0, 0] == pytest.approx(xi, rel=1e-5)
        assert sorted([seg[0, 1], seg[1, 1]])[0] == 0.0
    assert ax.get_xlim() == (0.0, 4.0) and ax.get_ylim() == (0.0, 1.02)
    assert "F⁻¹" in ax.get_xlabel()


def test_plot_image_grid_tiles_inverted_images(ax):
    """Are 3 flattened 2×2 images tiled in 2 columns, inverted (1 − pixel), clipped, with white gutters?"""
    images = torch.tensor([[0.0, 1.0, 0.5, 0.25], [1.0, 1.0, 1.0, 1.0], [2.0, -1.0, 0.0, 0.0]])
    plot_image_grid(ax, images, (2, 2), ncols=2, title="grid")
    (image,) = ax.get_images()
    expected = np.ones((7, 7))
    expected[1:3, 1:3] = [[1.0, 0.0], [0.5, 0.75]]
    expected[1:3, 4:6] = 0.0
    expected[4:6, 1:3] = [[0.0, 1.0], [1.0, 1.0]]  # 2 and -1 clipped to 1 and 0 before inverting
    np.testing.assert_allclose(np.asarray(image.get_array()), expected)
    assert image.get_clim() == (0, 1)
    assert not ax.axison
    assert ax.get_title() == "grid"


def test_plot_image_grid_without_title(ax):
    """Without a title, is the axes title left empty?"""
    plot_image_grid(ax, torch.zeros(8, 64), (8, 8))
    assert ax.get_title() == ""
    assert np.asarray(ax.get_images()[0].get_array()).shape == (10, 73)


def test_plain_log_labels_format_plain_numbers(ax):
    """Do the log-axis labels read '1,000' and '0.05' instead of mathtext powers of ten?"""
    ax.loglog([10, 1_000], [0.01, 0.5])
    plain_log_labels(ax)
    assert ax.xaxis.get_major_formatter()(1_000, 0) == "1,000"
    assert ax.yaxis.get_major_formatter()(0.05, 0) == "0.05"
    assert len(ax.xaxis.get_minorticklocs()) == 0, "minor ticks should be gone (they cost a redraw)"


def test_clear_data_keeps_axes_and_removes_what_was_plotted():
    """Does clear_data leave empty, autoscaling axes ready for the next draw, in the same figure?"""
    fig = new_figure(2)
    left, right = fig.axes
    plot_pdf(left, gaussian(), (-4.0, 4.0))
    plot_histogram(left, torch.randn(100), 10, (-4.0, 4.0))
    left.legend()
    left.set_title("before")
    right.set_xlim(0, 1)
    fig.suptitle("sup")
    clear_data(fig)
    assert fig.axes == [left, right]
    assert not (left.lines or left.patches or left.collections or left.get_legend() or left.get_title())
    assert right.get_autoscalex_on() and fig._suptitle.get_text() == ""
    plot_pdf(right, gaussian(10.0, 1.0), (6.0, 14.0))
    assert right.get_xlim()[1] > 13, "the axis should rescale to the new data"


def test_new_figure_axes_and_not_in_pyplot():
    """Does new_figure(3) make 3 axes side by side, sized 3·width × height, unknown to pyplot?"""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = new_figure(3, width=2.0, height=1.5)
    assert len(fig.axes) == 3
    lefts = [a.get_position().x0 for a in fig.axes]
    assert lefts == sorted(lefts) and len(set(lefts)) == 3
    assert tuple(fig.get_size_inches()) == (6.0, 1.5)
    assert plt.get_fignums() == before


def test_figure_png_returns_png_of_the_right_size():
    """Does figure_png return PNG bytes (magic number) whose pixel size is inches × dpi?"""
    fig = new_figure(2, width=3.0, height=2.0)
    plot_pdf(fig.axes[0], gaussian(), (-3.0, 3.0))
    png = figure_png(fig, dpi=50)
    assert png[:8] == PNG_MAGIC
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (100, 300)
    assert pixels.std() > 0  # something was drawn


@pytest.mark.parametrize(("value", "expected"), [(1.0, 1.0), (1.01, 1.5), (0.3, 0.3), (0.31, 0.5), (7.6, 10.0),
                                                  (0.0042, 0.005), (120.0, 150.0), (1e-9, 1e-9)])
def test_nice_ceiling_rounds_up_to_the_next_nice_number(value, expected):
    assert nice_ceiling(value) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_nice_ceiling_refuses_what_has_no_ceiling(value):
    with pytest.raises(ValueError, match="value must be a finite number > 0"):
        nice_ceiling(value)


def test_a_chapter_figure_shows_itself_as_a_png_without_pyplot():
    """A cell ending in ``fig`` shows a picture even where pyplot was never imported (chapters 07 and 08)."""
    fig = new_figure(2)
    png = fig._repr_png_()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1_000


def test_runs_are_drawn_over_their_baseline_band():
    from course_utils.plotting import new_figure, plot_runs_against_band

    fig = new_figure()
    ax = fig.axes[0]
    plot_runs_against_band(ax, [1, 2, 3], [[0.1, 0.5, 0.9], [0.2, 0.4, 0.8]], (0.2, 0.3), ylabel="reverse KL")
    assert len(ax.lines) == 2 and len(ax.patches) == 1 and ax.get_ylabel() == "reverse KL"
    band = ax.patches[0].get_path().get_extents().transformed(ax.patches[0].get_transform()
                                                              ).transformed(ax.transData.inverted())
    assert (round(band.y0, 6), round(band.y1, 6)) == (0.2, 0.3)
