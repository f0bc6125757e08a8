"""The course's toy distributions and the density facts chapter 01 teaches.

Everything here is built on ``torch.distributions`` (pdf, cdf, icdf and sampling come from
there, not from hand-written formulas), so the tests can compare each function with
``scipy.stats`` and a student can read one line to see what a distribution is.

References: Casella & Berger, *Statistical Inference* (2002), ch. 1-2 (pdf, cdf, probability of
an interval); Devroye, *Non-Uniform Random Variate Generation* (1986), ch. II.2 (inversion).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import distributions as D

Tensor = torch.Tensor
LatentKind = Literal["uniform", "gaussian"]


# --------------------------------------------------------------------------- validation helpers
def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number; got {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number; got {value}")
    return float(value)


def _count(name: str, value: int, minimum: int = 1) -> int:
    if type(value) is not int:
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}; got {value}")
    return value


def _as_float_tensor(values) -> Tensor:
    """``values`` as a floating tensor: float64 input stays float64, anything else gets the default dtype."""
    tensor = torch.as_tensor(values)
    return tensor if tensor.dtype == torch.float64 else tensor.to(torch.get_default_dtype())


def _as_1d_tensor(name: str, values) -> Tensor:
    tensor = torch.as_tensor(values, dtype=torch.get_default_dtype())
    if tensor.ndim != 1 or tensor.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence; got shape {tuple(tensor.shape)}")
    return tensor


# --------------------------------------------------------------------------- distributions
def uniform(low: float = 0.0, high: float = 1.0) -> D.Uniform:
    """The continuous uniform distribution on ``[low, high)``; its density is ``1 / (high - low)``.

    torch's support is half-open, so ``density(uniform(0, 0.25), 0.25)`` is 0; the chapter's
    exercise uses the closed interval. A single point has probability 0 either way.

    A narrow interval gives a density above 1: ``uniform(0, 0.25)`` has density 4 everywhere on
    its support, and still total probability 1.
    """
    if not (isinstance(low, (int, float)) and isinstance(high, (int, float))):
        raise TypeError("low and high must be numbers")
    if not high > low:
        raise ValueError(f"high must be greater than low; got low={low}, high={high}")
    return D.Uniform(torch.tensor(float(low)), torch.tensor(float(high)))


def gaussian(loc: float = 0.0, scale: float = 1.0) -> D.Normal:
    """The normal distribution N(loc, scale²); its peak density is ``1 / (scale·√(2π))``."""
    return D.Normal(torch.tensor(float(loc)), torch.tensor(_positive("scale", scale)))


def mixture(weights, locs, scales) -> D.MixtureSameFamily:
    """A 1-D mixture of Gaussians, ``p(x) = Σ_k w_k N(x; μ_k, σ_k²)``.

    Parameters
    ----------
    weights : sequence of float, shape (K,)
        Mixing probabilities: non-negative, summing to 1.
    locs, scales : sequence of float, shape (K,)
        Means and standard deviations (> 0) of the components.
    """
    w, mu, sigma = (_as_1d_tensor(n, v) for n, v in (("weights", weights), ("locs", locs), ("scales", scales)))
    if not (w.shape == mu.shape == sigma.shape):
        raise ValueError(f"weights, locs and scales must have the same length; got "
                         f"{w.numel()}, {mu.numel()} and {sigma.numel()}")
    if (w < 0).any():
        raise ValueError("weights must be non-negative; got " + str(w.tolist()))
    if not math.isclose(float(w.sum()), 1.0, abs_tol=1e-6):
        raise ValueError(f"weights must sum to 1; they sum to {float(w.sum()):.6g} (divide by their sum)")
    if (sigma <= 0).any():
        raise ValueError("scales must all be > 0; got " + str(sigma.tolist()))
    return D.MixtureSameFamily(D.Categorical(probs=w), D.Normal(mu, sigma))


def normalise(weights) -> Tensor:
    """Non-negative weights scaled to sum to 1: a discrete distribution, shape (K,)."""
    w = _as_1d_tensor("weights", weights)
    if (w < 0).any() or not torch.isfinite(w).all():
        raise ValueError(f"weights must be finite and non-negative; got {w.tolist()}")
    total = w.sum()
    if total == 0:
        raise ValueError("weights must not all be 0: give at least one category some weight")
    return w / total


def ring_centers(n_modes: int = 8, radius: float = 1.0) -> Tensor:
    """Mode centres on a circle at angles 2πk/n, k = 0..n-1 (not ``linspace(0, 2π, n)``,
    which puts the last mode on top of the first). Shape (n_modes, 2)."""
    _count("n_modes", n_modes)
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.get_default_dtype()) / n_modes
    return _positive("radius", radius) * torch.stack([angles.cos(), angles.sin()], dim=1)


def grid_centers(n_per_side: int = 5, spacing: float = 2.0) -> Tensor:
    """Mode centres on a square grid centred at 0, e.g. {-4,-2,0,2,4}². Shape (n_per_side², 2)."""
    _count("n_per_side", n_per_side)
    half = (n_per_side - 1) / 2
    axis = (torch.arange(n_per_side, dtype=torch.get_default_dtype()) - half) * _positive("spacing", spacing)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xs.flatten(), ys.flatten()], dim=1)


def gaussian_mixture_2d(centers: Tensor, std: float) -> D.MixtureSameFamily:
    """Equal-weight isotropic Gaussians at ``centers`` (shape (K, 2)) with standard deviation ``std``."""
    centers = torch.as_tensor(centers, dtype=torch.get_default_dtype())
    if centers.ndim != 2 or centers.shape[1] != 2 or centers.shape[0] == 0:
        raise ValueError(f"centers must have shape (K, 2); got {tuple(centers.shape)}")
    scale = torch.full_like(centers, _positive("std", std))
    components = D.Independent(D.Normal(centers, scale), 1)
    return D.MixtureSameFamily(D.Categorical(logits=torch.zeros(len(centers))), components)


def ring_of_gaussians(n_modes: int = 8, radius: float = 1.0, std: float = 0.01) -> D.MixtureSameFamily:
    """The ring benchmark of PacGAN/VEEGAN: 8 modes on the unit circle, σ = 0.01."""
    return gaussian_mixture_2d(ring_centers(n_modes, radius), std)


def grid_of_gaussians(n_per_side: int = 5, spacing: float = 2.0, std: float = 0.05) -> D.MixtureSameFamily:
    """The grid benchmark of PacGAN/VEEGAN: 25 modes at {-4,-2,0,2,4}², σ = 0.05."""
    return gaussian_mixture_2d(grid_centers(n_per_side, spacing), std)


# --------------------------------------------------------------------------- density facts
def log_density(dist: D.Distribution, x) -> Tensor:
    """log p(x) of a 1-D distribution, and -inf outside its support (where torch's ``log_prob``
    would raise instead). Far in the tails it stays finite where ``density`` underflows to 0."""
    x = _as_float_tensor(x)  # float64 stays float64 (ks_distance and the plots pass float64)
    inside = dist.support.check(x)
    anchor = _point_in_support(dist)  # stands in for outside points so log_prob can run on them
    return torch.where(inside, dist.log_prob(torch.where(inside, x, anchor)), -math.inf)


def density(dist: D.Distribution, x) -> Tensor:
    """The pdf of a 1-D distribution, ``exp(log p(x))``, and 0 outside its support."""
    return log_density(dist, x).exp()


def cumulative(dist: D.Distribution, x) -> Tensor:
    """The CDF of a 1-D distribution, F(x) = P(X ≤ x): 0 below its support and 1 above it."""
    x = _as_float_tensor(x)  # float64 stays float64 (ks_distance and the plots pass float64)
    inside = dist.support.check(x)
    anchor = _point_in_support(dist)
    return torch.where(inside, dist.cdf(torch.where(inside, x, anchor)), (x > anchor).to(x.dtype))


def empirical_cdf(samples, at) -> Tensor:
    """F(t) = the share of ``samples`` (n,) that are ≤ t, at each of ``at`` (m,): (m,) float64."""
    samples, at = (torch.as_tensor(v).detach().double() for v in (samples, at))  # float64: no ties made by rounding
    if samples.ndim != 1 or samples.numel() == 0 or at.ndim != 1:
        raise ValueError(f"samples must be a non-empty 1-D sequence and at a 1-D sequence; got shapes "
                         f"{tuple(samples.shape)} and {tuple(at.shape)}")
    ordered = torch.sort(samples).values
    return torch.searchsorted(ordered, at.contiguous(), right=True).double() / len(ordered)


def _point_in_support(dist: D.Distribution) -> Tensor:
    try:
        return dist.icdf(torch.tensor(0.5))
    except NotImplementedError:  # mixtures have no icdf; their support is the real line
        return torch.tensor(0.0)


def interval_probability(dist: D.Distribution, a: float, b: float) -> float:
    """P(a ≤ X ≤ b) = F(b) − F(a) for a continuous 1-D distribution.

    ``interval_probability(dist, x, x)`` is 0 for every x: a continuous random variable takes
    any single value with probability 0, whatever its density there.
    """
    if not (isinstance(a, (int, float)) and isinstance(b, (int, float))):
        raise TypeError("a and b must be numbers")
    if b < a:
        raise ValueError(f"the interval must have a <= b; got a={a}, b={b}")
    lo, hi = _clamped_support(dist, a, b)
    # float64 values: F(b) - F(a) cancels badly in float32 for short intervals
    return float(dist.cdf(torch.tensor(hi, dtype=torch.float64)) - dist.cdf(torch.tensor(lo, dtype=torch.float64)))


def _clamped_support(dist: D.Distribution, a: float, b: float) -> tuple[float, float]:
    """Clip [a, b] to the support, since torch's cdf raises outside it for bounded distributions."""
    lower = getattr(dist.support, "lower_bound", None)
    upper = getattr(dist.support, "upper_bound", None)
    lo = a if lower is None else min(max(a, float(lower)), float(upper) if upper is not None else math.inf)
    hi = b if upper is None else max(min(b, float(upper)), float(lower) if lower is not None else -math.inf)
    return lo, max(lo, hi)


def histogram_density(samples, bins: int, value_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Histogram normalised to a density: ``count / (n · bin width)`` (``numpy.histogram(density=True)``
    with samples outside the range still counted in n, so the area is the fraction inside).

    Returns ``(edges, heights)`` with shapes (bins + 1,) and (bins,).
    """
    # a list of floats goes straight to float64 (torch.as_tensor would round it to float32 first)
    x = np.asarray(samples.detach().cpu() if isinstance(samples, Tensor) else samples, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("samples must not be empty")
    _count("bins", bins)
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (low, high) with high > low; got {value_range}")
    counts, edges = np.histogram(x, bins=bins, range=(lo, hi))
    return edges, counts / (x.size * np.diff(edges))


def histogram_l1_error(samples, dist: D.Distribution, bins: int, value_range: tuple[float, float]) -> float:
    """∫ |histogram density − p(x)| dx over ``value_range`` (mass outside the range is not counted),
    by the trapezoid rule on a grid of 20 points per bin. Tends to 0 as n → ∞ when the bin width
    h → 0 and n·h → ∞ (Devroye & Györfi, *Nonparametric Density Estimation: the L1 View*, 1985)."""
    edges, heights = histogram_density(samples, bins, value_range)
    grid = np.linspace(edges[0], edges[-1], 20 * bins + 1)
    true = density(dist, torch.as_tensor(grid)).numpy()
    est = heights[np.clip(np.searchsorted(edges, grid, side="right") - 1, 0, bins - 1)]
    return float(np.trapezoid(np.abs(est - true), grid))


def inverse_cdf_sample(dist: D.Distribution, n: int, generator: torch.Generator | None = None) -> Tensor:
    """Draw n samples as ``F⁻¹(U)`` with ``U ~ Uniform(0, 1)``: uniform noise pushed through a
    function, the first generator of the course. Needs ``dist.icdf``."""
    _count("n", n)
    # U in (0, 1) open at 0: icdf(0) is -inf for unbounded distributions. Clamp to eps, not tiny:
    # Normal and Laplace compute 2u - 1 or u - 0.5, where u = tiny rounds back to u = 0.
    u = torch.rand(n, generator=generator).clamp_min(torch.finfo(torch.get_default_dtype()).eps)
    try:
        return dist.icdf(u)
    except NotImplementedError:
        raise ValueError(f"{type(dist).__name__} has no inverse CDF; pick one with .icdf "
                         "(Normal, Exponential, Laplace, Cauchy, Uniform)") from None


def sample(dist: D.Distribution, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n seeded samples of a 1-D distribution (torch's ``.sample()`` takes no generator).

    Inverse-CDF sampling where the distribution has an ``icdf``; for a Gaussian mixture, a
    component index first, then a Gaussian draw from that component.
    """
    if isinstance(dist, D.MixtureSameFamily) and isinstance(dist.component_distribution, D.Normal):
        _count("n", n)
        component = torch.multinomial(dist.mixture_distribution.probs, n, replacement=True, generator=generator)
        normal = dist.component_distribution
        return normal.loc[component] + normal.scale[component] * torch.randn(n, generator=generator)
    return inverse_cdf_sample(dist, n, generator)


def ks_distance(samples, dist: D.Distribution) -> float:
    """Kolmogorov-Smirnov distance sup_x |F_n(x) − F(x)| between the samples' empirical CDF and
    a 1-D distribution's CDF (the statistic of ``scipy.stats.kstest``)."""
    x = torch.as_tensor(samples, dtype=torch.float64).flatten().sort().values
    if x.numel() == 0:
        raise ValueError("samples must not be empty")
    cdf = cumulative(dist, x).double()
    n = x.numel()
    steps = torch.arange(n + 1, dtype=torch.float64) / n  # the empirical CDF just before/after each sample
    return float(torch.maximum(steps[1:] - cdf, cdf - steps[:-1]).max())


def latent_noise(kind: LatentKind, n: int, dim: int = 1, generator: torch.Generator | None = None) -> Tensor:
    """Latent noise for a generator: ``"uniform"`` on [-1, 1]^dim or ``"gaussian"`` N(0, I). Shape (n, dim)."""
    _count("n", n)
    _count("dim", dim)
    if kind == "uniform":
        return 2 * torch.rand(n, dim, generator=generator) - 1
    if kind == "gaussian":
        return torch.randn(n, dim, generator=generator)
    raise ValueError(f"kind must be 'uniform' or 'gaussian'; got {kind!r}")


def latent_distribution(kind: LatentKind) -> D.Distribution:
    """The 1-D distribution that :func:`latent_noise` draws each coordinate from."""
    if kind == "uniform":
        return uniform(-1.0, 1.0)
    if kind == "gaussian":
        return gaussian(0.0, 1.0)
    raise ValueError(f"kind must be 'uniform' or 'gaussian'; got {kind!r}")


def matched_transform(latent: D.Distribution, target: D.Distribution) -> Callable[[Tensor], Tensor]:
    """The map ``g = F_target⁻¹ ∘ F_latent`` that pushes ``latent`` exactly onto ``target``
    (probability integral transform): any continuous latent works if g is chosen right."""
    eps = 1e-6  # keep F_latent(z) inside (0, 1), where F_target⁻¹ is finite

    def transform(z: Tensor) -> Tensor:
        return target.icdf(latent.cdf(z).clamp(eps, 1 - eps))

    return transform


# --------------------------------------------------------------------------- the chapter's examples
@dataclass(frozen=True)
class Example:
    """A named 1-D distribution with the range worth plotting it on."""

    dist: D.Distribution
    value_range: tuple[float, float]


def named_examples() -> dict[str, Example]:
    """The 1-D distributions the chapter's widgets offer, by display name."""
    return {
        "Gaussian N(0, 1)": Example(gaussian(0.0, 1.0), (-4.0, 4.0)),
        "narrow Gaussian N(0, 0.1²)": Example(gaussian(0.0, 0.1), (-0.5, 0.5)),
        "Uniform(0, 0.25)": Example(uniform(0.0, 0.25), (-0.1, 0.35)),
        "Exponential(1)": Example(D.Exponential(torch.tensor(1.0)), (0.0, 6.0)),
        "Laplace(0, 1)": Example(D.Laplace(torch.tensor(0.0), torch.tensor(1.0)), (-6.0, 6.0)),
        "Cauchy(0, 1)": Example(D.Cauchy(torch.tensor(0.0), torch.tensor(1.0)), (-10.0, 10.0)),
        "two-mode mixture": Example(mixture([0.3, 0.7], [-2.0, 1.5], [0.5, 0.8]), (-4.5, 5.0)),
    }


@dataclass(frozen=True)
class IntervalReport:
    """What shrinking an interval around a point shows about density and probability."""

    density: float  # p(x0): a density, not a probability, and free to exceed 1
    probability: float  # P(x0 - h ≤ X ≤ x0 + h)
    ratio: float  # probability / (2h) → p(x0) as h → 0


def interval_report(dist: D.Distribution, center: float, half_width: float) -> IntervalReport:
    """Probability of ``[center − h, center + h]``, the density at ``center`` and their ratio."""
    h = _positive("half_width", half_width)
    probability = interval_probability(dist, center - h, center + h)
    return IntervalReport(float(density(dist, center)), probability, probability / (2 * h))


def push_forward(latent_kind: LatentKind, transform: str, target: D.Distribution, n: int,
                 generator: torch.Generator | None = None) -> Tensor:
    """Samples ``g(z)`` for 1-D latent noise z and a named map g: the simplest generator.

    ``transform``: ``"identity"`` (g(z) = z), ``"tanh"`` (a squashing non-linearity, as at a
    generator's output layer) or ``"matched"`` (g = F_target⁻¹ ∘ F_latent, which reaches
    ``target`` exactly from either kind of noise).
    """
    z = latent_noise(latent_kind, n, 1, generator).squeeze(1)  # (n,)
    if transform == "identity":
        return z
    if transform == "tanh":
        return torch.tanh(2 * z)
    if transform == "matched":
        return matched_transform(latent_distribution(latent_kind), target)(z)
    raise ValueError(f"transform must be 'identity', 'tanh' or 'matched'; got {transform!r}")
