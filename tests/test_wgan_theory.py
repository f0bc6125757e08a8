"""wgan_theory: the parallel lines (Arjovsky et al. 2017, Example 1) and a critic's Lipschitz constant."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from course_utils.divergences import wasserstein_samples
from course_utils.models import MLPDiscriminator
from course_utils.training import GANConfig, build_gan
from course_utils.wgan_theory import (
    critic_gradient_norms,
    lipschitz_estimate,
    parallel_lines,
    parallel_lines_samples,
)


@pytest.mark.parametrize("theta", [-0.7, 0.05, 2.0])
def test_apart_the_lines_have_infinite_kl_js_log_2_and_w1_theta(theta: float):
    assert parallel_lines(theta) == {"W1": abs(theta), "JS": math.log(2), "KL": math.inf, "TV": 1.0}


def test_on_top_of_each_other_everything_is_0():
    assert parallel_lines(0.0) == {"W1": 0.0, "JS": 0.0, "KL": 0.0, "TV": 0.0}
    with pytest.raises(ValueError, match="theta must be a finite number"):
        parallel_lines(math.nan)


@pytest.mark.parametrize("theta", [0.3, 1.0])
def test_the_samples_transport_distance_is_theta(theta: float):
    """Is the exact W1 of 400 sampled points of each line |θ|, up to the vertical mismatch of the samples?"""
    left, right = parallel_lines_samples(theta, 400, torch.Generator().manual_seed(0))
    assert left.shape == right.shape == (400, 2) and bool((left[:, 0] == 0).all())
    assert bool((right[:, 0] == theta).all()) and 0 <= float(right[:, 1].min()) and float(right[:, 1].max()) <= 1
    assert float(wasserstein_samples(left, right)) == pytest.approx(theta, abs=0.01)


def test_a_linear_critics_lipschitz_constant_is_its_weights_norm():
    critic = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[3.0, -4.0]]))
    assert lipschitz_estimate(critic, (-1, 1), (-1, 1), 8) == pytest.approx(5.0)
    norms = critic_gradient_norms(critic, torch.randn(10, 2))
    assert torch.allclose(norms, torch.full((10,), 5.0)) and critic[0].weight.grad is None


def test_spectral_normalisation_keeps_a_critic_1_lipschitz():
    """An MLP critic with spectrally normalised layers (and LeakyReLU, itself 1-Lipschitz): is ‖∇f‖ ≤ 1, where
    the plain one with larger weights goes above?"""
    torch.manual_seed(0)
    plain = MLPDiscriminator(2, 128, 3)
    torch.manual_seed(0)
    normalised = MLPDiscriminator(2, 128, 3, spectral_norm=True)
    for _ in range(20):  # power iteration: a few forward passes in training mode settle σ's estimate
        normalised(torch.randn(64, 2))
    normalised.eval()
    assert lipschitz_estimate(normalised, (-3, 3), (-3, 3), 32) <= 1.0 + 1e-3
    with torch.no_grad():  # without the normalisation nothing holds the constant: weights 3× larger
        for parameter in plain.parameters():
            parameter.mul_(3)
    assert lipschitz_estimate(plain, (-3, 3), (-3, 3), 32) > 1.0


def test_the_config_builds_a_spectrally_normalised_critic():
    _, critic = build_gan(GANConfig(loss="wgan", spectral_norm=True), data_dim=2)
    assert any("parametrizations" in name for name, _ in critic.named_modules())
    with pytest.raises(ValueError, match="spectral_norm must be True or False"):
        GANConfig(spectral_norm=1)
