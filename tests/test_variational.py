"""course_utils.variational (and the metrics chapter 09 uses) against closed forms: a VAE with a linear decoder
and a Gaussian likelihood is probabilistic PCA, whose log p(x) and posterior p(z | x) are known exactly."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from course_utils.data import load_digits
from course_utils.losses import elbo, gaussian_kl_standard, reconstruction_log_likelihood
from course_utils.metrics import classifier_verdict, importance_weighted_bound, recognised_and_clear
from course_utils.models import MLPVAE, VAE
from course_utils.variational import (
    active_units,
    kl_per_dimension,
    kl_to_posterior,
    latent_grid,
    log_joint_on_grid,
    log_marginal_by_quadrature,
    monte_carlo_elbo,
    posterior_moments,
    rate_and_distortion,
    reparameterised_gradients,
    score_beta_sweep,
    score_function_gradients,
)

OBS_STD = 0.5


def linear_gaussian_vae(latent_dim: int, data_dim: int = 3, seed: int = 0) -> VAE:
    """x = W z + b + noise (σ = OBS_STD): probabilistic PCA, with a random linear encoder."""
    torch.manual_seed(seed)
    return VAE(nn.Linear(data_dim, 2 * latent_dim), nn.Linear(latent_dim, data_dim), latent_dim,
               likelihood="gaussian", obs_std=OBS_STD).double().eval()


def exact_marginal(model: VAE) -> MultivariateNormal:
    weight, bias = model.decoder.weight.detach(), model.decoder.bias.detach()  # (D, L), (D,)
    return MultivariateNormal(bias, weight @ weight.T + OBS_STD**2 * torch.eye(len(bias), dtype=bias.dtype))


def exact_posterior(model: VAE, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean (B, L) and covariance (L, L) of p(z | x) (Tipping & Bishop 1999, eq. 6)."""
    weight, bias = model.decoder.weight.detach(), model.decoder.bias.detach()
    precision = torch.eye(weight.shape[1], dtype=x.dtype) + weight.T @ weight / OBS_STD**2
    covariance = torch.linalg.inv(precision)
    return (x - bias) @ weight @ covariance.T / OBS_STD**2, covariance


@pytest.mark.parametrize("latent_dim", [1, 2])
def test_quadrature_gives_the_exact_log_likelihood_of_probabilistic_pca(latent_dim):
    model = linear_gaussian_vae(latent_dim)
    x = exact_marginal(model).sample((6,))
    grid = latent_grid(latent_dim, half_width=8.0, points=801 if latent_dim == 1 else 301)
    torch.testing.assert_close(log_marginal_by_quadrature(model, x, grid), exact_marginal(model).log_prob(x),
                               atol=1e-4, rtol=0)


def test_posterior_moments_match_the_closed_form_posterior():
    model = linear_gaussian_vae(2)
    x = exact_marginal(model).sample((4,))
    mean, std = posterior_moments(model, x, latent_grid(2, half_width=8.0, points=301))
    expected_mean, covariance = exact_posterior(model, x)
    torch.testing.assert_close(mean.double(), expected_mean, atol=1e-4, rtol=0)
    torch.testing.assert_close(std.double(), covariance.diagonal().sqrt().expand_as(std), atol=1e-4, rtol=0)


def test_log_joint_uses_the_library_bernoulli_likelihood():
    torch.manual_seed(1)
    model = MLPVAE(data_dim=5, latent_dim=2, hidden=8).eval()
    x, grid = torch.rand(3, 5), latent_grid(2, points=7)
    expected = torch.stack([reconstruction_log_likelihood(xi.expand(len(grid.z), 5), model.decode(grid.z))
                            for xi in x]) - 0.5 * (grid.z.pow(2).sum(1) + 2 * math.log(2 * math.pi))
    torch.testing.assert_close(log_joint_on_grid(model, x, grid).float(), expected.detach(), atol=1e-4, rtol=1e-5)


def test_log_likelihood_minus_the_gap_is_the_elbo():
    """log p(x) − KL(q ‖ p(z | x)) equals the ELBO (each side computed its own way), and the gap is ≥ 0."""
    model = linear_gaussian_vae(2)
    x = exact_marginal(model).sample((5,))
    grid = latent_grid(2, half_width=8.0, points=301)
    gap = kl_to_posterior(model, x, grid)
    assert bool((gap > 0).all())
    mc = monte_carlo_elbo(model, x, samples=200_000, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(log_marginal_by_quadrature(model, x, grid).float() - gap, mc.float(), atol=2e-2,
                               rtol=0)


def set_encoder_to_posterior(model: VAE, inflate: float = 1.0) -> VAE:
    """Make the linear encoder output the exact posterior of probabilistic PCA, its variance times ``inflate``."""
    weight, bias = model.decoder.weight.detach(), model.decoder.bias.detach()
    latent = weight.shape[1]
    precision = torch.eye(latent, dtype=weight.dtype) + weight.T @ weight / OBS_STD**2
    covariance = torch.linalg.inv(precision)  # the posterior's covariance, the same for every x
    gain = covariance @ weight.T / OBS_STD**2  # (L, D): mean = gain (x - b)
    with torch.no_grad():
        model.encoder.weight[:latent] = gain
        model.encoder.bias[:latent] = -gain @ bias
        model.encoder.weight[latent:] = 0.0
        model.encoder.bias[latent:] = torch.log(covariance.diagonal() * inflate)
    return model


def test_kl_to_posterior_is_zero_when_q_is_the_posterior():
    model = set_encoder_to_posterior(linear_gaussian_vae(1))
    x = exact_marginal(model).sample((3,))
    assert float(kl_to_posterior(model, x, latent_grid(1, half_width=8.0, points=4001)).abs().max()) < 1e-6


def test_monte_carlo_elbo_agrees_with_the_one_sample_elbo_on_average():
    torch.manual_seed(2)
    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8).eval()
    x = torch.rand(4, 6)
    one_sample = torch.stack([elbo(x, *model(x, generator=torch.Generator().manual_seed(s))) for s in range(4_000)])
    torch.testing.assert_close(monte_carlo_elbo(model, x, samples=20_000, generator=torch.Generator().manual_seed(0)),
                               one_sample.mean(0).detach(), atol=0.03, rtol=0)


def test_monte_carlo_elbo_refuses_no_samples_and_leaves_the_model_in_its_mode():
    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8).train()
    with pytest.raises(ValueError, match="samples must be a positive int"):
        monte_carlo_elbo(model, torch.rand(2, 6), samples=0)
    monte_carlo_elbo(model, torch.rand(2, 6), samples=3)
    kl_per_dimension(model, torch.rand(2, 6))
    rate_and_distortion(model, torch.rand(2, 6))
    assert model.training  # measured in eval mode, handed back in training mode


def test_iwae_bound_climbs_from_the_elbo_to_the_exact_log_likelihood():
    # q: the posterior's mean, its variances ×3 and no correlation: a gap of a few tenths of a nat
    model = set_encoder_to_posterior(linear_gaussian_vae(2), inflate=3.0).float()
    x = exact_marginal(model).sample((8,)).float()
    exact = exact_marginal(model).log_prob(x.double()).float()
    rng = torch.Generator().manual_seed(0)
    draws = {k: torch.stack([importance_weighted_bound(model, x, k=k, generator=rng) for _ in range(200)])
             for k in (1, 10, 1_000)}  # (200, 8) each
    bounds = {k: d.mean(0) for k, d in draws.items()}
    error = {k: d.std(0) / math.sqrt(len(d)) for k, d in draws.items()}
    for small, large in ((1, 10), (10, 1_000)):  # L_k ≤ L_{k+1} (Burda et al. 2016, Theorem 1), up to noise
        assert bool((bounds[small] <= bounds[large] + 4 * (error[small] + error[large])).all())
    assert float((bounds[1_000] - exact).abs().max()) < 0.05
    assert float((exact - bounds[1]).mean()) > 0.05  # the ELBO is strictly below log p(x) here
    with pytest.raises(ValueError, match="k must be a positive int"):
        importance_weighted_bound(model, x, k=0)


def test_both_gradient_estimators_are_unbiased_and_reparameterisation_has_less_variance():
    """f(z) = ‖z‖²: E_q f = ‖μ‖² + Σ σ², so ∇_μ = 2μ and ∇_{log σ²} = σ²."""
    mu, logvar = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([0.0, -1.0], dtype=torch.float64)
    exact = torch.cat([2 * mu, logvar.exp()])

    def f(z):
        return z.pow(2).sum(1)

    score = score_function_gradients(f, mu, logvar, samples=400_000, generator=torch.Generator().manual_seed(0))
    reparam = reparameterised_gradients(f, mu, logvar, samples=400_000, generator=torch.Generator().manual_seed(1))
    assert score.shape == reparam.shape == (400_000, 4)
    for estimates in (score, reparam):
        standard_error = estimates.std(0) / math.sqrt(len(estimates))
        assert bool(((estimates.mean(0) - exact).abs() < 5 * standard_error + 1e-9).all()), estimates.mean(0)
    assert float(score.var(0).sum()) > 5 * float(reparam.var(0).sum())


def test_a_baseline_keeps_the_score_function_unbiased_and_lowers_its_variance():
    mu, logvar = torch.tensor([0.5], dtype=torch.float64), torch.tensor([0.0], dtype=torch.float64)

    def f(z):
        return 10.0 + z[:, 0]  # E_q f = 10 + μ: ∇_μ = 1, ∇_{log σ²} = 0

    plain = score_function_gradients(f, mu, logvar, samples=200_000, generator=torch.Generator().manual_seed(0))
    centred = score_function_gradients(f, mu, logvar, samples=200_000, generator=torch.Generator().manual_seed(0),
                                       baseline=10.5)
    torch.testing.assert_close(centred.mean(0), torch.tensor([1.0, 0.0], dtype=torch.float64), atol=0.02, rtol=0)
    assert float(centred.var(0).sum()) < 0.1 * float(plain.var(0).sum())


def test_gradient_estimators_refuse_a_batch_of_posteriors():
    with pytest.raises(ValueError, match="mu and logvar must be two vectors"):
        reparameterised_gradients(lambda z: z.sum(1), torch.zeros(2, 3), torch.zeros(2, 3), samples=10)
    with pytest.raises(ValueError, match="samples must be an int"):
        score_function_gradients(lambda z: z.sum(1), torch.zeros(3), torch.zeros(3), samples=1)


def test_grid_checks_its_arguments():
    with pytest.raises(ValueError, match="latent_dim must be 1 or 2"):
        latent_grid(3)
    with pytest.raises(ValueError, match="points"):
        latent_grid(2, points=2)
    with pytest.raises(ValueError, match="build it with latent_grid\\(1\\)"):
        log_joint_on_grid(linear_gaussian_vae(1), torch.zeros(1, 3, dtype=torch.float64), latent_grid(2, points=5))


def collapsed_vae() -> VAE:
    """Latent 3: dimension 0 follows x, dimensions 1 and 2 output the prior for every x (collapsed)."""
    model = MLPVAE(data_dim=4, latent_dim=3, hidden=8, depth=1)
    encoder = nn.Linear(4, 6)
    with torch.no_grad():
        encoder.weight.zero_()
        encoder.bias.zero_()
        encoder.weight[0, 0] = 3.0  # μ_0 = 3 x_0
        encoder.bias[3] = -2.0  # log σ_0² = -2
    model.encoder = encoder
    return model


def test_collapsed_dimensions_have_zero_kl_and_are_not_active():
    model, x = collapsed_vae(), torch.rand(50, 4)
    per_dim = kl_per_dimension(model, x)
    assert per_dim.shape == (3,)
    assert float(per_dim[0]) > 0.3 and float(per_dim[1:].abs().max()) == 0.0
    mu, logvar = model.encode(x)
    torch.testing.assert_close(per_dim.sum(), gaussian_kl_standard(mu, logvar).mean().detach())
    assert active_units(model, x) == 1


def test_rate_plus_distortion_is_the_negative_elbo():
    torch.manual_seed(3)
    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8).eval()
    x = torch.rand(10, 6)
    rate, distortion = rate_and_distortion(model, x, generator=torch.Generator().manual_seed(5))
    expected = -elbo(x, *model(x, generator=torch.Generator().manual_seed(5))).mean()
    assert rate > 0 and distortion > 0
    assert rate + distortion == pytest.approx(float(expected.detach()), rel=1e-6)


def test_beta_sweep_scores_each_model_and_refuses_mismatches():
    digits = load_digits()
    models = (MLPVAE(latent_dim=2, hidden=8), collapsed_like_prior(MLPVAE(latent_dim=2, hidden=8)))
    sweep = score_beta_sweep(digits, (1.0, 4.0), models)
    assert sweep.index(4.0) == 1 and sweep.active[1] == 0 and sweep.rates[1] == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="beta must be one of"):
        sweep.index(2.0)
    with pytest.raises(ValueError, match="one VAE per beta"):
        score_beta_sweep(digits, (1.0, 2.0, 4.0), models)
    with pytest.raises(ValueError, match="distinct"):
        score_beta_sweep(digits, (1.0, 1.0), models)


def collapsed_like_prior(model: VAE) -> VAE:
    """Every x encoded to the prior N(0, I): the fully collapsed posterior."""
    with torch.no_grad():
        last = model.encoder[-1]
        last.weight.zero_()
        last.bias.zero_()
    return model


class Scaled(nn.Module):
    """Logits = scale · x for 3-pixel 'images' and 3 classes."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return self.scale * x


def test_classifier_verdict_counts_confident_images_per_class():
    images = torch.tensor([[1.0, 0, 0], [0, 1.0, 0], [0, 1.0, 0], [0.4, 0.5, 0.45]])
    verdict = classifier_verdict(Scaled(10.0), images, threshold=0.9)
    assert verdict.class_counts == (1, 2, 0)  # the last image is unclear: not confident
    assert verdict.confident_share == pytest.approx(0.75)
    assert verdict.classes_covered == 2
    assert classifier_verdict(Scaled(0.1), images).confident_share == 0.0
    with pytest.raises(ValueError, match="threshold"):
        classifier_verdict(Scaled(1.0), images, threshold=1.0)
    with pytest.raises(ValueError, match="images must be a non-empty"):
        classifier_verdict(Scaled(1.0), images[0])


def test_recognised_and_clear_needs_both_the_classifier_s_confidence_and_clarity():
    """Reference: class 0 at (1, 0, 0), class 1 at (0, 1, 0). A clear, confident image counts; one the classifier
    is sure of but that sits between the classes (clarity ~1) does not; nor does a clear one it is unsure of."""
    reference = torch.tensor([[1.0, 0, 0], [0, 1.0, 0]])
    labels = torch.tensor([0, 1])
    images = torch.tensor([[0.95, 0.0, 0.0], [0.5, 0.5, 0.0], [0.0, 0.9, 0.0]])

    class Sure(nn.Module):  # confident of class 0 for the first two images, unsure of the third
        def forward(self, x):
            return torch.tensor([[9.0, 0.0, 0.0], [9.0, 0.0, 0.0], [0.3, 0.0, 0.0]])

    assert recognised_and_clear(Sure(), images, reference, labels, clarity_threshold=1.5) == (1, 0, 0)
    with pytest.raises(ValueError, match="confidence must lie in"):
        recognised_and_clear(Sure(), images, reference, labels, clarity_threshold=1.5, confidence=0.0)


# ============================================================================ importance weights and their tail
def test_weights_of_the_exact_posterior_are_all_equal_to_p_x():
    """With q the exact posterior, is every importance weight p(x), so the ESS is k and no weight stands out?"""
    from course_utils.variational import effective_sample_size, largest_normalised_weight, proposal_log_weights

    model = set_encoder_to_posterior(linear_gaussian_vae(1))
    x = exact_marginal(model).sample((3,))
    log_w = proposal_log_weights(model, x, k=50, generator=torch.Generator().manual_seed(0))
    assert log_w.shape == (50, 3) and log_w.dtype == torch.float64
    torch.testing.assert_close(log_w, exact_marginal(model).log_prob(x).expand(50, 3), atol=1e-6, rtol=0)
    torch.testing.assert_close(effective_sample_size(log_w), torch.full((3,), 50.0, dtype=torch.float64))
    torch.testing.assert_close(largest_normalised_weight(log_w), torch.full((3,), 1 / 50, dtype=torch.float64))


def test_a_wider_proposal_gives_unbiased_weights_of_the_gaussian_variance():
    """With q the exact posterior N(m, s²) and r = N(m, (c·s)²), is E_r[w / p(x)] = 1 and its variance the χ² of
    two Gaussians, c² / √(2c² − 1) − 1, and one weight's share 1 for k = 1?"""
    from course_utils.variational import largest_normalised_weight, proposal_log_weights

    model = set_encoder_to_posterior(linear_gaussian_vae(1))
    x = exact_marginal(model).sample((2,))
    log_w = proposal_log_weights(model, x, k=400_000, scale=1.5, generator=torch.Generator().manual_seed(1))
    ratio = (log_w - exact_marginal(model).log_prob(x)).exp()  # (k, B): w / p(x)
    torch.testing.assert_close(ratio.mean(0), torch.ones(2, dtype=torch.float64), atol=0.005, rtol=0)
    expected = 1.5**2 / math.sqrt(2 * 1.5**2 - 1) - 1
    torch.testing.assert_close(ratio.var(0), torch.full((2,), expected, dtype=torch.float64), atol=0.01, rtol=0)
    assert bool((largest_normalised_weight(log_w[:1]) == 1).all())


def test_proposal_weights_with_scale_one_give_the_iwae_bound():
    """Is log-mean-exp of the scale-1 weights the library's IWAE bound for the same draws?"""
    from course_utils.variational import proposal_log_weights

    torch.manual_seed(3)
    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8).eval()
    x = torch.rand(4, 6)
    log_w = proposal_log_weights(model, x, k=7, generator=torch.Generator().manual_seed(5))
    bound = importance_weighted_bound(model, x, k=7, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close((torch.logsumexp(log_w, 0) - math.log(7)).float(), bound, atol=1e-5, rtol=0)


def test_proposal_gap_is_zero_for_the_exact_posterior_and_positive_for_a_wider_one():
    """Is log p(x) − L_k zero when q is the posterior, positive (Jensen) for a wider proposal, and repeats checked?"""
    from course_utils.variational import proposal_gap

    model = set_encoder_to_posterior(linear_gaussian_vae(1))  # 1-d: a diagonal q can be the posterior
    x = exact_marginal(model).sample((5,))
    log_px = exact_marginal(model).log_prob(x)
    assert abs(proposal_gap(model, x, log_px, k=3, generator=torch.Generator().manual_seed(0))) < 1e-6
    wider = proposal_gap(model, x, log_px, k=1, scale=2.0, repeats=200, generator=torch.Generator().manual_seed(0))
    assert abs(wider - (4 - 1 - math.log(4)) / 2) < 0.1  # KL(N(m, 4s²) ‖ N(m, s²)) = (4 − 1 − log 4) / 2
    with pytest.raises(ValueError, match="repeats must be a positive int"):
        proposal_gap(model, x, log_px, k=1, repeats=0)


def test_weight_diagnostics_refuse_bad_arguments():
    from course_utils.variational import effective_sample_size, proposal_log_weights

    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8)
    with pytest.raises(ValueError, match="scale must be a positive number"):
        proposal_log_weights(model, torch.rand(2, 6), k=3, scale=0.0)
    with pytest.raises(ValueError, match="k must be a positive int"):
        proposal_log_weights(model, torch.rand(2, 6), k=0)
    with pytest.raises(ValueError, match=r"shape \(k, B\)"):
        effective_sample_size(torch.zeros(5))


def test_likelihood_gradient_variances_rank_the_estimators():
    """On a small decoder, is the reparameterised variance below the score function's, and the baseline's help
    visible?"""
    from course_utils.variational import likelihood_gradient_variances

    torch.manual_seed(0)
    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8).eval()
    variances = likelihood_gradient_variances(model, torch.rand(6), samples=4_000, seed=0)
    assert set(variances) == {"score function", "score function with baseline", "reparameterised"}
    assert variances["reparameterised"] < variances["score function with baseline"] < variances["score function"]
    with pytest.raises(ValueError, match="one flat image"):
        likelihood_gradient_variances(model, torch.rand(2, 6))
