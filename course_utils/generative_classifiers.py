"""Chapter 02's models: a generative classifier, p(x, y), beside a discriminative one, p(y | x).

**Generative**: Gaussian class-conditionals fitted by maximum likelihood (Gaussian discriminant analysis). It
models the joint p(x, y) = p(y) p(x | y) with p(y = k) = π_k and p(x | y = k) = N(μ_k, Σ_k), so it can

- classify, by Bayes' rule in log space: log p(y | x) = log p(x, y) − logsumexp_k log p(x, k);
- say how likely an input is, log p(x) = logsumexp_k log p(x, k) (an outlier scores low);
- and sample new labelled points.

The maximum-likelihood fit is closed-form: π_k = n_k / n, μ_k = the class mean, Σ_k = the class's (biased, 1/n_k)
covariance, or one pooled Σ = Σ_k n_k Σ_k / n (linear discriminant analysis, whose boundary is a line, like
logistic regression's), or its diagonal (Gaussian naive Bayes). ``ridge`` adds εI to each covariance so that a
class with fewer points than dimensions still has a density.

**Discriminative**: logistic regression models p(y | x) = σ(w·x + b) only; it cannot sample or score an input.
:func:`fit_logistic_regression` fits it by Newton's method on the mean cross-entropy with a small L2 penalty.

**Which wins** (Ng & Jordan 2001; Efron 1975 for LDA): the generative model reaches its own best error with
fewer samples, because its assumptions fill in for missing data; when those assumptions are wrong, the
discriminative model's best error is lower, and with enough data it wins. :func:`learning_curves` measures
both test errors over training-set sizes and seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from course_utils.losses import LOG_2PI

Tensor = torch.Tensor


@dataclass(frozen=True)
class GaussianClasses:
    """A fitted Gaussian class-conditional model: ``priors`` (K,), ``means`` (K, D), ``covariances`` (K, D, D)."""

    priors: Tensor
    means: Tensor
    covariances: Tensor

    @property
    def n_classes(self) -> int:
        return len(self.priors)

    def log_joint(self, x: Tensor) -> Tensor:
        """log p(x, y = k) = log π_k + log N(x; μ_k, Σ_k) for each point and class: (N, K)."""
        x = _check_points("x", x, self.means.shape[1]).to(self.means.dtype)
        chol = torch.linalg.cholesky(self.covariances)  # (K, D, D)
        centred = x[:, None, :] - self.means[None]  # (N, K, D)
        solved = torch.linalg.solve_triangular(chol[None], centred[..., None], upper=False)[..., 0]  # (N, K, D)
        mahalanobis = solved.square().sum(-1)  # (N, K)
        log_det = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # (K,)
        dim = x.shape[1]
        return self.priors.log()[None] - 0.5 * (dim * LOG_2PI + log_det[None] + mahalanobis)

    def log_posterior(self, x: Tensor) -> Tensor:
        """log p(y = k | x) by Bayes' rule, normalised in log space (no underflow far from every class): (N, K)."""
        joint = self.log_joint(x)
        return joint - torch.logsumexp(joint, dim=1, keepdim=True)

    def log_density(self, x: Tensor) -> Tensor:
        """log p(x) = logsumexp_k log p(x, y = k): how likely the model finds each input (N,)."""
        return torch.logsumexp(self.log_joint(x), dim=1)

    def predict(self, x: Tensor) -> Tensor:
        """The most probable class of each point (N,)."""
        return self.log_joint(x).argmax(dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``n`` new labelled points from the model: y ~ π, then x ~ N(μ_y, Σ_y). Returns ``(x (n, D), y (n,))``."""
        if not (isinstance(n, int) and n >= 1):
            raise ValueError(f"n must be an int >= 1; got {n!r}")
        labels = torch.multinomial(self.priors.double(), n, replacement=True, generator=generator)  # (n,)
        noise = torch.randn(n, self.means.shape[1], generator=generator, dtype=self.means.dtype)  # (n, D)
        chol = torch.linalg.cholesky(self.covariances)  # (K, D, D)
        return self.means[labels] + (chol[labels] @ noise[..., None])[..., 0], labels


def _check_points(name: str, x, dim: int | None = None) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 2 or len(x) == 0 or not x.is_floating_point():
        raise ValueError(f"{name} must be a non-empty (N, D) float tensor; got "
                         f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have {dim} columns (the model's dimension); got {x.shape[1]}")
    return x


def _check_labels(y, n: int) -> Tensor:
    if not isinstance(y, Tensor) or y.ndim != 1 or len(y) != n or y.is_floating_point() or bool((y < 0).any()):
        raise ValueError(f"y must be a 1-D integer tensor of {n} class labels 0..K-1; got "
                         f"{type(y).__name__} {tuple(getattr(y, 'shape', ()))}")
    return y


COVARIANCES = ("full", "shared", "diagonal")


def fit_gaussian_classes(x: Tensor, y: Tensor, *, covariance: str = "full", ridge: float = 1e-6) -> GaussianClasses:
    """The maximum-likelihood Gaussian class-conditional model of points ``x`` (N, D) with labels ``y`` (N,).

    ``covariance``: "full", one Σ_k per class (quadratic boundaries); "shared", one pooled Σ (linear
    discriminant analysis); "diagonal", one pooled diagonal Σ (Gaussian naive Bayes: features independent
    given the class, 2D + K·D parameters to estimate instead of D²). Every class 0..max(y) needs at least
    one point. Computed in float64.
    """
    if covariance not in COVARIANCES:
        raise ValueError(f"covariance must be one of {', '.join(map(repr, COVARIANCES))}; got {covariance!r}")
    x = _check_points("x", x).double()
    y = _check_labels(y, len(x))
    n_classes = int(y.max()) + 1
    counts = torch.bincount(y, minlength=n_classes)  # (K,)
    if bool((counts == 0).any()):
        missing = [k for k in range(n_classes) if counts[k] == 0]
        raise ValueError(f"every class 0..{n_classes - 1} needs at least one point; none of class(es) {missing}")
    one_hot = torch.nn.functional.one_hot(y, n_classes).double()  # (N, K)
    means = (one_hot.T @ x) / counts[:, None]  # (K, D)
    centred = x[:, None, :] - means[None]  # (N, K, D)
    scatter = torch.einsum("nk,nki,nkj->kij", one_hot, centred, centred)  # (K, D, D): Σ_n∈k (x − μ_k)(x − μ_k)ᵀ
    covariances = scatter / counts[:, None, None]
    if covariance in ("shared", "diagonal"):
        pooled = scatter.sum(0) / len(x)  # (D, D)
        if covariance == "diagonal":
            pooled = torch.diag(torch.diagonal(pooled))
        covariances = pooled.expand(n_classes, -1, -1).clone()
    covariances = covariances + ridge * torch.eye(x.shape[1], dtype=torch.float64)
    return GaussianClasses(counts.double() / len(x), means, covariances)


@dataclass(frozen=True)
class LogisticRegression:
    """p(y = 1 | x) = σ(x·weights + bias): the discriminative model of two classes."""

    weights: Tensor  # (D,)
    bias: Tensor  # ()

    def logits(self, x: Tensor) -> Tensor:
        return _check_points("x", x, len(self.weights)).double() @ self.weights + self.bias

    def predict(self, x: Tensor) -> Tensor:
        return (self.logits(x) > 0).long()


def fit_logistic_regression(x: Tensor, y: Tensor, *, l2: float = 1e-3, max_iter: int = 100,
                            tolerance: float = 1e-10) -> LogisticRegression:
    """Logistic regression of labels ``y`` ∈ {0, 1} (N,) on ``x`` (N, D): the minimiser of the mean cross-entropy
    plus ``l2``/2 ‖w‖² (the bias is not penalised; without a penalty separable data has no minimiser).

    Newton's method (iteratively reweighted least squares, Bishop 2006 §4.3.3) with step halving: the objective
    is strictly convex, and a few steps reach it to rounding (a quasi-Newton solver took 100× longer here).
    """
    x = _check_points("x", x).double()
    y = _check_labels(y, len(x))
    if int(y.max()) > 1:
        raise ValueError("y must hold two classes, 0 and 1 (this logistic regression is binary)")
    if not l2 > 0:
        raise ValueError(f"l2 must be > 0 (separable data has no unpenalised minimiser); got {l2!r}")
    design = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)  # (N, D + 1): the bias column
    target = y.double()
    penalty = torch.full((design.shape[1],), l2, dtype=torch.float64)
    penalty[-1] = 0.0  # no penalty on the bias

    def objective(params: Tensor) -> Tensor:
        logits = design @ params
        cross_entropy = torch.nn.functional.softplus(logits).mean() - (target * logits).mean()
        return cross_entropy + 0.5 * (penalty * params**2).sum()

    params = torch.zeros(design.shape[1], dtype=torch.float64)
    value = objective(params)
    for _ in range(max_iter):
        p = torch.sigmoid(design @ params)
        gradient = design.T @ (p - target) / len(x) + penalty * params
        hessian = (design.T * (p * (1 - p))) @ design / len(x) + torch.diag(penalty)
        step = torch.linalg.solve(hessian + 1e-12 * torch.eye(len(params), dtype=torch.float64), gradient)
        scale = 1.0
        while scale > 1e-8 and objective(params - scale * step) > value:
            scale /= 2
        params = params - scale * step
        new_value = objective(params)
        if value - new_value <= tolerance * (1 + abs(float(value))):
            break
        value = new_value
    return LogisticRegression(params[:-1], params[-1])


def error_rate(model, x: Tensor, y: Tensor) -> float:
    """The share of points ``x`` whose predicted class differs from ``y``."""
    return float((model.predict(x) != y).double().mean())


def learning_curves(make_data: Callable[[int, torch.Generator], tuple[Tensor, Tensor]], sizes: Sequence[int],
                    seeds: Sequence[int], *, test_size: int = 20_000) -> dict[str, Tensor]:
    """Test error of the generative model (Gaussian naive Bayes) and of logistic regression, trained on
    ``make_data(n, generator)`` for each size and seed, tested on one large test set: ``{"generative": (S, R),
    "discriminative": (S, R)}`` for S sizes and R seeds. Each training set has both classes (redrawn if not)."""
    test_x, test_y = make_data(test_size, torch.Generator().manual_seed(10_000))
    errors = {"generative": torch.zeros(len(sizes), len(seeds), dtype=torch.float64),
              "discriminative": torch.zeros(len(sizes), len(seeds), dtype=torch.float64)}
    for i, n in enumerate(sizes):
        for j, seed in enumerate(seeds):
            generator = torch.Generator().manual_seed(seed * 1_000_003 + n)
            x, y = make_data(n, generator)
            while int(y.min()) == int(y.max()):  # one class only: no classifier can be fitted
                x, y = make_data(n, generator)
            errors["generative"][i, j] = error_rate(fit_gaussian_classes(x, y, covariance="diagonal", ridge=1e-3),
                                                    test_x, test_y)
            errors["discriminative"][i, j] = error_rate(fit_logistic_regression(x, y), test_x, test_y)
    return errors


def tailed_classes(n: int, generator: torch.Generator | None = None, *, dim: int = 20, tail_share: float = 0.2,
                   tail_distance: float = 8.0) -> tuple[Tensor, Tensor]:
    """Two classes in ``dim`` dimensions that break the Gaussian assumption mildly: class 0 ~ N(0, I); class 1 ~
    N(μ, I) with ‖μ‖ = 2, except a ``tail_share`` of its points pushed ``tail_distance`` · μ/2 further out on its
    own side. Labels are fair coin flips. Returns ``(x (n, dim) float64, y (n,))``.

    The tail is far from the boundary, so the best linear classifier ignores it; the Gaussian fit does not (the
    class mean and variance move towards it), which costs it accuracy that more data cannot buy back.
    """
    if not (isinstance(n, int) and n >= 1):
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    labels = (torch.rand(n, generator=generator) < 0.5).long()
    x = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    mean = torch.full((dim,), 2.0 / math.sqrt(dim), dtype=torch.float64)  # ‖μ‖ = 2
    x[labels == 1] += mean
    in_tail = (labels == 1) & (torch.rand(n, generator=generator) < tail_share)
    x[in_tail] += tail_distance * mean / 2
    return x, labels
