"""Chapter 08 (Wasserstein distance and WGAN): the parallel lines, where only W₁ sees how far apart they are."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from course_utils.plotting import ACCENT_COLOR, DATA_COLOR, MODEL_COLOR
from course_utils.wgan_theory import parallel_lines
from course_utils.widgets.base import LiveFigure, slider

THETAS = np.linspace(-1.0, 1.0, 201)  # the distances on the right panel (θ = 0 is one of them)
INFINITE_AT = 1.45  # where the right panel draws KL = ∞ (its legend sits above)


def parallel_lines_explorer() -> LiveFigure:
    """Move the generator's line to x = θ: KL is ∞ and JS is log 2 for every θ ≠ 0; only W₁ = |θ| shrinks as
    the line comes home (Arjovsky et al. 2017, Example 1)."""
    curves = {name: [parallel_lines(float(t))[name] for t in THETAS] for name in ("W1", "JS", "KL")}

    def draw(fig: Figure, theta: float) -> str:
        lines, values = fig.axes
        lines.plot([0, 0], [0, 1], color=DATA_COLOR, lw=4, label="data P₀: x = 0")
        lines.plot([theta, theta], [0, 1], color=MODEL_COLOR, lw=4, label="generator P_θ: x = θ")
        lines.annotate("", xy=(theta, 0.5), xytext=(0, 0.5), arrowprops=dict(arrowstyle="<->", color="k"))
        lines.set(xlim=(-1.2, 1.2), ylim=(-0.1, 1.4), xlabel="x", ylabel="y ~ Uniform[0, 1]",
                  title="two segments θ apart")
        lines.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
        kl = [min(v, INFINITE_AT) for v in curves["KL"]]  # ∞ drawn at the top
        values.plot(THETAS, curves["W1"], color=ACCENT_COLOR, lw=2, label="W₁ = |θ|")
        values.plot(THETAS, curves["JS"], color=DATA_COLOR, lw=2, label="JS (log 2 for θ ≠ 0)")
        values.plot(THETAS, kl, color=MODEL_COLOR, lw=1.5, ls="--", label="KL (∞ for θ ≠ 0, drawn at the top)")
        here = parallel_lines(theta)
        values.plot([theta] * 3, [here["W1"], here["JS"], min(here["KL"], INFINITE_AT)], "o", color="k", ms=4)
        values.set(xlim=(-1.05, 1.05), ylim=(-0.05, 2.2), xlabel="θ", title="what each divergence says")
        values.legend(loc="upper center", fontsize=8, frameon=False)  # above the KL line, off every curve
        kl_text = "∞" if math.isinf(here["KL"]) else f"{here['KL']:.3f}"
        return (f"θ = {theta:+.2f}:   W₁ = {here['W1']:.3f},   JS = {here['JS']:.4f} nats (log 2 = {math.log(2):.4f}),"
                f"   KL(P₀‖P_θ) = {kl_text}")

    return LiveFigure({"theta": slider("distance θ", 0.5, -1.0, 1.0, 0.05)}, draw, ncols=2, width=4.6)
