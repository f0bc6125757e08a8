"""Chapter 04's module: KL on a grid, and the forward (moment-matching) and reverse (mode-seeking) fits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from course_utils.distributions import mixture, normalise, uniform
from course_utils.kl_fitting import (
    cross_entropy_on_grid,
    differential_entropy_on_grid,
    fit_forward_kl,
    fit_forward_kl_numerically,
    fit_reverse_kl,
    forward_kl_to_gaussian,
    kl_on_grid,
    reverse_kl_to_gaussian,
)


def normal(loc: float, scale: float) -> D.Normal:
    return D.Normal(torch.tensor(loc, dtype=torch.float64), torch.tensor(scale, dtype=torch.float64))


@pytest.mark.parametrize(("p", "q"), [((0.0, 1.0), (1.0, 2.0)), ((3.0, 0.5), (0.0, 1.0)), ((0.0, 2.0), (0.0, 2.0))])
def test_kl_on_grid_matches_torch_closed_form(p, q):
    """Does the grid integral of p log(p/q) equal torch's closed-form Gaussian KL?"""
    expected = D.kl_divergence(normal(*p), normal(*q)).item()
    assert kl_on_grid(normal(*p), normal(*q), (-30.0, 30.0)) == pytest.approx(expected, abs=1e-6)


def test_kl_on_grid_is_infinite_on_mismatched_support():
    """Is KL(p‖q) inf when q is 0 somewhere p is not, and finite the other way round?"""
    wide, narrow = uniform(0.0, 2.0), uniform(0.0, 1.0)
    assert kl_on_grid(wide, narrow, (-1.0, 3.0)) == math.inf
    assert kl_on_grid(narrow, wide, (-1.0, 3.0)) == pytest.approx(math.log(2), abs=2e-3)
    with pytest.raises(ValueError, match="value_range"):
        kl_on_grid(wide, narrow, (1.0, 1.0))


def test_forward_fit_matches_moments_and_beats_other_gaussians():
    """Is the forward-KL Gaussian the moment match, and is its KL(p‖q) lower than nearby Gaussians'?"""
    p = mixture([0.3, 0.7], [-2.0, 2.0], [0.5, 0.5])
    fit = fit_forward_kl(p)
    mean = 0.3 * -2.0 + 0.7 * 2.0
    variance = 0.25 + 0.3 * 4.0 + 0.7 * 4.0 - mean**2
    assert fit.loc.item() == pytest.approx(mean, abs=1e-6)
    assert fit.scale.item() == pytest.approx(math.sqrt(variance), abs=1e-6)
    best = kl_on_grid(p, fit, (-12.0, 12.0))
    for d_loc, d_scale in [(0.2, 0.0), (-0.2, 0.0), (0.0, 0.2), (0.0, -0.2)]:
        other = normal(mean + d_loc, math.sqrt(variance) + d_scale)
        assert kl_on_grid(p, other, (-12.0, 12.0)) > best


@pytest.mark.parametrize("start", [(0.0, 1.0), (3.0, 0.3), (-4.0, 6.0)])
def test_forward_search_lands_on_the_moments_from_any_start(start):
    """Does L-BFGS on the grid integral KL(p‖q), which knows nothing of moments, find p's mean and sd?"""
    p = mixture([0.2, 0.5, 0.3], [-4.0, 0.0, 3.0], [0.3, 1.0, 0.7])
    fit = fit_forward_kl_numerically(p, (-15.0, 15.0), *start)
    assert fit.loc.item() == pytest.approx(p.mean.item(), abs=1e-5)
    assert fit.scale.item() == pytest.approx(p.stddev.item(), abs=1e-5)
    moments = fit_forward_kl(p)
    assert fit.loc.item() == pytest.approx(moments.loc.item(), abs=1e-5)
    with pytest.raises(ValueError, match="init_scale"):
        fit_forward_kl_numerically(p, (-15.0, 15.0), 0.0, -1.0)


def test_forward_objective_is_the_grid_kl_and_differentiable():
    """Is the differentiable forward objective the grid KL, with the closed-form gradient in the mean?"""
    p = mixture([0.3, 0.7], [-2.0, 2.0], [0.5, 1.0])
    loc = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    log_scale = torch.tensor(math.log(1.5), dtype=torch.float64, requires_grad=True)
    value = forward_kl_to_gaussian(loc, log_scale, p, (-15.0, 15.0))
    assert value.item() == pytest.approx(kl_on_grid(p, normal(0.5, 1.5), (-15.0, 15.0)), abs=1e-6)
    value.backward()
    # ∂/∂μ KL(p‖N(μ, σ²)) = (μ − E_p[x]) / σ²
    assert loc.grad.item() == pytest.approx((0.5 - p.mean.item()) / 1.5**2, abs=1e-5)


@pytest.mark.parametrize(("p", "q"), [((0.0, 1.0), (1.0, 2.0)), ((3.0, 0.1), (2.5, 0.4)), ((-1.0, 2.0), (-1.0, 2.0))])
def test_continuous_cross_entropy_is_entropy_plus_kl(p, q):
    """Does −∫ p log q match the Gaussian closed form, and equal h(p) + KL(p‖q) computed separately?"""
    (m0, s0), (m1, s1) = p, q
    closed_form = 0.5 * math.log(2 * math.pi * s1**2) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2)
    value_range = (-30.0, 30.0)
    cross = cross_entropy_on_grid(normal(*p), normal(*q), value_range)
    assert cross == pytest.approx(closed_form, abs=1e-6)
    entropy = differential_entropy_on_grid(normal(*p), value_range)
    kl = kl_on_grid(normal(*p), normal(*q), value_range)
    assert cross == pytest.approx(entropy + kl, abs=1e-9)
    assert kl == pytest.approx(D.kl_divergence(normal(*p), normal(*q)).item(), abs=1e-6)


def test_differential_entropy_matches_scipy_and_can_be_negative():
    """Is h(N(μ, σ²)) scipy's ½ log(2πeσ²), negative for σ = 0.1, and log(width) for a uniform?"""
    import scipy.stats as st

    for scale in (0.1, 0.5, 3.0):
        value = differential_entropy_on_grid(normal(1.0, scale), (-30.0, 30.0), points=20001)
        assert value == pytest.approx(float(st.norm(1.0, scale).entropy()), abs=1e-6)
    assert differential_entropy_on_grid(normal(0.0, 0.1), (-3.0, 3.0)) == pytest.approx(-0.8836466, abs=1e-6)
    # a uniform on [0, 1/4) has density 4 and entropy log(1/4) < 0 (to the grid's resolution at the edges)
    assert differential_entropy_on_grid(uniform(0.0, 0.25), (-0.5, 1.0)) == pytest.approx(math.log(0.25), abs=1e-2)


def test_cross_entropy_on_grid_is_infinite_on_mismatched_support():
    """Is H(p, q) inf when q is 0 somewhere p is not, and are bad grids refused?"""
    wide, narrow = uniform(0.0, 2.0), uniform(0.0, 1.0)
    assert cross_entropy_on_grid(wide, narrow, (-1.0, 3.0)) == math.inf
    assert cross_entropy_on_grid(narrow, wide, (-1.0, 3.0)) == pytest.approx(math.log(2), abs=1e-2)
    with pytest.raises(ValueError, match="points"):
        differential_entropy_on_grid(wide, (-1.0, 3.0), points=1)
    with pytest.raises(ValueError, match="value_range"):
        cross_entropy_on_grid(wide, narrow, (3.0, -1.0))


def test_reverse_kl_quadrature_matches_the_grid_integral():
    """Does the Gauss-Hermite KL(q‖p) equal the grid integral for a mixture p?"""
    p = mixture([0.5, 0.5], [-1.0, 1.5], [0.7, 0.4])
    for loc, scale in [(0.0, 1.0), (1.5, 0.4), (-3.0, 2.0)]:
        q = normal(loc, scale)
        quadrature = reverse_kl_to_gaussian(q.loc, q.scale.log(), p).item()
        assert quadrature == pytest.approx(kl_on_grid(q, p, (-20.0, 20.0)), rel=1e-4, abs=1e-6)


def test_reverse_fit_seeks_the_mode_it_starts_near():
    """Started beside each mode of a well-separated mixture, does the reverse fit sit on that mode with its width?"""
    p = mixture([0.3, 0.7], [-2.0, 2.0], [0.5, 0.5])
    for start, mode in ((-2.5, -2.0), (2.5, 2.0)):
        fit = fit_reverse_kl(p, start)
        assert fit.loc.item() == pytest.approx(mode, abs=0.01)
        assert fit.scale.item() == pytest.approx(0.5, abs=0.01)
    right, left = fit_reverse_kl(p, 2.5), fit_reverse_kl(p, -2.5)
    # the heavier mode is the better optimum: KL(q‖p) = log(1/w) for a mode of weight w, separated ones
    assert kl_on_grid(right, p, (-10.0, 10.0)) == pytest.approx(math.log(1 / 0.7), abs=1e-3)
    assert kl_on_grid(left, p, (-10.0, 10.0)) == pytest.approx(math.log(1 / 0.3), abs=1e-3)


def test_reverse_fit_of_a_gaussian_is_that_gaussian():
    """Is a Gaussian p recovered exactly by the reverse fit (KL(q‖p) = 0 at q = p)?"""
    fit = fit_reverse_kl(normal(1.3, 0.8), 0.0)
    assert fit.loc.item() == pytest.approx(1.3, abs=1e-4)
    assert fit.scale.item() == pytest.approx(0.8, abs=1e-4)
    with pytest.raises(ValueError, match="init_scale"):
        fit_reverse_kl(normal(0.0, 1.0), 0.0, 0.0)


def test_normalise_makes_a_distribution_and_refuses_bad_weights():
    """Does normalise divide by the sum, and refuse negative or all-zero weights with a reason?"""
    assert torch.allclose(normalise([1.0, 3.0]), torch.tensor([0.25, 0.75]))
    with pytest.raises(ValueError, match="non-negative"):
        normalise([1.0, -1.0])
    with pytest.raises(ValueError, match="not all be 0"):
        normalise([0.0, 0.0])
