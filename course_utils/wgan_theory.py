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

**Duality in 1-D.** Integrating by parts, E_P f − E_Q f = ∫ f′(t) (F_Q(t) − F_P(t)) dt for a critic f, and a
1-Lipschitz f has |f′| ≤ 1, so the largest value is ∫ |F_P − F_Q| dt = W₁, reached by the f whose slope is
sign(F_Q − F_P) everywhere: :func:`optimal_critic_1d` builds it from samples (:func:`optimal_critic_function`
evaluates it), and its :func:`dual_objective` E_P f* − E_Q f* equals ``divergences.wasserstein_1d`` to
rounding. :func:`train_critic` learns a critic from samples under each constraint (a GAN's discriminator for
comparison; :func:`critic_function` evaluates it on the line); :func:`theta_gradient` measures the gradient a
critic gives a generator on the parallel lines.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
import torch
from torch import nn

from course_utils import losses
from course_utils.distributions import empirical_cdf
from course_utils.divergences import wasserstein_1d
from course_utils.metrics import ModeCoverage
from course_utils.models import MLPDiscriminator

Tensor = torch.Tensor
CriticKind = Literal["gan", "clip", "gp", "sn"]
CRITIC_KINDS = ("gan", "clip", "gp", "sn")  # a GAN's D, and the three ways to keep a WGAN critic Lipschitz
Critic1D = Callable[[Tensor], Tensor]  # a critic on the line: a 1-D tensor of points -> their scores, same shape


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


def optimal_critic_1d(x: Tensor, y: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """The 1-Lipschitz critic f* that maximises E_x f − E_y f for two 1-D samples: ``(knots, values)``, f* piecewise
    linear between the sorted pooled samples (constant slope ±1 between knots), f*(first knot) = 0.

    Its slope is sign(F_y − F_x): +1 where y's CDF is ahead (f rises where x's mass lies to the right), so
    E_x f* − E_y f* = ∫ |F_x − F_y| dt = W₁(x, y). Evaluate it with ``numpy.interp(t, knots, values)``.
    """
    for name, value in (("x", x), ("y", y)):
        if not (isinstance(value, Tensor) and value.ndim == 1 and len(value) > 0 and bool(value.isfinite().all())):
            raise ValueError(f"{name} must be a non-empty 1-D tensor of finite samples; got "
                             f"{type(value).__name__} {tuple(getattr(value, 'shape', ()))}")
    knots = torch.sort(torch.cat([x, y]).detach().double()).values  # (n + m,)
    gap = empirical_cdf(y, knots[:-1]) - empirical_cdf(x, knots[:-1])  # F_y − F_x on each interval
    rises = torch.sign(gap) * knots.diff()  # slope ±1 (0 where the CDFs agree) times the interval
    values = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(rises, 0)])
    return knots.numpy(), values.numpy()


def optimal_critic_function(x: Tensor, y: Tensor) -> Critic1D:
    """:func:`optimal_critic_1d` as a function: a 1-D tensor of points -> f* at each (float64, linear between
    the knots, constant beyond them)."""
    knots, values = optimal_critic_1d(x, y)
    return lambda points: torch.from_numpy(np.interp(points.detach().double().numpy(), knots, values))


def critic_function(critic: nn.Module) -> Critic1D:
    """A critic trained on 1-D data ((N, 1) in, (N,) or (N, 1) scores out) as a function of a 1-D tensor of
    points: their scores, (N,) float64, without gradients."""

    def scores(points: Tensor) -> Tensor:
        with torch.no_grad():
            return critic(points.detach().float()[:, None]).reshape(len(points)).double()

    return scores


def dual_objective(f: Critic1D, x: Tensor, y: Tensor) -> float:
    """E_x f − E_y f, the value Kantorovich-Rubinstein duality maximises over 1-Lipschitz critics f: W₁(x, y)
    at the optimal f*, less for any other 1-Lipschitz f (more is possible only for an f that is not
    1-Lipschitz)."""
    with torch.no_grad():
        return float(f(x).double().mean() - f(y).double().mean())


BatchLoss = Callable[[nn.Module, Tensor, Tensor, torch.Generator], Tensor]  # (critic, real, fake, rng) -> loss


def fit_critic(critic: nn.Module, optimizer: torch.optim.Optimizer, real: Tensor, fake: Tensor, batch_loss: BatchLoss,
               *, steps: int, batch_size: int, rng: torch.Generator,
               after_step: Callable[[nn.Module], object] | None = None) -> nn.Module:
    """The critic training loop shared by chapters 05 and 08: ``steps`` times, a batch of each sample set drawn
    with ``rng`` (real first), one optimizer step on ``batch_loss``, then ``after_step(critic)`` (a projection:
    weight clipping, max-norm). Returns the critic in eval mode."""
    real, fake = real.float(), fake.float()
    for _ in range(steps):
        real_batch = real[torch.randint(len(real), (batch_size,), generator=rng)]
        fake_batch = fake[torch.randint(len(fake), (batch_size,), generator=rng)]
        loss = batch_loss(critic, real_batch, fake_batch, rng)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step is not None:
            after_step(critic)
    return critic.eval()


def _critic_loss(kind: CriticKind, gp_lambda: float) -> BatchLoss:
    def loss(critic: nn.Module, real: Tensor, fake: Tensor, rng: torch.Generator) -> Tensor:
        real_scores, fake_scores = critic(real), critic(fake)
        if kind == "gan":
            return losses.discriminator_loss(real_scores, fake_scores)
        value = losses.wgan_critic_loss(real_scores, fake_scores)  # −(E_real f − E_fake f)
        if kind == "gp":
            value = value + losses.gradient_penalty(critic, real, fake, rng, lambda_gp=gp_lambda)
        return value

    return loss


def train_critic(real: Tensor, fake: Tensor, kind: CriticKind, *, steps: int = 500, batch_size: int = 256,
                 hidden: int = 64, depth: int = 2, gp_lambda: float = 10.0, clip_value: float = 0.01,
                 seed: int = 0) -> nn.Module:
    """A critic (an MLP, one score out) trained on two fixed sample sets (N, D) and (M, D) to tell them apart.

    ``kind``: "gan", a GAN discriminator (cross-entropy; its score is a logit); or a WGAN critic maximising
    E_real f − E_fake f, kept Lipschitz by weight "clip"ping at ``clip_value`` (RMSprop 5e-5 as in Arjovsky et
    al.'s Alg. 1, but 1e-3 here to converge in few steps), a gradient penalty "gp" with ``gp_lambda`` (Adam 1e-3,
    β = (0.5, 0.9)), or spectral normalisation "sn" (Adam 1e-3).
    """
    if kind not in CRITIC_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, CRITIC_KINDS))}; got {kind!r}")
    if not (real.ndim == 2 and fake.ndim == 2 and real.shape[1] == fake.shape[1]):
        raise ValueError(f"real and fake must be (N, D) and (M, D) with the same D; got {tuple(real.shape)} and "
                         f"{tuple(fake.shape)}")
    rng = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    critic = MLPDiscriminator(real.shape[1], hidden, depth, spectral_norm=kind == "sn")
    if kind == "clip":
        optimizer: torch.optim.Optimizer = torch.optim.RMSprop(critic.parameters(), lr=1e-3)
    else:
        optimizer = torch.optim.Adam(critic.parameters(), lr=1e-3, betas=(0.5, 0.9))
    clip = (lambda network: losses.clip_weights_(network, clip_value)) if kind == "clip" else None
    return fit_critic(critic, optimizer, real, fake, _critic_loss(kind, gp_lambda), steps=steps,
                      batch_size=batch_size, rng=rng, after_step=clip)


def theta_gradient(critic: nn.Module, kind: CriticKind, theta: float, n: int = 4_096, seed: int = 0) -> float:
    """d/dθ of the generator's loss on the parallel line P_θ with the critic held fixed: the push the generator
    gets. For a GAN's D ("gan") the minimax loss E log(1 − D(θ, U)) of Goodfellow et al.'s game; for a WGAN
    critic −E f(θ, U). A gradient step moves θ by −lr times this."""
    if kind not in CRITIC_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, CRITIC_KINDS))}; got {kind!r}")
    parallel_lines(theta)  # checks theta
    at = torch.tensor(float(theta), requires_grad=True)
    heights = torch.rand(n, generator=torch.Generator().manual_seed(seed))  # (n,)
    points = torch.stack([at.expand(n), heights], dim=1)  # (n, 2): the line x = θ
    critic.requires_grad_(False)
    try:
        scores = critic(points).float()
    finally:
        critic.requires_grad_(True)
    loss = losses.generator_loss_minimax(scores) if kind == "gan" else losses.wgan_generator_loss(scores)
    (gradient,) = torch.autograd.grad(loss, at)
    return float(gradient)


def far_mass_example(n: int) -> dict[str, float]:
    """P_n = (1 − 1/n)·δ₀ + (1/n)·δ_n against P = δ₀: P_n → P in distribution, yet W₁(P_n, P) = 1 for every n.

    Convergence in distribution asks only that the CDFs meet (here sup_t |F_n(t) − F(t)| = 1/n → 0); W₁ also
    weighs how far the mass goes, and mass 1/n at distance n keeps the first moment, and W₁, at 1. W₁ → 0 is
    convergence in distribution *and* of the first moments (Villani 2009, Theorem 6.9).

    Returns ``{"sup_cdf_gap", "W1", "mean"}``: the Kolmogorov distance, W₁ by ``divergences.wasserstein_1d``
    (weighted samples) and P_n's mean (P's is 0).
    """
    if not (type(n) is int and n >= 2):
        raise ValueError(f"n must be an int >= 2 (the far point n and its mass 1/n); got {n!r}")
    points = torch.tensor([0.0, float(n)], dtype=torch.float64)  # P_n's support
    weights = torch.tensor([1 - 1 / n, 1 / n], dtype=torch.float64)
    t = torch.tensor([-1.0, 0.0, n - 0.5, float(n)], dtype=torch.float64)  # F_n and F only change at 0 and n
    f_n = ((points[None, :] <= t[:, None]).double() * weights).sum(dim=1)  # (4,) CDF of P_n
    f = (t >= 0).double()  # CDF of δ₀
    w1 = wasserstein_1d(points, torch.zeros(1, dtype=torch.float64), x_weights=weights)
    return {"sup_cdf_gap": float((f_n - f).abs().max()), "W1": float(w1), "mean": float((points * weights).sum())}


def interpolate_gradient_norms(critic: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """‖∇f(x̂)‖ at x̂ = ε·real + (1 − ε)·fake, ε ~ U[0, 1] per row drawn with ``generator``: (B,), the slopes the
    gradient penalty λ·E(‖∇f(x̂)‖ − 1)² pulls towards 1 (Gulrajani et al. 2017, eq. 3). ``real``, ``fake``: (B, D)."""
    if real.shape != fake.shape or real.ndim != 2:
        raise ValueError(f"real and fake must both be (B, D); got {tuple(real.shape)} and {tuple(fake.shape)}")
    eps = torch.rand(len(real), 1, generator=generator).to(real.device)  # (B, 1)
    return critic_gradient_norms(critic, eps * real.float() + (1 - eps) * fake.float())


def penalised_critic_slopes(real: Tensor, fake: Tensor, gp_lambda: float, *, seed: int = 0,
                            steps: int = 300) -> Tensor:
    """A critic trained with the gradient penalty at weight ``gp_lambda`` on two fixed sample sets (N, D)
    (:func:`train_critic`), then its slopes ‖∇f(x̂)‖ at N interpolates (:func:`interpolate_gradient_norms`), (N,).

    The penalty is a price, not a wall: along a direction where moving up gains ``d`` in E_real f − E_fake f per
    unit of slope, slope k earns k·d − λ(k − 1)², largest at k = 1 + d/(2λ). A small λ lets the slopes grow far
    above 1; λ = 10 holds them near 1.
    """
    critic = train_critic(real, fake, "gp", steps=steps, gp_lambda=gp_lambda, seed=seed)
    n = min(len(real), len(fake))
    return interpolate_gradient_norms(critic, real[:n], fake[:n], torch.Generator().manual_seed(seed + 1))


def recorded_coverage(history, step: int | None = None) -> ModeCoverage:
    """The mode coverage a run's History (``metric_step``, ``metrics``) recorded at ``step`` (default: its last
    evaluation), as a :class:`~course_utils.metrics.ModeCoverage` without the per-mode counts, for
    ``training.baselines.format_coverage`` beside the noise baselines."""
    steps = list(history.metric_step)
    if not steps or "modes" not in history.metrics:
        raise ValueError("the History recorded no mode coverage (train on the ring or the grid)")
    index = len(steps) - 1 if step is None else (steps.index(step) if step in steps else None)
    if index is None:
        raise ValueError(f"no evaluation at step {step}; the History evaluated at steps {steps}")
    metrics = history.metrics
    return ModeCoverage(int(metrics["modes"][index]), float(metrics["high_quality"][index]),
                        float(metrics["reverse_kl"][index]), ())
