"""Median time of a widget update: control change -> new figure (draw + PNG), in Python.

Run: .venv/bin/python benchmarks/widget_latency.py [--repeats 5]
Each control of each widget is set to each of a few values, `repeats` times over; the table gives
the median and the 90th percentile of `LiveFigure.last_update_s` per widget (target: median <= 100 ms).
"""

from __future__ import annotations

import argparse
import platform
import statistics

import torch

from course_utils.data import load_digits
from course_utils.widgets import cross_entropy, densities, kl, welcome


def control_values(control) -> list:
    """A few valid values of a control, different from its current one."""
    options = getattr(control, "options", None)
    if options:
        values = [o[1] if isinstance(o, tuple) else o for o in options]
        return [v for v in values if v != control.value][:3]
    lo, hi = control.min, control.max
    if getattr(control, "base", None):  # log slider: min/max are exponents
        return [control.base ** (lo + (hi - lo) * f) for f in (0.2, 0.5, 0.8)]
    picks = [lo + (hi - lo) * f for f in (0.2, 0.5, 0.8)]
    return [type(control.value)(round(v)) if isinstance(control.value, int) else v for v in picks]


def measure(live, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        for control in live.controls.values():
            start_value = control.value
            for value in control_values(control) + [start_value]:
                control.value = value
                times.append(live.last_update_s)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="passes over every control (default 5)")
    args = parser.parse_args()
    digits = load_digits()
    builders = {
        "00 digit_generator": lambda: welcome.digit_generator(digits),
        "01 density_vs_probability": densities.density_vs_probability,
        "01 histogram_explorer": densities.histogram_explorer,
        "01 inverse_cdf_sampler": densities.inverse_cdf_sampler,
        "01 latent_noise_explorer": densities.latent_noise_explorer,
        "03 loss_gradient_explorer": cross_entropy.loss_gradient_explorer,
        "03 training_race": cross_entropy.training_race,
        "04 discrete_kl_explorer": kl.discrete_kl_explorer,
        "04 forward_reverse_fit": kl.forward_reverse_fit,
    }
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'widget':<30} {'updates':>7} {'median ms':>10} {'p90 ms':>8}")
    for name, build in builders.items():
        live = build()
        times = sorted(measure(live, args.repeats))
        p90 = times[int(0.9 * (len(times) - 1))]
        print(f"{name:<30} {len(times):>7} {1e3 * statistics.median(times):>10.1f} {1e3 * p90:>8.1f}")


if __name__ == "__main__":
    main()
