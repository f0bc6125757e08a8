"""The widget-latency benchmark finds every widget by itself (benchmarks/widget_latency.py; no timing here)."""

from __future__ import annotations

import importlib
import pkgutil

import course_utils.widgets
from course_utils.widgets.base import slider


def widget_module_names(latency) -> list[str]:
    """Every module file in course_utils/widgets/ but the benchmark's NOT_BUILDER_MODULES and private ones."""
    return sorted(info.name for info in pkgutil.iter_modules(course_utils.widgets.__path__)
                  if not info.name.startswith("_") and info.name not in latency.NOT_BUILDER_MODULES)


def test_every_widget_module_is_timed(latency) -> None:
    """Does the benchmark find at least one builder in each widget module, and nothing in base.py?"""
    found = latency.discover_builders()
    modules = {name.split(".")[0] for name in found}
    missing = sorted(set(widget_module_names(latency)) - modules)
    assert not missing, (
        f"no builder found in course_utils/widgets/{{{', '.join(missing)}}}.py: a builder is a public function "
        "defined in the module and annotated `-> LiveFigure`")
    assert "base" not in modules


def test_only_builders_are_discovered(latency) -> None:
    """Are imported helpers (slider, plot_pdf), private functions and non-figures left out?"""
    for name, builder in latency.discover_builders().items():
        module, function = name.split(".")
        assert builder.__module__ == f"course_utils.widgets.{module}", name
        assert not function.startswith("_"), name
        assert latency.returns_live_figure(builder), name
    densities = latency.builders_of(importlib.import_module("course_utils.widgets.densities"))
    assert "densities.histogram_explorer" in densities
    assert not any(name.endswith((".slider", ".plot_pdf", ".sample")) for name in densities)
    assert not latency.returns_live_figure(slider)


def test_every_builder_can_be_called(latency) -> None:
    """Does the benchmark know a value for every required parameter of every builder (INPUTS)?"""
    unbuildable = {name: latency.missing_inputs(b) for name, b in latency.discover_builders().items()
                   if latency.missing_inputs(b)}
    assert not unbuildable, (
        f"the benchmark cannot call {unbuildable}: give the parameter a default, or add its type to INPUTS "
        "in benchmarks/widget_latency.py")

