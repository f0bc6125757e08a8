"""widgets._canvas: a reused background gives the pixels a fresh one gives, and matplotlib's own render."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from course_utils.plotting import new_figure
from course_utils.widgets._canvas import LayeredCanvas


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def fresh_render(canvas: LayeredCanvas) -> np.ndarray:
    """What the canvas shows when it has no background to reuse."""
    canvas.forget()
    return pixels(canvas.png())


def matplotlib_render(figure) -> np.ndarray:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=figure.dpi)
    return pixels(buffer.getvalue())


def fraction_differing(a: np.ndarray, b: np.ndarray) -> float:
    assert a.shape == b.shape
    return float((np.abs(a - b).max(axis=2) > 0).mean())


@pytest.fixture
def figure():
    fig = new_figure(2)
    fig.set_dpi(80)
    return fig


def test_same_axes_reuse_the_background_and_new_limits_draw_a_new_one(figure):
    """Does new data under the same axes reuse the background, and do new limits, a new title or a new
    legend entry draw a new one, each time with the pixels of a fresh render?"""
    canvas = LayeredCanvas(figure)
    left, right = figure.axes
    right.set(xlim=(0, 1), ylim=(0, 1))  # fixed limits: new data there keeps the background
    steps = [
        lambda: left.plot([0, 1], [0, 1], label="a"),  # first render: nothing to reuse
        lambda: left.lines[0].set_ydata([1, 0]),  # same limits: reuse
        lambda: left.set_ylim(0, 5),  # new limits and ticks: draw
        lambda: left.set_title("a title"),  # a title is in the background: draw
        lambda: left.legend(),  # so is a legend
        lambda: left.lines[0].set_label("b") or left.legend(),  # and its entries
        lambda: left.lines[0].set_color("red") or left.legend(),  # and their colours
        lambda: right.scatter([0.2], [0.4]),  # data in the other panel, same limits: reuse
    ]
    reused = [False, True, False, False, False, False, False, True]
    for step, expect_reuse in zip(steps, reused, strict=True):
        step()
        hits = canvas.hits
        shown = pixels(canvas.png())
        assert (canvas.hits > hits) == expect_reuse
        np.testing.assert_array_equal(shown, fresh_render(canvas))
        assert fraction_differing(shown, matplotlib_render(figure)) < 1e-3


def test_it_keeps_the_most_recently_used_backgrounds(figure):
    """With keep=2, is a third axes state's background drawn afresh and the least recently used dropped?"""
    canvas = LayeredCanvas(figure, keep=2)
    ax = figure.axes[0]
    for top in (1, 2, 1, 3, 2):
        ax.set_ylim(0, top)
        canvas.png()
    # 1 miss, 2 miss, 1 hit, 3 miss (drops 2), 2 miss
    assert (canvas.hits, canvas.misses) == (1, 4)


def test_a_hidden_axis_hides_its_spines(figure):
    """After set_axis_off, are the spines left out, as matplotlib leaves them out?"""
    canvas = LayeredCanvas(figure)
    figure.axes[0].imshow(np.eye(4))
    figure.axes[0].set_axis_off()
    assert fraction_differing(pixels(canvas.png()), matplotlib_render(figure)) < 1e-3


def test_every_widget_shows_the_same_pixels_whether_its_background_is_reused_or_not(latency):
    """For each widget of the course, moving every control and back: is each picture the one a fresh
    render gives (no stale axes, title or legend) and close to matplotlib's own, and is a background
    reused at least once (otherwise this test would check nothing)?"""
    cache: dict = {}
    for name, builder in latency.discover_builders().items():
        live = latency.build(builder, cache)
        for control in live.controls.values():
            start = control.value
            for value in [*latency.control_values(control), start]:
                control.value = value
                shown = pixels(live.png)
                np.testing.assert_array_equal(shown, fresh_render(live.canvas),
                                              err_msg=f"{name}: {control.description} = {value}")
                assert fraction_differing(shown, matplotlib_render(live.figure)) < 2e-3, name
        assert live.canvas.hits > 0, f"{name} never reused its background"
