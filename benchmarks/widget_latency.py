"""Median time of a widget update: control change -> new figure (draw + PNG), in Python.

Run: .venv/bin/python benchmarks/widget_latency.py [--repeats 5] [--only NAME]
Every widget builder of the course is timed, found by :func:`discover_builders` (no list to keep up to
date: a new chapter's widget module is timed as soon as it exists). Each control of each widget is set to
each of a few values, `repeats` times over; the table gives the median and the 90th percentile of
`LiveFigure.last_update_s` per widget (target: median <= 65 ms here, so that it stays under 100 ms on a
machine 1.5x slower), that median divided by a reference measured in the same run (an empty one-panel
figure's draw and PNG encode: a ratio compares machines), the split between the widget's ``draw`` call and
the render, and how often the render reused a kept background (``widgets._canvas``).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import platform
import statistics
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType

import torch

import course_utils.widgets
from course_utils.data import Digits, load_digits
from course_utils.models import VAE
from course_utils.plotting import figure_png, new_figure
from course_utils.variational import BetaSweep, score_beta_sweep
from course_utils.weight_sharing import DigitModels, train_digit_models
from course_utils.widgets.base import LiveFigure

# The modules of course_utils.widgets that hold no LiveFigure builders: the LiveFigure mechanism and its
# controls, and the GAN lab (a training loop, not a redraw per control: benchmarks/gan_lab_speed.py times it).
NOT_BUILDER_MODULES = frozenset({"base", "gan_lab"})
TARGET_MS = 65  # a median this low stays under 100 ms on machines 1.5x slower
# What to pass to a builder's required parameters, by their annotated type (welcome.digit_generator
# takes the digits). A new kind of input needs one line here; the discovery test says which.
def small_vae(latent_dim: int = 2, beta: float = 1.0, steps: int = 400) -> VAE:
    """A VAE trained for a few seconds on the digits (chapter 09's widgets draw what any trained one gives)."""
    from course_utils.training import VAEConfig, train_vae_models

    config = VAEConfig.preset("digits", latent_dim=latent_dim, beta=beta, steps=steps, eval_every=steps, hidden=64,
                              lr=3e-3)
    return train_vae_models(config, device="cpu", progress=False)[1]["vae"]


def small_beta_sweep() -> BetaSweep:
    betas = (0.5, 1.0, 4.0)
    return score_beta_sweep(load_digits(), betas, tuple(small_vae(8, beta, steps=200) for beta in betas))


INPUTS: dict[type, Callable[[], object]] = {Digits: load_digits,
                                            DigitModels: lambda: train_digit_models(load_digits()),
                                            VAE: small_vae, BetaSweep: small_beta_sweep}


def widget_modules(package: ModuleType = course_utils.widgets) -> list[ModuleType]:
    """Every builder module of ``package`` (``course_utils.widgets``): all but ``base`` and private ones."""
    names = sorted(info.name for info in pkgutil.iter_modules(package.__path__)
                   if not info.ispkg and not info.name.startswith("_") and info.name not in NOT_BUILDER_MODULES)
    return [importlib.import_module(f"{package.__name__}.{name}") for name in names]


def returns_live_figure(function: Callable) -> bool:
    """Is ``function`` annotated to return a LiveFigure (or a subclass)? String annotations are resolved."""
    try:
        returned = typing.get_type_hints(function).get("return")
    except Exception:  # an annotation that does not resolve at runtime: read its text
        text = str(inspect.signature(function).return_annotation)
        return text.rsplit(".", 1)[-1].strip("'\"") == LiveFigure.__name__
    return inspect.isclass(returned) and issubclass(returned, LiveFigure)


def builders_of(module: ModuleType) -> dict[str, Callable[..., LiveFigure]]:
    """The builders of one widget module: public functions defined in it that return a LiveFigure.

    Helpers the module imports (``slider``, ``plot_pdf``) are defined elsewhere and are skipped, and so are
    private functions and functions that return something else.
    """
    return {f"{module.__name__.rsplit('.', 1)[-1]}.{name}": value for name, value in vars(module).items()
            if inspect.isfunction(value) and value.__module__ == module.__name__
            and not name.startswith("_") and returns_live_figure(value)}


def discover_builders(package: ModuleType = course_utils.widgets) -> dict[str, Callable[..., LiveFigure]]:
    """``"module.builder" -> builder`` for every widget module of the course, sorted by name."""
    found: dict[str, Callable[..., LiveFigure]] = {}
    for module in widget_modules(package):
        found.update(builders_of(module))
    return dict(sorted(found.items()))


def required_inputs(builder: Callable) -> dict[str, type | None]:
    """The parameters ``builder`` needs a value for (no default), with their annotated types."""
    try:
        hints = typing.get_type_hints(builder)
    except Exception:  # an annotation that does not resolve: the parameter shows up as missing
        hints = {}
    return {name: hints.get(name) for name, parameter in inspect.signature(builder).parameters.items()
            if parameter.default is inspect.Parameter.empty
            and parameter.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def missing_inputs(builder: Callable) -> list[str]:
    """The required parameters of ``builder`` that :data:`INPUTS` has no value for, as ``name: type``."""
    return [f"{name}: {getattr(kind, '__name__', kind)}" for name, kind in required_inputs(builder).items()
            if kind not in INPUTS]


def build(builder: Callable[..., LiveFigure], cache: dict[type, object]) -> LiveFigure:
    """Call ``builder`` with a value of each required parameter's type, made once per run."""
    kwargs = {}
    for name, kind in required_inputs(builder).items():
        if kind not in cache:
            cache[kind] = INPUTS[kind]()
        kwargs[name] = cache[kind]
    return builder(**kwargs)


def control_values(control) -> list:
    """A few valid values of a control, different from its current one."""
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        return [v for v in values if v != control.value][:3]
    if isinstance(control.value, bool):  # a checkbox or toggle
        return [not control.value]
    lo, hi = control.min, control.max
    if getattr(control, "base", None):  # log slider: min/max are exponents
        return [control.base ** (lo + (hi - lo) * f) for f in (0.2, 0.5, 0.8)]
    picks = [lo + (hi - lo) * f for f in (0.2, 0.5, 0.8)]
    return [type(control.value)(round(v)) if isinstance(control.value, int) else v for v in picks]


@dataclass
class Timings:
    """Seconds per update of one widget: in total, in its ``draw`` call, and rendering the PNG."""

    update: list[float] = field(default_factory=list)
    draw: list[float] = field(default_factory=list)
    render: list[float] = field(default_factory=list)


def measure(live: LiveFigure, repeats: int) -> Timings:
    """Set every control to a few values and back, ``repeats`` times over; the time of each update."""
    timings = Timings()
    for _ in range(repeats):
        for control in live.controls.values():
            start_value = control.value
            for value in control_values(control) + [start_value]:
                control.value = value
                timings.update.append(live.last_update_s)
                timings.draw.append(live.last_draw_s)
                timings.render.append(live.last_render_s)
    return timings


def reference_seconds(repeats: int = 15) -> float:
    """The fixed yardstick of this machine: the median time to draw and PNG-encode an empty one-panel figure.

    Medians divided by it compare across machines (a slower machine is slower at both).
    """
    figure = new_figure(1)
    figure_png(figure)  # the first draw loads fonts
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        figure_png(figure)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="passes over every control (default 5)")
    parser.add_argument("--only", default="", metavar="NAME",
                        help="time only the builders whose 'module.builder' name contains NAME (e.g. densities)")
    args = parser.parse_args()
    builders = {name: b for name, b in discover_builders().items() if args.only in name}
    if not builders:
        sys.exit(f"no widget builder matches --only {args.only!r}; found: {', '.join(discover_builders())}")
    unbuildable = {name: missing_inputs(b) for name, b in builders.items() if missing_inputs(b)}
    if unbuildable:
        sys.exit("no value to pass to " + "; ".join(f"{name}({', '.join(m)})" for name, m in unbuildable.items())
                 + f": add the type to INPUTS in {__file__}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    reference = reference_seconds()
    print(f"reference (empty one-panel figure, draw + PNG): {1e3 * reference:.1f} ms; "
          f"target: median <= {TARGET_MS} ms on a quiet 2-core machine\n")
    print(f"{'widget':<40} {'updates':>7} {'median ms':>10} {'÷ ref':>6} {'p90 ms':>8} {'draw ms':>8} "
          f"{'render ms':>9} {'reused bg':>9}")
    cache: dict[type, object] = {}
    for name, builder in builders.items():
        live = build(builder, cache)
        hits, misses = live.canvas.hits, live.canvas.misses
        timings = measure(live, args.repeats)
        times = sorted(timings.update)
        p90 = times[int(0.9 * (len(times) - 1))]
        reused = (live.canvas.hits - hits) / max(1, live.canvas.hits - hits + live.canvas.misses - misses)
        median = statistics.median(times)
        print(f"{name:<40} {len(times):>7} {1e3 * median:>10.1f} {median / reference:>6.2f} {1e3 * p90:>8.1f} "
              f"{1e3 * statistics.median(timings.draw):>8.1f} {1e3 * statistics.median(timings.render):>9.1f} "
              f"{reused:>9.0%}")


if __name__ == "__main__":
    main()
