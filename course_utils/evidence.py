"""Is a measured effect real? A chapter's claim against the baseline that would also pass it, over seeds.

A sentence such as "the plain GAN collapses" is evidence only if it separates the model from what noise or
an untrained model scores on the same statistic. :func:`compare` takes the statistic of the claim and of
its baseline, one value per seed, and says whether the two are apart by more than the seeds' spread; the
chapters print :func:`summarize`'s ``mean ± se`` beside each other, and ``tests/claims/`` asserts
:attr:`Comparison.holds` at each chapter's own profile (STYLE.md 24).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SeedSummary:
    """One statistic over seeds."""

    values: tuple[float, ...]  # one value per seed, in seed order
    mean: float
    se: float  # standard error of the mean: sample sd (n − 1) / √n; 0 for one value

    @property
    def n(self) -> int:
        return len(self.values)

    def __str__(self) -> str:
        return f"{self.mean:.3g} ± {self.se:.2g} (n = {self.n})"


def _as_values(name: str, values: Sequence[float]) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be a sequence of numbers, one per seed; got {values!r}") from error
    if not out or not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name} must hold at least one finite number per seed; got {out!r}")
    return out


def summarize(values: Sequence[float]) -> SeedSummary:
    """Mean and standard error of ``values`` (one per seed)."""
    values = _as_values("values", values)
    n = len(values)
    mean = math.fsum(values) / n
    var = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    return SeedSummary(values, mean, math.sqrt(var / n))


FEW_SEEDS = 10  # below this many seeds a side, Comparison.holds also asks that no seed contradicts the claim


@dataclass(frozen=True)
class Comparison:
    """A claim's statistic against its baseline's, over seeds."""

    claim: SeedSummary
    baseline: SeedSummary
    direction: int  # +1: the claim says its statistic is larger than the baseline's; −1: smaller
    paired: bool  # per-seed differences (the same seeds, data and budget on both sides)
    difference: SeedSummary  # claim − baseline: per seed if paired, else of the means (se combined)
    z: float  # direction · difference / its se (inf when the se is 0 and the difference is not)
    separated: bool  # every claim seed beyond every baseline seed (paired: every seed's difference)
    min_z: float  # the z the comparison asked for

    @property
    def holds(self) -> bool:
        """The effect has the claimed sign and clears ``min_z`` standard errors; with fewer than
        :data:`FEW_SEEDS` seeds on a side, no seed may contradict it either (a standard error from three
        values is itself noisy). With many seeds one contrary seed is expected noise, and z alone decides."""
        few = min(self.claim.n, self.baseline.n) < FEW_SEEDS
        return self.z >= self.min_z and (self.separated or not few)

    def __str__(self) -> str:
        sign = ">" if self.direction > 0 else "<"
        verdict = "holds" if self.holds else "NOT shown"
        return (f"{self.claim} {sign} {self.baseline}: difference {self.difference.mean:+.3g} "
                f"({self.z:.1f} se{', every seed' if self.separated else ''}) -> {verdict}")


def compare(claim: Sequence[float], baseline: Sequence[float], *, larger: bool = True, paired: bool = False,
            min_z: float = 3.0) -> Comparison:
    """Does the claim's statistic beat the baseline's by more than the seeds' spread?

    Parameters
    ----------
    claim, baseline : sequence of float
        The statistic, one value per seed (e.g. the reverse KL of three GAN runs, and of three noise draws).
    larger : bool
        True when the claim is "larger than the baseline", False for "smaller".
    paired : bool
        The i-th values share seed, data and budget (e.g. a CNN with and without pooling on seed i): the
        per-seed differences are compared with 0, which removes what the seeds share. Needs equal lengths.
    min_z : float
        Standard errors the mean difference must clear (3 by default: with three seeds a 1-in-20 fluke
        needs t > 4.3, so with fewer than FEW_SEEDS seeds ``separated`` is also asked for: no seed may contradict
        the claim).

    Returns
    -------
    Comparison
        ``holds`` is the verdict; ``str()`` is one line for a chapter's output.
    """
    if not (isinstance(min_z, (int, float)) and math.isfinite(min_z) and min_z >= 0):
        raise ValueError(f"min_z must be a number >= 0; got {min_z!r}")
    a, b = summarize(claim), summarize(baseline)
    direction = 1 if larger else -1
    if paired:
        if a.n != b.n:
            raise ValueError(f"paired=True needs one baseline value per claim value; got {a.n} and {b.n}")
        difference = summarize([x - y for x, y in zip(a.values, b.values, strict=True)])
        separated = all(direction * d > 0 for d in difference.values)
    else:
        se = math.hypot(a.se, b.se)
        difference = SeedSummary((a.mean - b.mean,), a.mean - b.mean, se)
        separated = direction * (min(a.values) - max(b.values) if larger else max(a.values) - min(b.values)) > 0
    signed = direction * difference.mean
    if difference.se > 0:
        z = signed / difference.se
    else:
        z = math.inf if signed > 0 else (0.0 if signed == 0 else -math.inf)
    return Comparison(a, b, direction, paired, difference, z, separated, float(min_z))
