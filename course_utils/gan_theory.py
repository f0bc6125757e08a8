"""Chapter 07's theory, on one-dimensional densities where every quantity can be computed exactly.

The GAN value function (Goodfellow et al. 2014, eq. 1), with data density p and generator density q:

    V(D, G) = E_{x~p}[log D(x)] + E_{x~q}[log(1 − D(x))].

For a fixed generator the discriminator that maximises V is D*(x) = p(x) / (p(x) + q(x)) (their
Proposition 1), and at D* the value is V(D*, G) = 2·JS(p, q) − log 4 (their Theorem 1): the generator's
game minimises the Jensen-Shannon divergence, with minimum −log 4 at q = p.

- :func:`optimal_discriminator`: D* from the two densities;
- :func:`value_on_grid`: V(D, G) by a Riemann sum on a grid, for any D;
- :func:`js_on_grid`: JS(p, q) on the same grid, through ``divergences.js_divergence``;
- :func:`train_discriminator`: a small network trained by the discriminator's loss on samples of p and
  q, to set beside D*.

How hard each generator loss pushes G at a given D is ``training.generator_gradient_norm``.
"""

from __future__ import annotations

import math

import torch
from torch import distributions as D
from torch import nn

from course_utils import divergences, losses
from course_utils.distributions import density
from course_utils.models import mlp

Tensor = torch.Tensor


def optimal_discriminator(p_density: Tensor, q_density: Tensor) -> Tensor:
    """D*(x) = p(x) / (p(x) + q(x)) from the two densities at the same points; ½ where both are 0
    (any value is optimal there: neither distribution puts mass near x)."""
    if p_density.shape != q_density.shape:
        raise ValueError(f"p_density and q_density must have the same shape; got {tuple(p_density.shape)} and "
                         f"{tuple(q_density.shape)}")
    if bool((p_density < 0).any()) or bool((q_density < 0).any()):
        raise ValueError("densities must be >= 0")
    total = p_density + q_density
    return torch.where(total > 0, p_density / torch.where(total > 0, total, 1), 0.5)


def _grid_step(grid: Tensor) -> Tensor:
    if grid.ndim != 1 or len(grid) < 2 or not bool((grid.diff() > 0).all()):
        raise ValueError("grid must be a 1-D increasing tensor of at least 2 points")
    return grid.diff().mean()


def value_on_grid(p: D.Distribution, q: D.Distribution, discriminator: Tensor, grid: Tensor) -> float:
    """V(D, G) = ∫ p log D + q log(1 − D) dx by a Riemann sum, with D given at the grid points.

    0 · log 0 counts as 0 (where p or q has no density, D may be 0 or 1 there). The logs are floored at
    log of the smallest positive double (≈ −708): far in p's tail D* = p/(p + q) rounds to exactly 1 in
    float64 while q is still positive, and q · log(1 − D) there is about 10⁻⁴⁰, not −∞.
    """
    dx = _grid_step(grid)
    p_x, q_x = density(p, grid).double(), density(q, grid).double()
    d = discriminator.double()
    floor = math.log(torch.finfo(torch.float64).tiny)
    real = torch.where(p_x > 0, p_x * torch.log(d).clamp(min=floor), 0.0)
    fake = torch.where(q_x > 0, q_x * torch.log1p(-d).clamp(min=floor), 0.0)
    return float(((real + fake) * dx).sum())


def js_on_grid(p: D.Distribution, q: D.Distribution, grid: Tensor) -> float:
    """JS(p, q) in nats from the two densities binned on ``grid`` (``divergences.js_divergence``).

    The bins are normalised to sum to 1, so the grid must hold (nearly) all of both distributions' mass for
    this to match :func:`value_on_grid`, which integrates the densities as they are.
    """
    _grid_step(grid)
    p_x, q_x = density(p, grid).double(), density(q, grid).double()
    return float(divergences.js_divergence(p_x / p_x.sum(), q_x / q_x.sum()))


def train_discriminator(p: D.Distribution, q: D.Distribution, *, steps: int = 1_500, batch_size: int = 512,
                        hidden: int = 64, lr: float = 3e-3, seed: int = 0) -> nn.Module:
    """A 1-D discriminator (an MLP with two hidden layers, one logit out) trained by Adam on the GAN
    discriminator loss, real samples from ``p``, fake from ``q``. Its σ(logit) approaches D* = p/(p + q)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    network = mlp(1, 1, hidden, 2, nn.LeakyReLU)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    for _ in range(steps):
        with torch.random.fork_rng():
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            real, fake = p.sample((batch_size, 1)), q.sample((batch_size, 1))
        loss = losses.discriminator_loss(network(real).squeeze(1), network(fake).squeeze(1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return network.eval()


@torch.no_grad()
def discriminator_probability(network: nn.Module, x: Tensor) -> Tensor:
    """σ(logit) of a :func:`train_discriminator` network at the points ``x`` (N,)."""
    return torch.sigmoid(network(x.float()[:, None]).squeeze(1))
