"""The losses of the course, each with its equation and source above it.

Conventions: discriminators and critics output unbounded scores (logits for a GAN), shape (B,);
every loss here is a quantity to **minimise**. GAN and WGAN losses average over the batch;
the ELBO functions return one value per example, in nats, summed over the data dimensions, and
leave the batch reduction to the caller (``negative_elbo(...).mean()`` is the usual training loss).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn

Tensor = torch.Tensor
Reduction = Literal["mean", "sum", "none"]
LOG_2PI = math.log(2 * math.pi)


def _reduce(values: Tensor, reduction: Reduction) -> Tensor:
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


# ============================================================================ binary cross-entropy
# BCE(l, y) = -[y log σ(l) + (1 - y) log(1 - σ(l))] = y·LSE(0, -l) + (1 - y)·LSE(0, l)
# since -log σ(l) = log(1 + e^{-l}) = LSE(0, -l) and -log(1 - σ(l)) = log(1 + e^{l}) = LSE(0, l).
# The log-sum-exp LSE(a, b) = max(a, b) + log(1 + e^{-|a - b|}) never exponentiates a positive
# number, so l = ±1000 gives finite, exact values where log(sigmoid(l)) gives log 0 = -inf.
# Each term is computed without cancellation, so tiny losses keep their relative accuracy (l = -20,
# y = 0 gives 2.06e-9 in float32, where (1 - y)·l + LSE(0, -l) rounds to 0), and autograd gives
# dBCE/dl = σ(l) - y exactly, at l = 0 too (the max(l, 0) - l·y + log1p(e^{-|l|}) form has the
# same value, but autograd differentiates its kinks at 0 as 1 - y instead of 1/2 - y).
# (Goodfellow, Bengio & Courville, Deep Learning, 2016, §6.2.2.2 on softplus; the quantity of
# torch.nn.functional.binary_cross_entropy_with_logits and TensorFlow's sigmoid_cross_entropy_with_logits.)
def bce_with_logits(logits: Tensor, targets: Tensor, reduction: Reduction = "mean") -> Tensor:
    """Binary cross-entropy between targets y in [0, 1] and probabilities sigmoid(logits), stably.

    Matches ``torch.nn.functional.binary_cross_entropy_with_logits`` (without weights), value and gradient.
    """
    targets = torch.as_tensor(targets, dtype=logits.dtype, device=logits.device).expand_as(logits)
    zero = torch.zeros_like(logits)
    loss = targets * torch.logaddexp(zero, -logits) + (1 - targets) * torch.logaddexp(zero, logits)
    return _reduce(loss, reduction)


# ============================================================================ GAN (Goodfellow et al. 2014)
# The value function  V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],  D = sigmoid(logit).
# D ascends V, so its loss is -V = BCE(D(x), 1) + BCE(D(G(z)), 0)   (Goodfellow et al. 2014, eq. 1).
def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """-V(D, G): the discriminator's loss, averaged over each batch. Pass ``fake.detach()``'s
    logits on the discriminator step so no gradient reaches G."""
    return bce_with_logits(real_logits, torch.ones_like(real_logits)) + \
        bce_with_logits(fake_logits, torch.zeros_like(fake_logits))


# Minimax generator loss:  L_G = E_z[log(1 - D(G(z)))] = -E_z[softplus(l)],  l = logit of D(G(z))
# (Goodfellow et al. 2014, eq. 1). Its gradient dL_G/dl = -σ(l) → 0 as D(G(z)) → 0: early in
# training, when D easily rejects the fakes, G learns almost nothing (the saturation of §3).
def generator_loss_minimax(fake_logits: Tensor) -> Tensor:
    """E[log(1 - D(G(z)))], the generator's side of the minimax game (saturates when D wins)."""
    return -bce_with_logits(fake_logits, torch.zeros_like(fake_logits))


# Non-saturating generator loss:  L_G = -E_z[log D(G(z))] = E_z[softplus(-l)] = BCE(D(G(z)), 1)
# (Goodfellow et al. 2014, §3). Same fixed point as the minimax loss, but dL_G/dl = -(1 - σ(l)) → -1
# as D(G(z)) → 0: strong gradients exactly when G is worst.
def generator_loss_nonsaturating(fake_logits: Tensor) -> Tensor:
    """-E[log D(G(z))], the "log D trick" generator loss that does not saturate."""
    return bce_with_logits(fake_logits, torch.ones_like(fake_logits))


# ============================================================================ least squares GAN (Mao et al. 2017)
# D regresses its score onto 1 for real and 0 for fake, G pushes its fakes' scores to 1 (the a = 0, b = c = 1
# coding of Mao et al. 2017, eq. 2). Squared errors keep pushing fakes that D already classifies correctly
# but that lie far from the data, where the sigmoid cross-entropy has flattened out (their §3.2).
def lsgan_discriminator_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """½ E[(D(x) − 1)²] + ½ E[D(G(z))²], with D's raw score (no sigmoid)."""
    return 0.5 * (real_scores - 1).square().mean() + 0.5 * fake_scores.square().mean()


def lsgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """½ E[(D(G(z)) − 1)²]."""
    return 0.5 * (fake_scores - 1).square().mean()


# ============================================================================ WGAN (Arjovsky et al. 2017)
# Kantorovich-Rubinstein duality: W1(P_r, P_g) = sup_{‖f‖_L ≤ 1} E_{P_r}[f(x)] - E_{P_g}[f(x)]
# (Arjovsky et al. 2017, §3 eq. 2 and Alg. 1). The critic maximises the difference, so it minimises
#   L_f = E[f(G(z))] - E[f(x)],
# and the generator minimises -E[f(G(z))] (E[f(x)] does not depend on G).
def wgan_critic_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """E[f(fake)] - E[f(real)]; its negative estimates W1 when f is 1-Lipschitz."""
    return fake_scores.mean() - real_scores.mean()


def wgan_generator_loss(fake_scores: Tensor) -> Tensor:
    """-E[f(G(z))]."""
    return -fake_scores.mean()


# Weight clipping: after each critic step, w ← clip(w, -c, c) for every critic parameter, a crude way
# to keep f K-Lipschitz for some K (Arjovsky et al. 2017, Alg. 1, c = 0.01).
@torch.no_grad()
def clip_weights_(module: nn.Module, c: float = 0.01) -> nn.Module:
    """Clamp every parameter of ``module`` into [-c, c], in place; returns ``module``."""
    if not (isinstance(c, (int, float)) and math.isfinite(c) and c > 0):
        raise ValueError(f"c must be a positive number; got {c!r}")
    for parameter in module.parameters():
        parameter.clamp_(-c, c)
    return module


# Gradient penalty (WGAN-GP): λ E_x̂[(‖∇_x̂ f(x̂)‖₂ - 1)²],  x̂ = ε x_real + (1 - ε) x_fake,
# ε ~ U[0, 1] per example, λ = 10 (Gulrajani et al. 2017, eq. 3 and Alg. 1).
def gradient_penalty(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator | None = None,
                     *, lambda_gp: float = 10.0) -> Tensor:
    """λ · mean over the batch of (‖∇f(x̂)‖ − 1)² at random interpolates of ``real`` and ``fake``.

    ``real`` and ``fake``: (B, ...) of one shape; the norm is over all non-batch dimensions.
    ``generator`` (on ``real``'s device) seeds ε. The graph is kept (``create_graph=True``) so that
    the penalty's own gradient reaches the critic's parameters.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape; got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps_shape = (len(real),) + (1,) * (real.ndim - 1)  # one ε per example, broadcast over its features
    eps = torch.rand(eps_shape, generator=generator, device=real.device, dtype=real.dtype)
    # detach: the penalty is a function of x̂ and the critic only, not a path into G
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)  # (B, ...)
    scores = critic(x_hat)  # (B,)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)  # (B, ...); sum: examples independent
    norms = grad.flatten(1).norm(dim=1)  # (B,)
    return lambda_gp * ((norms - 1) ** 2).mean()


# R1 penalty: (γ/2) E_x~p_data[‖∇_x D(x)‖²], the squared gradient of the discriminator's logit at real
# data only (Mescheder et al. 2018, "Which training methods for GANs do actually converge?", eq. 9).
def r1_penalty(real_scores: Tensor, real: Tensor, *, gamma: float) -> Tensor:
    """(γ/2) · mean over the batch of ‖∇_x D(x)‖² at the real points ``real`` (B, ...).

    ``real_scores`` (B,) must come from ``real`` with ``requires_grad`` on; the graph is kept
    (``create_graph=True``) so that the penalty's own gradient reaches the discriminator's parameters.
    """
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)  # (B, ...); examples independent
    return gamma / 2 * grad.flatten(1).pow(2).sum(dim=1).mean()


# ============================================================================ VAE (Kingma & Welling 2014)
# KL(N(μ, σ²) ‖ N(0, I)) = -1/2 Σ_j (1 + log σ_j² - μ_j² - σ_j²)   (Kingma & Welling 2014, App. B)
def gaussian_kl_per_dimension(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(q(z_j | x) ‖ N(0, 1)) of each latent dimension j of a diagonal Gaussian q, in nats.

    ``mu``, ``logvar``: (..., latent_dim) → (..., latent_dim). A dimension whose KL is ~0 for every x
    carries no information about x: the posterior collapsed onto the prior there (chapter 09).
    """
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp())


def gaussian_kl_standard(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(q(z | x) ‖ p(z)) for a diagonal Gaussian q and p = N(0, I), summed over the last axis.

    ``mu``, ``logvar``: (..., latent_dim) → (...), in nats.
    """
    return gaussian_kl_per_dimension(mu, logvar).sum(-1)


# log p(x | z) of the decoder, summed over the data dimensions:
#   Bernoulli with logits l:  Σ_i [x_i log σ(l_i) + (1 - x_i) log(1 - σ(l_i))] = -Σ_i BCE(l_i, x_i)
#   Gaussian with mean m, variance s² = exp(obs_logvar):  -1/2 Σ_i [log 2π + log s² + (x_i - m_i)² / s²]
# (Kingma & Welling 2014, App. C.1 and C.2). For grey levels x ∈ (0, 1) the Bernoulli "likelihood" is
# not normalised (it is the usual practice, e.g. pytorch/examples vae; Loaiza-Ganem & Cunningham 2019
# give the normalised continuous Bernoulli): its nats compare models on the same data, not in absolute terms.
def reconstruction_log_likelihood(x: Tensor, recon_params: Tensor, likelihood: str = "bernoulli",
                                  obs_logvar: Tensor | float | None = None) -> Tensor:
    """log p(x | z) per example, (B,): ``recon_params`` are logits (Bernoulli) or the mean (Gaussian).

    ``x`` and ``recon_params`` may differ in layout ((B, 64) against (B, 1, 8, 8)) but not in size.
    """
    x_flat, params = x.flatten(1), recon_params.flatten(1)  # (B, D) each
    if x_flat.shape != params.shape:
        raise ValueError(f"x and recon_params must hold the same number of values per example; got "
                         f"{tuple(x.shape)} and {tuple(recon_params.shape)}")
    if likelihood == "bernoulli":
        return -bce_with_logits(params, x_flat, reduction="none").sum(1)  # (B,)
    if likelihood == "gaussian":
        if obs_logvar is None:
            raise ValueError("a Gaussian decoder needs obs_logvar, the log-variance of p(x | z)")
        logvar = torch.as_tensor(obs_logvar, dtype=params.dtype, device=params.device)
        return -0.5 * (LOG_2PI + logvar + (x_flat - params).pow(2) / logvar.exp()).sum(1)  # (B,)
    raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian'; got {likelihood!r}")


# ELBO(x) = E_q(z|x)[log p(x | z)] - KL(q(z | x) ‖ p(z)) ≤ log p(x)   (Kingma & Welling 2014, eq. 3 and 10),
# the expectation estimated with the one z behind ``recon_params``, the KL in closed form.
def elbo(x: Tensor, recon_params: Tensor, mu: Tensor, logvar: Tensor, *, likelihood: str = "bernoulli",
         obs_logvar: Tensor | float | None = None) -> Tensor:
    """The evidence lower bound per example, (B,), in nats (no batch reduction).

    Pass a VAE's ``forward`` output: ``elbo(x, *model(x), likelihood=model.likelihood,
    obs_logvar=model.obs_logvar)``.
    """
    return reconstruction_log_likelihood(x, recon_params, likelihood, obs_logvar) - gaussian_kl_standard(mu, logvar)


def negative_elbo(x: Tensor, recon_params: Tensor, mu: Tensor, logvar: Tensor, *, likelihood: str = "bernoulli",
                  obs_logvar: Tensor | float | None = None) -> Tensor:
    """-ELBO per example, (B,), in nats: the VAE's loss before averaging over the batch."""
    return -elbo(x, recon_params, mu, logvar, likelihood=likelihood, obs_logvar=obs_logvar)


# The training loss of a β-VAE (Higgins et al. 2017): E_q[-log p(x | z)] + β KL(q(z | x) ‖ p(z)); β = 1 is the
# negative ELBO. Free bits (Kingma et al. 2016, "Improved variational inference with inverse autoregressive
# flow", App. C.8): each latent dimension's batch-mean KL counts as at least λ nats, so the optimiser gains
# nothing by pushing a dimension's KL below λ, the usual remedy for posterior collapse.
def vae_training_loss(x: Tensor, recon_params: Tensor, mu: Tensor, logvar: Tensor, *, likelihood: str = "bernoulli",
                      obs_logvar: Tensor | float | None = None, beta: float = 1.0, free_bits: float = 0.0) -> Tensor:
    """The scalar loss a VAE step minimises: batch means of the distortion −log p(x | z) plus β times the rate
    KL(q ‖ p), where each latent dimension's mean KL is raised to at least ``free_bits`` nats."""
    if not beta > 0:
        raise ValueError(f"beta must be positive (0 drops the KL: an autoencoder, no longer a VAE); got {beta!r}")
    if not free_bits >= 0:
        raise ValueError(f"free_bits must be a non-negative number of nats; got {free_bits!r}")
    distortion = -reconstruction_log_likelihood(x, recon_params, likelihood, obs_logvar).mean()
    kl_per_dim = gaussian_kl_per_dimension(mu, logvar).flatten(0, -2).mean(0)  # (L,), mean over the batch
    rate = kl_per_dim.clamp(min=free_bits).sum() if free_bits > 0 else kl_per_dim.sum()
    return distortion + beta * rate


def vae_negative_elbo(model: nn.Module, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """-ELBO per example, (B,), of a :class:`course_utils.models.VAE` on ``x`` (one z per example)."""
    recon_params, mu, logvar = model(x, generator=generator)
    return negative_elbo(x, recon_params, mu, logvar, likelihood=model.likelihood, obs_logvar=model.obs_logvar)
