"""wgan_theory: the parallel lines (Arjovsky et al. 2017, Example 1) and a critic's Lipschitz constant."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from torch import nn

from course_utils.divergences import wasserstein_1d, wasserstein_samples
from course_utils.models import MLPDiscriminator
from course_utils.training import GANConfig, build_gan
from course_utils.wgan_theory import (
    CRITIC_KINDS,
    critic_function,
    critic_gradient_norms,
    dual_objective,
    far_mass_example,
    interpolate_gradient_norms,
    lipschitz_estimate,
    optimal_critic_1d,
    optimal_critic_function,
    parallel_lines,
    parallel_lines_samples,
    penalised_critic_slopes,
    recorded_coverage,
    theta_gradient,
    train_critic,
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


@pytest.mark.parametrize("sizes", [(300, 300), (200, 450), (1, 7)])
def test_the_optimal_1d_critic_attains_w1_and_is_1_lipschitz(sizes):
    """Kantorovich-Rubinstein in 1-D: does the critic with slope sign(F_y − F_x) give E_x f − E_y f = W1 (scipy's),
    with every slope in [-1, 1]?"""
    rng = torch.Generator().manual_seed(sum(sizes))
    x = torch.randn(sizes[0], generator=rng, dtype=torch.float64)
    y = 0.5 * torch.randn(sizes[1], generator=rng, dtype=torch.float64) + 0.8
    knots, values = optimal_critic_1d(x, y)
    dual = np.interp(x.numpy(), knots, values).mean() - np.interp(y.numpy(), knots, values).mean()
    assert dual == pytest.approx(st.wasserstein_distance(x.numpy(), y.numpy()), rel=1e-9, abs=1e-12)
    assert np.all(np.abs(np.diff(values)) <= np.diff(knots) + 1e-12) and values[0] == 0  # |Δf| ≤ |Δt|


def test_the_dual_objective_of_the_optimal_critic_function_is_w1_and_a_trained_critic_stays_below():
    """E_x f* − E_y f* = W₁ for the optimal critic as a function; a 1-Lipschitz trained critic (spectral norm)
    scores no more than W₁, and critic_function turns its (N, 1) input into a function of a 1-D tensor."""
    rng = torch.Generator().manual_seed(3)
    x = torch.randn(500, generator=rng, dtype=torch.float64)
    y = torch.randn(500, generator=rng, dtype=torch.float64) + 2.0
    w1 = float(wasserstein_1d(x, y))
    assert dual_objective(optimal_critic_function(x, y), x, y) == pytest.approx(w1, rel=1e-9)
    trained = critic_function(train_critic(x[:, None], y[:, None], "sn", steps=100))
    scores = trained(torch.linspace(-3.0, 3.0, 7, dtype=torch.float64))
    assert scores.shape == (7,) and scores.dtype == torch.float64
    assert dual_objective(trained, x, y) <= w1 + 0.05


def test_the_optimal_1d_critic_refuses_what_is_not_a_1d_sample():
    with pytest.raises(ValueError, match="y must be a non-empty 1-D tensor"):
        optimal_critic_1d(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="x must be a non-empty 1-D tensor of finite samples"):
        optimal_critic_1d(torch.tensor([0.0, math.inf]), torch.zeros(3))


def _shifted_gaussians(n: int = 1_000) -> tuple[torch.Tensor, torch.Tensor]:
    rng = torch.Generator().manual_seed(3)
    return torch.randn(n, 1, generator=rng), torch.randn(n, 1, generator=rng) + 2.0


def test_trained_critics_estimate_w1_as_their_constraint_allows():
    """Two 1-D Gaussians 2 apart. A spectrally normalised critic is 1-Lipschitz, so its E_real f − E_fake f is at
    most the samples' W1 (duality), and close to it; the gradient penalty is a soft constraint: slopes above 1, an
    estimate within 20 % that may overshoot; a clipped critic is K-Lipschitz for a tiny K and reports a sliver."""
    real, fake = _shifted_gaussians()
    exact = float(wasserstein_1d(real[:, 0], fake[:, 0]))
    on_the_line = torch.linspace(-4.0, 6.0, 500)[:, None]
    estimates, slopes = {}, {}
    for kind in ("gp", "sn", "clip"):
        critic = train_critic(real, fake, kind, steps=300)
        with torch.no_grad():
            estimates[kind] = float(critic(real).mean() - critic(fake).mean())
        slopes[kind] = float(critic_gradient_norms(critic, on_the_line).max())
    assert 0.85 * exact <= estimates["sn"] <= exact + 1e-4 and slopes["sn"] <= 1 + 1e-3
    assert estimates["gp"] == pytest.approx(exact, rel=0.2) and slopes["gp"] > 1
    assert 0 < estimates["clip"] < 0.05 * exact and slopes["clip"] < 0.05


def test_only_a_wasserstein_critic_pushes_the_parallel_line_home():
    """Arjovsky et al.'s Figure 1 as gradients: a trained GAN discriminator gives the minimax generator (almost) no
    gradient in θ, a WGAN critic under a gradient penalty about 1, each pointing θ towards 0."""
    for theta in (0.5, -1.0):
        left, right = parallel_lines_samples(theta, 2_000, torch.Generator().manual_seed(1))
        gan = theta_gradient(train_critic(left, right, "gan", steps=300), "gan", theta)
        wgan = theta_gradient(train_critic(left, right, "gp", steps=300), "gp", theta)
        assert abs(gan) < 1e-3
        assert math.copysign(1, wgan) == math.copysign(1, theta) and abs(wgan) == pytest.approx(1.0, abs=0.15)


def test_train_critic_and_theta_gradient_refuse_bad_arguments():
    real, fake = _shifted_gaussians(10)
    with pytest.raises(ValueError, match="kind must be one of 'gan', 'clip', 'gp', 'sn'"):
        train_critic(real, fake, "wgan")
    with pytest.raises(ValueError, match=r"real and fake must be \(N, D\) and \(M, D\)"):
        train_critic(real[:, 0], fake, "gp")
    with pytest.raises(ValueError, match="kind must be one of"):
        theta_gradient(nn.Linear(2, 1), "critic", 0.5)
    assert set(CRITIC_KINDS) == {"gan", "clip", "gp", "sn"}


def test_a_spectrally_normalised_wgan_critic_is_not_clipped():
    """loss="wgan" with spectral_norm=True trains an SN critic with Adam and leaves its weights unclipped."""
    from course_utils.training import train_gan_models

    config = GANConfig.preset("wgan", "ring", spectral_norm=True, steps=20, eval_every=20, batch_size=64)
    assert (config.optimizer, config.lr, config.betas) == ("adam", 1e-4, (0.5, 0.9))
    _, models = train_gan_models(config, progress=False)
    largest = max(float(p.detach().abs().max()) for p in models["critic"].parameters())
    assert largest > 10 * config.clip_value
    clipped = GANConfig.preset("wgan", "ring", steps=20, eval_every=20, batch_size=64)
    _, models = train_gan_models(clipped, progress=False)
    assert max(float(p.detach().abs().max()) for p in models["critic"].parameters()) <= clipped.clip_value


@pytest.mark.parametrize("n", [2, 10, 1_000])
def test_far_mass_converges_in_distribution_with_w1_stuck_at_1(n: int):
    """(1 − 1/n)δ₀ + (1/n)δ_n against δ₀: is the CDF gap 1/n while W₁ (scipy's too) and the mean stay 1?"""
    example = far_mass_example(n)
    reference = st.wasserstein_distance([0.0, n], [0.0], u_weights=[1 - 1 / n, 1 / n])
    assert example["sup_cdf_gap"] == pytest.approx(1 / n, rel=1e-12)
    assert example["W1"] == pytest.approx(1.0, rel=1e-12) and example["W1"] == pytest.approx(reference, rel=1e-12)
    assert example["mean"] == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="n must be an int >= 2"):
        far_mass_example(1)


def test_interpolate_gradient_norms_of_a_linear_critic_are_its_weights_norm():
    critic = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))
    with torch.no_grad():
        critic[0].weight.copy_(torch.tensor([[0.6, -0.8]]))
    norms = interpolate_gradient_norms(critic, torch.randn(5, 2), torch.randn(5, 2), torch.Generator().manual_seed(0))
    assert torch.allclose(norms, torch.ones(5))
    with pytest.raises(ValueError, match=r"real and fake must both be \(B, D\)"):
        interpolate_gradient_norms(critic, torch.randn(5, 2), torch.randn(4, 2), torch.Generator())


def test_a_small_penalty_weight_lets_the_critics_slopes_grow_past_1():
    """Two 1-D Gaussians 2 apart: at λ = 10 the penalised critic's slopes between them stay near 1; at λ = 0.1
    they grow towards 1 + d/(2λ), several times 1."""
    real, fake = _shifted_gaussians()
    strong = penalised_critic_slopes(real, fake, 10.0, steps=300)
    weak = penalised_critic_slopes(real, fake, 0.1, steps=300)
    assert strong.shape == weak.shape == (1_000,)
    assert float(strong.median()) == pytest.approx(1.0, abs=0.2)
    assert float(weak.median()) > 3.0


def test_recorded_coverage_reads_the_history_at_a_step():
    from course_utils.training.history import History

    history = History(metric_step=[500, 1000], metrics={"modes": [20.0, 25.0], "high_quality": [0.02, 0.6],
                                                         "reverse_kl": [0.4, 0.01]})
    assert recorded_coverage(history) == recorded_coverage(history, 1000)
    first = recorded_coverage(history, 500)
    assert (first.modes, first.fraction_high_quality, first.reverse_kl) == (20, 0.02, 0.4)
    with pytest.raises(ValueError, match="no evaluation at step 750"):
        recorded_coverage(history, 750)
    with pytest.raises(ValueError, match="recorded no mode coverage"):
        recorded_coverage(History())
