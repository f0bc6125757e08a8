"""Chapter 08's theory: the parallel lines of Arjovsky et al. (2017, Example 1), and a critic's Lipschitz constant.

**Parallel lines.** With U ~ Uniform[0, 1], let P₀ be the law of (0, U) and P_θ that of (θ, U): two vertical
segments θ apart. For θ ≠ 0 they share no point, so

- KL(P₀ ‖ P_θ) = +∞ (P₀ puts mass where P_θ has none), and so does the reverse KL;
- JS(P₀, P_θ) = log 2, whatever θ: the Jensen-Shannon divergence cannot tell "close" from "far";
- the total variation is 1;
- W₁(P₀, P_θ) = |θ|: move every point sideways by |θ|.

Only W₁ changes smoothly with θ, so only W₁ gives a generator that moves θ a gradient that points home
(their Figure 1). At θ = 0 all four are 0.

**Lipschitz constant.** The dual form of W₁ (Kantorovich-Rubinstein) maximises E_P f − E_Q f over
1-Lipschitz critics f; :func:`lipschitz_estimate` measures the largest gradient norm of a critic over a grid of
the plane, a lower bound of its Lipschitz constant there (the bound the WGAN chapter compares between weight
clipping, the gradient penalty and spectral normalisation).
"""

from __future__ import annotations

import math

import torch
from torch import nn

Tensor = torch.Tensor


def parallel_lines(theta: float) -> dict[str, float]:
    """The closed forms at distance ``theta``: ``W1`` = |θ|, ``JS`` = log 2, ``KL`` = ``TV``·∞ … (0 at θ = 0)."""
    if not (isinstance(theta, (int, float)) and math.isfinite(theta)):
        raise ValueError(f"theta must be a finite number; got {theta!r}")
    apart = theta != 0
    return {"W1": abs(float(theta)), "JS": math.log(2) if apart else 0.0, "KL": math.inf if apart else 0.0,
            "TV": 1.0 if apart else 0.0}


def parallel_lines_samples(theta: float, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points of P₀ and ``n`` of P_θ, each (n, 2): x fixed at 0 (or θ), y ~ Uniform[0, 1]."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    parallel_lines(theta)  # checks theta
    heights = torch.rand(2, n, generator=generator)  # (2, n)
    left = torch.stack([torch.zeros(n), heights[0]], dim=1)
    right = torch.stack([torch.full((n,), float(theta)), heights[1]], dim=1)
    return left, right


def critic_gradient_norms(critic: nn.Module, points: Tensor) -> Tensor:
    """‖∇ₓ f(x)‖ at each of ``points`` (N, D): (N,). The critic's own weights get no gradient."""
    x = points.detach().float().clone().requires_grad_(True)
    critic.requires_grad_(False)
    try:
        (gradient,) = torch.autograd.grad(critic(x).sum(), x)  # rows are independent: the sum's gradient is each's
    finally:
        critic.requires_grad_(True)
    return gradient.norm(dim=1)


def lipschitz_estimate(critic: nn.Module, xlim: tuple[float, float], ylim: tuple[float, float],
                       resolution: int = 64) -> float:
    """The largest ‖∇f‖ over a ``resolution`` × ``resolution`` grid of the rectangle: a lower bound of the
    critic's Lipschitz constant there (exact for a linear critic)."""
    if not (isinstance(resolution, int) and resolution >= 2):
        raise ValueError(f"resolution must be an int >= 2; got {resolution!r}")
    device = next(critic.parameters()).device
    xs, ys = torch.linspace(*xlim, resolution), torch.linspace(*ylim, resolution)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    points = torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1).to(device)  # (R², 2)
    return float(critic_gradient_norms(critic, points).max())
