"""Samples of a trained generator: :func:`generate` (plain, or with discriminator rejection sampling) and
:func:`sample_gan`, which draws them as a :class:`GANConfig` says."""

from __future__ import annotations

import torch
from torch import nn

from course_utils.models import PackedDiscriminator
from course_utils.training.config import GANConfig
from course_utils.training.steps import latent_noise

Tensor = torch.Tensor
DRS_BURN_IN = 10_000  # samples that estimate max D̃ and γ before accepting any (Azadi et al. 2019, §4)
DRS_EPS = 1e-6  # ε in F(x) keeps the log finite at the max logit (Azadi et al. 2019, Alg. 1)


@torch.no_grad()
def generate(generator: nn.Module, n: int, *, rng: torch.Generator | None = None, critic: nn.Module | None = None,
             drs_quantile: float | None = None, noise: str = "gaussian") -> Tensor:
    """n samples G(z), z drawn as ``noise`` says (N(0, I) or U(-1, 1)^d: :func:`~.steps.latent_noise`), in eval
    mode (batch norm uses its running statistics), flattened to (n, D).

    With a ``critic`` and a ``drs_quantile``, the samples are those kept by discriminator rejection
    sampling (DRS, Azadi et al. 2019, Alg. 1). For the optimal D of the GAN loss, D̃(x) = logit D(x) =
    log p_data(x) / p_G(x), so accepting x ~ p_G with probability exp(D̃(x) - max D̃) gives exactly
    p_data; DRS softens this with

        F(x) = D̃(x) - D̃*_M - log(1 - exp(D̃(x) - D̃*_M - ε)) - γ,   accept with probability σ(F(x)),

    where D̃*_M is the largest logit seen (over a burn-in of 10,000 samples, raised whenever a larger
    one appears) and γ is the ``drs_quantile`` quantile of F + γ over the burn-in: a higher quantile
    rejects more. It throws away the points G puts between modes, which D scores as fake.
    """
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        if critic is None or drs_quantile is None:
            z = latent_noise(n, generator.latent_dim, noise, rng=rng, device=device)  # (n, latent_dim)
            return generator(z).flatten(1).float()  # (n, D)
        return _rejection_sample(generator, critic, n, drs_quantile, rng, device, noise)
    finally:
        generator.train(was_training)


def sample_gan(models: dict[str, nn.Module], config: GANConfig, n: int, *,
               rng: torch.Generator | None = None) -> Tensor:
    """n samples of a trained GAN as ``config`` draws them: :func:`generate`, with rejection sampling
    when ``config.drs_quantile`` is set. ``models`` is ``{"generator": G, "critic": D}``
    (:func:`train_gan_models`). The History's mode coverage, ``course train`` and ``course bench`` all
    score these samples."""
    return generate(models["generator"], n, rng=rng, critic=models["critic"], drs_quantile=config.drs_quantile,
                    noise=config.noise)


def _rejection_sample(generator: nn.Module, critic: nn.Module, n: int, quantile: float,
                      rng: torch.Generator | None, device: torch.device, noise: str = "gaussian") -> Tensor:
    """DRS (Azadi et al. 2019, Alg. 1); see :func:`generate`."""
    if not (isinstance(quantile, (int, float)) and 0 <= quantile < 1):
        raise ValueError(f"drs_quantile must be a number in [0, 1); got {quantile!r}")
    if isinstance(critic, PackedDiscriminator):
        raise ValueError("rejection sampling needs one score per sample; a packed discriminator (pack > 1) "
                         "scores packs")
    was_training = critic.training
    critic.eval()
    try:
        _, logits = _propose(generator, critic, DRS_BURN_IN, rng, device, noise)
        max_logit = logits.max()
        gamma = torch.quantile(_f_plus_gamma(logits, max_logit), quantile)
        kept: list[Tensor] = []
        count = 0
        while count < n:
            x, logits = _propose(generator, critic, max(2 * (n - count), 256), rng, device, noise)  # ~half kept
            max_logit = torch.maximum(max_logit, logits.max())  # D̃*_M follows the largest logit seen
            accept = torch.sigmoid(_f_plus_gamma(logits, max_logit) - gamma)  # (m,)
            keep = torch.rand(len(x), generator=rng, device=device) < accept
            kept.append(x[keep])  # (k, D)
            count += int(keep.sum())
        return torch.cat(kept)[:n]  # (n, D)
    finally:
        critic.train(was_training)


def _propose(generator: nn.Module, critic: nn.Module, m: int, rng: torch.Generator | None,
             device: torch.device, noise: str = "gaussian") -> tuple[Tensor, Tensor]:
    """m samples of G and the critic's logits: (m, D), (m,)."""
    z = latent_noise(m, generator.latent_dim, noise, rng=rng, device=device)  # (m, latent_dim)
    x = generator(z).flatten(1).float()  # (m, D)
    return x, critic(x).float()


def _f_plus_gamma(logits: Tensor, max_logit: Tensor) -> Tensor:
    """F(x) + γ of :func:`generate` for the logits D̃(x) (m,), given the largest logit D̃*_M."""
    shifted = logits - max_logit  # (m,), <= 0
    return shifted - torch.log1p(-torch.exp(shifted - DRS_EPS))  # (m,)
