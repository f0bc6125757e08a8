"""evidence: a claim against its baseline over seeds; the noise baselines of the mode-coverage tables."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from course_utils.evidence import compare, summarize
from course_utils.metrics import mode_coverage, noise_like
from course_utils.training import GANConfig
from course_utils.training.baselines import BASELINES, baseline_samples, format_coverage, mode_coverage_baselines


def test_summary_is_the_mean_and_scipys_standard_error():
    values = [0.2, 0.5, 0.9, 0.4]
    s = summarize(values)
    assert s.mean == pytest.approx(0.5) and s.se == pytest.approx(stats.sem(values)) and s.n == 4
    assert summarize([3.0]).se == 0.0


@pytest.mark.parametrize("bad", [[], [1.0, math.nan], "abc", [1.0, None]])
def test_summary_refuses_what_is_not_one_number_per_seed(bad):
    with pytest.raises(ValueError, match="per seed"):
        summarize(bad)


def test_a_gap_beyond_the_spread_holds_and_one_inside_it_does_not():
    """Is 'the claim beats its baseline' true only when the mean gap clears min_z standard errors and no seed
    contradicts it?"""
    assert compare([1.2, 1.3, 1.25], [0.2, 0.25, 0.3]).holds
    assert not compare([1.2, 1.3, 0.1], [0.2, 0.25, 0.3]).holds  # one seed below the baseline's
    assert not compare([0.26, 0.3, 0.28], [0.2, 0.25, 0.3]).holds  # overlapping
    assert compare([0.1, 0.12], [0.5, 0.6], larger=False).holds
    assert not compare([0.1, 0.12], [0.5, 0.6]).holds  # the wrong sign


def test_paired_differences_remove_what_the_seeds_share():
    """Do paired seeds show a small steady effect that the unpaired spread hides, as a paired t-test does?"""
    base = [0.1, 0.5, 0.9, 0.3]
    claim = [b + 0.05 + 0.002 * i for i, b in enumerate(base)]
    assert not compare(claim, base).holds
    paired = compare(claim, base, paired=True)
    assert paired.holds
    t = stats.ttest_rel(claim, base).statistic
    assert paired.z == pytest.approx(t)
    with pytest.raises(ValueError, match="one baseline value per claim value"):
        compare([1.0, 2.0], [1.0], paired=True)


def test_identical_values_have_infinite_or_no_margin():
    assert compare([2.0, 2.0], [1.0, 1.0]).z == math.inf
    assert not compare([1.0, 1.0], [1.0, 1.0]).holds
    with pytest.raises(ValueError, match="min_z"):
        compare([1.0], [0.0], min_z=-1)


@pytest.mark.parametrize("kind", ["uniform", "gaussian"])
def test_noise_like_matches_the_datas_box_or_moments(kind):
    g = torch.Generator().manual_seed(0)
    points = torch.randn(5_000, 2, generator=g) @ torch.tensor([[2.0, 0.0], [1.0, 0.5]]) + torch.tensor([3.0, -1.0])
    noise = noise_like(points, 200_000, kind, generator=g)
    assert noise.dtype == torch.float32
    noise = noise.double()
    assert noise.shape == (200_000, 2)
    if kind == "uniform":
        low, high = points.min(0).values.double(), points.max(0).values.double()
        assert bool(((noise >= low - 1e-6) & (noise <= high + 1e-6)).all())
        assert bool(((noise.mean(0) - (low + high) / 2).abs() < 0.005 * (high - low)).all())  # se ≈ 0.0006 width
    else:
        assert torch.allclose(noise.mean(0), points.double().mean(0), atol=0.02)
        assert torch.allclose(torch.cov(noise.T), torch.cov(points.double().T), rtol=0.02, atol=0.02)


def test_noise_like_names_its_bad_arguments():
    with pytest.raises(ValueError, match="kind must be one of uniform, gaussian"):
        noise_like(torch.zeros(3, 2), 5, "normal")
    with pytest.raises(ValueError, match="points must have shape"):
        noise_like(torch.zeros(1, 2), 5, "uniform")
    with pytest.raises(ValueError, match="n must be"):
        noise_like(torch.zeros(3, 2), 0, "gaussian")


def test_grid_noise_captures_most_modes_with_few_sharp_samples():
    """Is uniform noise over the grid's box scored as PacGAN's protocol would: most modes 'captured', about 2%
    of its samples high quality, a small reverse KL? (Why a mode count alone proves nothing.)"""
    rows = mode_coverage_baselines(GANConfig.preset("gan", "grid"), seeds=range(3))
    assert set(rows) == set(BASELINES)
    uniform = rows["uniform"]
    assert all(c.modes >= 20 for c in uniform) and all(0.01 < c.fraction_high_quality < 0.04 for c in uniform)
    assert all(c.reverse_kl < 0.35 for c in uniform)
    line = format_coverage(BASELINES["uniform"], uniform, 25)
    assert line.startswith("uniform over the data's box") and "/25" in line


def test_baselines_are_reproducible_and_leave_the_global_stream_alone():
    config = GANConfig.preset("gan", "ring")
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    first = baseline_samples("untrained", config, 4)
    assert torch.equal(torch.rand(1), expected)
    assert torch.equal(first, baseline_samples("untrained", config, 4))
    assert not torch.equal(first, baseline_samples("untrained", config, 5))
    centers = torch.tensor([[0.0, 0.0]])
    assert mode_coverage(baseline_samples("uniform", config, 0), centers, 1.0).modes == 1
    with pytest.raises(ValueError, match="name must be one of"):
        baseline_samples("noise", config, 0)
    with pytest.raises(ValueError, match="mode coverage is defined on ring, grid"):
        mode_coverage_baselines(GANConfig.preset("gan", "moons"))


def test_with_many_seeds_one_contrary_seed_does_not_sink_a_clear_effect():
    """Is 'no seed against it' asked only of few seeds? With 40 seeds a steady effect of 3+ se holds even when one
    seed's difference goes the other way, as a paired t-test would say."""
    g = torch.Generator().manual_seed(0)
    base = torch.rand(40, generator=g).tolist()
    claim = [b + 0.05 + 0.03 * float(torch.randn(1, generator=g)) for b in base]
    claim[0] = base[0] - 0.01  # one seed against
    result = compare(claim, base, paired=True)
    assert not result.separated and result.z > 3 and result.holds
    assert not compare(claim[:5], base[:5], paired=True).holds  # five seeds: the contrary one counts
