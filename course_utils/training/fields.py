"""What a GAN's two networks do on the plane, as arrays to draw (the live lab's panels; 2-D data only).

- :func:`critic_field`: the discriminator's probability D(x) = σ(logit) (a GAN), or the critic's score
  (least squares, WGANs), on a grid over the plane;
- :func:`generator_pull`: where the next generator step pushes each fake sample, -∂ℓ_G/∂x at x = G(z):
  the gradient arrows of GAN Lab (Kahng et al. 2019);
- :func:`pull_arrows`: those pulls as arrows on one fixed logarithmic scale (:data:`PULL_RANGE`), the same
  for every run and every loss, so that a weak pull is drawn short and two labs can be compared;
- :func:`latent_map`: the image under G of a grid of lines in the latent space: how G folds and
  stretches the noise.
"""

from __future__ import annotations

import torch
from torch import nn

from course_utils.training.config import GAN_LOSSES
from course_utils.training.steps import generator_loss

Tensor = torch.Tensor
PROBABILITY_LOSSES = ("gan", "minimax")  # their critic's logit is log-odds: σ(logit) is D's probability
LATENT_RANGE = {"gaussian": 2.0, "uniform": 1.0}  # the latent map spans ±2σ of N(0, I), all of U(-1, 1)
# ‖∇x ℓ_G‖ drawn as a dot (no pull) and as the longest arrow. Measured in the lab (ring, 600 steps, 512 samples):
# a clipped WGAN critic pulls ~1e-5 to 1e-3, the GAN losses ~0.01 (step 0) to 0.6, WGAN-GP's critic 0.1 to 6
PULL_RANGE = (1e-4, 1e1)


def _check_loss(loss: str) -> None:
    if loss not in GAN_LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, GAN_LOSSES))}; got {loss!r}")


@torch.no_grad()
def critic_field(critic: nn.Module, loss: str, xlim: tuple[float, float], ylim: tuple[float, float],
                 resolution: int = 64) -> Tensor:
    """The critic over the rectangle ``xlim × ylim``: (resolution, resolution), row i at y = ylim[0] + …

    For ``loss`` "gan" or "minimax": D's probability σ(logit) in (0, 1). For the others: the raw score
    (least squares: D's regression onto 1 for real, 0 for fake; WGANs: the critic f, defined up to a
    constant).
    """
    _check_loss(loss)
    device = next(critic.parameters()).device
    xs = torch.linspace(*xlim, resolution, device=device)
    ys = torch.linspace(*ylim, resolution, device=device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (R, R) each: row = y, column = x
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)  # (R², 2)
    was_training = critic.training
    critic.eval()
    try:
        scores = critic(points).float().reshape(resolution, resolution)
    finally:
        critic.train(was_training)
    return torch.sigmoid(scores) if loss in PROBABILITY_LOSSES else scores


def generator_pull(critic: nn.Module, loss: str, fakes: Tensor) -> Tensor:
    """-∂ℓ_G/∂x at each fake x (n, 2): the direction and strength with which the generator's loss pulls it.

    ℓ_G is the per-sample generator loss of ``loss`` (the batch loss is their mean, so this is n times the
    gradient of the mean). G moves its samples along these arrows, through its weights.
    """
    _check_loss(loss)
    x = fakes.detach().float().clone().requires_grad_(True)  # (n, 2)
    critic.requires_grad_(False)
    try:
        per_sample_mean = generator_loss(loss, critic(x).float())
    finally:
        critic.requires_grad_(True)
    (gradient,) = torch.autograd.grad(per_sample_mean, x)
    return -gradient * len(x)


def arrow_lengths(norms: Tensor, longest: float) -> Tensor:
    """The drawn length of a pull of norm ‖∇x ℓ_G‖ (n,): logarithmic, the same scale for every run.

    A norm of ``PULL_RANGE[1]`` or more is drawn ``longest`` long, one of ``PULL_RANGE[0]`` or less has length 0
    (a dot), and each decade between them adds ``longest`` / 5: a pull ten times weaker is drawn a fifth of
    the longest arrow shorter, whatever the loss, the run or the lab.
    """
    if not longest > 0:
        raise ValueError(f"longest must be a length > 0; got {longest}")
    low, high = (torch.tensor(PULL_RANGE, dtype=torch.float64)).log10()
    decades = norms.double().clamp_min(1e-30).log10()  # (n,)
    return (longest * ((decades - low) / (high - low)).clamp(0, 1)).to(norms.dtype)


def pull_arrows(pull: Tensor, longest: float) -> Tensor:
    """The arrows (n, 2) that draw the pulls ``pull`` (n, 2): their directions, :func:`arrow_lengths` long."""
    norms = pull.norm(dim=1, keepdim=True)  # (n, 1)
    direction = torch.where(norms > 0, pull / norms.clamp_min(1e-30), torch.zeros_like(pull))  # (n, 2)
    return direction * arrow_lengths(norms, longest)


@torch.no_grad()
def latent_map(generator: nn.Module, noise: str = "gaussian", *, lines: int = 9, points: int = 60) -> Tensor:
    """G's image of a latent grid: (2 · lines, points, D) polylines.

    The first ``lines`` polylines vary z₁ across the noise's range at fixed z₂, the next ``lines`` vary z₂
    at fixed z₁ (other latent coordinates 0; a 1-D latent gives the one line z₁ repeated). The range is
    ±2 for Gaussian noise (95% of each coordinate) and ±1, all of it, for uniform noise.
    """
    if noise not in LATENT_RANGE:
        raise ValueError(f"noise must be one of {', '.join(map(repr, LATENT_RANGE))}; got {noise!r}")
    device = next(generator.parameters()).device
    latent_dim, edge = generator.latent_dim, LATENT_RANGE[noise]
    along = torch.linspace(-edge, edge, points, device=device)  # (P,)
    across = torch.linspace(-edge, edge, lines, device=device)  # (L,)
    z = torch.zeros(2, lines, points, latent_dim, device=device)
    z[0, :, :, 0] = along  # lines of varying z₁ ...
    z[1, :, :, 0] = across[:, None]  # ... and of varying z₂, at z₁ = each of the fixed values
    if latent_dim > 1:
        z[0, :, :, 1] = across[:, None]
        z[1, :, :, 1] = along
    was_training = generator.training
    generator.eval()
    try:
        images = generator(z.reshape(-1, latent_dim)).flatten(1).float()  # (2·L·P, D)
    finally:
        generator.train(was_training)
    return images.reshape(2 * lines, points, -1)
