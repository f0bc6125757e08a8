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
:func:`fit_logistic_regression` fits it by Newton's method on the mean cross-entropy with a small L2 penalty. A
discriminative model need not be linear: :func:`fit_mlp_classifiers` trains one-hidden-layer networks, many
seeds at once.

**Which wins** (Ng & Jordan, NIPS 2001, published 2002; Efron 1975 for LDA): for one generative-discriminative
PAIR, Gaussian naive Bayes and logistic regression, naive Bayes approaches its own asymptotic error in
O(log D) samples against O(D) for logistic regression, whose asymptotic error is no worse (lower when naive
Bayes's assumptions are wrong). That is a result about this pair, not about generative models in general.
:func:`learning_curves` measures the test errors of both and of an MLP over training-set sizes and seeds, on
shared training sets; :func:`paired_gaps` and :func:`excess_over_largest` compare them seed by seed.

**The GAN's discriminator** is a discriminative classifier of real against generated: trained by
cross-entropy it approaches D* = p_data/(p_data + p_G), the Bayes posterior computed from the two densities
(:func:`discriminator_gaps` measures how close, on :func:`gan_toy_pair`, where both are known).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from course_utils.evidence import Comparison, compare
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
        centred = x.T[None] - self.means[:, :, None]  # (K, D, N)
        # one triangular solve per class for all N points (a batch of N·K tiny solves took 50× longer)
        solved = torch.linalg.solve_triangular(chol, centred, upper=False)  # (K, D, N): L_k⁻¹ (x − μ_k)
        mahalanobis = solved.square().sum(1).T  # (N, K)
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


@dataclass(frozen=True)
class MLPClassifier:
    """p(y = 1 | x) = σ(w₂·relu(x W₁ + b₁) + b₂): a discriminative model with one hidden layer."""

    w1: Tensor  # (D, H)
    b1: Tensor  # (H,)
    w2: Tensor  # (H,)
    b2: Tensor  # ()

    def logits(self, x: Tensor) -> Tensor:
        x = _check_points("x", x, self.w1.shape[0]).to(self.w1.dtype)
        return torch.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2  # (N,)

    def predict(self, x: Tensor) -> Tensor:
        return (self.logits(x) > 0).long()

    @property
    def n_parameters(self) -> int:
        return sum(t.numel() for t in (self.w1, self.b1, self.w2, self.b2))


def fit_mlp_classifiers(x: Tensor, y: Tensor, seeds: Sequence[int], *, hidden: int = 32, steps: int = 300,
                        lr: float = 1e-2, weight_decay: float = 1e-2) -> list[MLPClassifier]:
    """One MLP classifier per data set, trained side by side: ``x`` (R, N, D) and labels ``y`` (R, N) ∈ {0, 1}, the
    r-th network initialised from ``seeds[r]``. Full-batch Adam on the mean cross-entropy with an L2 penalty
    (``weight_decay``, Adam's coupled form), for a fixed number of ``steps``; ``steps = 0`` returns the untrained
    networks. Trained in float32 (half the time of float64 at n = 4,096; chapter 02's mean test errors moved by
    less than 0.005).

    The R networks share nothing: each one's loss depends only on its own weights, and Adam's update is
    elementwise, so training them as one batch (``torch.bmm``) gives each the update it would get alone,
    for the Python overhead of one.
    """
    if x.ndim != 3 or y.shape != x.shape[:2] or y.is_floating_point() or len(seeds) != len(x):
        raise ValueError(f"x must be (R, N, D), y (R, N) integer labels and seeds R ints; got x {tuple(x.shape)}, "
                         f"y {tuple(y.shape)} {y.dtype}, {len(seeds)} seeds")
    if bool((y < 0).any()) or bool((y > 1).any()):
        raise ValueError("y must hold two classes, 0 and 1 (this classifier is binary)")
    if not (isinstance(steps, int) and steps >= 0):
        raise ValueError(f"steps must be an int >= 0; got {steps!r}")
    runs, _, dim = x.shape
    x, target = x.float(), y.float()
    # (fan-in, shape) of W₁, b₁, w₂, b₂
    shapes = ((dim, (dim, hidden)), (dim, (hidden,)), (hidden, (hidden,)), (hidden, ()))
    params = [torch.zeros((runs, *shape)) for _, shape in shapes]
    for r, seed in enumerate(seeds):
        generator = torch.Generator().manual_seed(int(seed))
        for param, (fan_in, shape) in zip(params, shapes, strict=True):
            # nn.Linear's default initialisation: U(−1/√fan_in, 1/√fan_in)
            param[r] = (torch.rand(shape, generator=generator) * 2 - 1) / math.sqrt(fan_in)
    w1, b1, w2, b2 = (param.requires_grad_(True) for param in params)  # (R, D, H), (R, H), (R, H), (R,)
    optimizer = torch.optim.Adam([w1, b1, w2, b2], lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        hidden_units = torch.relu(torch.bmm(x, w1) + b1[:, None])  # (R, N, H)
        logits = torch.bmm(hidden_units, w2[..., None])[..., 0] + b2[:, None]  # (R, N)
        # Σ_r of each run's mean cross-entropy: run r's gradient is its own loss's
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return [MLPClassifier(*(param[r].detach() for param in (w1, b1, w2, b2))) for r in range(runs)]


def fit_mlp_classifier(x: Tensor, y: Tensor, *, seed: int = 0, **options) -> MLPClassifier:
    """An MLP classifier (one hidden layer, :func:`fit_mlp_classifiers` with one data set) of labels ``y`` ∈ {0, 1}
    (N,) on ``x`` (N, D)."""
    x = _check_points("x", x)
    y = _check_labels(y, len(x))
    return fit_mlp_classifiers(x[None], y[None], [seed], **options)[0]


MODELS = ("naive_bayes", "logistic", "mlp")  # what learning_curves can train, in the order it reports them


def _training_set(make_data: Callable[[int, torch.Generator], tuple[Tensor, Tensor]], n: int,
                  seed: int) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + n)  # each (size, seed) its own set
    x, y = make_data(n, generator)
    while int(y.min()) == int(y.max()):  # one class only: no classifier can be fitted
        x, y = make_data(n, generator)
    return x, y


def learning_curves(make_data: Callable[[int, torch.Generator], tuple[Tensor, Tensor]], sizes: Sequence[int],
                    seeds: Sequence[int], *, models: Sequence[str] = MODELS,
                    test_size: int = 20_000) -> dict[str, Tensor]:
    """Test errors of Gaussian naive Bayes (generative), logistic regression and an MLP (both discriminative),
    trained on ``make_data(n, generator)`` for each size and seed and tested on one large test set:
    ``{model: (S, R)}`` for S sizes and R seeds.

    Paired by construction: at each size and seed every model trains on the **same** set (redrawn until it has
    both classes), so the per-seed differences of two rows remove what the seeds share. A set depends only on
    its size and seed: a subset of ``sizes`` gives the same numbers at those sizes.
    """
    unknown = [name for name in models if name not in MODELS]
    if unknown or not models:
        raise ValueError(f"models must be some of {', '.join(map(repr, MODELS))}; got {list(models)!r}")
    test_x, test_y = make_data(test_size, torch.Generator().manual_seed(10_000))
    errors = {name: torch.zeros(len(sizes), len(seeds), dtype=torch.float64) for name in models}
    for i, n in enumerate(sizes):
        sets = [_training_set(make_data, n, seed) for seed in seeds]
        for j, (x, y) in enumerate(sets):
            if "naive_bayes" in errors:
                errors["naive_bayes"][i, j] = error_rate(
                    fit_gaussian_classes(x, y, covariance="diagonal", ridge=1e-3), test_x, test_y)
            if "logistic" in errors:
                errors["logistic"][i, j] = error_rate(fit_logistic_regression(x, y), test_x, test_y)
        if "mlp" in errors:  # the seeds' networks trained as one batch
            # initialised from a stream of their own (the training set's seed + 2³¹: not the draws that made the set)
            networks = fit_mlp_classifiers(torch.stack([x for x, _ in sets]), torch.stack([y for _, y in sets]),
                                           [2**31 + seed * 1_000_003 + n for seed in seeds])
            for j, network in enumerate(networks):
                errors["mlp"][i, j] = error_rate(network, test_x, test_y)
    return errors


def excess_over_largest(errors: dict[str, Tensor]) -> dict[str, Tensor]:
    """Each model's error above its own error at the largest size, seed by seed: how far each still is from the
    best it reaches here (the quantity Ng & Jordan's convergence rates are about). ``{model: (S − 1, R)}``, one row
    per size but the largest (``sizes[:-1]``)."""
    return {name: values[:-1] - values[-1:] for name, values in errors.items()}


@dataclass(frozen=True)
class PairedGap:
    """Two models' errors at one training-set size, compared seed by seed in both directions."""

    n: int  # training-set size
    first_ahead: Comparison  # "first's error is lower" (evidence.compare, paired)
    second_ahead: Comparison  # "second's error is lower"
    first: str
    second: str

    @property
    def verdict(self) -> str:
        """The model whose lower error clears the margin, or "within noise" when neither does."""
        return self.first if self.first_ahead.holds else self.second if self.second_ahead.holds else "within noise"

    @property
    def winner(self) -> Comparison:
        """The comparison of the verdict's model against the other (``first_ahead`` when within noise)."""
        return self.second_ahead if self.second_ahead.holds else self.first_ahead


def paired_gaps(errors: dict[str, Tensor], sizes: Sequence[int], first: str, second: str, *,
                min_z: float = 3.0) -> list[PairedGap]:
    """At each size, which of two models of :func:`learning_curves` (or :func:`excess_over_largest`) has the lower
    error, by the per-seed differences on shared training sets: ``evidence.compare(..., paired=True)`` both ways."""
    if len(sizes) != len(errors[first]):
        raise ValueError(f"sizes must name the {len(errors[first])} rows of errors; got {len(sizes)}")
    rows = []
    for i, n in enumerate(sizes):
        a, b = errors[first][i].tolist(), errors[second][i].tolist()
        rows.append(PairedGap(int(n), compare(a, b, larger=False, paired=True, min_z=min_z),
                              compare(b, a, larger=False, paired=True, min_z=min_z), first, second))
    return rows


def gan_toy_pair() -> tuple[torch.distributions.Distribution, torch.distributions.Distribution]:
    """A GAN's discriminator task with both densities known: ``(p_data, p_G)`` in 2-D. The data are two Gaussian
    clusters, N((±1.5, 0), 0.5² I) with equal weights; the "generator" is the single Gaussian with the same mean
    and covariance (0, diag(2.5, 0.25)), as a generator that merged the clusters would be."""
    std = 0.5
    means = torch.tensor([[-1.5, 0.0], [1.5, 0.0]], dtype=torch.float64)
    p_data = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(torch.tensor([0.5, 0.5], dtype=torch.float64)),
        torch.distributions.Independent(torch.distributions.Normal(means, std), 1))
    covariance = torch.diag(torch.tensor([1.5**2 + std**2, std**2], dtype=torch.float64))  # the mixture's own
    return p_data, torch.distributions.MultivariateNormal(torch.zeros(2, dtype=torch.float64), covariance)


def bayes_posterior_real(p_data: torch.distributions.Distribution, p_model: torch.distributions.Distribution,
                         x: Tensor) -> Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_G(x)) (Goodfellow et al. 2014, Prop. 1) from the two TRUE densities: Bayes'
    rule with equal priors, σ(log p_data(x) − log p_G(x)) in log space (N,)."""
    return torch.sigmoid(p_data.log_prob(x) - p_model.log_prob(x))


@dataclass(frozen=True)
class Constant:
    """The discriminator that answers ``probability`` everywhere (½: the best it can do knowing nothing of x)."""

    probability: float

    def logits(self, x: Tensor) -> Tensor:
        return torch.full((len(x),), math.log(self.probability / (1 - self.probability)), dtype=torch.float64)


def discriminator_gaps(seeds: Sequence[int], *, n: int = 1_000, steps: int = 400, eval_size: int = 10_000
                       ) -> tuple[dict[str, list[float]], dict[str, list]]:
    """How far a discriminator trained by cross-entropy is from D* = p_data/(p_data + p_G), beside the baselines.

    For each seed: ``n`` samples of :func:`gan_toy_pair`'s p_data (label 1, "real") and ``n`` of p_G (label 0),
    drawn from that seed; on them an MLP (:func:`fit_mlp_classifiers`, initialised from seed + 2³¹) and logistic
    regression are trained by cross-entropy, the GAN discriminator's loss. Each is scored by the mean
    |D(x) − D*(x)| on ``eval_size`` fresh points of ½(p_data + p_G) (one set for all seeds), D* computed from
    the true densities (:func:`bayes_posterior_real`), beside the same MLP untrained (``steps = 0``) and the
    constant ½. Returns ``(gaps, models)``: ``{name: [one mean gap per seed]}`` and ``{name: [one model per seed]}``
    with names "trained MLP", "logistic regression", "untrained MLP", "constant 1/2".
    """
    p_data, p_model = gan_toy_pair()
    sets = []
    for seed in seeds:
        with torch.random.fork_rng():  # torch.distributions sample from the global generator: seed it, then restore
            torch.manual_seed(int(seed))
            x = torch.cat([p_data.sample((n,)), p_model.sample((n,))])  # (2n, 2)
        sets.append((x, torch.cat([torch.ones(n, dtype=torch.long), torch.zeros(n, dtype=torch.long)])))
    x_all, y_all = torch.stack([x for x, _ in sets]), torch.stack([y for _, y in sets])  # (R, 2n, 2), (R, 2n)
    inits = [2**31 + int(seed) for seed in seeds]  # the networks' own streams, not the samples' draws
    models = {"trained MLP": fit_mlp_classifiers(x_all, y_all, inits, steps=steps, weight_decay=1e-4),
              "logistic regression": [fit_logistic_regression(x, y) for x, y in sets],
              "untrained MLP": fit_mlp_classifiers(x_all, y_all, inits, steps=0),
              "constant 1/2": [Constant(0.5) for _ in seeds]}
    with torch.random.fork_rng():
        torch.manual_seed(10_000)
        half = eval_size // 2
        points = torch.cat([p_data.sample((half,)), p_model.sample((eval_size - half,))])  # (eval_size, 2)
    target = bayes_posterior_real(p_data, p_model, points)
    gaps = {name: [float((torch.sigmoid(model.logits(points)) - target).abs().mean()) for model in runs]
            for name, runs in models.items()}
    return gaps, models


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
