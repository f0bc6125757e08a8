"""course_utils.losses against torch's own functions and closed forms."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as hs
from torch import nn
from torch.distributions import Bernoulli, Normal, kl_divergence

from course_utils.losses import (
    bce_with_logits,
    clip_weights_,
    discriminator_loss,
    elbo,
    gaussian_kl_per_dimension,
    gaussian_kl_standard,
    generator_loss_minimax,
    generator_loss_nonsaturating,
    gradient_penalty,
    negative_elbo,
    reconstruction_log_likelihood,
    vae_negative_elbo,
    vae_training_loss,
    wgan_critic_loss,
    wgan_generator_loss,
)
from course_utils.models import MLPVAE, ConvCritic, MLPCritic


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)  # every test sees the same initial weights and random inputs


EXTREME_LOGITS = torch.tensor([-1000.0, -100.0, -20.0, -1.0, 0.0, 1.0, 20.0, 100.0, 1000.0])


# --------------------------------------------------------------------------- BCE with logits
@pytest.mark.parametrize("target", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_matches_torch_at_extreme_logits(target, reduction):
    """Does bce_with_logits equal F.binary_cross_entropy_with_logits, value and gradient, at logits up to ±1000?"""
    logits = EXTREME_LOGITS.clone().requires_grad_(True)
    targets = torch.full_like(logits, target)
    ours = bce_with_logits(logits, targets, reduction=reduction)
    ref_logits = EXTREME_LOGITS.clone().requires_grad_(True)
    theirs = F.binary_cross_entropy_with_logits(ref_logits, targets, reduction=reduction)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
    ours.sum().backward()
    theirs.sum().backward()
    torch.testing.assert_close(logits.grad, ref_logits.grad, rtol=1e-6, atol=1e-7)


def test_bce_gradient_at_zero_is_one_half_minus_target():
    """Is dBCE/dl = σ(0) - y = 1/2 - y at l = 0 (where a max(l, 0) formulation's kink gives 1 - y)?"""
    logits = torch.zeros(3, requires_grad=True)
    bce_with_logits(logits, torch.tensor([0.0, 0.5, 1.0]), reduction="sum").backward()
    torch.testing.assert_close(logits.grad, torch.tensor([0.5, 0.0, -0.5]))


def test_bce_small_losses_keep_their_relative_accuracy():
    """For confident correct predictions (l = ∓20, ∓50 for y = 0, 1), is the float32 loss log(1 + e^{-|l|})
    to 6 significant digits, not rounded to 0?"""
    logits = torch.tensor([-20.0, -50.0, 20.0, 50.0])
    targets = torch.tensor([0.0, 0.0, 1.0, 1.0])
    expected = torch.log1p(torch.exp(-logits.double().abs()))
    torch.testing.assert_close(bce_with_logits(logits, targets, reduction="none").double(), expected, rtol=1e-6,
                               atol=0)


@settings(max_examples=60, deadline=None)
@given(hs.lists(hs.tuples(hs.floats(-200, 200), hs.floats(0, 1)), min_size=1, max_size=20))
def test_bce_matches_torch_everywhere(pairs):
    """For any logits in [-200, 200] and targets in [0, 1], is the loss torch's (float64)?"""
    logits, targets = (torch.tensor(v, dtype=torch.float64) for v in zip(*pairs, strict=True))
    torch.testing.assert_close(bce_with_logits(logits, targets, reduction="none"),
                               F.binary_cross_entropy_with_logits(logits, targets, reduction="none"),
                               rtol=1e-12, atol=1e-12)


def test_bce_refuses_unknown_reductions():
    """Is a misspelt reduction refused with ValueError?"""
    with pytest.raises(ValueError, match="reduction must be"):
        bce_with_logits(torch.zeros(2), torch.zeros(2), reduction="avg")


# --------------------------------------------------------------------------- GAN losses
def test_gan_losses_equal_their_log_definitions():
    """Are the three GAN losses -[E log D(x) + E log(1 - D(G(z)))], E log(1 - D(G(z))) and -E log D(G(z))?"""
    real, fake = torch.tensor([2.0, -0.5, 1.0]), torch.tensor([-1.0, 0.3])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(discriminator_loss(real, fake),
                               -(d_real.log().mean() + (1 - d_fake).log().mean()))
    torch.testing.assert_close(generator_loss_minimax(fake), (1 - d_fake).log().mean())
    torch.testing.assert_close(generator_loss_nonsaturating(fake), -d_fake.log().mean())


def test_discriminator_loss_at_the_optimum_of_the_game_is_2_log_2():
    """When D(x) = 1/2 everywhere (p_g = p_data, Goodfellow et al. Thm 1), is -V = 2 log 2?"""
    assert float(discriminator_loss(torch.zeros(5), torch.zeros(7))) == pytest.approx(2 * math.log(2))


@pytest.mark.parametrize("logit", [-5.0, -10.0, -20.0])
def test_minimax_generator_loss_saturates_where_nonsaturating_does_not(logit):
    """When D confidently rejects fakes (D(G(z)) = σ(l) ≈ 0), is the minimax gradient ≈ 0 while the
    non-saturating one is ≈ -1 per example, their ratio exactly e^l, and both push l upwards?"""
    fake = torch.full((4,), logit, dtype=torch.float64, requires_grad=True)
    (g_minimax,) = torch.autograd.grad(generator_loss_minimax(fake), fake)
    (g_nonsat,) = torch.autograd.grad(generator_loss_nonsaturating(fake), fake)
    batch = len(fake)
    torch.testing.assert_close(g_minimax * batch, -torch.sigmoid(fake.detach()))  # -σ(l)
    torch.testing.assert_close(g_nonsat * batch, -(1 - torch.sigmoid(fake.detach())))  # -(1 - σ(l))
    assert (g_minimax < 0).all() and (g_nonsat < 0).all()  # gradient descent raises l, i.e. D(G(z))
    assert float(g_minimax.abs().max() * batch) < 7e-3
    assert float(g_nonsat.abs().min() * batch) > 0.99
    torch.testing.assert_close(g_minimax / g_nonsat, torch.full_like(g_nonsat, math.exp(logit)))


# --------------------------------------------------------------------------- WGAN
def test_wgan_losses_signs():
    """Does the critic loss fall as real scores rise and fake scores fall, and the generator loss fall as
    fake scores rise (gradients -1/B and +1/B)?"""
    real = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    fake = torch.tensor([-1.0, 0.0], requires_grad=True)
    critic = wgan_critic_loss(real, fake)
    assert float(critic.detach()) == pytest.approx(-0.5 - 2.0)
    critic.backward()
    torch.testing.assert_close(real.grad, torch.full((3,), -1 / 3))
    torch.testing.assert_close(fake.grad, torch.full((2,), 1 / 2))
    fake.grad = None
    wgan_generator_loss(fake).backward()
    torch.testing.assert_close(fake.grad, torch.full((2,), -1 / 2))


def test_wgan_critic_loss_with_the_optimal_critic_is_minus_w1_of_a_shift():
    """For fake = real + 1 in 1-D and the 1-Lipschitz critic f(x) = -x, is the critic loss -1 = -W1?"""
    real = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    assert float(wgan_critic_loss(-real, -(real + 1))) == pytest.approx(-1.0, abs=1e-5)


def test_clip_weights_clamps_every_parameter_in_place():
    """After clip_weights_(critic, c), is every parameter in [-c, c], values already inside unchanged?"""
    critic = MLPCritic(hidden=16, depth=2)
    with torch.no_grad():
        for p in critic.parameters():  # values from -1 to 1: some inside [-c, c], some outside
            p.copy_(torch.linspace(-1, 1, p.numel()).reshape(p.shape))
    before = [p.detach().clone() for p in critic.parameters()]
    c = 0.0625  # exact in float32, so the bound can be checked with <=
    assert clip_weights_(critic, c) is critic
    for old, new in zip(before, (p.detach() for p in critic.parameters()), strict=True):
        assert float(new.abs().max()) <= c
        assert float(new.abs().max()) == c  # the values beyond c now sit on the bound
        inside = old.abs() <= c
        assert torch.equal(new[inside], old[inside])
    with pytest.raises(ValueError, match="c must be a positive number"):
        clip_weights_(critic, 0.0)


# --------------------------------------------------------------------------- gradient penalty
class LinearCritic(nn.Module):
    """f(x) = w·x + b: its gradient is w everywhere, so the penalty is λ(‖w‖ - 1)² exactly."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x):
        return x @ self.w + 0.7  # (B,)


@pytest.mark.parametrize("w, lambda_gp", [([0.6, 0.8], 10.0), ([1.0, 0.0], 10.0), ([3.0, 4.0], 10.0),
                                           ([0.3, -0.4], 2.5)])
def test_gradient_penalty_of_a_linear_critic_is_lambda_norm_minus_one_squared(w, lambda_gp):
    """For f(x) = w·x + b, is the penalty λ(‖w‖ - 1)² (0 for unit ‖w‖), and its gradient in w
    2λ(‖w‖ - 1) w/‖w‖ (which needs create_graph=True)?"""
    w = torch.tensor(w, dtype=torch.float64)
    critic = LinearCritic(w)
    real, fake = torch.randn(64, 2, dtype=torch.float64), torch.randn(64, 2, dtype=torch.float64)
    penalty = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0), lambda_gp=lambda_gp)
    norm = float(w.norm())
    assert float(penalty.detach()) == pytest.approx(lambda_gp * (norm - 1) ** 2, abs=1e-12)
    penalty.backward()
    torch.testing.assert_close(critic.w.grad, 2 * lambda_gp * (norm - 1) * w / norm)


def test_gradient_penalty_interpolates_with_a_seeded_uniform():
    """For f(x) = ‖x‖²/2 (gradient x̂), is the penalty λ·mean(‖ε real + (1-ε) fake‖ - 1)² with ε the
    generator's uniform draw, one per example?"""
    critic = lambda x: 0.5 * x.pow(2).sum(-1)
    real, fake = torch.randn(32, 3, dtype=torch.float64), torch.randn(32, 3, dtype=torch.float64)
    eps = torch.rand(32, 1, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * fake
    expected = 10.0 * ((x_hat.norm(dim=1) - 1) ** 2).mean()
    got = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(4))
    torch.testing.assert_close(got, expected)
    assert not torch.equal(got, gradient_penalty(critic, real, fake, torch.Generator().manual_seed(5)))


def test_gradient_penalty_on_images_reaches_the_critic_but_not_the_generator():
    """On (B, 1, 8, 8) images, does the penalty give every critic weight matrix a gradient (biases need
    not: ∇ₓf ignores the output bias) and leave fake.grad None?"""
    critic = ConvCritic(image_size=8, width=4)
    real = torch.rand(6, 1, 8, 8)
    fake = torch.rand(6, 1, 8, 8, requires_grad=True)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.ndim == 0
    penalty.backward()
    assert fake.grad is None
    weights = [p for name, p in critic.named_parameters() if name.endswith("weight")]
    assert len(weights) == 3
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in weights)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(critic, real, fake[:3])


# --------------------------------------------------------------------------- VAE
@settings(max_examples=40, deadline=None)
@given(hs.lists(hs.tuples(hs.floats(-5, 5), hs.floats(-6, 6)), min_size=1, max_size=6))
def test_gaussian_kl_matches_torch_distributions(pairs):
    """Is the closed-form KL(N(μ, σ²) ‖ N(0, I)) torch's kl_divergence summed over the latent axis?"""
    mu, logvar = (torch.tensor(v, dtype=torch.float64).reshape(1, -1) for v in zip(*pairs, strict=True))
    expected = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(gaussian_kl_standard(mu, logvar), expected)


def test_gaussian_kl_is_zero_only_at_the_prior():
    """Is the KL 0 at μ = 0, σ = 1, positive elsewhere, and one value per example?"""
    kl = gaussian_kl_standard(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), torch.tensor([[0.0, 0.0]] * 3))
    assert kl.shape == (3,)
    assert float(kl[0]) == 0.0 and float(kl[1]) == pytest.approx(0.5)
    assert float(gaussian_kl_standard(torch.zeros(1, 2), torch.tensor([[1.0, -1.0]]))) > 0


def test_bernoulli_log_likelihood_matches_torch_distributions():
    """For binary x, is log p(x | z) the sum of torch's Bernoulli(logits).log_prob, images vs flat alike?"""
    gen = torch.Generator().manual_seed(0)
    logits = 30 * torch.randn(5, 1, 8, 8, generator=gen)  # include very confident pixels
    x = (torch.rand(5, 64, generator=gen) < 0.5).float()
    expected = Bernoulli(logits=logits.flatten(1)).log_prob(x).sum(1)
    torch.testing.assert_close(reconstruction_log_likelihood(x, logits, "bernoulli"), expected)


def test_gaussian_log_likelihood_matches_torch_distributions():
    """Is the Gaussian log p(x | z) the sum of Normal(mean, exp(obs_logvar / 2)).log_prob(x)?"""
    mean, x = torch.randn(4, 10, dtype=torch.float64), torch.randn(4, 10, dtype=torch.float64)
    obs_logvar = 2 * math.log(0.3)
    expected = Normal(mean, 0.3).log_prob(x).sum(1)
    torch.testing.assert_close(reconstruction_log_likelihood(x, mean, "gaussian", obs_logvar), expected)
    with pytest.raises(ValueError, match="needs obs_logvar"):
        reconstruction_log_likelihood(x, mean, "gaussian")
    with pytest.raises(ValueError, match="same number of values"):
        reconstruction_log_likelihood(x, mean[:, :5], "gaussian", obs_logvar)


def test_elbo_is_log_likelihood_minus_kl_per_example():
    """Is elbo = log p(x|z) - KL per example (B,), negative_elbo its negative, and vae_negative_elbo the
    same on a model's seeded forward pass?"""
    torch.manual_seed(0)
    model = MLPVAE(data_dim=6, latent_dim=2, hidden=8, likelihood="gaussian", obs_std=0.5)
    x = torch.rand(5, 6)
    recon, mu, logvar = model(x, generator=torch.Generator().manual_seed(2))
    kw = {"likelihood": "gaussian", "obs_logvar": model.obs_logvar}
    value = elbo(x, recon, mu, logvar, **kw)
    assert value.shape == (5,)
    expected = Normal(recon, 0.5).log_prob(x).sum(1) - gaussian_kl_standard(mu, logvar)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(negative_elbo(x, recon, mu, logvar, **kw), -value)
    torch.testing.assert_close(vae_negative_elbo(model, x, torch.Generator().manual_seed(2)), -value)


def test_kl_per_dimension_sums_to_the_kl_and_matches_torch():
    """Is each latent dimension's KL the univariate KL(N(μ_j, σ_j²) ‖ N(0, 1)), and their sum the KL?"""
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3)
    per_dim = gaussian_kl_per_dimension(mu, logvar)
    assert per_dim.shape == (4, 3)
    torch.testing.assert_close(per_dim, kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)))
    torch.testing.assert_close(per_dim.sum(-1), gaussian_kl_standard(mu, logvar))


def test_vae_training_loss_is_the_negative_elbo_at_beta_one_and_weights_the_kl_by_beta():
    """β = 1 without free bits gives the batch-mean −ELBO; β scales the KL term and only it."""
    x, recon = torch.rand(5, 6), torch.randn(5, 6)
    mu, logvar = torch.randn(5, 2), torch.randn(5, 2)
    torch.testing.assert_close(vae_training_loss(x, recon, mu, logvar), negative_elbo(x, recon, mu, logvar).mean())
    distortion = -reconstruction_log_likelihood(x, recon).mean()
    kl = gaussian_kl_standard(mu, logvar).mean()
    torch.testing.assert_close(vae_training_loss(x, recon, mu, logvar, beta=4.0), distortion + 4.0 * kl)


def test_free_bits_leave_dimensions_under_the_floor_without_gradient():
    """With free bits λ, a dimension whose batch-mean KL is below λ counts as λ (no gradient reaches it), and
    one above λ counts fully."""
    x, recon = torch.rand(3, 4), torch.zeros(3, 4)
    mu = torch.tensor([[0.01, 2.0]] * 3, requires_grad=True)  # dimension 0: KL ≈ 0; dimension 1: KL = 2 nats
    logvar = torch.zeros(3, 2)
    loss = vae_training_loss(x, recon, mu, logvar, free_bits=0.5)
    distortion = -reconstruction_log_likelihood(x, recon).mean()
    torch.testing.assert_close(loss, distortion + 0.5 + 2.0)
    loss.backward()
    assert float(mu.grad[:, 0].abs().max()) == 0.0
    assert float(mu.grad[:, 1].abs().min()) > 0.0


@pytest.mark.parametrize(("beta", "free_bits", "match"), [(0.0, 0.0, "beta must be positive"),
                                                         (1.0, -0.1, "free_bits must be a non-negative")])
def test_vae_training_loss_refuses_a_zero_beta_and_negative_free_bits(beta, free_bits, match):
    x, recon, mu, logvar = torch.rand(2, 3), torch.zeros(2, 3), torch.zeros(2, 2), torch.zeros(2, 2)
    with pytest.raises(ValueError, match=match):
        vae_training_loss(x, recon, mu, logvar, beta=beta, free_bits=free_bits)
