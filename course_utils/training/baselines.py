"""The scores a generative model must beat: mode coverage of noise fitted to the data and of an untrained
generator, on the ring and the grid, with the same protocol and sample count as a run's evaluations.

Printed beside every mode-coverage table (chapters 07 and 08, the lab's readout, ``course bench``): on the
grid, uniform noise "captures" most of the 25 modes, so a mode count alone proves nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from course_utils.evidence import summarize
from course_utils.metrics import ModeCoverage, mode_coverage, noise_like
from course_utils.training.batches import load_training_data
from course_utils.training.config import COVERAGE_SAMPLES, MODE_DATA, GANConfig
from course_utils.training.sampling import generate
from course_utils.training.steps import build_gan

BASELINES = {  # name -> what it is, for a table's rows
    "uniform": "uniform over the data's box",
    "gaussian": "Gaussian fitted to the data",
    "untrained": "untrained generator",
}


def baseline_samples(name: str, config: GANConfig, seed: int, n: int = COVERAGE_SAMPLES) -> torch.Tensor:
    """``n`` samples of baseline ``name`` (a key of :data:`BASELINES`) for ``config``'s data, drawn with ``seed``.

    The noise is fitted to a training set drawn with ``seed`` (as a run with that seed trains on); the
    untrained generator is ``config``'s generator at its initial weights for ``seed``.
    """
    if name not in BASELINES:
        raise ValueError(f"name must be one of {', '.join(BASELINES)}; got {name!r}")
    if type(seed) is not int or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    rng = torch.Generator().manual_seed(seed + 1)  # the stream a run's evaluation draws from
    if name == "untrained":
        with torch.random.fork_rng(devices=[]):  # build_gan initialises from the global stream: leave it as it was
            torch.manual_seed(seed)
            generator, _ = build_gan(config, data_dim=2)
        return generate(generator, n, rng=rng, noise=config.noise)
    points, _ = load_training_data(config.data, config.n_data, seed)
    return noise_like(points, n, name, generator=rng)


def mode_coverage_baselines(config: GANConfig, seeds: Iterable[int] = (0, 1, 2)) -> dict[str, list[ModeCoverage]]:
    """Mode coverage of each baseline on ``config.data`` (ring or grid), one entry per seed."""
    if config.data not in MODE_DATA:
        raise ValueError(f"mode coverage is defined on {', '.join(MODE_DATA)}; got data={config.data!r}")
    centers_fn, std = MODE_DATA[config.data]
    centers = centers_fn()
    return {name: [mode_coverage(baseline_samples(name, config, seed), centers, std) for seed in seeds]
            for name in BASELINES}


def format_coverage(name: str, coverages: list[ModeCoverage], n_modes: int) -> str:
    """One table row: mean ± se over the entries of modes, % high quality and reverse KL ('—' where none is
    high quality, so the reverse KL is undefined)."""
    modes = summarize([c.modes for c in coverages])
    quality = summarize([100 * c.fraction_high_quality for c in coverages])
    kls = [c.reverse_kl for c in coverages if c.reverse_kl == c.reverse_kl]  # drop nan
    kl = "—" if not kls else f"{summarize(kls).mean:.3f} ± {summarize(kls).se:.3f}"
    return (f"{name:<32} {modes.mean:5.1f} ± {modes.se:3.1f} /{n_modes:<3} {quality.mean:5.1f} ± {quality.se:3.1f} %"
            f"   {kl}")
