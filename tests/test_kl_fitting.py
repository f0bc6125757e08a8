"""Chapter 04's module: KL on a grid, and the forward (moment-matching) and reverse (mode-seeking) fits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import distributions as D

from course_utils.distributions import mixture, normalise, uniform
from course_utils.kl_fitting import fit_forward_kl, fit_reverse_kl, kl_on_grid, reverse_kl_to_gaussian


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
