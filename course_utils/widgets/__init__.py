"""Interactive figures for the chapters: one module per chapter, one builder per figure.

A builder wires ipywidgets controls to functions from the tested modules and draws with
``course_utils.plotting``; it holds no math of its own. Every builder returns a
:class:`~course_utils.widgets.base.LiveFigure`, which a notebook cell displays by returning it.
"""

from course_utils.widgets.base import LiveFigure

__all__ = ["LiveFigure"]
