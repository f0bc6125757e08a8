"""Render a widget's figure fast: what stays the same between updates is drawn once and reused.

Most of the cost of drawing a matplotlib figure is its text: an empty two-panel figure with its
tick labels takes as long to draw as a widget update may (see ``benchmarks/widget_latency.py``,
column "empty fig"). A widget update changes the data, titles and legends, and usually not the
axes: same limits, same ticks, same labels. So :class:`LayeredCanvas` draws a figure in two
layers:

* the **background**: the figure and axes patches, the axes (ticks, tick labels, grid), the axis
  labels, the titles and the legends. It is rendered once per distinct *state* (limits, scales,
  tick positions and texts, labels, titles, legend entries) and kept, a few states at a time;
* the **foreground**: the data (lines, patches, collections, images), texts placed in the axes
  and the spines, drawn over the background in z-order on every update.

So a widget is fast when its titles and legends stay the same and its limits take few values: its
numbers go to the readout beside the figure (``LiveFigure``), and its legends sit off the data
(a legend is in the background, under the data). Both paths composite the same layers in the same
order, so a reused background gives the same pixels as a fresh one (``tests/test_widgets.py``
checks it for every widget).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Iterator

from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

# PNG compression: level 1 encodes a widget figure in about half the time of the default (6), for
# a file ~25% larger; a widget's PNG goes to a browser on the same machine.
PNG_COMPRESS_LEVEL = 1


def foreground_of(ax: Axes) -> list[Artist]:
    """The artists of ``ax`` that every update redraws: its data, the texts placed in it, its spines.

    The spines are here, not in the background, because matplotlib draws them over the data (z-order 2.5).
    """
    spines = list(ax.spines.values()) if ax.axison else []  # set_axis_off hides them, as Axes.draw does
    return [*ax.lines, *ax.patches, *ax.collections, *ax.images, *ax.texts, *spines]


def _tick_state(axis: Axis) -> tuple:
    # the ticks matplotlib is about to draw, with their label texts (formatters run here, cheaply)
    ticks = axis._update_ticks()  # what Axis.draw calls first; public alternatives skip minor ticks
    return tuple((tick.get_loc(), tick.label1.get_text(), tick.label2.get_text()) for tick in ticks)


def _text_state(text: Artist) -> tuple:
    return (text.get_visible(), text.get_text(), text.get_fontsize(), str(text.get_color()), text.get_position())


def _look(artist: Artist) -> tuple:
    """What a legend handle looks like: its colours, line style and marker, where it has them."""
    getters = ("get_color", "get_facecolor", "get_edgecolor", "get_linestyle", "get_linewidth", "get_marker",
               "get_alpha", "get_hatch")
    return (type(artist).__name__, *(str(getattr(artist, getter)()) for getter in getters if hasattr(artist, getter)))


def _legend_state(legend) -> tuple | None:
    if legend is None:
        return None
    # matplotlib keeps where a legend goes (loc, columns) in private attributes only
    return (legend.get_visible(), tuple(_text_state(text) for text in legend.get_texts()),
            tuple(_look(handle) for handle in legend.legend_handles), str(getattr(legend, "_loc", None)),
            getattr(legend, "_ncols", None), legend.get_frame_on(), tuple(legend.get_bbox_to_anchor().bounds))


def _titles(ax: Axes) -> list[Artist]:
    # matplotlib keeps the left and right titles in private attributes; the centre one is ax.title
    return [ax.title, *(getattr(ax, name) for name in ("_left_title", "_right_title") if hasattr(ax, name))]


def background_state(fig: Figure) -> tuple:
    """Everything the background shows; equal states draw equal backgrounds."""
    state = [tuple(fig.get_size_inches()), fig.dpi, tuple(_text_state(text) for text in fig.texts),
             tuple(_legend_state(legend) for legend in fig.legends)]
    for ax in fig.axes:
        state.append((ax.get_visible(), ax.axison, tuple(ax.get_position().bounds), ax.get_xlim(), ax.get_ylim(),
                      ax.get_xscale(), ax.get_yscale(), ax.get_xlabel(), ax.get_ylabel(),
                      _tick_state(ax.xaxis), _tick_state(ax.yaxis),
                      tuple(_text_state(title) for title in _titles(ax)), _legend_state(ax.get_legend())))
    return tuple(state)


class LayeredCanvas:
    """Renders ``figure`` to PNG, reusing the backgrounds of the last ``keep`` axes states.

    ``hits`` and ``misses`` count reused and freshly drawn backgrounds.
    """

    def __init__(self, figure: Figure, *, keep: int = 8):
        self.figure = figure
        self.canvas = FigureCanvasAgg(figure)
        self._keep = keep
        self._backgrounds: OrderedDict[tuple, object] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def forget(self) -> None:
        """Drop every kept background (the next render draws one afresh)."""
        self._backgrounds.clear()

    def png(self) -> bytes:
        """The figure as PNG bytes: a kept background for its axes state, then the foreground over it."""
        state = background_state(self.figure)
        background = self._backgrounds.get(state)
        if background is None:
            self.misses += 1
            background = self._draw_background()
            self._backgrounds[state] = background
            if len(self._backgrounds) > self._keep:
                self._backgrounds.popitem(last=False)  # the least recently used state
        else:
            self.hits += 1
            self._backgrounds.move_to_end(state)
            self.canvas.restore_region(background)
        self._draw_foreground()
        return self._encode()

    def _draw_background(self):
        hidden = [artist for artist in self._foreground() if artist.get_visible()]
        for artist in hidden:
            artist.set_visible(False)
        try:
            self.canvas.draw()
        finally:
            for artist in hidden:
                artist.set_visible(True)
        return self.canvas.copy_from_bbox(self.figure.bbox)

    def _foreground(self) -> Iterator[Artist]:
        for ax in self.figure.axes:
            yield from foreground_of(ax)

    def _draw_foreground(self) -> None:
        renderer = self.canvas.get_renderer()
        for ax in self.figure.axes:
            if ax.get_visible():
                for artist in sorted(foreground_of(ax), key=Artist.get_zorder):  # stable: ties keep their order
                    if artist.get_visible():
                        artist.draw(renderer)

    def _encode(self) -> bytes:
        width, height = self.canvas.get_width_height()
        image = Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
        image = image.convert("RGB")  # the figure is opaque: a quarter less to compress
        buffer = io.BytesIO()
        image.save(buffer, format="png", compress_level=PNG_COMPRESS_LEVEL)
        return buffer.getvalue()
