"""Speed of course_utils.divergences against scipy on inputs of 10⁶ elements.

Run: .venv/bin/python benchmarks/divergences_speed.py [--repeats 11] [--size 1000000] [--threads 1]
Each row times one of our functions and its scipy counterpart on the same data, alternating the
two within each repeat (so that a busy machine slows both alike), and reports the medians in ms
and the ratio ours/scipy (target: <= 1). Before timing, each pair is checked to agree (JS against
jensenshannon squared).

Input kinds: "numpy"; "torch", a CPU tensor that needs no gradient (our code runs the numpy
kernels on a zero-copy view); "torch+grad", a tensor that requires grad, so torch's own kernels
run and record the graph (forward pass only). scipy always gets the numpy array, and has no
gradient to offer, so the last kind shows the price of differentiability rather than a race.

Torch runs on one thread by default: scipy and numpy use one, so that is like for like, and on a
machine where other processes hold the cores a team of OpenMP threads waits at every barrier for
a descheduled member (elementwise ops 10x slower were seen on a busy 2-core machine).
--threads 0 keeps torch's own default.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy
import scipy.spatial.distance as ssd
import scipy.stats as st
import torch

from course_utils import divergences as dv


def median_ms(call: Callable[[], object], other: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time of ``call`` and of ``other``, run alternately ``repeats`` times (after a warm-up)."""
    call(), other()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        for f, bucket in ((call, times[0]), (other, times[1])):
            start = time.perf_counter()
            f()
            bucket.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times[0]), 1e3 * statistics.median(times[1])


def probabilities(rng: np.random.Generator, size: int) -> np.ndarray:
    """A probability vector of ``size`` entries, one in ten exactly 0 (the 0·log 0 case)."""
    p = rng.random(size)
    p[::10] = 0.0
    return p / p.sum()


def cases(size: int) -> list[tuple[str, str, Callable, Callable]]:
    """(function, input kind, ours, scipy's) for every row of the table."""
    rng = np.random.default_rng(0)
    p, q = probabilities(rng, size), probabilities(rng, size)
    q[1::10] = 1e-300  # q > 0 wherever p > 0 (else KL = inf, and scipy gets there just as fast)
    q /= q.sum()
    x, y = rng.normal(size=size), rng.standard_t(5, size=size)
    w_x, w_y = rng.random(size), rng.random(size)
    tp, tq, tx, ty, tw_x, tw_y = (torch.from_numpy(a) for a in (p, q, x, y, w_x, w_y))
    gp, gq, gx, gy, gw_x, gw_y = (t.clone().requires_grad_() for t in (tp, tq, tx, ty, tw_x, tw_y))
    rows = []
    for kind, (a, b) in (("numpy", (p, q)), ("torch", (tp, tq)), ("torch+grad", (gp, gq))):
        rows += [
            ("entropy", kind, lambda a=a: dv.entropy(a), lambda: st.entropy(p)),
            ("kl_divergence", kind, lambda a=a, b=b: dv.kl_divergence(a, b), lambda: st.entropy(p, q)),
            ("js_divergence", kind, lambda a=a, b=b: dv.js_divergence(a, b), lambda: ssd.jensenshannon(p, q) ** 2),
        ]
    for kind, (u, v, wu, wv) in (("numpy", (x, y, w_x, w_y)), ("torch", (tx, ty, tw_x, tw_y)),
                                 ("torch+grad", (gx, gy, gw_x, gw_y))):
        rows += [
            ("wasserstein_1d", kind, lambda u=u, v=v: dv.wasserstein_1d(u, v), lambda: st.wasserstein_distance(x, y)),
            ("wasserstein_1d weighted", kind, lambda u=u, v=v, wu=wu, wv=wv: dv.wasserstein_1d(u, v, wu, wv),
             lambda: st.wasserstein_distance(x, y, w_x, w_y)),
        ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=11, help="timed calls of each function (default 11, at least 7)")
    parser.add_argument("--size", type=int, default=10**6, help="elements per input (default 10^6)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0: torch's default)")
    args = parser.parse_args()
    if args.repeats < 7:
        parser.error("--repeats must be at least 7 (a median of fewer is too noisy to compare)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"{platform.processor() or platform.machine()}; {args.size:,} elements, median of {args.repeats}")
    print(f"{'function':<24} {'input':<10} {'ours ms':>9} {'scipy ms':>9} {'ours/scipy':>10}")
    for name, kind, ours, reference in cases(args.size):
        mine, theirs = float(torch.as_tensor(ours()).detach()), float(reference())
        if not np.isclose(mine, theirs, rtol=1e-9, atol=1e-12):
            raise SystemExit(f"{name} ({kind}) disagrees with scipy: {mine!r} vs {theirs!r}")
        ours_ms, scipy_ms = median_ms(ours, reference, args.repeats)
        print(f"{name:<24} {kind:<10} {ours_ms:9.2f} {scipy_ms:9.2f} {ours_ms / scipy_ms:10.2f}")


if __name__ == "__main__":
    main()
