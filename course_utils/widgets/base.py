"""The one mechanism behind every course widget: controls that redraw a figure."""

from __future__ import annotations

import base64
import html
import time
from collections.abc import Callable, Mapping

import ipywidgets as widgets
import matplotlib
from matplotlib.figure import Figure

from course_utils.plotting import FAST_STYLE, clear_data, new_figure
from course_utils.widgets._canvas import LayeredCanvas

# draw(fig, **control_values) fills fig's axes and returns the readout: the numbers to show beside the figure
DrawFunction = Callable[..., "str | None"]
ERROR_COLOR = "#C44E52"


class LiveFigure:
    """Controls above a matplotlib figure; any control change redraws the figure.

    The figure is rendered to a PNG inside an ``ipywidgets.Output`` rather than through a
    plotting backend: it then looks the same in JupyterLab, in VS Code and in a test without a
    browser. One update costs one ``draw`` call plus a render (``last_draw_s``, ``last_render_s``);
    the render draws the axes, ticks and labels only when they changed (:mod:`._canvas`), so a
    ``draw`` that keeps its axes limits fixed is fast.

    Parameters
    ----------
    controls : mapping of name -> ipywidgets value widget
        Their values are passed to ``draw`` as keyword arguments of the same names.
    draw : callable ``draw(fig, **values) -> str | None``
        Draws into the axes of ``fig`` (created with ``ncols`` axes, cleared before each call) and
        returns the *readout*: the numbers of this update, one line per panel, shown as text above
        the figure (``readout``). Numbers belong there rather than in titles and legends: the
        browser draws text for free and the student can copy it, while a title that changes makes
        the figure redraw its axes (see :mod:`._canvas`). A ``ValueError`` from ``draw`` (controls
        set to something the math refuses) is shown in the readout, over an empty figure.
    ncols : int
        Number of side-by-side axes.
    """

    def __init__(self, controls: Mapping[str, widgets.ValueWidget], draw: DrawFunction, *, ncols: int = 1,
                 width: float = 4.2, height: float = 3.2, dpi: int = 80):
        self.controls = dict(controls)
        self._draw = draw
        self._shape = dict(ncols=ncols, width=width, height=height)
        self.figure: Figure = new_figure(**self._shape)
        self.figure.set_dpi(dpi)
        self.canvas = LayeredCanvas(self.figure)
        self.output = widgets.Output(layout=widgets.Layout(min_height=f"{int(height * dpi)}px"))
        self.readout_widget = widgets.HTML(layout=widgets.Layout(margin="0 0 0 8px"))
        self.readout = ""  # the text of the readout_widget, as ``draw`` returned it
        self.renders = 0  # how many times the figure was drawn (tests read it)
        self.last_update_s = float("nan")  # seconds the last control change took, draw + PNG
        self.last_draw_s = float("nan")  # of which in ``draw`` (the computation and the plot calls)
        self.last_render_s = float("nan")  # of which rendering the PNG
        bar = widgets.HBox(list(self.controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
        self.widget = widgets.VBox([bar, self.readout_widget, self.output])
        for control in self.controls.values():
            control.observe(self.update, names="value")
        self.update()

    def values(self) -> dict[str, object]:
        """The controls' current values, by name."""
        return {name: control.value for name, control in self.controls.items()}

    def update(self, change: object = None) -> None:
        """Redraw the figure from the current control values (the callback of every control)."""
        start = time.perf_counter()
        with matplotlib.rc_context(FAST_STYLE):
            clear_data(self.figure)  # same axes and ticks, new data
            try:
                self._show_readout(self._draw(self.figure, **self.values()))
            except ValueError as error:  # controls set to something the math refuses: say why
                clear_data(self.figure)
                self._show_readout(str(error), color=ERROR_COLOR)
            drawn = time.perf_counter()
            png = self.canvas.png()
        # Setting Output.outputs directly replaces the picture in one message, without flicker,
        # and works outside a kernel too (Output's context manager needs IPython).
        self.output.outputs = ({
            "output_type": "display_data",
            "data": {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": "<figure>"},
            "metadata": {},
        },)
        self.renders += 1
        end = time.perf_counter()
        self.last_update_s, self.last_draw_s, self.last_render_s = end - start, drawn - start, end - drawn

    def _show_readout(self, text: str | None, color: str | None = None) -> None:
        self.readout = text or ""
        lines = "<br>".join(html.escape(line) for line in self.readout.splitlines())
        style = f"color: {color}; " if color else ""
        self.readout_widget.value = f'<div style="{style}font-size: 13px; line-height: 1.35">{lines}</div>'

    @property
    def png(self) -> bytes:
        """The PNG currently shown."""
        return base64.b64decode(self.output.outputs[0]["data"]["image/png"])

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def slider(description: str, value, minimum, maximum, step, **kwargs) -> widgets.Widget:
    """A float or int slider that only fires on release (no flood of redraws while dragging)."""
    integers = all(isinstance(v, int) for v in (value, minimum, maximum, step))
    kind = widgets.IntSlider if integers else widgets.FloatSlider
    return kind(value=value, min=minimum, max=maximum, step=step, description=description,
                continuous_update=False, style={"description_width": "initial"}, **kwargs)


def log_slider(description: str, value: float, low_exp: float, high_exp: float, **kwargs) -> widgets.FloatLogSlider:
    """A slider over 10**low_exp .. 10**high_exp."""
    return widgets.FloatLogSlider(value=value, base=10, min=low_exp, max=high_exp, step=0.05, description=description,
                                  continuous_update=False, style={"description_width": "initial"}, **kwargs)


def choice(description: str, options, value=None) -> widgets.Dropdown:
    """A dropdown of named options."""
    options = list(options)
    return widgets.Dropdown(options=options, value=options[0] if value is None else value, description=description,
                            style={"description_width": "initial"})


def selection_slider(description: str, options, value) -> widgets.SelectionSlider:
    """A slider over a fixed list of values (e.g. sample sizes 10, 100, 1000, ...)."""
    return widgets.SelectionSlider(options=list(options), value=value, description=description,
                                   continuous_update=False, style={"description_width": "initial"})
