"""One optimisation step of each model (:func:`gan_critic_step`, :func:`gan_generator_step`,
:func:`vae_step`, :func:`classifier_step`), and what a step needs: the models and optimizers a config
builds, the GAN's learning-rate schedule, and bf16 autocast (:func:`autocast_for`)."""

from __future__ import annotations

import contextlib
from typing import Any

import torch
from torch import nn

from course_utils import losses
from course_utils.models import (
    MLPVAE,
    ConvDiscriminator,
    ConvGenerator,
    ConvVAE,
    MLPDiscriminator,
    MLPGenerator,
    PackedDiscriminator,
    mlp,
)
from course_utils.training.config import GAN_LOSSES, ClassifierConfig, GANConfig, VAEConfig

Tensor = torch.Tensor


# ============================================================================ models and optimizers
def build_gan(config: GANConfig, data_dim: int) -> tuple[nn.Module, nn.Module]:
    """``(generator, critic)`` for ``config``: MLPs for 2-D data, conv nets for digits."""
    if config.data == "digits":
        critic: nn.Module = ConvDiscriminator(image_size=8, width=config.hidden, spectral_norm=config.spectral_norm)
        generator: nn.Module = ConvGenerator(config.latent_dim, image_size=8, width=config.hidden)
    else:
        # a packed D reads pack samples side by side: its input is pack·D wide
        critic = MLPDiscriminator(data_dim * config.pack, config.hidden, config.depth, config.spectral_norm)
        generator = MLPGenerator(config.latent_dim, data_dim, config.hidden, config.depth)
    if config.pack > 1:
        if config.data == "digits":
            raise ValueError("pack > 1 is implemented for the 2-D MLP discriminator only; use pack=1 on digits")
        critic = PackedDiscriminator(critic, config.pack)
    return generator, critic


def build_vae(config: VAEConfig, data_dim: int) -> nn.Module:
    """The VAE of ``config``: an MLP VAE, or a conv VAE for 8x8 digits."""
    if config.model == "conv":
        return ConvVAE(image_size=8, latent_dim=config.latent_dim, width=config.hidden,
                       likelihood=config.likelihood, obs_std=config.obs_std)
    return MLPVAE(data_dim, config.latent_dim, config.hidden, config.depth, config.likelihood, config.obs_std)


def build_classifier(config: ClassifierConfig, data_dim: int, n_classes: int) -> nn.Module:
    """An MLP from ``data_dim`` inputs to ``n_classes`` logits."""
    return mlp(data_dim, n_classes, config.hidden, config.depth, nn.ReLU)


def build_optimizer(config: Any, params) -> torch.optim.Optimizer:
    """RMSprop for a config that asks for it (weight clipping), Adam with ``config.betas`` otherwise."""
    if getattr(config, "optimizer", "adam") == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr, betas=config.betas)


def autocast_for(config: Any, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast for image models on CUDA; a no-op elsewhere. 2-D toy data stays in fp32: the ring's
    σ = 0.01 at radius 1 is 2^-7, bf16's relative precision, so bf16 would blur every mode."""
    if config.amp and device.type == "cuda" and config.data == "digits" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# ============================================================================ the latent noise
def latent_noise(n: int, latent_dim: int, noise: str = "gaussian", *, rng: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> Tensor:
    """``n`` latent vectors (n, latent_dim): z ~ N(0, I) for ``"gaussian"``, z ~ U(-1, 1)^d for ``"uniform"``."""
    if noise == "gaussian":
        return torch.randn(n, latent_dim, generator=rng, device=device)
    if noise == "uniform":
        return 2 * torch.rand(n, latent_dim, generator=rng, device=device) - 1
    raise ValueError(f"noise must be 'gaussian' or 'uniform'; got {noise!r}")


# ============================================================================ the GAN's learning-rate schedule
def lr_multiplier(config: GANConfig, update: int) -> float:
    """The factor on ``config.lr`` for the generator update ``update`` = 0, 1, …, steps - 1.

    1 until the last ``d = round(lr_decay · steps)`` updates, then a linear fall to 0:
    ``min(1, (steps - update) / d)``, so the last update uses lr / d and none uses 0. CycleGAN trains
    its GAN this way: a constant lr, then a linear decay to zero over the second half (Zhu et al.
    2017, §4, "Training details"), i.e. ``lr_decay = 0.5``. The critic's n_critic updates before
    generator update k use the factor of k. Small late steps let G settle on the modes it holds
    instead of circling around them, which sharpens the samples. The factor depends on
    ``config.steps``: resuming with more steps stretches the decay.
    """
    decay = round(config.lr_decay * config.steps)
    if decay == 0:
        return 1.0
    return min(1.0, (config.steps - update) / decay)


def _updates_done(optimizer: torch.optim.Optimizer) -> int:
    """Steps taken so far by ``optimizer`` (Adam's and RMSprop's per-parameter "step"); saved with its
    state, so a resumed run continues the schedule where it stopped."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            state = optimizer.state.get(parameter)
            if state and "step" in state:
                return int(state["step"])
    return 0


def _schedule_lr(optimizer: torch.optim.Optimizer, config: GANConfig, steps_per_update: int = 1) -> None:
    """Set the lr of the coming optimizer step from :func:`lr_multiplier`; ``steps_per_update`` optimizer
    steps make one generator update (n_critic for the critic)."""
    if config.lr_decay > 0:  # otherwise touch nothing: reading a CUDA optimizer's step count is a host sync
        update = _updates_done(optimizer) // steps_per_update
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_multiplier(config, update)


# ============================================================================ one step
def gan_critic_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: Tensor,
                    config: GANConfig, rng: torch.Generator | None = None,
                    autocast: contextlib.AbstractContextManager | None = None) -> dict[str, Tensor]:
    """One update of the discriminator / critic on a real batch (B, D) and as many fakes.

    Returns the detached losses: ``loss_d`` (what was minimised), and for WGANs ``wasserstein``
    (E f(real) - E f(fake), the critic's estimate of W1 up to its Lipschitz constant) and ``gp``.
    """
    autocast = autocast or contextlib.nullcontext()
    z = latent_noise(len(real), config.latent_dim, config.noise, rng=rng, device=real.device)  # (B, latent_dim)
    with torch.no_grad():  # no gradient into G on the critic step
        fake = generator(z).flatten(1).float()  # (B, D)
    r1 = _r1_on_this_update(optimizer, config)
    if r1:
        real = real.detach().requires_grad_(True)  # (B, D): the penalty differentiates D's logit w.r.t. it
    with autocast:
        real_scores, fake_scores = critic(real).float(), critic(fake).float()  # (B,) each
    if config.loss in ("gan", "minimax"):
        loss, out = _gan_discriminator_loss(real_scores, fake_scores, real, config, r1), {}
    elif config.loss == "lsgan":
        loss, out = losses.lsgan_discriminator_loss(real_scores, fake_scores), {}
    else:
        loss, out = _wgan_critic_loss(critic, real, fake, real_scores, fake_scores, config, rng)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    _schedule_lr(optimizer, config, config.n_critic)  # the critic steps before G update k use its lr
    optimizer.step()
    if config.loss == "wgan" and not config.spectral_norm:
        # keep f K-Lipschitz (WGAN paper, Alg. 1); a spectrally normalised critic is ≤ 1-Lipschitz already
        losses.clip_weights_(critic, config.clip_value)
    return {"loss_d": loss.detach(), **out}


def _r1_on_this_update(optimizer: torch.optim.Optimizer, config: GANConfig) -> bool:
    """Does this critic update add R1? Every ``r1_every``-th one over the first ``r1_until`` of the steps,
    counted by the critic's optimizer (so a resume keeps the rhythm)."""
    if not (config.loss in ("gan", "minimax") and config.r1_gamma > 0):
        return False
    if not (config.r1_every > 1 or config.r1_until < 1):  # every update: skip reading the step count (a host sync)
        return True
    update = _updates_done(optimizer) // config.n_critic  # this critic update precedes G update `update`
    return _updates_done(optimizer) % config.r1_every == 0 and update < config.r1_until * config.steps


def _gan_discriminator_loss(real_scores: Tensor, fake_scores: Tensor, real: Tensor, config: GANConfig,
                            r1: bool) -> Tensor:
    """The GAN discriminator's cross-entropy, plus the R1 penalty on this update if ``r1``."""
    loss = losses.discriminator_loss(real_scores, fake_scores)
    if r1:
        # lazy regularisation scales the penalty by r1_every to keep its average weight γ (StyleGAN2, §3.1)
        loss = loss + losses.r1_penalty(real_scores, real, gamma=config.r1_gamma * config.r1_every)
    return loss


def _wgan_critic_loss(critic: nn.Module, real: Tensor, fake: Tensor, real_scores: Tensor, fake_scores: Tensor,
                      config: GANConfig, rng: torch.Generator | None) -> tuple[Tensor, dict[str, Tensor]]:
    """The critic's E f(fake) - E f(real), plus the gradient penalty for "wgan-gp"; and what to log."""
    loss = losses.wgan_critic_loss(real_scores, fake_scores)
    out = {"wasserstein": -loss.detach()}
    if config.loss == "wgan-gp":
        # fp32, outside autocast: the penalty differentiates a gradient, where bf16 rounding is unverified
        gp = losses.gradient_penalty(critic, real, fake, rng, lambda_gp=config.gp_lambda)
        out["gp"] = gp.detach()
        loss = loss + gp
    return loss, out


def generator_loss(loss: str, scores: Tensor) -> Tensor:
    """The generator's loss of ``loss`` (a :data:`GAN_LOSSES` name) on the critic's scores of its fakes (B,)."""
    if loss == "gan":
        return losses.generator_loss_nonsaturating(scores)
    if loss == "minimax":
        return losses.generator_loss_minimax(scores)
    if loss == "lsgan":
        return losses.lsgan_generator_loss(scores)
    if loss in ("wgan", "wgan-gp"):
        return losses.wgan_generator_loss(scores)
    raise ValueError(f"loss must be one of {', '.join(map(repr, GAN_LOSSES))}; got {loss!r}")


def generator_gradient_norm(generator: nn.Module, critic: nn.Module, loss: str, z: Tensor) -> float:
    """‖∇_θ ℓ_G‖ over the generator's parameters θ for the generator loss ``loss`` on the noise ``z`` (B, latent),
    the critic held fixed: how strongly a step of that loss would move G from where it is."""
    generator.zero_grad(set_to_none=True)
    critic.requires_grad_(False)
    try:
        generator_loss(loss, critic(generator(z).flatten(1)).float()).backward()
    finally:
        critic.requires_grad_(True)
    norm = torch.sqrt(sum(p.grad.square().sum() for p in generator.parameters() if p.grad is not None))
    generator.zero_grad(set_to_none=True)
    return float(norm)


def gan_generator_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, batch_size: int,
                       config: GANConfig, rng: torch.Generator | None = None,
                       autocast: contextlib.AbstractContextManager | None = None) -> dict[str, Tensor]:
    """One update of the generator on ``batch_size`` fresh z; returns ``{"loss_g": ...}`` (detached)."""
    autocast = autocast or contextlib.nullcontext()
    device = next(generator.parameters()).device
    z = latent_noise(batch_size, config.latent_dim, config.noise, rng=rng, device=device)  # (B, latent_dim)
    critic.requires_grad_(False)  # the critic's weights are constants here: skip their gradients
    try:
        with autocast:
            scores = critic(generator(z).flatten(1)).float()  # (B,)
    finally:
        critic.requires_grad_(True)
    loss = generator_loss(config.loss, scores)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    _schedule_lr(optimizer, config)
    optimizer.step()
    return {"loss_g": loss.detach()}


@torch.no_grad()
def update_ema(average: nn.Module, model: nn.Module, decay: float) -> None:
    """One step of an exponential moving average of ``model``'s weights: θ̄ ← decay·θ̄ + (1 − decay)·θ, each
    parameter of ``average`` towards its twin in ``model``; buffers (none in the MLPs) are copied.

    The average of G's weights over its last ~1 / (1 − decay) updates is a generator itself, and a steadier
    one than the last iterate, which circles around the equilibrium (Yazıcı et al. 2019, "The Unusual
    Effectiveness of Averaging in GAN Training"; ProGAN, StyleGAN and BigGAN sample from it).
    """
    mine, theirs = list(average.parameters()), list(model.parameters())
    torch._foreach_lerp_(mine, theirs, 1.0 - decay)  # θ̄ + (1 − decay)(θ − θ̄)
    for buffer, source in zip(average.buffers(), model.buffers(), strict=True):
        buffer.copy_(source)


def vae_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, rng: torch.Generator | None = None,
             autocast: contextlib.AbstractContextManager | None = None, *, beta: float = 1.0,
             free_bits: float = 0.0) -> dict[str, Tensor]:
    """One Adam step on the batch ``x`` (B, D): the negative ELBO, or with ``beta`` ≠ 1 or ``free_bits`` > 0
    the β-VAE / free-bits loss (:func:`course_utils.losses.vae_training_loss`). Returns the batch's true
    negative ELBO and its KL term (the rate), ``{"neg_elbo": ..., "kl": ...}``, whatever the loss."""
    autocast = autocast or contextlib.nullcontext()
    with autocast:
        recon, mu, logvar = model(x, generator=rng)
    # the ELBO itself in fp32: its sums over 64 pixels and the exp of log σ² are where bf16 would hurt
    recon, mu, logvar = recon.float(), mu.float(), logvar.float()
    terms = {"likelihood": model.likelihood, "obs_logvar": model.obs_logvar}
    loss = losses.vae_training_loss(x, recon, mu, logvar, **terms, beta=beta, free_bits=free_bits)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        kl = losses.gaussian_kl_standard(mu, logvar).mean()
        neg_elbo = kl - losses.reconstruction_log_likelihood(x, recon, **terms).mean()
    optimizer.step()
    return {"neg_elbo": neg_elbo, "kl": kl}


def classifier_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """One Adam step on the mean cross-entropy of labels ``y`` (B,) under ``model``'s logits (B, K)."""
    logits = model(x)  # (B, K)
    # -log softmax(l)_y, the multi-class cross-entropy (Bishop 2006, §4.3.4), averaged over the batch
    loss = nn.functional.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"cross_entropy": loss.detach()}
