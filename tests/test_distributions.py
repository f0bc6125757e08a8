"""course_utils.distributions against scipy.stats, numpy and closed forms."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats as st
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch import distributions as D

from course_utils import distributions as dists
from course_utils.distributions import (
    cumulative,
    density,
    gaussian,
    gaussian_mixture_2d,
    grid_centers,
    grid_of_gaussians,
    histogram_density,
    histogram_l1_error,
    interval_probability,
    interval_report,
    inverse_cdf_sample,
    ks_distance,
    latent_distribution,
    latent_noise,
    matched_transform,
    mixture,
    named_examples,
    push_forward,
    ring_centers,
    ring_of_gaussians,
    sample,
    uniform,
)

MIX_W, MIX_MU, MIX_SIGMA = [0.3, 0.7], [-2.0, 1.5], [0.5, 0.8]


def f32(value: float) -> float:
    """The float32 value a torch distribution actually stores for ``value``."""
    return float(torch.tensor(value, dtype=torch.float32))


def scipy_mixture_pdf(x):
    return sum(w * st.norm.pdf(x, m, s) for w, m, s in zip(MIX_W, MIX_MU, MIX_SIGMA, strict=True))


def scipy_mixture_cdf(x):
    return sum(w * st.norm.cdf(x, m, s) for w, m, s in zip(MIX_W, MIX_MU, MIX_SIGMA, strict=True))


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# (torch distribution, the same distribution in scipy.stats); float32-exact parameters
PAIRS = {
    "uniform(0, 0.25)": (uniform(0.0, 0.25), st.uniform(0.0, 0.25)),
    "uniform(-1, 3)": (uniform(-1.0, 3.0), st.uniform(-1.0, 4.0)),
    "normal(0.5, 2)": (gaussian(0.5, 2.0), st.norm(0.5, 2.0)),
    "exponential(1.5)": (D.Exponential(torch.tensor(1.5)), st.expon(scale=1 / 1.5)),
    "laplace(0.25, 0.5)": (D.Laplace(torch.tensor(0.25), torch.tensor(0.5)), st.laplace(0.25, 0.5)),
    "cauchy(-1, 0.5)": (D.Cauchy(torch.tensor(-1.0), torch.tensor(0.5)), st.cauchy(-1.0, 0.5)),
}
# a grid that straddles every support boundary above but avoids the endpoints themselves
GRID = np.linspace(-6.013, 6.021, 601)


# --------------------------------------------------------------------------- density / cumulative
@pytest.mark.parametrize("name", PAIRS)
def test_density_matches_scipy_pdf(name):
    """Does density equal scipy.stats' pdf everywhere on a grid, including 0 outside the support?"""
    dist, ref = PAIRS[name]
    np.testing.assert_allclose(
        density(dist, torch.as_tensor(GRID)).numpy(), ref.pdf(GRID), rtol=1e-5, atol=1e-7
    )


@pytest.mark.parametrize("name", PAIRS)
def test_cumulative_matches_scipy_cdf(name):
    """Does cumulative equal scipy.stats' cdf on a grid, 0 below the support and 1 above it?"""
    dist, ref = PAIRS[name]
    np.testing.assert_allclose(
        cumulative(dist, torch.as_tensor(GRID)).numpy(), ref.cdf(GRID), rtol=1e-5, atol=1e-7
    )


def test_density_and_cumulative_outside_bounded_support():
    """Is the pdf exactly 0 and the cdf exactly 0 / 1 outside Uniform(0, 0.25) and below Exponential's 0?"""
    u = uniform(0.0, 0.25)
    x = torch.tensor([-5.0, -1e-3, 0.26, 7.0])
    assert density(u, x).tolist() == [0.0, 0.0, 0.0, 0.0]
    assert cumulative(u, x).tolist() == [0.0, 0.0, 1.0, 1.0]
    e = D.Exponential(torch.tensor(1.0))
    assert density(e, torch.tensor([-3.0, -1e-6])).tolist() == [0.0, 0.0]
    assert cumulative(e, torch.tensor([-3.0, -1e-6])).tolist() == [0.0, 0.0]


def test_density_accepts_python_scalars_and_lists():
    """Do a Python float and a list give the same densities as a tensor (N(0,1) at 0 is 1/√(2π))?"""
    assert float(density(gaussian(), 0.0)) == pytest.approx(1 / math.sqrt(2 * math.pi), rel=1e-6)
    np.testing.assert_allclose(
        density(gaussian(), [-1.0, 0.0, 2.0]).numpy(), st.norm.pdf([-1.0, 0.0, 2.0]), rtol=1e-6
    )


def test_density_keeps_float64_inputs_in_float64():
    """Is a float64 input evaluated in float64 (so N(0,1)'s cdf at 1e-9 keeps the 1e-9 offset from 0.5)?"""
    x = torch.tensor([1e-9], dtype=torch.float64)
    out = cumulative(gaussian(0.0, 1.0), x)
    assert out.dtype == torch.float64
    assert float(out[0]) - 0.5 == pytest.approx(st.norm.pdf(0.0) * 1e-9, rel=1e-6)


def test_uniform_narrow_has_density_four():
    """Does uniform(0, 0.25) have density 4 inside its support, a density above 1?"""
    x = torch.tensor([0.0, 0.01, 0.125, 0.2499])
    np.testing.assert_allclose(density(uniform(0.0, 0.25), x).numpy(), 4.0, rtol=1e-6)


def test_narrow_gaussian_peak_exceeds_one():
    """Is the peak density of N(0, 0.1²) equal to 1/(0.1·√(2π)) ≈ 3.99, far above 1?"""
    peak = float(density(gaussian(0.0, 0.1), 0.0))
    assert peak == pytest.approx(1 / (0.1 * math.sqrt(2 * math.pi)), rel=1e-6)
    assert peak > 3.9


def test_mixture_pdf_is_weighted_sum_of_normals():
    """Is the mixture's pdf Σ_k w_k N(x; μ_k, σ_k²) as computed by scipy.stats.norm?"""
    m = mixture(MIX_W, MIX_MU, MIX_SIGMA)
    np.testing.assert_allclose(
        density(m, torch.as_tensor(GRID)).numpy(), scipy_mixture_pdf(GRID), rtol=1e-5, atol=1e-9
    )
    np.testing.assert_allclose(
        cumulative(m, torch.as_tensor(GRID)).numpy(), scipy_mixture_cdf(GRID), rtol=1e-5, atol=1e-9
    )


@pytest.mark.parametrize("name", list(named_examples()))
def test_named_examples_integrate_to_one(name):
    """Does each of the chapter's named densities integrate to 1 over the real line (scipy.integrate.quad)?"""
    dist = named_examples()[name].dist

    def pdf(x):
        return float(density(dist, torch.tensor(x, dtype=torch.float64)))

    breakpoints = [-2.0, 0.0, 0.25, 1.5]  # supports' edges and modes, so quad does not miss narrow mass
    total = sum(
        scipy.integrate.quad(pdf, lo, hi, limit=200)[0]
        for lo, hi in itertools.pairwise([-np.inf, *breakpoints, np.inf])
    )
    assert total == pytest.approx(1.0, abs=1e-5)


# --------------------------------------------------------------------------- intervals
@pytest.mark.parametrize("name", PAIRS)
@pytest.mark.parametrize(
    "a, b", [(-0.3, 0.1), (0.05, 0.2), (-3.0, 4.0), (1.0, 2.5), (-7.0, -6.5), (0.2, 9.0)]
)
def test_interval_probability_matches_scipy_cdf_difference(name, a, b):
    """Is interval_probability(a, b) scipy's cdf(b) − cdf(a), inside, across and outside the support?"""
    dist, ref = PAIRS[name]
    expected = ref.cdf(b) - ref.cdf(a)
    assert interval_probability(dist, a, b) == pytest.approx(expected, rel=1e-5, abs=1e-8)


def test_interval_probability_of_mixture():
    """Is P(a ≤ X ≤ b) for the mixture the weighted sum of the components' scipy cdf differences?"""
    m = mixture(MIX_W, MIX_MU, MIX_SIGMA)
    for a, b in [(-3.0, -1.0), (-1.0, 2.0), (0.0, 10.0)]:
        expected = scipy_mixture_cdf(b) - scipy_mixture_cdf(a)
        assert interval_probability(m, a, b) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", PAIRS)
@pytest.mark.parametrize("x", [-1.0, 0.0, 0.1, 0.25, 3.0])
def test_single_point_has_probability_zero(name, x):
    """Is P(X = x) = 0 for every x, even where the density is 4?"""
    assert interval_probability(PAIRS[name][0], x, x) == 0.0


def test_interval_probability_short_interval_is_not_cancelled():
    """Does a short interval keep its probability ≈ 2h·p(x0) instead of cancelling to 0 in float32?"""
    p = interval_probability(gaussian(), 1.0, 1.0 + 1e-7)
    assert p == pytest.approx(1e-7 * st.norm.pdf(1.0), rel=1e-3)


def test_interval_probability_refuses_reversed_interval():
    """Does b < a raise ValueError naming a <= b?"""
    with pytest.raises(ValueError, match="a <= b"):
        interval_probability(gaussian(), 1.0, 0.5)


def test_interval_probability_refuses_non_numbers():
    """Does a non-number bound raise TypeError naming a and b?"""
    with pytest.raises(TypeError, match="a and b must be numbers"):
        interval_probability(gaussian(), "0", 1.0)


def test_interval_report_ratio_tends_to_density():
    """As h → 0, does P(|X − x0| ≤ h) / 2h approach scipy's pdf at x0 while the probability goes to 0?"""
    dist = gaussian(0.0, 1.0)
    x0 = 0.7
    errors, probabilities = [], []
    for h in [1.0, 0.3, 0.1, 0.01, 0.001]:
        report = interval_report(dist, x0, h)
        assert report.probability == pytest.approx(st.norm.cdf(x0 + h) - st.norm.cdf(x0 - h), rel=1e-5)
        assert report.ratio == pytest.approx(report.probability / (2 * h), rel=1e-12)
        assert report.density == pytest.approx(st.norm.pdf(x0), rel=1e-6)
        errors.append(abs(report.ratio - st.norm.pdf(x0)))
        probabilities.append(report.probability)
    assert all(later < earlier for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < 1e-6
    assert probabilities[-1] < 2e-3


def test_interval_report_uniform_density_above_one():
    """For Uniform(0, 0.25) at 0.125, is the density 4 while the probability 2h·4 stays below 1?"""
    report = interval_report(uniform(0.0, 0.25), 0.125, 0.05)
    assert report.density == pytest.approx(4.0)
    assert report.probability == pytest.approx(0.4, rel=1e-6)
    assert report.ratio == pytest.approx(4.0, rel=1e-6)


def test_interval_report_refuses_non_positive_half_width():
    """Does a half-width of 0 or less raise ValueError naming half_width?"""
    for bad in (0.0, -0.1, math.nan):
        with pytest.raises(ValueError, match="half_width"):
            interval_report(gaussian(), 0.0, bad)


@settings(max_examples=60, deadline=None)
@given(
    name=hs.sampled_from(sorted(named_examples())),
    points=hs.lists(hs.floats(-30, 30, allow_nan=False), min_size=3, max_size=3),
)
def test_interval_probability_is_a_probability_and_additive(name, points):
    """For any a ≤ b ≤ c, is P([a, b]) in [0, 1] and P([a, b]) + P([b, c]) = P([a, c])?"""
    dist = named_examples()[name].dist
    a, b, c = sorted(points)
    left, right, whole = (interval_probability(dist, lo, hi) for lo, hi in ((a, b), (b, c), (a, c)))
    for p in (left, right, whole):
        assert 0.0 <= p <= 1.0
    assert left + right == pytest.approx(whole, abs=1e-12)


# --------------------------------------------------------------------------- histograms
def test_histogram_density_matches_numpy_when_all_samples_in_range():
    """With every sample inside the range, is histogram_density numpy.histogram(density=True)?"""
    x = np.random.default_rng(0).normal(size=5_000)
    value_range = (float(x.min()), float(x.max()))
    edges, heights = histogram_density(torch.as_tensor(x), 37, value_range)
    ref_heights, ref_edges = np.histogram(x, bins=37, range=value_range, density=True)
    np.testing.assert_allclose(edges, ref_edges, rtol=0, atol=0)
    np.testing.assert_allclose(heights, ref_heights, rtol=1e-12)
    assert edges.shape == (38,) and heights.shape == (37,)


def test_histogram_density_area_is_fraction_inside_range():
    """With samples outside the range, is the histogram's area the fraction of samples inside it?"""
    x = np.random.default_rng(1).normal(size=4_000)
    edges, heights = histogram_density(x, 20, (-1.0, 1.0))
    inside = np.mean((x >= -1.0) & (x <= 1.0))
    assert np.sum(heights * np.diff(edges)) == pytest.approx(inside, rel=1e-12)
    assert inside < 0.75  # the check above is not the trivial area 1
    counts, _ = np.histogram(x, bins=20, range=(-1.0, 1.0))
    np.testing.assert_allclose(heights, counts / (x.size * 0.1), rtol=1e-12)


def test_histogram_density_list_input_is_not_rounded_to_float32():
    """Is a Python-list sample just above the range's end (1 + 1e-8) left outside, as numpy would?"""
    edges, heights = histogram_density([1.00000001, 0.5], 2, (0.0, 1.0))
    assert np.sum(heights * np.diff(edges)) == pytest.approx(0.5)


@settings(max_examples=60, deadline=None)
@given(
    samples=hs.lists(hs.floats(-50, 50, allow_nan=False), min_size=1, max_size=200),
    bins=hs.integers(1, 40),
    low=hs.floats(-20, 20),
    width=hs.floats(0.1, 40),
)
def test_histogram_density_integrates_to_in_range_fraction(samples, bins, low, width):
    """For any samples, bins and range, does the histogram integrate to the fraction of samples in range?"""
    edges, heights = histogram_density(samples, bins, (low, low + width))
    x = np.asarray(samples)
    fraction = np.mean((x >= low) & (x <= low + width))
    assert np.all(heights >= 0)
    assert np.sum(heights * np.diff(edges)) == pytest.approx(fraction, abs=1e-9)


def exact_l1(samples, dist_ref, bins, value_range):
    """∫ |histogram − p| dx over the range, bin by bin with scipy.integrate.quad."""
    counts, edges = np.histogram(np.asarray(samples, dtype=float), bins=bins, range=value_range)
    heights = counts / (len(samples) * np.diff(edges))
    return sum(
        scipy.integrate.quad(lambda t, h=h: abs(h - dist_ref.pdf(t)), lo, hi)[0]
        for h, lo, hi in zip(heights, edges[:-1], edges[1:], strict=True)
    )


def test_histogram_l1_error_matches_quadrature():
    """Is histogram_l1_error the integral of |histogram − pdf| as scipy.integrate.quad computes it?"""
    x = sample(gaussian(), 2_000, generator(3))
    ours = histogram_l1_error(x, gaussian(), 30, (-4.0, 4.0))
    assert ours == pytest.approx(exact_l1(x.numpy(), st.norm(), 30, (-4.0, 4.0)), abs=2e-3)


def test_histogram_l1_error_decreases_with_n():
    """With a fixed seed, does the L1 error of a 40-bin histogram shrink as n grows 100 → 100,000?"""
    m = mixture(MIX_W, MIX_MU, MIX_SIGMA)
    x = sample(m, 100_000, generator(0))
    errors = [histogram_l1_error(x[:n], m, 40, (-4.5, 5.0)) for n in (100, 1_000, 10_000, 100_000)]
    assert all(later < earlier for earlier, later in itertools.pairwise(errors)), errors
    assert errors[-1] < 0.1


def test_histogram_l1_error_far_away_is_about_two():
    """For a histogram with all its mass far from the density, is the L1 error ≈ 2 (and at most 2)?"""
    x = torch.full((500,), 3.5)
    error = histogram_l1_error(x, gaussian(0.0, 0.1), 40, (-4.0, 4.0))
    assert error == pytest.approx(2.0, abs=1e-3)
    assert error <= 2.0 + 1e-6


# --------------------------------------------------------------------------- sampling
@pytest.mark.parametrize(
    "dist, ref",
    [
        (D.Exponential(torch.tensor(2.0)), st.expon(scale=0.5)),
        (gaussian(1.0, 0.5), st.norm(1.0, 0.5)),
        (D.Laplace(torch.tensor(0.0), torch.tensor(1.0)), st.laplace(0.0, 1.0)),
        (D.Cauchy(torch.tensor(0.0), torch.tensor(1.0)), st.cauchy()),
        (uniform(0.0, 0.25), st.uniform(0.0, 0.25)),
    ],
    ids=["exponential", "normal", "laplace", "cauchy", "uniform"],
)
def test_inverse_cdf_sample_passes_ks_test(dist, ref):
    """Are F⁻¹(U) samples indistinguishable from the target by scipy's KS test (p > 1e-3, fixed seed)?"""
    x = inverse_cdf_sample(dist, 5_000, generator(11))
    assert x.shape == (5_000,)
    assert st.kstest(x.double().numpy(), ref.cdf).pvalue > 1e-3


def test_inverse_cdf_sample_detects_the_wrong_target():
    """Does the same KS check reject exponential samples as normal ones (so the test above can fail)?"""
    x = inverse_cdf_sample(D.Exponential(torch.tensor(1.0)), 5_000, generator(11))
    assert st.kstest(x.double().numpy(), st.norm.cdf).pvalue < 1e-6


def test_inverse_cdf_sample_is_reproducible():
    """Do two generators with the same seed give identical samples, and a different seed different ones?"""
    dist = gaussian()
    first = inverse_cdf_sample(dist, 100, generator(5))
    assert torch.equal(first, inverse_cdf_sample(dist, 100, generator(5)))
    assert not torch.equal(first, inverse_cdf_sample(dist, 100, generator(6)))


def test_inverse_cdf_sample_is_icdf_of_torch_rand():
    """Is each sample F⁻¹(u) for the u that torch.rand draws from the same generator (scipy's ppf)?"""
    u = torch.rand(50, generator=generator(8)).double().numpy()
    x = inverse_cdf_sample(gaussian(), 50, generator(8)).double().numpy()
    np.testing.assert_allclose(x, st.norm.ppf(u), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("u_value", [0.0, 1 - 2**-24], ids=["u=0", "u=max"])
@pytest.mark.parametrize(
    "dist",
    [
        gaussian(),
        D.Laplace(torch.tensor(0.0), torch.tensor(1.0)),
        D.Exponential(torch.tensor(1.0)),
        D.Cauchy(torch.tensor(0.0), torch.tensor(1.0)),
    ],
    ids=["normal", "laplace", "exponential", "cauchy"],
)
def test_inverse_cdf_sample_is_finite_at_extreme_uniform_draws(monkeypatch, dist, u_value):
    """When torch.rand returns exactly 0 (chance 2⁻²⁴ per draw) or its largest value, is F⁻¹(u) finite?"""
    monkeypatch.setattr(torch, "rand", lambda n, generator=None: torch.full((n,), u_value))
    assert torch.isfinite(inverse_cdf_sample(dist, 4)).all()


def test_inverse_cdf_sample_refuses_distribution_without_icdf():
    """Does a mixture (no icdf) raise ValueError saying the distribution has no inverse CDF?"""
    with pytest.raises(ValueError, match="MixtureSameFamily has no inverse CDF"):
        inverse_cdf_sample(mixture(MIX_W, MIX_MU, MIX_SIGMA), 10)


def test_mixture_sample_matches_closed_form_moments():
    """Are the mixture samples' mean and variance within 4 standard errors of Σwμ and Σw(σ²+μ²) − mean²?"""
    w, mu, sigma = map(np.asarray, (MIX_W, MIX_MU, MIX_SIGMA))
    n = 200_000
    x = sample(mixture(MIX_W, MIX_MU, MIX_SIGMA), n, generator(21)).double().numpy()
    mean = np.sum(w * mu)
    var = np.sum(w * (sigma**2 + mu**2)) - mean**2
    d = mu - mean
    fourth = np.sum(w * (d**4 + 6 * d**2 * sigma**2 + 3 * sigma**4))  # E[(X − mean)⁴]
    assert abs(x.mean() - mean) < 4 * math.sqrt(var / n)
    assert abs(x.var() - var) < 4 * math.sqrt((fourth - var**2) / n)
    assert x.shape == (n,)


def test_mixture_sample_component_fractions():
    """Is the fraction of mixture samples below the gap between the modes ≈ the weight 0.3 (4 SE)?"""
    n = 50_000
    x = sample(mixture([0.3, 0.7], [-10.0, 10.0], [1.0, 1.0]), n, generator(2)).numpy()
    assert abs(np.mean(x < 0) - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)


def test_sample_is_reproducible_and_uses_icdf_otherwise():
    """Is `sample` seeded by its generator, and equal to inverse_cdf_sample for a distribution with icdf?"""
    m = mixture(MIX_W, MIX_MU, MIX_SIGMA)
    assert torch.equal(sample(m, 300, generator(4)), sample(m, 300, generator(4)))
    assert torch.equal(
        sample(gaussian(), 300, generator(4)), inverse_cdf_sample(gaussian(), 300, generator(4))
    )


def test_sample_refuses_zero_samples():
    """Does n = 0 raise ValueError naming n, for the mixture and for an invertible distribution?"""
    with pytest.raises(ValueError, match="n must be at least 1"):
        sample(mixture(MIX_W, MIX_MU, MIX_SIGMA), 0)
    with pytest.raises(ValueError, match="n must be at least 1"):
        sample(gaussian(), 0)


# --------------------------------------------------------------------------- KS distance
def float64_mixture() -> D.MixtureSameFamily:
    def t(v):
        return torch.tensor(v, dtype=torch.float64)

    return D.MixtureSameFamily(D.Categorical(probs=t(MIX_W)), D.Normal(t(MIX_MU), t(MIX_SIGMA)))


KS_CASES = {
    "normal": (
        D.Normal(torch.tensor(0.3, dtype=torch.float64), torch.tensor(0.1, dtype=torch.float64)),
        st.norm(0.3, 0.1).cdf,
        lambda rng: rng.normal(0.3, 0.1, 700),
    ),
    "uniform": (uniform(0.0, 0.25), st.uniform(0.0, 0.25).cdf, lambda rng: rng.uniform(-0.02, 0.26, 500)),
    "exponential": (D.Exponential(torch.tensor(1.0)), st.expon.cdf, lambda rng: rng.exponential(1.0, 900)),
    "laplace": (
        D.Laplace(torch.tensor(0.0), torch.tensor(1.0)),
        st.laplace.cdf,
        lambda rng: rng.normal(0, 1, 400),
    ),
    "cauchy": (
        D.Cauchy(torch.tensor(0.0), torch.tensor(1.0)),
        st.cauchy.cdf,
        lambda rng: rng.standard_cauchy(600),
    ),
    "mixture": (float64_mixture(), scipy_mixture_cdf, lambda rng: rng.normal(0, 2, 800)),
}


@pytest.mark.parametrize("name", KS_CASES)
def test_ks_distance_equals_scipy_kstest_statistic(name):
    """Is ks_distance scipy.stats.kstest's statistic to 1e-9, on matching and mismatched samples?"""
    dist, ref_cdf, draw = KS_CASES[name]
    x = draw(np.random.default_rng(list(KS_CASES).index(name)))
    assert ks_distance(torch.as_tensor(x), dist) == pytest.approx(st.kstest(x, ref_cdf).statistic, abs=1e-9)
    assert ks_distance(x.tolist(), dist) == pytest.approx(st.kstest(x, ref_cdf).statistic, abs=1e-9)


def test_ks_distance_of_float32_distribution_close_to_scipy():
    """With float32 parameters (N(0.3, 0.1) from `gaussian`), is ks_distance within 1e-6 of scipy's?"""
    x = np.random.default_rng(9).normal(0.3, 0.1, 1_000)
    expected = st.kstest(x, st.norm(0.3, 0.1).cdf).statistic
    assert ks_distance(x, gaussian(0.3, 0.1)) == pytest.approx(expected, abs=1e-6)


def test_ks_distance_of_one_sample():
    """For one sample at the median, is the KS distance exactly 0.5?"""
    assert ks_distance([0.0], gaussian()) == pytest.approx(0.5, abs=1e-12)


def test_ks_distance_refuses_empty_samples():
    """Do empty samples raise ValueError naming samples?"""
    with pytest.raises(ValueError, match="samples must not be empty"):
        ks_distance([], gaussian())


# --------------------------------------------------------------------------- 2-D benchmarks
def test_ring_centers_angles_radius_and_distinctness():
    """Are ring_centers at angles exactly 2πk/8 on the unit circle, 8 distinct points (last ≠ first)?"""
    centers = ring_centers(8, 1.0).double().numpy()
    assert centers.shape == (8, 2)
    expected = np.stack([np.cos(2 * np.pi * np.arange(8) / 8), np.sin(2 * np.pi * np.arange(8) / 8)], axis=1)
    np.testing.assert_allclose(centers, expected, atol=1e-6)
    np.testing.assert_allclose(np.hypot(centers[:, 0], centers[:, 1]), 1.0, atol=1e-6)
    gaps = np.linalg.norm(centers[:, None] - centers[None], axis=-1) + np.eye(8) * 10
    assert gaps.min() == pytest.approx(2 * math.sin(math.pi / 8), abs=1e-6)  # neighbours 45° apart


def test_ring_centers_radius_scales():
    """Does radius=3 put 5 centres at distance 3 from the origin at angles 2πk/5?"""
    centers = ring_centers(5, 3.0).double().numpy()
    np.testing.assert_allclose(np.hypot(centers[:, 0], centers[:, 1]), 3.0, atol=1e-5)
    angles = np.mod(np.arctan2(centers[:, 1], centers[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(np.sort(angles), 2 * np.pi * np.arange(5) / 5, atol=1e-6)


def test_grid_centers_are_the_5x5_grid():
    """Is grid_centers() the set {-4, -2, 0, 2, 4}², 25 points?"""
    centers = grid_centers().numpy()
    assert centers.shape == (25, 2)
    expected = {(float(a), float(b)) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)}
    assert {(float(a), float(b)) for a, b in centers} == expected


def check_modes(samples: np.ndarray, centers: np.ndarray, std: float) -> None:
    distances = np.linalg.norm(samples[:, None] - centers[None], axis=-1)
    nearest = distances.argmin(axis=1)
    residuals = samples - centers[nearest]
    n, k = len(samples), len(centers)
    # each coordinate's residual is N(0, std²): sample std within 4 standard errors (std/√(2n))
    for j in range(2):
        assert abs(residuals[:, j].std() - std) < 4 * std / math.sqrt(2 * n)
        assert abs(residuals[:, j].mean()) < 4 * std / math.sqrt(n)
    assert np.abs(residuals).max() < 6 * std
    counts = np.bincount(nearest, minlength=k)
    assert np.all(np.abs(counts / n - 1 / k) < 4 * math.sqrt((1 / k) * (1 - 1 / k) / n))


def test_ring_of_gaussians_samples_near_centres():
    """Do ring samples fall on all 8 unit-circle centres equally often, with per-coordinate std 0.01?"""
    torch.manual_seed(0)
    dist = ring_of_gaussians()
    check_modes(dist.sample((20_000,)).double().numpy(), ring_centers().double().numpy(), 0.01)


def test_grid_of_gaussians_samples_near_centres():
    """Do grid samples fall on all 25 centres equally often, with per-coordinate std 0.05?"""
    torch.manual_seed(1)
    dist = grid_of_gaussians()
    check_modes(dist.sample((25_000,)).double().numpy(), grid_centers().double().numpy(), 0.05)


def test_gaussian_mixture_2d_log_prob_matches_scipy():
    """Is the 2-D mixture's log density log(mean_k N(x; c_k, σ²I)) by scipy's multivariate_normal?"""
    centers = np.array([[0.0, 0.0], [1.0, -1.0], [2.0, 0.5]])
    dist = gaussian_mixture_2d(torch.as_tensor(centers), 0.5)
    x = np.random.default_rng(0).normal(size=(20, 2))
    expected = np.log(np.mean([st.multivariate_normal(c, 0.25 * np.eye(2)).pdf(x) for c in centers], axis=0))
    np.testing.assert_allclose(
        dist.log_prob(torch.as_tensor(x, dtype=torch.float32)).numpy(), expected, rtol=1e-5
    )


# --------------------------------------------------------------------------- latent noise and push-forwards
TARGETS = {
    "exponential": (D.Exponential(torch.tensor(1.0)), st.expon.cdf),
    "normal(1, 2)": (gaussian(1.0, 2.0), st.norm(1.0, 2.0).cdf),
    "laplace": (D.Laplace(torch.tensor(0.0), torch.tensor(1.0)), st.laplace.cdf),
    "uniform(0, 0.25)": (uniform(0.0, 0.25), st.uniform(0.0, 0.25).cdf),
    "cauchy": (D.Cauchy(torch.tensor(0.0), torch.tensor(1.0)), st.cauchy.cdf),
}


@pytest.mark.parametrize("kind", ["uniform", "gaussian"])
@pytest.mark.parametrize("target", TARGETS)
def test_matched_transform_reaches_target(kind, target):
    """Does F_target⁻¹ ∘ F_latent push uniform and Gaussian latent noise onto the target (KS p > 1e-3)?"""
    dist, ref_cdf = TARGETS[target]
    z = latent_noise(kind, 5_000, 1, generator(13)).squeeze(1)
    x = matched_transform(latent_distribution(kind), dist)(z)
    assert st.kstest(x.double().numpy(), ref_cdf).pvalue > 1e-3


def test_push_forward_bounded_maps_stay_bounded():
    """From uniform noise, do 'identity' and 'tanh' stay within [-1, 1] (tanh(2z): within ±tanh 2)?"""
    target = gaussian()
    x = push_forward("uniform", "identity", target, 20_000, generator(0))
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert x.min() < -0.99 and x.max() > 0.99  # fills [-1, 1]
    y = push_forward("uniform", "tanh", target, 20_000, generator(0))
    assert y.abs().max() <= math.tanh(2.0) + 1e-6
    torch.testing.assert_close(y, torch.tanh(2 * x))
    g = push_forward("gaussian", "tanh", target, 20_000, generator(0))
    assert g.abs().max() <= 1.0


def test_push_forward_matched_reaches_unbounded_target():
    """From the same bounded uniform noise, does 'matched' reach N(0, 1) beyond ±3 and pass a KS test?"""
    x = push_forward("uniform", "matched", gaussian(), 20_000, generator(0))
    assert x.min() < -3.0 and x.max() > 3.0
    assert st.kstest(x.double().numpy(), st.norm.cdf).pvalue > 1e-3
    e = push_forward("gaussian", "matched", D.Exponential(torch.tensor(1.0)), 20_000, generator(0))
    assert e.min() >= 0 and e.max() > 6.0
    assert st.kstest(e.double().numpy(), st.expon.cdf).pvalue > 1e-3


def test_push_forward_identity_gaussian_is_the_noise():
    """Is 'identity' on Gaussian noise exactly latent_noise's draw, unbounded (|x| > 3 somewhere)?"""
    x = push_forward("gaussian", "identity", gaussian(), 20_000, generator(1))
    assert torch.equal(x, latent_noise("gaussian", 20_000, 1, generator(1)).squeeze(1))
    assert x.abs().max() > 3.0


def test_latent_noise_shapes_and_ranges():
    """Is uniform noise (n, dim) in [-1, 1] with variance 1/3, and Gaussian noise mean 0 / variance 1?"""
    u = latent_noise("uniform", 50_000, 3, generator(2))
    g = latent_noise("gaussian", 50_000, 3, generator(2))
    assert u.shape == g.shape == (50_000, 3)
    assert u.min() >= -1.0 and u.max() < 1.0
    se = 4 / math.sqrt(50_000)
    assert torch.all((u.mean(0)).abs() < se * math.sqrt(1 / 3))
    assert torch.all((u.var(0) - 1 / 3).abs() < se * math.sqrt(4 / 45))  # Var of U² on [-1, 1] is 4/45
    assert torch.all(g.mean(0).abs() < se)
    assert torch.all((g.var(0) - 1).abs() < se * math.sqrt(2))
    assert latent_noise("gaussian", 4, generator=generator(0)).shape == (4, 1)


def test_latent_distribution_matches_latent_noise():
    """Is latent_distribution the marginal of latent_noise (KS p > 1e-3 for each kind)?"""
    for kind, ref in (("uniform", st.uniform(-1, 2).cdf), ("gaussian", st.norm.cdf)):
        assert isinstance(latent_distribution(kind), D.Distribution)
        z = latent_noise(kind, 4_000, 1, generator(3)).squeeze(1).double().numpy()
        assert st.kstest(z, ref).pvalue > 1e-3
        assert ks_distance(z, latent_distribution(kind)) == pytest.approx(
            st.kstest(z, ref).statistic, abs=1e-6
        )


# --------------------------------------------------------------------------- bad inputs
BAD_INPUTS = [
    (ValueError, "scale must be a positive", lambda: gaussian(0.0, -1.0)),
    (ValueError, "scale must be a positive", lambda: gaussian(0.0, 0.0)),
    (ValueError, "scale must be a positive", lambda: gaussian(0.0, math.inf)),
    (TypeError, "scale must be a number", lambda: gaussian(0.0, "1")),
    (TypeError, "scale must be a number", lambda: gaussian(0.0, True)),
    (ValueError, "high must be greater than low", lambda: uniform(1.0, 1.0)),
    (TypeError, "low and high must be numbers", lambda: uniform("0", 1.0)),
    (ValueError, "weights must sum to 1", lambda: mixture([0.5, 0.6], [0.0, 1.0], [1.0, 1.0])),
    (ValueError, "weights must be non-negative", lambda: mixture([-0.5, 1.5], [0.0, 1.0], [1.0, 1.0])),
    (ValueError, "same length", lambda: mixture([0.5, 0.5], [0.0, 1.0, 2.0], [1.0, 1.0])),
    (ValueError, "scales must all be > 0", lambda: mixture([0.5, 0.5], [0.0, 1.0], [1.0, -1.0])),
    (ValueError, "weights must be a non-empty 1-D", lambda: mixture([], [], [])),
    (ValueError, "locs must be a non-empty 1-D", lambda: mixture([1.0], [[0.0]], [1.0])),
    (ValueError, "n_modes must be at least 1", lambda: ring_centers(0)),
    (TypeError, "n_modes must be an int", lambda: ring_centers(8.0)),
    (ValueError, "radius must be a positive", lambda: ring_centers(8, -1.0)),
    (ValueError, "n_per_side must be at least 1", lambda: grid_centers(0)),
    (ValueError, "spacing must be a positive", lambda: grid_centers(5, 0.0)),
    (ValueError, "centers must have shape", lambda: gaussian_mixture_2d(torch.zeros(3, 3), 0.1)),
    (ValueError, "std must be a positive", lambda: ring_of_gaussians(std=-0.01)),
    (ValueError, "n must be at least 1", lambda: inverse_cdf_sample(gaussian(), 0)),
    (TypeError, "n must be an int", lambda: inverse_cdf_sample(gaussian(), 10.0)),
    (ValueError, "bins must be at least 1", lambda: histogram_density([0.1, 0.2], 0, (0.0, 1.0))),
    (ValueError, "bins must be at least 1", lambda: histogram_l1_error([0.1], gaussian(), 0, (0.0, 1.0))),
    (ValueError, "value_range must be", lambda: histogram_density([0.1], 5, (1.0, 0.0))),
    (ValueError, "samples must not be empty", lambda: histogram_density([], 5, (0.0, 1.0))),
    (ValueError, "kind must be 'uniform' or 'gaussian'", lambda: latent_noise("normal", 5)),
    (ValueError, "kind must be 'uniform' or 'gaussian'", lambda: latent_distribution("normal")),
    (ValueError, "n must be at least 1", lambda: latent_noise("uniform", 0)),
    (ValueError, "dim must be at least 1", lambda: latent_noise("uniform", 5, 0)),
    (
        ValueError,
        "transform must be 'identity', 'tanh' or 'matched'",
        lambda: push_forward("uniform", "relu", gaussian(), 10),
    ),
    (ValueError, "kind must be", lambda: push_forward("laplace", "identity", gaussian(), 10)),
]


@pytest.mark.parametrize("error, message, call", BAD_INPUTS, ids=[m for _, m, _ in BAD_INPUTS])
def test_bad_inputs_raise_with_the_argument_named(error, message, call):
    """Does each bad input raise ValueError/TypeError whose message names the offending argument?"""
    with pytest.raises(error, match=message):
        call()


def test_module_reexports_what_the_chapter_uses():
    """Does named_examples offer the chapter's seven distributions, each with a sensible plotting range?"""
    examples = named_examples()
    assert len(examples) == 7
    for example in examples.values():
        lo, hi = example.value_range
        assert lo < hi
        assert interval_probability(example.dist, lo, hi) > 0.9
    assert dists.Example is type(examples["Uniform(0, 0.25)"])


def test_empirical_cdf_is_the_share_at_or_below():
    samples = [3.0, 1.0, 2.0, 2.0]
    assert dists.empirical_cdf(samples, [0.0, 1.0, 2.0, 2.5, 3.0, 9.0]).tolist() == [0, 0.25, 0.75, 0.75, 1.0, 1.0]
    rng = np.random.default_rng(1)
    x, at = rng.normal(size=200), np.linspace(-3, 3, 50)
    assert np.allclose(dists.empirical_cdf(x, at).numpy(), st.ecdf(x).cdf.evaluate(at))
    with pytest.raises(ValueError, match="samples must be a non-empty 1-D sequence"):
        dists.empirical_cdf([], [0.0])
