"""course_utils.metrics: the mode-coverage protocol on exact samples, and VAE likelihood bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from scipy.spatial.distance import cdist
from torch import nn
from torch.distributions import MultivariateNormal

from course_utils.data import load_digits, make_grid, make_ring
from course_utils.distributions import grid_centers, ring_centers
from course_utils.losses import vae_negative_elbo
from course_utils.metrics import (
    ModeCoverage,
    held_out_elbo,
    importance_weighted_nll,
    mode_coverage,
)
from course_utils.models import MLPVAE, VAE

RING, GRID = ring_centers(), grid_centers()
RING_STD, GRID_STD = 0.01, 0.05
P_WITHIN_3_SIGMA_2D = 1 - math.exp(-9 / 2)  # P(‖ε‖ ≤ 3) for ε ~ N(0, I₂): ‖ε‖² ~ χ²₂ = Exp(1/2)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)



@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)  # the data drawn from torch distributions in these tests is fixed


# --------------------------------------------------------------------------- mode coverage
@pytest.mark.parametrize(
    "make, centers, std, n_modes, kl_bound",
    [(make_ring, RING, RING_STD, 8, 0.01), (make_grid, GRID, GRID_STD, 25, 0.03)],
    ids=["ring", "grid"],
)
def test_true_samples_capture_every_mode_with_near_zero_reverse_kl(make, centers, std, n_modes, kl_bound):
    """Do 2,500 samples of the true ring / grid (the protocol's count) capture 8/8 and 25/25 modes, about
    98.9% high quality, with reverse KL ≈ 0 (its sampling bias is (K - 1) / 2N: 0.0014 and 0.0048)?"""
    result = mode_coverage(make(2500, generator=seeded(0)), centers, std)
    assert isinstance(result, ModeCoverage)
    assert result.modes == n_modes
    assert abs(result.fraction_high_quality - P_WITHIN_3_SIGMA_2D) < 4 * math.sqrt(0.011 * 0.989 / 2500)
    assert 0 <= result.reverse_kl < kl_bound
    assert sum(result.counts) == round(result.fraction_high_quality * 2500)


def test_high_quality_fraction_is_the_2d_three_sigma_probability():
    """On 200,000 true ring samples, is the high-quality fraction 1 - e^{-9/2} = P(χ²₂ ≤ 9) ≈ 0.9889 (the
    protocol's 3σ is a radius in the plane), clearly not the 1-D rule's 0.9973?"""
    n = 200_000
    fraction = mode_coverage(make_ring(n, generator=seeded(1)), RING, RING_STD).fraction_high_quality
    se = math.sqrt(P_WITHIN_3_SIGMA_2D * (1 - P_WITHIN_3_SIGMA_2D) / n)  # ≈ 0.00023
    assert P_WITHIN_3_SIGMA_2D == pytest.approx(st.chi2(2).cdf(9))
    assert abs(fraction - P_WITHIN_3_SIGMA_2D) < 4 * se
    assert abs(fraction - (2 * st.norm.cdf(3) - 1)) > 20 * se


@pytest.mark.parametrize("centers, std", [(RING, RING_STD), (GRID, GRID_STD)], ids=["ring", "grid"])
def test_all_samples_at_one_mode_is_one_mode_and_reverse_kl_log_k(centers, std):
    """Is a generator that collapses onto one mode scored 1 mode, 100% high quality, reverse KL = log K?"""
    samples = centers[3] + std * torch.randn(2500, 2, generator=seeded(2)).clamp(-2, 2)  # within 2√2 σ
    result = mode_coverage(samples, centers, std)
    assert result.modes == 1 and result.fraction_high_quality == 1.0
    assert result.reverse_kl == pytest.approx(math.log(len(centers)))
    assert result.counts[3] == 2500


def test_far_away_samples_capture_nothing():
    """Are samples far from every mode scored 0 modes, 0% high quality and reverse KL nan (no histogram)?"""
    result = mode_coverage(torch.full((100, 2), 5.0), RING, RING_STD)
    assert result.modes == 0 and result.fraction_high_quality == 0.0
    assert math.isnan(result.reverse_kl)
    assert result.counts == (0,) * 8


def test_only_high_quality_samples_enter_the_histogram():
    """With 100 samples on mode 0 and 700 low-quality samples (5σ from modes 1..7), is the reverse KL log 8,
    the KL of the high-quality samples only (all on one mode), and 1 mode captured out of 8?"""
    on_mode_0 = RING[0].expand(100, 2)
    direction = torch.tensor([1.0, 0.0])
    nearby = (RING[1:] + 5 * RING_STD * direction).repeat_interleave(100, dim=0)  # (700, 2), not high quality
    result = mode_coverage(torch.cat([on_mode_0, nearby]), RING, RING_STD)
    assert result.modes == 1
    assert result.fraction_high_quality == pytest.approx(100 / 800)
    assert result.reverse_kl == pytest.approx(math.log(8))


def test_two_equal_modes_give_reverse_kl_log_4():
    """Half the samples on each of two ring modes: is KL((1/2, 1/2, 0, ...) ‖ uniform over 8) = log 4,
    with empty modes contributing 0·log 0 = 0?"""
    samples = torch.cat([RING[0].expand(50, 2), RING[5].expand(50, 2)])
    result = mode_coverage(samples, RING, RING_STD)
    assert result.modes == 2
    assert result.reverse_kl == pytest.approx(math.log(4))


def test_three_sigma_boundary_and_non_finite_samples():
    """Is a sample just inside 3σ high quality, one just outside not, and a NaN or inf sample never?"""
    centers = RING.double()  # float64 throughout: a 1e-6 margin is below float32's rounding of 1.03
    inside = centers[2] + torch.tensor([0.0, 3 * RING_STD * (1 - 1e-6)], dtype=torch.float64)
    outside = centers[2] + torch.tensor([0.0, 3 * RING_STD * (1 + 1e-6)], dtype=torch.float64)
    bad = torch.tensor([[math.nan, 0.0], [math.inf, 1.0]], dtype=torch.float64)
    result = mode_coverage(torch.stack([inside, outside, *bad]), centers, RING_STD)
    assert result.counts[2] == 1 and sum(result.counts) == 1
    assert result.fraction_high_quality == 0.25


def reference_mode_coverage(samples: np.ndarray, centers: np.ndarray, std: float) -> tuple[int, float, float]:
    """The protocol written out with scipy and numpy."""
    d = cdist(samples, centers)
    nearest, dist = d.argmin(1), d.min(1)
    high = dist <= 3 * std
    counts = np.bincount(nearest[high], minlength=len(centers))
    p = counts / counts.sum()
    kl = st.entropy(p, np.full(len(centers), 1 / len(centers)))  # KL(p ‖ uniform), 0·log 0 = 0
    return int((counts > 0).sum()), float(high.mean()), float(kl)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mode_coverage_matches_a_scipy_reference_on_a_partial_collapse(seed):
    """For a generator that covers 5 of 8 modes unevenly and blurrily, do all three numbers match scipy?"""
    gen = seeded(seed)
    weights = torch.tensor([0.4, 0.3, 0.1, 0.1, 0.1, 0.0, 0.0, 0.0])
    mode = torch.multinomial(weights, 3000, replacement=True, generator=gen)
    samples = RING[mode] + 0.02 * torch.randn(3000, 2, generator=gen)  # σ twice the protocol's: many rejected
    got = mode_coverage(samples, RING, RING_STD)
    modes, fraction, kl = reference_mode_coverage(samples.double().numpy(), RING.double().numpy(), RING_STD)
    assert got.modes == modes == 5
    assert got.fraction_high_quality == pytest.approx(fraction)
    assert got.reverse_kl == pytest.approx(kl, rel=1e-9)


@pytest.mark.parametrize("std, samples", [(0.0, torch.zeros(3, 2)), (-1.0, torch.zeros(3, 2)),
                                          (0.01, torch.zeros(3)), (0.01, torch.zeros(0, 2))])
def test_mode_coverage_refuses_bad_inputs(std, samples):
    """Are a non-positive std and samples that are not a non-empty (N, D) array refused with ValueError?"""
    with pytest.raises(ValueError):
        mode_coverage(samples, RING, std)


# --------------------------------------------------------------------------- VAE likelihood bounds
def exact_linear_gaussian_vae() -> tuple[VAE, MultivariateNormal]:
    """A linear-Gaussian VAE whose encoder is the exact posterior, and its marginal p(x) (probabilistic PCA).

    p(z) = N(0, I₂), p(x | z) = N(W z + b, s² I₃) with orthogonal columns in W, so the posterior
    N(C Wᵀ(x - b)/s², C), C = (I + WᵀW/s²)⁻¹, is diagonal and the encoder can represent it exactly.
    """
    w = torch.tensor([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=torch.float64)  # (3, 2)
    b = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
    s = 0.5
    cov_post = torch.linalg.inv(torch.eye(2, dtype=torch.float64) + w.T @ w / s**2)  # diag(1/17, 1/5)
    encoder, decoder = nn.Linear(3, 4).double(), nn.Linear(2, 3).double()
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.weight[:2] = cov_post @ w.T / s**2  # μ = C Wᵀ (x - b) / s²
        encoder.bias[:2] = -(cov_post @ w.T / s**2) @ b
        encoder.bias[2:] = torch.diagonal(cov_post).log()  # log σ² constant in x
        decoder.weight.copy_(w)
        decoder.bias.copy_(b)
    model = VAE(encoder, decoder, latent_dim=2, likelihood="gaussian", obs_std=s).double()
    marginal = MultivariateNormal(b, w @ w.T + s**2 * torch.eye(3, dtype=torch.float64))
    return model, marginal


@pytest.mark.parametrize("k", [1, 7, 50])
def test_iwae_is_exact_when_the_encoder_is_the_true_posterior(k):
    """With q(z|x) = p(z|x), every importance weight equals p(x): is the IWAE NLL -log p(x) exactly, for any k?"""
    model, marginal = exact_linear_gaussian_vae()
    x = marginal.sample((40,))
    nll = importance_weighted_nll(model, x, k=k, generator=seeded(k), batch_size=16)
    # rel 1e-8, not 1e-12: the obs_logvar buffer was made in float32 before model.double()
    assert nll == pytest.approx(float(-marginal.log_prob(x).mean()), rel=1e-8)


def test_held_out_elbo_equals_log_likelihood_in_expectation_for_the_exact_posterior():
    """With KL(q ‖ posterior) = 0, is the held-out ELBO log p(x) on average (within 4 standard errors)?"""
    model, marginal = exact_linear_gaussian_vae()
    x = marginal.sample((50,)).repeat(200, 1)  # 200 draws of z for each of 50 points
    estimate = held_out_elbo(model, x, generator=seeded(0), batch_size=1000)
    # with the exact posterior, ELBO estimate - log p(x) = log q(z|x) - log p(z) - KL, mean 0; per dimension its
    # variance is μ²σ² + ½(1 - σ²)², about 1 in all here, so 2 per draw is a safe bound
    assert estimate == pytest.approx(float(marginal.log_prob(x).mean()), abs=4 * math.sqrt(2 / len(x)))


@pytest.fixture(scope="module")
def trained_vae():
    """A small seeded VAE (latent 2) trained for 300 steps on the digits, and 300 test images."""
    torch.manual_seed(0)
    digits = load_digits()
    model = MLPVAE(data_dim=64, latent_dim=2, hidden=64, depth=1)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = seeded(0)
    for _ in range(300):
        batch = digits.x_train[torch.randint(len(digits.x_train), (128,), generator=gen)]
        loss = vae_negative_elbo(model, batch, gen).mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval(), digits.x_test[:300]


def test_iwae_with_k_1_is_the_negative_elbo_in_expectation(trained_vae):
    """Over 30 seeds, does the k = 1 IWAE NLL agree with -ELBO (analytic KL) within 4 standard errors,
    though the two estimators differ draw by draw?"""
    model, x = trained_vae
    iwae = np.array([importance_weighted_nll(model, x, k=1, generator=seeded(s)) for s in range(30)])
    neg_elbo = np.array([-held_out_elbo(model, x, generator=seeded(100 + s)) for s in range(30)])
    se = math.sqrt(iwae.var(ddof=1) / 30 + neg_elbo.var(ddof=1) / 30)
    assert abs(iwae.mean() - neg_elbo.mean()) < 4 * se
    assert se < 0.05  # the comparison is sharp: a missing log p(z) - log q(z|x) term moves it by nats


def iwae_over_seeds(model, x, k: int, seeds: int = 5) -> tuple[float, float]:
    """Mean and standard error of the IWAE NLL over independent seeds."""
    values = np.array([importance_weighted_nll(model, x, k=k, generator=seeded(s)) for s in range(seeds)])
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(seeds))


def test_iwae_bound_tightens_with_k(trained_vae):
    """On a seeded small model, does the IWAE NLL fall from k = 1 to 10 to 100 (Burda et al. 2016, Thm 1),
    each step by more than 4 standard errors over 5 seeds?"""
    model, _ = trained_vae
    x = load_digits().x_train[:1000]  # the bound holds on any data; more rows, smaller standard errors
    (m1, s1), (m10, s10), (m100, s100) = (iwae_over_seeds(model, x, k) for k in (1, 10, 100))
    assert m1 - m10 > 4 * math.hypot(s1, s10)
    assert m10 - m100 > 4 * math.hypot(s10, s100)


def test_iwae_gap_closes_from_the_elbo_gap_to_zero():
    """With an encoder whose variances are e^{1.5} times the true posterior's, is the k = 1 gap to -log p(x)
    the closed-form KL(q ‖ p(z|x)) = 2 · ½(e^{1.5} - 1 - 1.5), and the k = 1000 gap ≈ 0 (L_k → log p(x))?"""
    model, marginal = exact_linear_gaussian_vae()
    with torch.no_grad():
        model.encoder.bias[2:] += 1.5  # log σ² too large by 1.5 in both latent dimensions
    x = marginal.sample((1000,))
    true_nll = float(-marginal.log_prob(x).mean())
    kl_gap = 2 * 0.5 * (math.exp(1.5) - 1 - 1.5)  # ≈ 1.98 nats
    (m1, s1), (m10, _), (m1000, s1000) = (iwae_over_seeds(model, x, k) for k in (1, 10, 1000))
    assert m1 - true_nll == pytest.approx(kl_gap, abs=4 * s1 + 0.01)
    assert m1 > m10 > m1000
    assert abs(m1000 - true_nll) < 4 * s1000 + 0.002


def test_metrics_restore_the_training_mode_and_refuse_bad_k():
    """Do the VAE metrics leave a model in training mode as they found it, and refuse k = 0?"""
    model = MLPVAE(data_dim=4, latent_dim=2, hidden=4).train()
    x = torch.rand(10, 4)
    held_out_elbo(model, x)
    importance_weighted_nll(model, x, k=3)
    assert model.training
    with pytest.raises(ValueError, match="k must be a positive int"):
        importance_weighted_nll(model, x, k=0)
