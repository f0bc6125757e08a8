"""How fast the GAN lab trains while it redraws, against the same Session trained headless.

Run: .venv/bin/python benchmarks/gan_lab_speed.py [--seconds 8] [--repeats 3] [--loss gan] [--data ring]

For each repeat, alternating: the headless speed (``Session.advance`` in a loop, nothing drawn) and the
lab's (``GANLab`` playing in its thread, a picture every ``REDRAW_EVERY_S``), both for ``--seconds`` on the
same config. Prints medians: steps per second each way, their ratio (target >= 70%) and the lab's
redraws per second (target >= 2) and the median render time. Timings are in this process, without a
browser; tests/test_browser.py checks the lab in JupyterLab.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from course_utils.device import describe_device, get_device
from course_utils.training import Session
from course_utils.widgets.gan_lab import GANLab, lab_config


def headless_steps_per_s(config, seconds: float, device: str) -> float:
    session = Session(config, device=device)
    session.advance(5)  # warm-up
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        steps += session.advance(10)
    return steps / (time.perf_counter() - start)


def lab_speed(config_kwargs: dict, seconds: float, device: str) -> tuple[float, float, float]:
    """(steps/s, redraws/s, median render s) of a playing lab."""
    lab = GANLab(device=device, **config_kwargs)
    try:
        lab.step(5)
        while lab.session.step < 5:
            time.sleep(0.01)
        step0, renders0 = lab.session.step, lab.renders
        render_times = []
        lab.play()
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            time.sleep(0.05)
            render_times.append(lab.last_render_s)
        lab.pause()
        elapsed = time.perf_counter() - start
        return (lab.session.step - step0) / elapsed, (lab.renders - renders0) / elapsed, statistics.median(render_times)
    finally:
        lab.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loss", default="gan")
    parser.add_argument("--data", default="ring")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    kwargs = dict(data=args.data, loss=args.loss, steps=1_000_000)
    config = lab_config(**kwargs)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {describe_device(get_device(args.device))}; {args.loss} on {args.data}, width {config.hidden}, "
          f"batch {config.batch_size}, {args.seconds:g} s per run, {args.repeats} repeats")
    headless, lab, redraws, renders = [], [], [], []
    for _ in range(args.repeats):
        headless.append(headless_steps_per_s(config, args.seconds, args.device))
        steps, per_s, render = lab_speed(kwargs, args.seconds, args.device)
        lab.append(steps)
        redraws.append(per_s)
        renders.append(render)
    ratio = statistics.median(ours / plain for ours, plain in zip(lab, headless, strict=True))
    print(f"headless: {statistics.median(headless):,.0f} steps/s   lab: {statistics.median(lab):,.0f} steps/s   "
          f"ratio {ratio:.0%} (target >= 70%)")
    print(f"lab redraws: {statistics.median(redraws):.1f} per s (target >= 2), "
          f"render {1e3 * statistics.median(renders):.0f} ms")


if __name__ == "__main__":
    main()
