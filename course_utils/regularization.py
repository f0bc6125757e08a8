"""Chapter 05's regularisation and constraints, each small enough to check against a closed form.

The document's 概念2 calls L1, L2 and max pooling "constraints" and the coefficient λ "the regularisation term".
The distinctions this module makes measurable:

- a **penalty** adds a term λ·Ω(w) to the loss (λ the coefficient, Ω the regulariser): :func:`l2_penalty`,
  :func:`l1_penalty`; ridge regression (:func:`ridge`, a closed form) and the lasso (:func:`lasso`, proximal
  gradient with :func:`soft_threshold`, whose exact zeros come from the L1 ball's corners); both are MAP
  estimates under a Gaussian or a Laplace prior (:func:`negative_log_posterior`, :func:`prior_strength`);
- a **constraint** restricts the weights to a set, here a norm ball: :func:`project_l2_ball`,
  :func:`project_l1_ball`, :func:`constrained_least_squares` (accelerated projected gradient;
  :func:`make_ball_problems` draws problems on which both balls bind). The L2 penalty at
  λ and the L2 ball of radius r = ‖w_λ‖ give the same solution, λ being the constraint's Lagrange multiplier
  (:func:`lagrange_multiplier`);
- on a small network, overfitting 15 noisy points and four cures trained side by side
  (:func:`train_regularized_mlps`: L2, L1, dropout; :func:`early_stopping_step`);
- constraints on a critic's Lipschitz constant, the bridge to WGAN: max-norm (:func:`max_norm_`), weight clipping
  (``losses.clip_weights_``), spectral normalisation and the gradient penalty (``losses.gradient_penalty``), each
  trained on 2-D data (:func:`train_constrained_critic`), with the constant measured
  (:func:`lipschitz_lower_bound`, from ``wgan_theory.critic_gradient_norms``) beside the product of the layers'
  spectral norms (:func:`lipschitz_upper_bound`; :func:`power_iteration` estimates one of them);
- max pooling is not a penalty and restricts no weight, but an output less sensitive to small shifts, partly
  invariant to them (:func:`pooling_shift_change`); with a global max after a circular convolution the output is
  exactly invariant for *every* choice of weights (:func:`architecture_shift_gaps`): in the standard view
  (Goodfellow et al. 2016, §9.4) an infinitely strong prior, a constraint on the function class.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import distributions as D
from torch import nn

from course_utils import losses
from course_utils.data import sample_modes
from course_utils.models import MLPDiscriminator
from course_utils.wgan_theory import critic_gradient_norms, fit_critic, lipschitz_estimate

Tensor = torch.Tensor


def _check_nonnegative(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    return float(value)


def _check_steps(name: str, value: int, *, minimum: int | None = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ValueError(f"{name} must be an int{bound}; got {value!r}")
    return value


# ============================================================================ the data and the polynomial model
def make_noisy_sine(n: int, *, noise: float = 0.2, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``n`` points x ~ Uniform[−1, 1] and y = sin(πx) + noise·ε, ε ~ N(0, 1): float64, (n,) each."""
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    _check_nonnegative("noise", noise)
    x = torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1
    return x, torch.sin(math.pi * x) + noise * torch.randn(n, generator=generator, dtype=torch.float64)


def legendre_features(x: Tensor, degree: int) -> Tensor:
    """The Legendre polynomials P_0 … P_degree at ``x`` (N,): (N, degree + 1), a polynomial model's inputs.

    On [−1, 1] they span the same functions as 1, x, …, x^degree, but are far better conditioned.
    """
    if not (isinstance(degree, int) and degree >= 0):
        raise ValueError(f"degree must be an int >= 0; got {degree!r}")
    return torch.stack([torch.special.legendre_polynomial_p(x, k) for k in range(degree + 1)], dim=-1)


def mse(X: Tensor, w: Tensor, y: Tensor) -> float:
    """Mean squared error (1/N)‖Xw − y‖² of the linear model ``w`` (d,) on ``X`` (N, d), ``y`` (N,)."""
    return float(((X @ w - y) ** 2).mean())


def least_squares(X: Tensor, y: Tensor) -> Tensor:
    """The least-squares weights (d,), the smallest-norm ones when several fit as well (``torch.linalg.lstsq``)."""
    return torch.linalg.lstsq(X, y[:, None], driver="gelsd").solution[:, 0]


# Ridge regression: argmin_w (1/N)‖Xw − y‖² + λ‖w‖²  ⇒  (XᵀX/N + λI) w = Xᵀy/N   (Hoerl & Kennard 1970)
def ridge(X: Tensor, y: Tensor, lam: float) -> Tensor:
    """The minimiser (d,) of the MSE plus λ‖w‖², in closed form (every weight penalised, the constant too).

    Parameters
    ----------
    X : Tensor, shape (N, d)
    y : Tensor, shape (N,)
    lam : float >= 0
        The coefficient λ; the penalty is λ‖w‖². λ = 0 needs XᵀX invertible (N ≥ d distinct points).
    """
    lam = _check_nonnegative("lam", lam)
    n, d = X.shape
    return torch.linalg.solve(X.T @ X / n + lam * torch.eye(d, dtype=X.dtype), X.T @ y / n)


def _lipschitz_of_mse_gradient(X: Tensor) -> Tensor:
    """The largest eigenvalue of the MSE's Hessian 2XᵀX/N (per problem for a batch): the safe step is 1/this."""
    return 2 * torch.linalg.eigvalsh(X.mT @ X / X.shape[-2])[..., -1]


# The L1 proximal step: prox_{t‖·‖₁}(w) = argmin_v ½‖v − w‖² + t‖v‖₁ = sign(w)·max(|w| − t, 0)
# (Parikh & Boyd 2014, "Proximal algorithms", §6.5.2). Entries within t of 0 become exactly 0.
def soft_threshold(w: Tensor, step: float) -> Tensor:
    """sign(w)·max(|w| − step, 0), elementwise: the proximal step of step·‖w‖₁. Same shape and dtype as ``w``."""
    step = _check_nonnegative("step", step)
    return torch.sign(w) * torch.clamp(w.abs() - step, min=0.0)


def lasso(X: Tensor, y: Tensor, lam: float, *, steps: int = 5_000) -> Tensor:
    """The minimiser (d,) of the MSE plus λ‖w‖₁ by accelerated proximal gradient (FISTA, Beck & Teboulle 2009):
    a gradient step on the MSE, then :func:`soft_threshold` by step·λ. Weights the penalty outweighs are
    exactly 0."""
    lam = _check_nonnegative("lam", lam)
    steps = _check_steps("steps", steps)
    step = 1.0 / float(_lipschitz_of_mse_gradient(X))
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    z, t = w.clone(), 1.0
    for _ in range(steps):
        gradient = 2 * X.T @ (X @ z - y) / len(y)  # ∇ (1/N)‖Xz − y‖²
        w_next = soft_threshold(z - step * gradient, step * lam)
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = w_next + (t - 1) / t_next * (w_next - w)  # momentum (Nesterov): O(1/k²) instead of O(1/k)
        w, t = w_next, t_next
    return w


# ============================================================================ penalties
def _as_list(weights: Iterable[Tensor]) -> list[Tensor]:
    weights = list(weights)
    if not weights or not all(isinstance(w, Tensor) for w in weights):
        raise ValueError("weights must be a non-empty list of tensors")
    return weights


def l2_penalty(weights: Iterable[Tensor], lam: float) -> Tensor:
    """λ Σ_i Σ_j w_ij² over a list of tensors, the L2 penalty: a 0-dim tensor that autograd differentiates
    (gradient 2λw). Added to the loss it is weight decay under plain SGD (w ← (1 − 2ηλ)w − η∇L), not under Adam,
    which rescales 2λw per weight like the rest of the gradient (Loshchilov & Hutter 2019)."""
    lam = _check_nonnegative("lam", lam)
    return lam * sum((w**2).sum() for w in _as_list(weights))


def l1_penalty(weights: Iterable[Tensor], lam: float) -> Tensor:
    """λ Σ_i Σ_j |w_ij| over a list of tensors: a 0-dim tensor (its subgradient is λ·sign(w))."""
    lam = _check_nonnegative("lam", lam)
    return lam * sum(w.abs().sum() for w in _as_list(weights))


# MAP: −log p(w | y) = ‖Xw − y‖²/(2σ²) − log p(w) + const. Times 2σ²/N this is MSE + (2σ²/N)·(−log p(w)):
# a Gaussian prior N(0, τ²) gives λ = σ²/(Nτ²) on ‖w‖², a Laplace prior with scale b gives λ = 2σ²/(Nb) on ‖w‖₁
# (Bishop 2006, §3.3.1 and exercise 3.5; Tibshirani 1996, §5).
def prior_strength(noise_std: float, prior_scale: float, n: int, prior: str) -> float:
    """The λ for which MSE + λΩ(w) is the negative log posterior, up to a factor and a constant.

    ``prior`` "gaussian" (scale = τ, the standard deviation; Ω = ‖w‖²) or "laplace" (scale = b; Ω = ‖w‖₁).
    """
    if prior not in ("gaussian", "laplace"):
        raise ValueError(f"prior must be 'gaussian' or 'laplace'; got {prior!r}")
    if not (noise_std > 0 and prior_scale > 0 and isinstance(n, int) and n >= 1):
        raise ValueError(
            f"noise_std and prior_scale must be > 0 and n an int >= 1; got {noise_std}, {prior_scale}, {n}"
        )
    return noise_std**2 / (n * prior_scale**2) if prior == "gaussian" else 2 * noise_std**2 / (n * prior_scale)


def negative_log_posterior(
    X: Tensor, y: Tensor, w: Tensor, *, noise_std: float, prior_scale: float, prior: str
) -> Tensor:
    """−log p(y | X, w) − log p(w) for y = Xw + N(0, σ²) noise and independent N(0, τ²) or Laplace(0, b)
    weights, from ``torch.distributions`` (a 0-dim tensor; the evidence p(y | X) left out)."""
    if prior not in ("gaussian", "laplace"):
        raise ValueError(f"prior must be 'gaussian' or 'laplace'; got {prior!r}")
    prior_dist = D.Normal(0.0, prior_scale) if prior == "gaussian" else D.Laplace(0.0, prior_scale)
    return -(D.Normal(X @ w, noise_std).log_prob(y).sum() + prior_dist.log_prob(w).sum())


def map_estimate(X: Tensor, y: Tensor, *, noise_std: float, prior_scale: float, steps: int = 50) -> Tensor:
    """The weights (d,) that maximise the posterior under a Gaussian prior, found by L-BFGS on
    :func:`negative_log_posterior` (no closed form used: compare it with :func:`ridge`)."""
    w = torch.zeros(X.shape[1], dtype=X.dtype, requires_grad=True)
    optimizer = torch.optim.LBFGS(
        [w], lr=1.0, max_iter=steps, tolerance_grad=1e-12, tolerance_change=1e-15, line_search_fn="strong_wolfe"
    )

    def closure() -> Tensor:
        optimizer.zero_grad()
        value = negative_log_posterior(X, y, w, noise_std=noise_std, prior_scale=prior_scale, prior="gaussian")
        value.backward()
        return value

    for _ in range(5):  # L-BFGS stops at max_iter; a few restarts reach machine precision here
        optimizer.step(closure)
    return w.detach()


# ============================================================================ constraints: norm balls
def project_l2_ball(w: Tensor, radius: float) -> Tensor:
    """The nearest point of {‖v‖₂ ≤ radius} to each ``w`` (..., d): w itself inside, w·radius/‖w‖ outside."""
    radius = _check_nonnegative("radius", radius)
    norms = w.norm(dim=-1, keepdim=True)
    return w * torch.clamp(radius / norms.clamp_min(torch.finfo(w.dtype).tiny), max=1.0)


def project_l1_ball(w: Tensor, radius: float) -> Tensor:
    """The nearest point of {‖v‖₁ ≤ radius} to each ``w`` (..., d): a soft threshold by the θ ≥ 0 that brings
    ‖w‖₁ down to the radius, found by sorting (Duchi et al. 2008, Fig. 1). Outside the ball some entries
    become exactly 0: the ball's corners."""
    radius = _check_nonnegative("radius", radius)
    magnitudes = w.abs()
    inside = magnitudes.sum(dim=-1, keepdim=True) <= radius
    ordered = torch.sort(magnitudes, dim=-1, descending=True).values  # (..., d)
    cumulative = ordered.cumsum(dim=-1) - radius
    ranks = torch.arange(1, w.shape[-1] + 1, dtype=w.dtype)
    kept = (ordered - cumulative / ranks > 0).sum(dim=-1, keepdim=True)  # how many entries stay non-zero
    theta = cumulative.gather(-1, kept - 1) / kept.to(w.dtype)  # (..., 1)
    return torch.where(inside, w, torch.sign(w) * torch.clamp(magnitudes - theta, min=0.0))


def constrained_least_squares(X: Tensor, y: Tensor, radius: float, *, norm: str = "l2", steps: int = 5_000) -> Tensor:
    """argmin (1/N)‖Xw − y‖² subject to ‖w‖ ≤ radius, by accelerated projected gradient descent.

    Parameters
    ----------
    X : Tensor, shape (..., N, d)
        A batch of problems is solved at once.
    y : Tensor, shape (..., N)
    radius : float >= 0
    norm : "l2" or "l1"
        The ball: :func:`project_l2_ball` or :func:`project_l1_ball` after every step.
    steps : int
        Each a gradient step of 1/L (L the gradient's Lipschitz constant), a projection and Nesterov momentum.

    Returns
    -------
    Tensor, shape (..., d)
    """
    if norm not in ("l2", "l1"):
        raise ValueError(f"norm must be 'l2' or 'l1'; got {norm!r}")
    steps = _check_steps("steps", steps)
    radius = _check_nonnegative("radius", radius)
    project = project_l2_ball if norm == "l2" else project_l1_ball
    step = (1.0 / _lipschitz_of_mse_gradient(X))[..., None]  # (..., 1)
    w = torch.zeros(X.shape[:-2] + X.shape[-1:], dtype=X.dtype)
    z, t = w.clone(), 1.0
    for _ in range(steps):
        residual = (X @ z[..., None])[..., 0] - y  # (..., N)
        gradient = 2 * (X.mT @ residual[..., None])[..., 0] / X.shape[-2]  # (..., d)
        w_next = project(z - step * gradient, radius)
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z = w_next + (t - 1) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w


def make_ball_problems(
    n: int, radius: float, *, n_points: int = 10, dim: int = 2, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` random least-squares problems, min (1/N)‖Aw − b‖², on which both the L1 and the L2 ball of
    ``radius`` bind: the unconstrained solution w_ls lies outside both.

    Entries of A and b are N(0, 1) (float64); problems are drawn in batches of ``n`` and those with
    ‖w_ls‖₂ > radius kept, in the order drawn, until there are ``n``. Since ‖w‖₁ ≥ ‖w‖₂, such a w_ls lies outside
    the L1 ball too, so both constrained solutions sit on their ball's boundary and a comparison of their zeros
    is never won by a solution that is simply w_ls.

    Returns
    -------
    A : Tensor, shape (n, n_points, dim)
    b : Tensor, shape (n, n_points)
    w_ls : Tensor, shape (n, dim)
        The least-squares solutions (``torch.linalg.lstsq``).
    """
    n, n_points, dim = (_check_steps(name, v) for name, v in (("n", n), ("n_points", n_points), ("dim", dim)))
    radius = _check_nonnegative("radius", radius)
    kept: list[tuple[Tensor, Tensor, Tensor]] = []
    found = 0
    for _ in range(1_000):
        A = torch.randn(n, n_points, dim, generator=generator, dtype=torch.float64)
        b = torch.randn(n, n_points, generator=generator, dtype=torch.float64)
        w_ls = torch.linalg.lstsq(A, b[..., None]).solution[..., 0]  # (n, dim)
        binds = w_ls.norm(dim=-1) > radius  # outside the L2 ball, hence outside the L1 ball as well
        kept.append((A[binds], b[binds], w_ls[binds]))
        found += int(binds.sum())
        if found >= n:
            A, b, w_ls = (torch.cat(parts)[:n] for parts in zip(*kept, strict=True))
            return A, b, w_ls
    raise ValueError(f"fewer than {n} of {1_000 * n} random problems have a solution outside radius {radius}")


# KKT at a solution on the sphere ‖w‖ = r: ∇MSE(w) + 2μw = 0 for a multiplier μ ≥ 0, the stationarity
# condition of the Lagrangian MSE(w) + μ(‖w‖² − r²) (Boyd & Vandenberghe 2004, §5.5.3). μ is the ridge λ.
def lagrange_multiplier(X: Tensor, y: Tensor, w: Tensor) -> float:
    """μ = −∇MSE(w)·w / (2‖w‖²), the multiplier of the L2-ball constraint at its solution ``w`` (d,): the λ
    of the penalty that has the same solution. At w = 0 the constraint does not bind (0 is inside every ball of
    radius > 0), so there is no multiplier to recover: a ``ValueError``."""
    squared_norm = float(w @ w)
    if squared_norm == 0:
        raise ValueError(
            "w = 0 lies strictly inside every ball of radius > 0, so the constraint does not bind there and "
            "−∇MSE(w)·w / (2‖w‖²) is 0/0: pass the solution of a constraint that binds (‖w‖ = r > 0)"
        )
    gradient = 2 * X.T @ (X @ w - y) / len(y)
    return float(-(gradient @ w) / (2 * squared_norm))


# ============================================================================ a network: overfitting and its cures
@dataclass(frozen=True)
class RegularizationRuns:
    """Small MLPs trained side by side on the same points, each with one regulariser (:func:`train_regularized_mlps`).

    Model k was trained with ``kinds[k]`` ("none", "l2", "l1" or "dropout") at ``strengths[k]`` (λ, or the
    dropout probability). ``steps`` are the training steps at which the curves were recorded.
    """

    kinds: tuple[str, ...]
    strengths: tuple[float, ...]
    steps: Tensor  # (T,) int64
    train_loss: Tensor  # (K, T): MSE on the training points, without dropout and without the penalty
    val_loss: Tensor  # (K, T): MSE on the validation points
    grid: Tensor  # (G,) inputs at which the fits are recorded
    predictions: Tensor  # (K, T, G): each model's function on the grid at each recorded step
    weights: Tensor  # (K, T, P): each model's weight matrices (biases left out), flattened, at each recorded step

    def index(self, kind: str, strength: float = 0.0) -> int:
        """The model trained with ``kind`` at ``strength`` (any strength for "none")."""
        for k, (kd, s) in enumerate(zip(self.kinds, self.strengths, strict=True)):
            if kd == kind and (kind == "none" or math.isclose(s, strength, rel_tol=1e-9)):
                return k
        raise ValueError(f"no model trained with {kind} at {strength}; have {sorted(set(self.kinds))}")


class _BatchedMLP(nn.Module):
    """K independent MLPs 1 → hidden → hidden → 1 (tanh) evaluated at once: weights (K, in, out)."""

    def __init__(self, count: int, hidden: int, generator: torch.Generator):
        super().__init__()
        self.weights, self.biases = nn.ParameterList(), nn.ParameterList()
        for fan_in, fan_out in ((1, hidden), (hidden, hidden), (hidden, 1)):
            bound = 1 / math.sqrt(fan_in)  # nn.Linear's default init, the same draw for every model
            w = (torch.rand(1, fan_in, fan_out, generator=generator) * 2 - 1) * bound
            b = (torch.rand(1, 1, fan_out, generator=generator) * 2 - 1) * bound
            self.weights.append(nn.Parameter(w.repeat(count, 1, 1)))
            self.biases.append(nn.Parameter(b.repeat(count, 1, 1)))

    def forward(self, x: Tensor, drop: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        h = x[None, :, None].expand(len(self.weights[0]), -1, -1)  # (K, N, 1)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w + b  # (K, N, out)
            if i < len(self.weights) - 1:
                h = torch.tanh(h)
                if drop is not None:  # inverted dropout: zero a unit with probability p, scale the rest by 1/(1 − p)
                    keep = 1 - drop[:, None, None]  # (K, 1, 1)
                    h = h * (torch.rand(h.shape, generator=generator) < keep) / keep
        return h[..., 0]  # (K, N)

    def flat_weights(self) -> Tensor:
        return torch.cat([w.detach().flatten(1) for w in self.weights], dim=1)  # (K, P)


def train_regularized_mlps(
    x_train: Tensor,
    y_train: Tensor,
    x_val: Tensor,
    y_val: Tensor,
    *,
    l2: Sequence[float] = (),
    l1: Sequence[float] = (),
    dropout: Sequence[float] = (),
    hidden: int = 32,
    steps: int = 2_000,
    lr: float = 1e-2,
    record_every: int = 25,
    grid: Tensor | None = None,
    seed: int = 0,
) -> RegularizationRuns:
    """One unregularised MLP and one per strength of each regulariser, trained together on the same points.

    Every model starts from the same weights and takes ``steps`` full-batch Adam steps (``lr``) on the MSE of
    (``x_train``, ``y_train``), plus :func:`l2_penalty` or :func:`l1_penalty` of its weight matrices (not its
    biases) at its λ, or with dropout at probability p after each hidden layer. Every ``record_every`` steps the
    training and validation MSE (no dropout, no penalty), the function on ``grid`` and the weights are recorded.
    The models are independent: training them in one batch changes nothing but the time.

    Returns
    -------
    RegularizationRuns
        Model 0 is the unregularised one; then the ``l2``, ``l1`` and ``dropout`` strengths, in order.
    """
    for p in dropout:
        if not 0 <= p < 1:
            raise ValueError(f"a dropout probability must lie in [0, 1); got {p}")
    for lam in (*l2, *l1):
        _check_nonnegative("a penalty strength", lam)
    kinds = ("none",) + ("l2",) * len(l2) + ("l1",) * len(l1) + ("dropout",) * len(dropout)
    strengths = (0.0, *map(float, l2), *map(float, l1), *map(float, dropout))
    lam2, lam1, drop = (
        torch.tensor([s if k == kind else 0.0 for k, s in zip(kinds, strengths, strict=True)])
        for kind in ("l2", "l1", "dropout")
    )  # (K,) each, 0 where unused
    grid = torch.linspace(-1, 1, 201) if grid is None else grid.float()
    x_train, y_train, x_val, y_val = (t.float() for t in (x_train, y_train, x_val, y_val))

    generator = torch.Generator().manual_seed(seed)
    model = _BatchedMLP(len(kinds), hidden, generator)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    recorded: dict[str, list[Tensor]] = {"steps": [], "train": [], "val": [], "predictions": [], "weights": []}

    def record(step: int) -> None:
        with torch.no_grad():
            recorded["steps"].append(torch.tensor(step))
            recorded["train"].append(((model(x_train) - y_train) ** 2).mean(1))
            recorded["val"].append(((model(x_val) - y_val) ** 2).mean(1))
            recorded["predictions"].append(model(grid))
            recorded["weights"].append(model.flat_weights())

    record(0)
    for step in range(1, steps + 1):
        fit = ((model(x_train, drop, generator) - y_train) ** 2).mean(1)  # (K,) each model's MSE
        # λ_k Σ w² and λ_k Σ |w| per model k: l2_penalty / l1_penalty of model k's matrices, batched
        penalty = sum((lam2[:, None, None] * w**2).sum() + (lam1[:, None, None] * w.abs()).sum() for w in model.weights)
        optimizer.zero_grad(set_to_none=True)
        (fit.sum() + penalty).backward()  # the sum: each model's gradient is its own loss's
        optimizer.step()
        if step % record_every == 0 or step == steps:
            record(step)
    stacked = {name: torch.stack(values, dim=1 if name != "steps" else 0) for name, values in recorded.items()}
    return RegularizationRuns(
        kinds,
        strengths,
        stacked["steps"],
        stacked["train"],
        stacked["val"],
        grid,
        stacked["predictions"],
        stacked["weights"],
    )


def early_stopping_step(val_loss: Tensor, patience: int) -> int:
    """Early stopping on a recorded validation curve (T,): walk forward, stop once ``patience`` records have
    passed without a new lowest value, and return the index of the lowest value seen (whose weights are kept)."""
    if not (isinstance(patience, int) and patience >= 1):
        raise ValueError(f"patience must be an int >= 1; got {patience!r}")
    best = 0
    for i in range(1, len(val_loss)):
        if val_loss[i] < val_loss[best]:
            best = i
        elif i - best >= patience:
            break
    return best


# The chapter's experiment: 15 points, 200 for validation, one data seed, the strengths its widget offers.
DATA_SEED = 2  # the draw of the 15 points (and of the validation points) that the chapter and its widget use
L2_STRENGTHS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # λ of the L2 penalty on the weight matrices
L1_STRENGTHS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)  # λ of the L1 penalty
DROPOUT_PROBABILITIES = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)  # p of dropping each hidden unit
STOP_STEPS = (1600, 800, 400, 200, 100, 50)  # early stopping as a step budget: fewer steps, stronger


@dataclass(frozen=True)
class CurveData:
    """The chapter's points: 15 to train on, 200 to validate on, all from y = sin(πx) + N(0, 0.2²)."""

    x_train: Tensor  # (15,) float64
    y_train: Tensor
    x_val: Tensor  # (200,)
    y_val: Tensor
    noise: float  # the noise's standard deviation: the best possible validation MSE is noise²


def curve_data(seed: int = DATA_SEED, *, n_train: int = 15, n_val: int = 200, noise: float = 0.2) -> CurveData:
    """:func:`make_noisy_sine` points to train on and to validate on, from one generator seeded ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    x_train, y_train = make_noisy_sine(n_train, noise=noise, generator=generator)
    x_val, y_val = make_noisy_sine(n_val, noise=noise, generator=generator)
    return CurveData(x_train, y_train, x_val, y_val, noise)


def chapter_runs(seed: int = DATA_SEED, *, init_seed: int = 0) -> RegularizationRuns:
    """:func:`train_regularized_mlps` on :func:`curve_data` (``seed``: the draw of the points) with the chapter's
    strengths, the initial weights and dropout masks drawn from ``init_seed`` (about 6 s on one CPU thread).
    Cached: the chapter's cells and its widget share one training."""
    return _chapter_runs(int(seed), int(init_seed))


@functools.lru_cache(maxsize=4)
def _chapter_runs(seed: int, init_seed: int) -> RegularizationRuns:
    data = curve_data(seed)
    return train_regularized_mlps(
        data.x_train,
        data.y_train,
        data.x_val,
        data.y_val,
        l2=L2_STRENGTHS,
        l1=L1_STRENGTHS,
        dropout=DROPOUT_PROBABILITIES,
        seed=init_seed,
    )


@dataclass(frozen=True)
class RegularizerSummary:
    """What one :class:`RegularizationRuns` shows, per regulariser: "l2", "l1", "dropout", "early stopping"."""

    plain_train: float  # the unregularised network's final training MSE
    plain_val: float  # and its final validation MSE
    best_val: dict[str, float]  # the lowest validation MSE over the regulariser's strengths (early stopping: patience)
    strongest_train: dict[str, float]  # training MSE at the strongest setting (early stopping: the smallest budget)
    strongest_val: dict[str, float]  # validation MSE there


def regularizer_summary(runs: RegularizationRuns, *, patience: int = 8) -> RegularizerSummary:
    """Each regulariser's best validation MSE over its strengths (chosen on the validation points, so optimistic)
    and its training and validation MSE at its strongest setting, beside the unregularised network's. Early
    stopping keeps the plain network's weights at :func:`early_stopping_step` (``patience`` records); its
    strongest setting is the smallest budget of :data:`STOP_STEPS`."""
    plain = runs.index("none")
    best, strong_train, strong_val = {}, {}, {}
    for kind in ("l2", "l1", "dropout"):
        models = [k for k, kd in enumerate(runs.kinds) if kd == kind]
        if not models:
            continue
        best[kind] = float(runs.val_loss[models, -1].min())
        strongest = max(models, key=lambda k: runs.strengths[k])
        strong_train[kind] = float(runs.train_loss[strongest, -1])
        strong_val[kind] = float(runs.val_loss[strongest, -1])
    stop = early_stopping_step(runs.val_loss[plain], patience=patience)
    best["early stopping"] = float(runs.val_loss[plain, stop])
    budget = int((runs.steps == min(STOP_STEPS)).nonzero()[0, 0])  # the record at the smallest step budget
    strong_train["early stopping"] = float(runs.train_loss[plain, budget])
    strong_val["early stopping"] = float(runs.val_loss[plain, budget])
    return RegularizerSummary(float(runs.train_loss[plain, -1]), float(runs.val_loss[plain, -1]), best,
                              strong_train, strong_val)


# ======================================================================== constraints on a network's Lipschitz constant
# Power iteration: v ← Wᵀ W v / ‖·‖ converges to the top right singular vector, and ‖W v‖ to σ_max(W) from
# below (Golub & Van Loan 2013, §8.2.1); spectral normalisation runs one such step per training step
# (Miyato et al. 2018, Alg. 1).
def power_iteration(W: Tensor, n_iter: int, generator: torch.Generator | None = None) -> float:
    """An estimate of W's largest singular value σ_max: v ~ N(0, I) drawn with ``generator`` in W's dtype, then
    ``n_iter`` times u = Wv/‖Wv‖, v = Wᵀu/‖Wᵀu‖; returns ‖Wv‖ (≤ σ_max, increasing to it)."""
    if not (isinstance(W, Tensor) and W.ndim == 2):
        raise ValueError(f"W must be a 2-D tensor; got {type(W).__name__} {tuple(getattr(W, 'shape', ()))}")
    if not (isinstance(n_iter, int) and n_iter >= 1):
        raise ValueError(f"n_iter must be an int >= 1; got {n_iter!r}")
    v = torch.randn(W.shape[1], generator=generator, dtype=W.dtype)
    for _ in range(n_iter):
        u = W @ v
        u = u / u.norm()
        v = W.T @ u
        v = v / v.norm()
    return float((W @ v).norm())


class Scaled(nn.Module):
    """``scale`` · ``module``(x): a spectrally normalised network (Lipschitz ≤ 1) stretched to Lipschitz ≤ scale."""

    def __init__(self, module: nn.Module, scale: float):
        super().__init__()
        self.module, self.scale = module, float(scale)

    def forward(self, x: Tensor) -> Tensor:
        return self.scale * self.module(x)


def lipschitz_upper_bound(network: nn.Module) -> float:
    """Π_l σ_max(W_l) over the network's linear layers (times :class:`Scaled` factors): a bound on its Lipschitz
    constant when it is a chain of those layers and 1-Lipschitz activations (ReLU, LeakyReLU, tanh), since
    ‖f∘g‖_L ≤ ‖f‖_L‖g‖_L and a linear map's constant is its largest singular value. Exact σ's
    (``torch.linalg.matrix_norm(ord=2)``), of the weights the network uses (spectrally normalised ones included)."""
    bound = 1.0
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, nn.Linear):
                bound *= float(torch.linalg.matrix_norm(module.weight.double(), ord=2))
            elif isinstance(module, Scaled):
                bound *= abs(module.scale)
    return bound


def lipschitz_lower_bound(network: nn.Module, points: Tensor) -> float:
    """max ‖∇ₓ f(x)‖ over ``points`` (N, D) (``wgan_theory.critic_gradient_norms``): the Lipschitz constant of a
    scalar function f is at least its largest gradient norm, so this is a measured lower bound."""
    return float(critic_gradient_norms(network, points).max())


@torch.no_grad()
def max_norm_(network: nn.Module, radius: float) -> nn.Module:
    """Rescale, in place, every row of every linear layer's weight matrix (one unit's incoming weights) whose
    L2 norm exceeds ``radius`` down to it (Srebro & Shraibman 2005; Srivastava et al. 2014, §5.1): a projection
    onto a product of L2 balls after each step. Returns ``network``."""
    radius = _check_nonnegative("radius", radius)
    for module in network.modules():
        if isinstance(module, nn.Linear):
            module.weight.copy_(torch.renorm(module.weight, p=2, dim=0, maxnorm=radius))
    return network


CONSTRAINTS = ("none", "max_norm", "clip", "spectral_norm", "gradient_penalty")
# what the strength means for each: the ball's radius, the clipping value, the target Lipschitz constant, λ
# four strengths per constraint, weakest first; "none" has one setting
CONSTRAINT_STRENGTHS = {
    "none": (1.0,),
    "max_norm": (2.0, 1.0, 0.5, 0.25),
    "clip": (0.3, 0.1, 0.03, 0.01),
    "spectral_norm": (4.0, 2.0, 1.0, 0.5),
    "gradient_penalty": (0.3, 1.0, 3.0, 10.0),
}
STRENGTH_NAMES = {
    "none": "no strength",
    "max_norm": "row radius c",
    "clip": "clip value c",
    "spectral_norm": "scale K",
    "gradient_penalty": "λ",
}


CRITIC_BOX = (-3.0, 3.0)  # the square [−3, 3]² on which critics are measured and drawn


CRITIC_W1 = 2.0  # W₁ between critic_data's two populations: Q is P moved by 2, and f(x) = −x₁ attains it


def critic_data(n: int = 2_000, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Two 2-D samples (n, 2) each: P = N((−1, 0), 0.5²I) and Q = N((1, 0), 0.5²I), so W₁(P, Q) = 2 (one is the
    other moved by 2)."""
    generator = torch.Generator().manual_seed(seed)
    return (
        sample_modes(n, torch.tensor([[-1.0, 0.0]]), 0.5, generator),
        sample_modes(n, torch.tensor([[1.0, 0.0]]), 0.5, generator),
    )


def train_constrained_critic(
    real: Tensor,
    fake: Tensor,
    kind: str,
    strength: float = 1.0,
    *,
    steps: int = 300,
    batch_size: int = 256,
    hidden: int = 32,
    depth: int = 2,
    lr: float = 1e-3,
    seed: int = 0,
) -> nn.Module:
    """A WGAN critic (``models.MLPDiscriminator``) trained to maximise E_real f − E_fake f under one constraint.

    ``kind``: "none" (the objective is unbounded: the critic's slope grows with every step); "max_norm" (each
    unit's incoming weights projected into the ball of radius ``strength`` after each step, :func:`max_norm_`);
    "clip" (every weight clamped to [−strength, strength], ``losses.clip_weights_``, Arjovsky et al. 2017);
    "spectral_norm" (every layer divided by its largest singular value, Miyato et al. 2018, and the output
    multiplied by ``strength``, :class:`Scaled`); "gradient_penalty" (λ = ``strength`` times
    E(‖∇f(x̂)‖ − 1)² at interpolates, ``losses.gradient_penalty``, Gulrajani et al. 2017). Adam (``lr``,
    β = (0.5, 0.9)) for all, so that only the constraint differs. Everything random is drawn from ``seed``: the
    batches from a local generator, the initial weights inside ``torch.random.fork_rng``, so the global random
    state is the same after the call as before. Returns the critic in eval mode.
    """
    if kind not in CONSTRAINTS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, CONSTRAINTS))}; got {kind!r}")
    strength = _check_nonnegative("strength", strength)
    if kind in ("max_norm", "clip", "spectral_norm") and strength == 0:
        raise ValueError(f"{kind} needs a strength > 0")
    if not (real.ndim == 2 and fake.ndim == 2 and real.shape[1] == fake.shape[1]):
        raise ValueError(
            f"real and fake must be (N, D) and (M, D) with the same D; got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    steps = _check_steps("steps", steps, minimum=0)
    rng = torch.Generator().manual_seed(seed)  # the batches and the gradient penalty's interpolates
    # nn.Linear (and spectral_norm's start vector) draw from the global generator: seed it inside fork_rng, so
    # that the initial weights depend on ``seed`` alone and the caller's random state is left as it was
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic: nn.Module = MLPDiscriminator(real.shape[1], hidden, depth, spectral_norm=kind == "spectral_norm")
    if kind == "spectral_norm":
        critic = Scaled(critic, strength)
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))

    def batch_loss(network: nn.Module, real_batch: Tensor, fake_batch: Tensor, rng: torch.Generator) -> Tensor:
        loss = losses.wgan_critic_loss(network(real_batch), network(fake_batch))  # −(E_real f − E_fake f)
        if kind == "gradient_penalty":
            loss = loss + losses.gradient_penalty(network, real_batch, fake_batch, rng, lambda_gp=strength)
        return loss

    projections = {"clip": lambda network: losses.clip_weights_(network, strength),
                   "max_norm": lambda network: max_norm_(network, strength)}
    return fit_critic(critic, optimizer, real, fake, batch_loss, steps=steps, batch_size=batch_size, rng=rng,
                      after_step=projections.get(kind))


@dataclass(frozen=True)
class CriticReport:
    """A critic trained on :func:`critic_data` under one constraint, and what was measured on it."""

    kind: str
    strength: float
    critic: nn.Module
    lipschitz: float  # max ‖∇f‖ over a 64 × 64 grid of the box: a lower bound of the Lipschitz constant
    bound: float  # Π σ_max(W_l): an upper bound
    score: float  # E_P f − E_Q f on the training samples (at most L·W₁ = 2L for an L-Lipschitz f)
    surface: Tensor  # (R, R) f on a grid of the box (rows: y, columns: x), shifted so that f(0, 0) = 0
    score_se: float = 0.0  # the score's standard error over the samples: √(var f(P)/n + var f(Q)/m)


@functools.lru_cache(maxsize=64)
def critic_report(kind: str, strength: float = 1.0, *, steps: int = 300, seed: int = 0) -> CriticReport:
    """Train a critic on :func:`critic_data` under ``kind`` at ``strength`` (:func:`train_constrained_critic`) and
    measure it on the box :data:`CRITIC_BOX` (``wgan_theory.lipschitz_estimate``). Cached: the chapter and its
    widget train each setting once."""
    real, fake = critic_data(seed=seed)
    critic = train_constrained_critic(real, fake, kind, strength, steps=steps, seed=seed)
    lipschitz = lipschitz_estimate(critic, CRITIC_BOX, CRITIC_BOX, resolution=64)
    axis = torch.linspace(*CRITIC_BOX, 61)
    grid_x, grid_y = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        surface = critic(torch.stack([grid_x.flatten(), grid_y.flatten()], dim=1)).reshape(61, 61)
        on_real, on_fake = critic(real).reshape(-1), critic(fake).reshape(-1)  # (n,) each
        score = float(on_real.mean() - on_fake.mean())
        score_se = math.sqrt(float(on_real.var()) / len(on_real) + float(on_fake.var()) / len(on_fake))
        surface = surface - critic(torch.zeros(1, 2))  # a critic is defined up to a constant
    return CriticReport(kind, float(strength), critic, lipschitz, lipschitz_upper_bound(critic), score, surface,
                        score_se)


# ============================================================================ max pooling
def pooling_shift_change(x: Tensor, window: int, steps: int) -> Tensor:
    """|maxpool(roll(x, steps)) − maxpool(x)| per pooled output, for signals ``x`` (B, L) and non-overlapping
    windows of ``window`` (L divisible by it): (B, L // window). 0 where each window's maximum stayed inside
    the window (a circular shift by ``steps`` places, an int of either sign, so no zeros enter at the border)."""
    _check_steps("steps", steps, minimum=None)
    if not (isinstance(window, int) and window >= 1 and x.ndim == 2 and x.shape[1] % window == 0):
        raise ValueError(f"x must be (B, L) with L divisible by window >= 1; got {tuple(x.shape)} and {window!r}")
    pool = lambda signal: nn.functional.max_pool1d(signal[:, None], window)[:, 0]  # noqa: E731
    return (pool(torch.roll(x, steps, dims=1)) - pool(x)).abs()


class _CircularConvNet(nn.Module):
    """Conv1d(1 → ``channels``, kernel 3, circular padding), ReLU, then either a global max over positions
    (``head="global_max"``) or a flatten and a dense layer over every (channel, position) (``head="flatten"``), to
    one output. Circular padding makes the convolution commute with ``torch.roll`` exactly."""

    def __init__(self, head: str, channels: int, length: int):
        super().__init__()
        self.head_kind = head
        self.conv = nn.Conv1d(1, channels, 3, padding=1, padding_mode="circular")
        self.head = nn.Linear(channels if head == "global_max" else channels * length, 1)

    def forward(self, x: Tensor) -> Tensor:
        maps = torch.relu(self.conv(x[:, None]))  # (B, C, L), moves with x
        features = maps.amax(dim=-1) if self.head_kind == "global_max" else maps.flatten(1)
        return self.head(features)[:, 0]  # (B,)


def architecture_shift_gaps(head: str, *, n_networks: int = 100, n_signals: int = 64, length: int = 16,
                            channels: int = 4, steps: int = 1, weight_scale: float = 1.0, seed: int = 0) -> Tensor:
    """max |f(roll(x, steps)) − f(x)| over ``n_signals`` random signals, for each of ``n_networks`` networks
    f with random weights (PyTorch's default initialisation times ``weight_scale``): (n_networks,) float.

    ``head="global_max"``: a circular convolution and a global max, so every f the architecture can express is
    invariant to circular shifts and every gap is 0 (exactly: the same products, in the same order, then a max
    over the same numbers), whatever the weights, ×1,000 included. ``head="flatten"``: the same convolution with
    a dense head, whose gaps are not 0. No penalty or weight constraint is involved: the architecture itself
    excludes the non-invariant functions, the "infinitely strong prior" of Goodfellow et al. (2016), §9.4.
    """
    if head not in ("global_max", "flatten"):
        raise ValueError(f"head must be 'global_max' or 'flatten'; got {head!r}")
    _check_steps("n_networks", n_networks)
    _check_steps("n_signals", n_signals)
    generator = torch.Generator().manual_seed(seed)
    signals = torch.randn(n_signals, length, generator=generator)
    gaps = []
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)  # the networks' weights; the caller's random state is left as it was
        for _ in range(n_networks):
            network = _CircularConvNet(head, channels, length)
            for parameter in network.parameters():
                parameter.mul_(weight_scale)
            gaps.append(float((network(torch.roll(signals, steps, dims=1)) - network(signals)).abs().max()))
    return torch.tensor(gaps)
