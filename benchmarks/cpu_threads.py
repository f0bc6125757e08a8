"""How many CPU threads should torch use for the course's small models? (course_utils.device.CPU_THREADS)

    python benchmarks/cpu_threads.py [--repeats 3] [--busy 1]

Times a 600-step ring GAN and a 300-step digit VAE (the size of a chapter's runs) with torch on 1 thread and
on all cores, while --busy other processes spin (a student's other notebook; 0 for a quiet machine). Prints
the median of --repeats runs, the ratio and the load average. Run it on a machine with nothing else running.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import statistics
import time

import torch

from course_utils.training import GANConfig, VAEConfig, train_gan, train_vae


def _spin(stop) -> None:  # a busy process: pure Python, never sleeps
    while not stop.is_set():
        sum(range(10_000))


@contextlib.contextmanager
def busy_processes(n: int):
    """``n`` processes spinning on the CPU while the block runs (a student's other notebook, the lab)."""
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n)]
    for p in spinners:
        p.start()
    try:
        time.sleep(1.0 if n else 0.0)
        yield
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=5)


def _time(threads: int, repeats: int) -> dict[str, float]:
    torch.set_num_threads(threads)
    runs = {"GAN, ring, 600 steps": (train_gan, GANConfig.preset("gan", "ring", steps=600, eval_every=600)),
            "VAE, digits, 300 steps": (train_vae, VAEConfig.preset("digits", steps=300, eval_every=300))}
    out = {}
    for name, (train, config) in runs.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            train(config, device="cpu", progress=False)
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=1, help="spinning processes beside the runs")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    with busy_processes(args.busy):
        one, many = _time(1, args.repeats), _time(cores, args.repeats)
    print(f"{args.busy} busy process(es), {cores} cores, load {os.getloadavg()[0]:.1f}, median of {args.repeats}")
    for name in one:
        print(f"  {name:<24} 1 thread {one[name]:6.2f} s   {cores} threads {many[name]:6.2f} s   "
              f"ratio {many[name] / one[name]:.2f}")


if __name__ == "__main__":
    main()
