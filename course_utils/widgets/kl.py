"""Chapter 04 (KL divergence): the discrete-distribution editor and the forward/reverse KL fit."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np
from matplotlib.figure import Figure

from course_utils import divergences
from course_utils.distributions import mixture, normalise
from course_utils.kl_fitting import fit_forward_kl, fit_reverse_kl, kl_on_grid
from course_utils.plotting import DATA_COLOR, MODEL_COLOR, plot_pdf
from course_utils.widgets.base import LiveFigure, slider

CATEGORIES = 4
FIT_RANGE = (-8.0, 8.0)
# Each mode has σ = 0.6, so no density here exceeds 1/(0.6·√(2π)) = 0.665; the legend goes above that.
DENSITY_LIMITS = (0.0, 1.05)


def _in_rows(live: LiveFigure, rows: list[tuple[str, list[str]]]) -> LiveFigure:
    """Lay ``live``'s controls out one labelled row per group (names of controls), above the figure."""
    boxes = [widgets.HBox([widgets.HTML(label, layout=widgets.Layout(width="230px")),
                           *(live.controls[name] for name in names)]) for label, names in rows]
    live.widget = widgets.VBox([*boxes, live.readout_widget, live.output])
    return live


def discrete_kl_explorer() -> LiveFigure:
    """Edit p and q (weights, each row normalised; the bars show the result) and read H(p), H(p, q), both KLs, JS."""

    def draw(fig: Figure, **weights: float) -> str:
        ax = fig.axes[0]
        p = normalise([weights[f"p{k}"] for k in range(CATEGORIES)])  # all sliders at 0: LiveFigure shows why
        q = normalise([weights[f"q{k}"] for k in range(CATEGORIES)])
        positions = np.arange(CATEGORIES)
        for values, shift, color, name in ((p, -0.2, DATA_COLOR, "p"), (q, 0.2, MODEL_COLOR, "q")):
            bars = ax.bar(positions + shift, values.numpy(), width=0.4, color=color, label=f"{name} (normalised)")
            ax.bar_label(bars, fmt="%.2f", fontsize=8)  # the probability drawn, not the slider's weight
        ax.set_xticks(positions, [f"x{k}" for k in positions])
        ax.set_ylim(0, 1.15)
        ax.legend(loc="upper right")
        values = {
            "H(p)": divergences.entropy(p), "H(p, q)": divergences.cross_entropy(p, q),
            "KL(p‖q)": divergences.kl_divergence(p, q), "KL(q‖p)": divergences.kl_divergence(q, p),
            "JS": divergences.js_divergence(p, q),
        }
        ax.set_title("p and q, each normalised to sum to 1")
        return "   ".join(f"{name} = {float(v):.3f}" for name, v in values.items()) + "   (nats)"

    controls = {f"{name}{k}": slider(f"x{k}", value, 0.0, 1.0, 0.05, layout=widgets.Layout(width="190px"))
                for name, start in (("p", (0.4, 0.3, 0.2, 0.1)), ("q", (0.25, 0.25, 0.25, 0.25)))
                for k, value in enumerate(start)}
    live = LiveFigure(controls, draw, width=8.0)
    return _in_rows(live, [(f"<b>{name}</b>: weights, divided by their sum", [f"{name}{k}" for k in range(CATEGORIES)])
                           for name in ("p", "q")])


def forward_reverse_fit() -> LiveFigure:
    """One Gaussian fitted to a two-mode mixture by KL(p‖q) (covers both modes) and by KL(q‖p) (picks one)."""

    def draw(fig: Figure, separation: float, left_weight: float, reverse_start: float) -> str:
        p = mixture([left_weight, 1 - left_weight], [-separation / 2, separation / 2], [0.6, 0.6])
        forward = fit_forward_kl(p)
        reverse = fit_reverse_kl(p, reverse_start)
        ax = fig.axes[0]
        plot_pdf(ax, p, FIT_RANGE, label="p: the two-mode mixture", color="k", lw=2)
        plot_pdf(ax, forward, FIT_RANGE, label="argmin KL(p‖q): the forward fit", color=DATA_COLOR)
        plot_pdf(ax, reverse, FIT_RANGE, label="argmin KL(q‖p): the reverse fit", color=MODEL_COLOR)
        ax.axvline(reverse_start, color=MODEL_COLOR, lw=0.6, ls=":")
        ax.set_ylim(*DENSITY_LIMITS)
        ax.set_title("one Gaussian q fitted to p, by each KL")
        ax.legend(loc="upper left")  # above every peak: the tallest density here is 0.67
        return (f"forward fit covers both modes: μ = {forward.loc.item():+.2f}, σ = {forward.scale.item():.2f}, "
                f"KL(p‖q) = {kl_on_grid(p, forward, FIT_RANGE):.2f}\n"
                f"reverse fit from x = {reverse_start:+.1f} settles at μ = {reverse.loc.item():+.2f}, "
                f"σ = {reverse.scale.item():.2f}, KL(q‖p) = {kl_on_grid(reverse, p, FIT_RANGE):.2f}")

    wide = dict(layout=widgets.Layout(width="420px"))  # ipywidgets' default 300 px left a 90 px track
    controls = {
        "separation": slider("mode separation", 4.0, 0.0, 7.0, 0.25, **wide),
        "left_weight": slider("weight of the left mode", 0.3, 0.05, 0.95, 0.05, **wide),
        "reverse_start": slider("reverse fit starts at", 1.0, -5.0, 5.0, 0.25, **wide),
    }
    return LiveFigure(controls, draw, width=8.0)
