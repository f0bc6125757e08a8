"""Do the graded test cells have teeth? Each one must reject plausible wrong answers.

The notebook tests prove that every graded cell passes on the solution and fails on the released
stub. That alone would let a test that only checks the shape pass a wrong answer. Here each test
cell of each solution notebook (visible and hidden parts, as the grader runs them) is executed
in-process against answers a student could plausibly write: wrong values, wrong types, a missing
check, and a rigged object whose ``__eq__`` is always True.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from pathlib import Path

import nbformat
import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import distributions as D

from course_utils.logistic import naive_bce_with_logits

REPO_ROOT = Path(__file__).resolve().parents[1]


class AlwaysEqual:
    """The classic cheat: compares equal to everything, looks like a tensor or a float."""

    shape = property(lambda self: torch.Size([5]))
    dtype = torch.float32

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__

    def __float__(self):
        return 0.0

    def __getattr__(self, name):
        return lambda *args, **kwargs: self


class RiggedTensor(torch.Tensor):
    """A tensor subclass that claims to equal anything."""

    def __eq__(self, other):
        return torch.ones_like(torch.as_tensor(other), dtype=torch.bool)

    __hash__ = torch.Tensor.__hash__


class RiggedFloat(float):
    def __eq__(self, other):
        return True

    __hash__ = float.__hash__


def graded_cells(chapter: str) -> dict[str, str]:
    """grade_id -> source of each graded test cell of a solution notebook."""
    nb = nbformat.read(REPO_ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


def solution_functions(chapter: str) -> dict[str, Callable]:
    """Every function the chapter's solution cells define (a test may call a sibling exercise)."""
    nb = nbformat.read(REPO_ROOT / "solutions" / chapter / f"{chapter}.ipynb", as_version=4)
    namespace = base_namespace()
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, namespace)  # noqa: S102 (our own notebook)
    return {name: value for name, value in namespace.items() if callable(value) and not name.startswith("__")
            and getattr(value, "__module__", None) is None}


def base_namespace() -> dict:
    """What the chapters' setup cells import and their test cells rely on."""
    return {"torch": torch, "math": math, "F": F, "D": D}


def run_test_cell(source: str, answers: dict[str, Callable], chapter: str) -> None:
    exec(source, {**base_namespace(), **solution_functions(chapter), **answers})  # noqa: S102 (our own notebook)


# ------------------------------------------------------------------ the wrong answers, per exercise
def _uniform_values(x, low, high):
    return torch.where((x >= low) & (x <= high), 1.0 / (high - low), 0.0).to(x.dtype)


def _uniform_float32(x, low, high):
    """Right values and checks, but always float32 (loses the caller's float64)."""
    if not high > low:
        raise ValueError("high must be greater than low")
    return _uniform_values(x, low, high).float()


def _bce_gradient_by_backward(z, t):
    """The right numbers, but from autograd (.backward()) instead of the derived closed form."""
    leaf = z.detach().clone().requires_grad_(True)
    F.binary_cross_entropy_with_logits(leaf, t).backward()
    return leaf.grad


WRONG = {
    ("00_welcome", "sample-latent-tests", "sample_latent"): {
        "ignores the generator": lambda n, d, generator: torch.randn(n, d),
        # issue 21: seed 0 was the only seed the visible test used
        "a generator seeded by the function itself": lambda n, d, generator: torch.randn(
            n, d, generator=torch.Generator().manual_seed(0)),
        "uniform noise": lambda n, d, generator: torch.rand(n, d, generator=generator),
        "transposed shape": lambda n, d, generator: torch.randn(d, n, generator=generator),
        "float64": lambda n, d, generator: torch.randn(n, d, generator=generator, dtype=torch.float64),
        "numpy array": lambda n, d, generator: torch.randn(n, d, generator=generator).numpy(),
        "rigged object": lambda n, d, generator: AlwaysEqual(),
        "rigged tensor subclass": lambda n, d, generator: torch.randn(n, d, generator=generator).as_subclass(
            RiggedTensor),
    },
    ("00_welcome", "decode-linear-tests", "decode_linear"): {
        "forgets the mean": lambda z, w, m: z @ w.T,
        "returns (D, n)": lambda z, w, m: w @ z.T + m[:, None],
        "casts to float32": lambda z, w, m: (z @ w.T + m).float(),
        "elementwise instead of matmul": lambda z, w, m: (z.sum(1, keepdim=True) * w.sum(1) + m),
        "rigged object": lambda z, w, m: AlwaysEqual(),
    },
    ("01_probability_densities", "uniform-pdf-tests", "uniform_pdf"): {
        "forgets zero outside": lambda x, lo, hi: torch.full_like(x, 1.0 / (hi - lo)),
        "probability 1/n per point": lambda x, lo, hi: torch.full_like(x, 1.0 / x.numel()),
        "open interval": lambda x, lo, hi: torch.where((x > lo) & (x < hi), 1.0 / (hi - lo), 0.0).to(x.dtype),
        "no check of high > low": _uniform_values,
        "always float32": _uniform_float32,
        "python list": lambda x, lo, hi: _uniform_values(x, lo, hi).tolist(),
        "rigged object": lambda x, lo, hi: AlwaysEqual(),
        "rigged tensor subclass": lambda x, lo, hi: _uniform_values(x, lo, hi).as_subclass(RiggedTensor) * 0,
    },
    ("01_probability_densities", "prob-between-tests", "prob_between"): {
        "returns a tensor": lambda d, a, b: d.cdf(torch.tensor(float(b))) - d.cdf(torch.tensor(float(a))),
        "density instead of area": lambda d, a, b: d.log_prob(torch.tensor((a + b) / 2)).exp().item(),
        "numpy float": lambda d, a, b: np.float64(d.cdf(torch.tensor(float(b))) - d.cdf(torch.tensor(float(a)))),
        "no check of b < a": lambda d, a, b: (d.cdf(torch.tensor(float(b))) - d.cdf(torch.tensor(float(a)))).item(),
        "rigged float": lambda d, a, b: RiggedFloat(0.0),
        "rigged object": lambda d, a, b: AlwaysEqual(),
    },
    ("01_probability_densities", "sample-exponential-tests", "sample_exponential"): {
        "multiplies by the rate": lambda n, rate, g: -torch.log1p(-torch.rand(n, generator=g)) * rate * 0.25,
        "forgets the minus sign": lambda n, rate, g: torch.log1p(-torch.rand(n, generator=g)) / rate,
        "ignores the generator": lambda n, rate, g: -torch.log1p(-torch.rand(n)) / rate,
        # issue 21: seed 0 was the only seed the visible test used
        "a generator seeded by the function itself": lambda n, rate, g: -torch.log1p(
            -torch.rand(n, generator=torch.Generator().manual_seed(0))) / rate,
        "gaussian noise": lambda n, rate, g: (torch.randn(n, generator=g).abs() / rate),
        "torch's exponential sampler, not the inverse CDF": lambda n, rate, g: torch.empty(n).exponential_(
            rate, generator=g),
        "3% scale error": lambda n, rate, g: -torch.log1p(-torch.rand(n, generator=g)) / rate * 1.03,
        "draws n − 1 samples": lambda n, rate, g: -torch.log1p(-torch.rand(n - 1, generator=g)) / rate,
        "Exponential(rate).sample, no generator": lambda n, rate, g: D.Exponential(rate).sample((n,)),
        "multiplies by the rate, plainly": lambda n, rate, g: -torch.log1p(-torch.rand(n, generator=g)) * rate,
        "float64": lambda n, rate, g: -torch.log1p(-torch.rand(n, generator=g, dtype=torch.float64)) / rate,
        "rigged object": lambda n, rate, g: AlwaysEqual(),
    },
    ("03_cross_entropy_and_mse", "bce-logit-gradient-tests", "bce_logit_gradient"): {
        "y − σ(z)": lambda z, t: (t - torch.sigmoid(z)) / z.numel(),
        "σ(z)(1 − σ(z))": lambda z, t: torch.sigmoid(z) * (1 - torch.sigmoid(z)) / z.numel(),
        "no mean over the batch": lambda z, t: torch.sigmoid(z) - t,
        "the squared error's gradient": lambda z, t: 2 * (torch.sigmoid(z) - t) * torch.sigmoid(z)
        * (1 - torch.sigmoid(z)) / z.numel(),
        "divides by len(logits), not the number of entries": lambda z, t: (torch.sigmoid(z) - t) / len(z),
        "always float32": lambda z, t: ((torch.sigmoid(z) - t) / z.numel()).float(),
        "uses autograd": lambda z, t: torch.autograd.grad(
            F.binary_cross_entropy_with_logits(z.detach().requires_grad_(True), t), z)[0],
        "uses .backward()": _bce_gradient_by_backward,
        "rigged object": lambda z, t: AlwaysEqual(),
    },
    ("03_cross_entropy_and_mse", "bce-with-logits-tests", "bce_with_logits"): {
        "the naive formula": naive_bce_with_logits,
        "clamps the logits": lambda z, y: naive_bce_with_logits(z.clamp(-15, 15), y),
        "hard targets only": lambda z, y: _stable_bce(z, y.round()),
        "returns the mean": lambda z, y: _stable_bce(z, y).mean(),
        "always float32": lambda z, y: _stable_bce(z, y).float(),
        "two-branch torch.where (nan gradients at ±1000)": lambda z, y: torch.where(
            z >= 0, (1 - y) * z + torch.log1p(torch.exp(-z)), -y * z + torch.log1p(torch.exp(z))),
        "calls F.binary_cross_entropy_with_logits": lambda z, y: F.binary_cross_entropy_with_logits(
            z, y, reduction="none"),
        "uses torch.nn.BCEWithLogitsLoss": lambda z, y: torch.nn.BCEWithLogitsLoss(reduction="none")(z, y),
        "rigged object": lambda z, y: AlwaysEqual(),
    },
    ("03_cross_entropy_and_mse", "softmax-cross-entropy-tests", "softmax_cross_entropy"): {
        "naive softmax": lambda z, y: -(z.exp() / z.exp().sum(1, keepdim=True)).gather(1, y[:, None]).log().mean(),
        "sum instead of mean": lambda z, y: (torch.logsumexp(z, 1) - z.gather(1, y[:, None]).squeeze(1)).sum(),
        "per-example losses": lambda z, y: torch.logsumexp(z, 1) - z.gather(1, y[:, None]).squeeze(1),
        "max logit instead of the label's": lambda z, y: (torch.logsumexp(z, 1) - z.max(1).values).mean(),
        "shifts by the batch's largest logit, not the row's": lambda z, y: (
            z.max() + (z - z.max()).exp().sum(1).log() - z.gather(1, y[:, None]).squeeze(1)).mean(),
        "calls F.cross_entropy": lambda z, y: F.cross_entropy(z, y),
        "calls F.log_softmax": lambda z, y: -F.log_softmax(z, 1).gather(1, y[:, None]).mean(),
        # issue 21: torch's other log-softmaxes, and the log of a softmax (−inf where the true class underflows)
        "calls torch.log_softmax": lambda z, y: -torch.log_softmax(z, 1).gather(1, y[:, None]).mean(),
        "calls logits.log_softmax": lambda z, y: -z.log_softmax(1).gather(1, y[:, None]).mean(),
        "calls torch.special.log_softmax": lambda z, y: -torch.special.log_softmax(z, 1).gather(1, y[:, None]).mean(),
        "nn.LogSoftmax and nn.NLLLoss": lambda z, y: torch.nn.NLLLoss()(torch.nn.LogSoftmax(1)(z), y),
        "nn.CrossEntropyLoss": lambda z, y: torch.nn.CrossEntropyLoss()(z, y),
        "log of F.softmax": lambda z, y: -F.softmax(z, 1).gather(1, y[:, None]).log().mean(),
        "rigged object": lambda z, y: AlwaysEqual(),
    },
    ("04_kl_divergence", "kl-discrete-tests", "kl_discrete"): {
        "no zero handling": lambda p, q: (p * (p / q).log()).sum().item(),
        "returns a tensor": lambda p, q: torch.special.xlogy(p, p).sum() - torch.special.xlogy(p, q).sum(),
        "swapped arguments": lambda p, q: _kl(q, p),
        "rigged float": lambda p, q: RiggedFloat(0.0),
    },
    ("04_kl_divergence", "gaussian-kl-tests", "gaussian_kl"): {
        "variances for standard deviations": lambda m0, s0, m1, s1: _gauss_kl(m0, s0**0.5, m1, s1**0.5),
        "symmetrised": lambda m0, s0, m1, s1: 0.5 * (_gauss_kl(m0, s0, m1, s1) + _gauss_kl(m1, s1, m0, s0)),
        "log(σ0/σ1)": lambda m0, s0, m1, s1: _checked_sigmas(s0, s1, math.log(s0 / s1) + (s0**2 + (m0 - m1) ** 2)
                                                             / (2 * s1**2) - 0.5),
        "no check of the standard deviations": lambda m0, s0, m1, s1: _gauss_kl(m0, abs(s0) + 1e-9, m1, abs(s1)),
        "returns a tensor": lambda m0, s0, m1, s1: D.kl_divergence(D.Normal(m0, s0), D.Normal(m1, s1)),
        "rigged float": lambda m0, s0, m1, s1: RiggedFloat(0.5),
    },
    ("04_kl_divergence", "kl-monte-carlo-tests", "kl_monte_carlo"): {
        "samples from q": lambda p, q, n, g: _mc(p, q, q.loc + q.scale * torch.randn(n, generator=g)),
        "std instead of standard error": lambda p, q, n, g: _mc(p, q, p.loc + p.scale * torch.randn(n, generator=g),
                                                                spread="std"),
        "ignores the generator": lambda p, q, n, g: _mc(p, q, p.loc + p.scale * torch.randn(n)),
        "reseeds the global generator": lambda p, q, n, g: (torch.manual_seed(0), _mc(p, q, p.sample((n,))))[1],
        "the closed form as the estimate": lambda p, q, n, g: (
            D.kl_divergence(p, q).item(), _mc(p, q, p.loc + p.scale * torch.randn(n, generator=g))[1]),
        "variance / √n as the standard error": lambda p, q, n, g: _mc(
            p, q, p.loc + p.scale * torch.randn(n, generator=g), spread="variance"),
        "twice the standard error": lambda p, q, n, g: _mc(
            p, q, p.loc + p.scale * torch.randn(n, generator=g), spread="double"),
        "returns a list": lambda p, q, n, g: list(_mc(p, q, p.loc + p.scale * torch.randn(n, generator=g))),
        "rigged object": lambda p, q, n, g: AlwaysEqual(),
    },
    ("04_kl_divergence", "entropy-cross-entropy-tests", "entropy_and_cross_entropy"): {
        "bits instead of nats": lambda p, q: (_entropy(p) / math.log(2), (_entropy(p) + _kl(p, q)) / math.log(2)),
        "no zero handling": lambda p, q: (-(p * p.log()).sum().item(), -(p * q.log()).sum().item()),
        "arguments swapped in H(p, q)": lambda p, q: (_entropy(p), -(q * p.clamp_min(1e-300).log()).sum().item()),
        "returns tensors": lambda p, q: (torch.tensor(_entropy(p)), torch.tensor(_entropy(p) + _kl(p, q))),
        "returns (H(p), H(p))": lambda p, q: (_entropy(p), _entropy(p)),
        "ignores q (H(p, uniform))": lambda p, q: (_entropy(p), math.log(len(p))),
        "p and q swapped": lambda p, q: (_entropy(q), _entropy(q) + _kl(q, p.clamp_min(1e-300))),
    },
    ("04_kl_divergence", "moment-match-tests", "moment_match"): {
        "the variance for the standard deviation": lambda w, mu, sd: _moments(w, mu, sd, "variance"),
        "forgets the modes' own variances": lambda w, mu, sd: _moments(w, mu, sd, "between"),
        "forgets the spread of the modes": lambda w, mu, sd: _moments(w, mu, sd, "within"),
        "unweighted mean": lambda w, mu, sd: (mu.mean().item(), _moments(w, mu, sd)[1]),
        "the heaviest mode (the reverse-KL answer)": lambda w, mu, sd: (mu[w.argmax()].item(), sd[w.argmax()].item()),
        "returns tensors": lambda w, mu, sd: tuple(torch.tensor(v) for v in _moments(w, mu, sd)),
        "rigged object": lambda w, mu, sd: AlwaysEqual(),
    },
    ("07_gans", "optimal-d-tests", "optimal_d"): {
        "q / (p + q), the fake's share": lambda p, q: _optimal_d(q, p),
        "no zero handling (nan where p = q = 0)": lambda p, q: p / (p + q),
        "the ratio p / q": lambda p, q: torch.where(q > 0, p / q.clamp_min(1e-300), torch.full_like(p, 0.5)),
        "0 where both are 0": lambda p, q: torch.where(p + q > 0, p / (p + q).clamp_min(1e-300), 0.0 * p),
        "always float32": lambda p, q: _optimal_d(p, q).float(),
        "a Python list": lambda p, q: _optimal_d(p, q).tolist(),
        "rigged tensor subclass": lambda p, q: _optimal_d(p, q).as_subclass(RiggedTensor),
    },
    ("07_gans", "gan-losses-tests", "gan_losses"): {
        "the minimax generator loss": lambda r, f: (_gan_d(r, f), -F.softplus(f).mean()),
        "log(sigmoid) (inf and nan at ±1000)": lambda r, f: (
            -(torch.log(torch.sigmoid(r)).mean() + torch.log(1 - torch.sigmoid(f)).mean()),
            -torch.log(torch.sigmoid(f)).mean()),
        "one mean over both batches": lambda r, f: (torch.cat([F.softplus(-r), F.softplus(f)]).mean() * 2,
                                                    F.softplus(-f).mean()),
        "sums instead of means": lambda r, f: (F.softplus(-r).sum() + F.softplus(f).sum(), F.softplus(-f).sum()),
        "labels swapped": lambda r, f: (F.softplus(r).mean() + F.softplus(-f).mean(), F.softplus(-f).mean()),
        "V instead of −V": lambda r, f: (-_gan_d(r, f), F.softplus(-f).mean()),
        "floats, not tensors": lambda r, f: (_gan_d(r, f).item(), F.softplus(-f).mean().item()),
        "detached (no gradient)": lambda r, f: (_gan_d(r, f).detach(), F.softplus(-f).mean().detach()),
        "always float32": lambda r, f: (_gan_d(r, f).float(), F.softplus(-f).mean().float()),
    },
    ("07_gans", "count-modes-tests", "count_modes"): {
        "every sample in the histogram, not just high-quality ones": lambda x, c, s: _count_modes(x, c, s, "all"),
        "high quality out of the high-quality samples (always 1)": lambda x, c, s: _count_modes(x, c, s, "share"),
        "KL(uniform ‖ h) instead of KL(h ‖ uniform)": lambda x, c, s: _count_modes(x, c, s, "reversed"),
        "a 2σ radius": lambda x, c, s: _count_modes(x, c, s, "radius2"),
        "the 3σ test per coordinate (a square)": lambda x, c, s: _count_modes(x, c, s, "square"),
        "0 instead of nan with no high-quality sample": lambda x, c, s: _count_modes(x, c, s, "zero"),
        "tensors, not numbers": lambda x, c, s: tuple(torch.tensor(v) for v in _count_modes(x, c, s)),
        "rigged object": lambda x, c, s: AlwaysEqual(),
    },
    ("08_wasserstein_and_wgan", "w1-sorted-tests", "w1_sorted"): {
        "forgets to sort": lambda x, y: (x - y).abs().mean(),
        "sorts x only": lambda x, y: (torch.sort(x).values - y).abs().mean(),
        "no absolute value": lambda x, y: (torch.sort(x).values - torch.sort(y).values).mean(),
        "sum, not mean": lambda x, y: (torch.sort(x).values - torch.sort(y).values).abs().sum(),
        "squared differences (W2²)": lambda x, y: (torch.sort(x).values - torch.sort(y).values).square().mean(),
        "the distance between the means": lambda x, y: (x.mean() - y.mean()).abs(),
        "a Python float": lambda x, y: _w1(x, y).item(),
        "scipy's number (no gradient)": lambda x, y: torch.tensor(
            scipy.stats.wasserstein_distance(x.detach().numpy(), y.detach().numpy()), dtype=x.dtype),
        "always float32": lambda x, y: _w1(x, y).float(),
        "rigged object": lambda x, y: AlwaysEqual(),
    },
    ("08_wasserstein_and_wgan", "gradient-penalty-tests", "gradient_penalty"): {
        "no create_graph (no gradient to the critic)": lambda c, r, f, e: _gp(c, r, f, e, "detached"),
        "sum over the batch": lambda c, r, f, e: _gp(c, r, f, e, "sum"),
        "the squared norm": lambda c, r, f, e: _gp(c, r, f, e, "squared norm"),
        "eps on the fake side": lambda c, r, f, e: _gp(c, r, f, e, "swapped"),
        "one norm over the whole batch": lambda c, r, f, e: _gp(c, r, f, e, "batch norm"),
        "‖∇f‖ − 1 not squared": lambda c, r, f, e: _gp(c, r, f, e, "not squared"),
        "one-sided, max(0, ‖∇f‖ − 1)²": lambda c, r, f, e: _gp(c, r, f, e, "one-sided"),
        "times λ = 10": lambda c, r, f, e: 10 * _gp(c, r, f, e),
        "at the real points, not the interpolates": lambda c, r, f, e: _gp(c, r, f, torch.ones_like(e)),
        "rigged object": lambda c, r, f, e: AlwaysEqual(),
    },
    ("08_wasserstein_and_wgan", "critic-loss-tests", "critic_loss"): {
        "sign flipped (E f(real) − E f(fake))": lambda c, r, f, e, gp_lambda: (
            c(r).mean() - c(f).mean() + gp_lambda * _gp(c, r, f, e)),
        "no penalty": lambda c, r, f, e, gp_lambda: c(f).mean() - c(r).mean(),
        "penalty without λ": lambda c, r, f, e, gp_lambda: c(f).mean() - c(r).mean() + _gp(c, r, f, e),
        "penalty subtracted": lambda c, r, f, e, gp_lambda: (
            c(f).mean() - c(r).mean() - gp_lambda * _gp(c, r, f, e)),
        "one mean over both batches": lambda c, r, f, e, gp_lambda: (
            torch.cat([c(f), -c(r)]).mean() + gp_lambda * _gp(c, r, f, e)),
        "a Python float": lambda c, r, f, e, gp_lambda: float(
            (c(f).mean() - c(r).mean() + gp_lambda * _gp(c, r, f, e)).detach()),
        "rigged object": lambda c, r, f, e, gp_lambda: AlwaysEqual(),
    },
    ("02_generative_vs_discriminative", "fit-gaussians-tests", "fit_gaussians"): {
        "unbiased covariance (n_k − 1)": lambda x, y: _fit_gaussians(x, y, "unbiased"),
        "one pooled covariance for all classes": lambda x, y: _fit_gaussians(x, y, "pooled"),
        "equal priors": lambda x, y: _fit_gaussians(x, y, "equal priors"),
        "covariance about the overall mean": lambda x, y: _fit_gaussians(x, y, "overall mean"),
        "float32, like the input": lambda x, y: tuple(t.float() for t in _fit_gaussians(x.float(), y)),
        "numpy arrays": lambda x, y: tuple(t.numpy() for t in _fit_gaussians(x, y)),
        "rigged object": lambda x, y: (AlwaysEqual(), AlwaysEqual(), AlwaysEqual()),
    },
    ("02_generative_vs_discriminative", "log-posterior-tests", "log_posterior"): {
        "log p(x, k), not normalised": lambda x, p, m, c: _log_joint(x, p, m, c),
        "without the prior": lambda x, p, m, c: _normalised(_log_joint(x, torch.ones_like(p), m, c)),
        "exp, divide, log (underflows far away)": lambda x, p, m, c: (
            _log_joint(x, p, m, c).exp() / _log_joint(x, p, m, c).exp().sum(1, keepdim=True)).log(),
        "the posterior, not its log": lambda x, p, m, c: _normalised(_log_joint(x, p, m, c)).exp(),
        "normalised over the points": lambda x, p, m, c: _log_joint(x, p, m, c) - torch.logsumexp(
            _log_joint(x, p, m, c), dim=0, keepdim=True),
        "identity covariances": lambda x, p, m, c: _normalised(_log_joint(x, p, m, torch.eye(
            m.shape[1], dtype=torch.float64).expand_as(c))),
        "rigged tensor subclass": lambda x, p, m, c: _normalised(_log_joint(x, p, m, c)).as_subclass(RiggedTensor),
    },
    ("02_generative_vs_discriminative", "sample-labelled-tests", "sample_labelled"): {
        "draws from a generator of its own (seed 1234)": lambda n, p, m, c, g: _sample(
            n, p, m, c, torch.Generator().manual_seed(1234)),
        "ignores the generator": lambda n, p, m, c, g: _sample(n, p, m, c, None),
        "the covariance as the scale (no Cholesky)": lambda n, p, m, c, g: _sample(n, p, m, c, g, "covariance"),
        "uniform labels": lambda n, p, m, c, g: _sample(n, torch.ones_like(p) / len(p), m, c, g),
        "labels as float": lambda n, p, m, c, g: (_sample(n, p, m, c, g)[0], _sample(n, p, m, c, g)[1].double()),
        "the means only": lambda n, p, m, c, g: (m.double()[_sample(n, p, m, c, g)[1]], _sample(n, p, m, c, g)[1]),
        "rigged object": lambda n, p, m, c, g: (AlwaysEqual(), AlwaysEqual()),
    },
    ("05_regularization_and_constraints", "l2-penalty-tests", "l2_penalty"): {
        "the norm, not its square": lambda ws, lam: _penalty(ws, lam, lambda w: w.norm()),
        "½λ Σ w²": lambda ws, lam: _penalty(ws, lam / 2, lambda w: (w**2).sum()),
        "the mean, not the sum": lambda ws, lam: _penalty(ws, lam, lambda w: (w**2).mean()),
        "the first tensor only": lambda ws, lam: _penalty(ws[:1], lam, lambda w: (w**2).sum()),
        "λ left out": lambda ws, lam: _penalty(ws, 1.0, lambda w: (w**2).sum()) * (lam >= 0),
        "no check of λ": lambda ws, lam: lam * sum((w**2).sum() for w in ws),
        "a float (.item())": lambda ws, lam: float(_penalty(ws, lam, lambda w: (w**2).sum())),
        "detached": lambda ws, lam: _penalty(ws, lam, lambda w: (w**2).sum()).detach(),
        "float32 always": lambda ws, lam: _penalty(ws, lam, lambda w: (w**2).sum()).float(),
        "float64 always": lambda ws, lam: _penalty(ws, lam, lambda w: (w**2).sum()).double(),
        "refuses λ = 0 too": lambda ws, lam: _penalty(ws, lam if lam > 0 else -1.0, lambda w: (w**2).sum()),
        "rigged tensor subclass": lambda ws, lam: _penalty(ws, lam, lambda w: (w**2).sum()).as_subclass(RiggedTensor),
    },
    ("05_regularization_and_constraints", "l1-penalty-tests", "l1_penalty"): {
        "no absolute value": lambda ws, lam: _penalty(ws, lam, lambda w: w.sum()),
        "squares (L2)": lambda ws, lam: _penalty(ws, lam, lambda w: (w**2).sum()),
        "the L1 norm of the flattened norms": lambda ws, lam: _penalty(ws, lam, lambda w: w.norm()),
        "the mean, not the sum": lambda ws, lam: _penalty(ws, lam, lambda w: w.abs().mean()),
        "no check of λ": lambda ws, lam: lam * sum(w.abs().sum() for w in ws),
        "a float (.item())": lambda ws, lam: float(_penalty(ws, lam, lambda w: w.abs().sum())),
        "detached": lambda ws, lam: _penalty(ws, lam, lambda w: w.abs().sum()).detach(),
        "float32 always": lambda ws, lam: _penalty(ws, lam, lambda w: w.abs().sum()).float(),
        "float64 always": lambda ws, lam: _penalty(ws, lam, lambda w: w.abs().sum()).double(),
        "refuses λ = 0 too": lambda ws, lam: _penalty(ws, lam if lam > 0 else -1.0, lambda w: w.abs().sum()),
        "rigged tensor subclass": lambda ws, lam: _penalty(ws, lam, lambda w: w.abs().sum()).as_subclass(RiggedTensor),
    },
    ("05_regularization_and_constraints", "soft-threshold-tests", "soft_threshold"): {
        "hard threshold (keeps w beyond the step)": lambda w, t: _shrink(w, t, "hard"),
        "max(w − step, 0): negatives lost": lambda w, t: _shrink(w, t, "no sign"),
        "shrinks without stopping at 0": lambda w, t: _shrink(w, t, "no clamp"),
        "threshold 2·step": lambda w, t: _shrink(w, 2 * t),
        "half the step": lambda w, t: _shrink(w, t / 2),
        "no check of the step": lambda w, t: torch.sign(w) * torch.clamp(w.abs() - t, min=0.0),
        "float32 always": lambda w, t: _shrink(w, t).float(),
        "float64 always": lambda w, t: _shrink(w, t).double(),
        "a numpy array": lambda w, t: _shrink(w, t).numpy(),
        "rigged tensor subclass": lambda w, t: _shrink(w, t).as_subclass(RiggedTensor),
    },
    ("05_regularization_and_constraints", "power-iteration-tests", "spectral_norm_power_iteration"): {
        "ignores the generator": lambda W, n, g: _power(W, n, None),
        # issue 21: seed 0 was the only seed the visible test used
        "a generator seeded by the function itself": lambda W, n, g: _power(W, n, torch.Generator().manual_seed(0)),
        "starts from u (a row-sized vector)": lambda W, n, g: _power(W, n, g, "from u"),
        "one iteration whatever n_iter": lambda W, n, g: _power(W, 1, g) if n >= 1 else _power(W, 0, g),
        "σ² (the eigenvalue of WᵀW)": lambda W, n, g: _power(W, n, g) ** 2,
        "the Frobenius norm": lambda W, n, g: _power(W, n, g) * 0 + float(W.norm()) if n >= 1 else _power(W, 0, g),
        "the exact σ (an SVD, no iteration)": lambda W, n, g: (_power(W, n, g), float(
            torch.linalg.matrix_norm(W, ord=2)))[1],
        "‖Wᵀu‖ of the last u (one half-step behind)": lambda W, n, g: _power(W, n, g, "half step"),
        "no check of n_iter": lambda W, n, g: _power(W, max(n, 0), g, "no checks"),
        "refuses a 1-D W but not a 3-D one": lambda W, n, g: _power(W, n, g, "only 1-D refused"),
        "a tensor": lambda W, n, g: torch.tensor(_power(W, n, g)),
        "rigged float": lambda W, n, g: RiggedFloat(_power(W, n, g)),
    },
    ("09_vaes", "reparameterize-tests", "reparameterize"): {
        "ignores the generator": lambda m, lv, g: _reparameterize(m, lv, None),
        "sigma = exp(logvar)": lambda m, lv, g: _reparameterize(m, 2 * lv, g),
        "logvar used as sigma": lambda m, lv, g: m + lv * torch.randn(m.shape, generator=g, dtype=m.dtype),
        "detached": lambda m, lv, g: _reparameterize(m, lv, g).detach(),
        "no shape check": lambda m, lv, g: m + torch.exp(0.5 * lv) * torch.randn(m.shape, generator=g, dtype=m.dtype),
        "eps drawn twice": lambda m, lv, g: (torch.randn(m.shape, generator=g), _reparameterize(m, lv, g))[1],
        "the mean only": lambda m, lv, g: _reparameterize(m, lv, g) * 0 + m,
        "eps always float32": lambda m, lv, g: m + torch.exp(0.5 * lv) * torch.randn(m.shape, generator=g),
        "rigged tensor subclass": lambda m, lv, g: _reparameterize(m, lv, g).as_subclass(RiggedTensor),
    },
    ("09_vaes", "kl-to-prior-tests", "kl_to_standard_normal"): {
        "per dimension, not summed": lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1),
        "mean over the latent axis": lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1).mean(-1),
        "summed over everything": lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(),
        "logvar read as log sigma": lambda m, lv: 0.5 * (m.pow(2) + (2 * lv).exp() - 2 * lv - 1).sum(-1),
        "sign flipped": lambda m, lv: -0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(-1),
        "float32 always": lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(-1).float(),
        "summed over axis 1": lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(1),
        "rigged tensor subclass": lambda m, lv: 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(-1).as_subclass(RiggedTensor),
    },
    ("09_vaes", "bernoulli-elbo-tests", "bernoulli_elbo"): {
        "log(sigmoid(l))": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv, "log sigmoid"),
        "log of clamped probabilities": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv, "clamped"),
        "mean over the batch": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv).mean(),
        "the likelihood without the KL": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv, "no kl"),
        "the KL added": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv, "plus kl"),
        "sigmoid applied twice": lambda x, lg, m, lv: _bernoulli_elbo(x, torch.sigmoid(lg), m, lv),
        "mean over the pixels": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv, "pixel mean"),
        "float32 always": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv).float(),
        "rigged tensor subclass": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv).as_subclass(RiggedTensor),
    },
    ("09_vaes", "iwae-estimate-tests", "iwae_estimate"): {
        "the mean of the log-weights (the ELBO's bound)": lambda lw: lw.mean(0),
        "log(mean(exp)) (underflows)": lambda lw: torch.log(torch.exp(lw).mean(0)),
        "log k not subtracted": lambda lw: torch.logsumexp(lw, 0),
        "over the images, not the samples": lambda lw: torch.logsumexp(lw, 1) - math.log(lw.shape[1]),
        "the largest weight only": lambda lw: lw.max(0).values,
        "one max over the whole tensor": lambda lw: lw.max() + torch.log(torch.exp(lw - lw.max()).mean(0)),
        "shifted by the first sample": lambda lw: lw[0] + torch.log(torch.exp(lw - lw[0]).mean(0)),
        "float32 always": lambda lw: (torch.logsumexp(lw, 0) - math.log(lw.shape[0])).float(),
        "rigged tensor subclass": lambda lw: (torch.logsumexp(lw, 0) - math.log(lw.shape[0])).as_subclass(RiggedTensor),
    },
    ("06_weight_sharing", "conv-as-matrix-tests", "conv_as_matrix"): {
        "the kernel flipped (a true convolution)": lambda k, n: _conv_matrix(k.flip(0), n),
        "square, with the kernel running past the end": lambda k, n: _conv_matrix_square(k, n),
        "the kernel down the columns (the transpose)": lambda k, n: _conv_matrix(k, n).T.contiguous(),
        "float32 always": lambda k, n: _conv_matrix(k, n).float(),
        "one row only": lambda k, n: _conv_matrix(k, n)[:1],
        "rigged tensor subclass": lambda k, n: _conv_matrix(k, n).as_subclass(RiggedTensor),
    },
    ("06_weight_sharing", "layer-parameters-tests", "layer_parameters"): {
        "no biases": lambda h, w, ci, co, k: (ci * h * w * co * h * w, co * ci * k * k),
        # issue 21: the visible test had channels_in = 1 and a square image only
        "ignores channels_in": lambda h, w, ci, co, k: (h * w * co * h * w + co * h * w, co * k * k + co),
        "the convolution ignores channels_in": lambda h, w, ci, co, k: (ci * h * w * co * h * w + co * h * w,
                                                                        co * k * k + co),
        "height × height, not height × width": lambda h, w, ci, co, k: (ci * h * h * co * h * h + co * h * h,
                                                                       co * ci * k * k + co),
        "k instead of k²": lambda h, w, ci, co, k: (ci * h * w * co * h * w + co * h * w, co * ci * k + co),
        "the convolution grows with the image": lambda h, w, ci, co, k: (
            ci * h * w * co * h * w + co * h * w, co * ci * k * k * h * w + co),
        "a bias per input": lambda h, w, ci, co, k: (ci * h * w * co * h * w + ci * h * w, co * ci * k * k + co),
        "floats": lambda h, w, ci, co, k: (float(ci * h * w * co * h * w + co * h * w), float(co * ci * k * k + co)),
        "a list": lambda h, w, ci, co, k: [ci * h * w * co * h * w + co * h * w, co * ci * k * k + co],
        "rigged object": lambda h, w, ci, co, k: (AlwaysEqual(), AlwaysEqual()),
    },
    ("06_weight_sharing", "equivariance-gap-tests", "equivariance_gap"): {
        "borders included": lambda layer, x, steps, margin: _gap(layer, x, steps, 0),
        "compares layer(x) with layer(shift(x))": lambda layer, x, steps, margin: _gap(layer, x, steps, margin,
                                                                                       "unshifted"),
        "the mean, not the max": lambda layer, x, steps, margin: _gap(layer, x, steps, margin, "mean"),
        "a tensor": lambda layer, x, steps, margin: torch.tensor(_gap(layer, x, steps, margin)),
        "shift the output the wrong way": lambda layer, x, steps, margin: _gap(layer, x, steps, margin, "opposite"),
        "rigged float": lambda layer, x, steps, margin: RiggedFloat(0.0),
    },
}


def _optimal_d(p, q):
    total = p + q
    return torch.where(total > 0, p / torch.where(total > 0, total, torch.ones_like(total)), torch.full_like(p, 0.5))


def _fit_gaussians(x, y, mistake: str = ""):
    """Chapter 02's maximum-likelihood fit, right or with one ``mistake``."""
    x = x.double() if mistake != "float" else x
    k = int(y.max()) + 1
    counts = torch.stack([(y == c).sum() for c in range(k)])
    priors = torch.full((k,), 1.0 / k, dtype=torch.float64) if mistake == "equal priors" else counts.double() / len(y)
    means = torch.stack([x[y == c].mean(0) for c in range(k)])
    centre = [x.mean(0)] * k if mistake == "overall mean" else list(means)
    scatter = torch.stack([(x[y == c] - centre[c]).T @ (x[y == c] - centre[c]) for c in range(k)])
    if mistake == "pooled":
        return priors, means, (scatter.sum(0) / len(y)).expand(k, -1, -1).clone()
    denominator = (counts - 1 if mistake == "unbiased" else counts).double()
    return priors, means, scatter / denominator[:, None, None]


def _log_joint(x, priors, means, covariances):
    gaussians = torch.distributions.MultivariateNormal(means.double(), covariance_matrix=covariances.double())
    return priors.double().log() + gaussians.log_prob(x.double()[:, None, :])


def _normalised(joint):
    return joint - torch.logsumexp(joint, dim=1, keepdim=True)


def _sample(n, priors, means, covariances, generator, mistake: str = ""):
    labels = torch.multinomial(priors.double(), n, replacement=True, generator=generator)
    z = torch.randn(n, means.shape[1], generator=generator, dtype=torch.float64)
    scale = covariances.double() if mistake == "covariance" else torch.linalg.cholesky(covariances.double())
    return means.double()[labels] + (scale[labels] @ z[..., None])[..., 0], labels


def _conv_matrix(kernel, length):
    from course_utils.weight_sharing import conv1d_matrix

    return conv1d_matrix(kernel, length)


def _conv_matrix_square(kernel, length):
    matrix = torch.zeros(length, length, dtype=kernel.dtype)
    for i in range(length):
        cut = kernel[: length - i]
        matrix[i, i:i + len(cut)] = cut
    return matrix


def _gap(layer, x, steps, margin, mistake: str = ""):
    from course_utils.weight_sharing import shift

    with torch.no_grad():
        if mistake == "unshifted":
            difference = layer(shift(x, steps)) - layer(x)
        elif mistake == "opposite":
            difference = layer(shift(x, steps)) - shift(layer(x), -steps)
        else:
            difference = layer(shift(x, steps)) - shift(layer(x), steps)
    inner = difference[..., margin:difference.shape[-1] - margin].abs()
    return float(inner.mean() if mistake == "mean" else inner.max())


def _w1(x, y):
    return (torch.sort(x).values - torch.sort(y).values).abs().mean()


def _gp(critic, real, fake, eps, mistake: str = ""):
    """The gradient penalty of chapter 08 (without λ), right or with one ``mistake``."""
    if mistake == "swapped":
        eps = 1 - eps
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=mistake != "detached")
    norms = grad.norm(dim=1)
    if mistake == "squared norm":
        return ((grad.square().sum(dim=1) - 1) ** 2).mean()
    if mistake == "batch norm":
        return (grad.norm() - 1) ** 2
    if mistake == "not squared":
        return (norms - 1).mean()
    if mistake == "one-sided":
        return ((norms - 1).clamp_min(0) ** 2).mean()
    return ((norms - 1) ** 2).sum() if mistake == "sum" else ((norms - 1) ** 2).mean()


def _gan_d(r, f):
    return F.softplus(-r).mean() + F.softplus(f).mean()


def _count_modes(x, centers, std, mistake: str = ""):
    """count_modes of chapter 07, right or with one ``mistake``."""
    distance = torch.cdist(x.double(), centers.double())
    if mistake == "square":
        nearest = distance.argmin(dim=1)
        high = ((x.double() - centers.double()[nearest]).abs() <= 3 * std).all(dim=1)
    else:
        nearest_distance, nearest = distance.min(dim=1)
        high = nearest_distance <= (2 if mistake == "radius2" else 3) * std
    counts = torch.bincount(nearest if mistake == "all" else nearest[high], minlength=len(centers))
    total = int(counts.sum())
    if int(high.sum()) == 0:
        return 0, 0.0, 0.0 if mistake == "zero" else math.nan
    share = total / (total if mistake == "share" else len(x))
    h = counts.double() / total
    if mistake == "reversed":
        uniform = torch.full_like(h, 1 / len(centers))
        kl = float((uniform * (uniform / h.clamp_min(1e-300)).log()).sum())
    else:
        kl = float((h[h > 0] * (h[h > 0] * len(centers)).log()).sum())
    return int((counts > 0).sum()), share, kl


def _stable_bce(z, y):
    return z.clamp_min(0) - z * y + torch.log1p(torch.exp(-z.abs()))


def _kl(p, q) -> float:
    keep = p > 0
    return (p[keep] * (p[keep] / q[keep]).log()).sum().item()


def _entropy(p) -> float:
    keep = p > 0
    return -(p[keep] * p[keep].log()).sum().item()


def _gauss_kl(m0, s0, m1, s1) -> float:
    return math.log(s1 / s0) + (s0**2 + (m0 - m1) ** 2) / (2 * s1**2) - 0.5


def _moments(w, mu, sd, variance: str = "total") -> tuple[float, float]:
    """A Gaussian mixture's mean and a spread: the total sd, or one of the usual slips."""
    mean = (w * mu).sum()
    within, between = (w * sd**2).sum(), (w * (mu - mean) ** 2).sum()
    spread = {"total": (within + between).sqrt(), "variance": within + between, "between": between.sqrt(),
              "within": within.sqrt()}[variance]
    return mean.item(), spread.item()


def _checked_sigmas(s0, s1, value: float) -> float:
    if not (s0 > 0 and s1 > 0):
        raise ValueError("standard deviations must be positive")
    return value


def _reparameterize(mu, logvar, generator):
    if mu.shape != logvar.shape:
        raise ValueError("mu and logvar must have the same shape")
    return mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)


def _bernoulli_elbo(x, logits, mu, logvar, mistake: str = ""):
    if mistake == "log sigmoid":
        log_p = x * torch.log(torch.sigmoid(logits)) + (1 - x) * torch.log(1 - torch.sigmoid(logits))
    elif mistake == "clamped":
        p = torch.sigmoid(logits).clamp(1e-7, 1 - 1e-7)
        log_p = x * torch.log(p) + (1 - x) * torch.log(1 - p)
    else:
        log_p = -F.binary_cross_entropy_with_logits(logits, x, reduction="none")
    likelihood = log_p.mean(1) if mistake == "pixel mean" else log_p.sum(1)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(-1)
    return {"no kl": likelihood, "plus kl": likelihood + kl}.get(mistake, likelihood - kl)


def _mc(p, q, x, spread: str = "standard error") -> tuple[float, float]:
    terms = p.log_prob(x) - q.log_prob(x)
    values = {"standard error": terms.std() / math.sqrt(len(x)), "std": terms.std(),
              "variance": terms.var() / math.sqrt(len(x)), "double": 2 * terms.std() / math.sqrt(len(x))}
    return terms.mean().item(), values[spread].item()


# Correct answers written differently from the solution: the graded cells must accept them all.
RIGHT = {
    ("05_regularization_and_constraints", "l2-penalty-tests", "l2_penalty"): {
        "a dot product of the flattened weights": lambda ws, lam: _checked_lam(
            lam, lambda: lam * torch.cat([w.flatten() for w in ws]) @ torch.cat([w.flatten() for w in ws])),
        "squared norms": lambda ws, lam: _checked_lam(lam, lambda: lam * sum(w.norm() ** 2 for w in ws)),
    },
    ("05_regularization_and_constraints", "l1-penalty-tests", "l1_penalty"): {
        "torch.linalg.vector_norm, ord=1": lambda ws, lam: _checked_lam(
            lam, lambda: lam * sum(torch.linalg.vector_norm(w, ord=1) for w in ws)),
    },
    ("05_regularization_and_constraints", "soft-threshold-tests", "soft_threshold"): {
        "F.softshrink": lambda w, t: _checked_lam(t, lambda: F.softshrink(w, t)),
        "torch.where": lambda w, t: _checked_lam(t, lambda: torch.where(w.abs() > t, w - t * torch.sign(w),
                                                                        torch.zeros_like(w))),
    },
    ("05_regularization_and_constraints", "power-iteration-tests", "spectral_norm_power_iteration"): {
        "torch.mv and F.normalize": lambda W, n, g: _power(W, n, g, "mv"),
    },
    ("01_probability_densities", "sample-exponential-tests", "sample_exponential"): {
        "-log(U) / rate (1 - U is uniform too)": lambda n, rate, g: -torch.log(torch.rand(n, generator=g)) / rate,
        "-log(1 - U) / rate without log1p": lambda n, rate, g: -torch.log(1 - torch.rand(n, generator=g)) / rate,
    },
    ("01_probability_densities", "prob-between-tests", "prob_between"): {
        "float() instead of .item()": lambda d, a, b: _checked(a, b, lambda: float(d.cdf(torch.tensor(b))
                                                                                 - d.cdf(torch.tensor(a)))),
    },
    ("03_cross_entropy_and_mse", "bce-logit-gradient-tests", "bce_logit_gradient"): {
        "1 − y − σ(−z), over numel": lambda z, t: (1 - t - torch.sigmoid(-z)) / z.numel(),
        "σ(z) − y, mean by shape": lambda z, t: (torch.sigmoid(z) - t) / math.prod(z.shape),
    },
    ("03_cross_entropy_and_mse", "bce-with-logits-tests", "bce_with_logits"): {
        "softplus(z) - z·y": lambda z, y: F.softplus(z) - z * y,
        "softplus(-z) + (1 - y)·z": lambda z, y: F.softplus(-z) + (1 - y) * z,
        "logaddexp": lambda z, y: y * torch.logaddexp(torch.zeros_like(z), -z)
        + (1 - y) * torch.logaddexp(torch.zeros_like(z), z),
        "logsigmoid": lambda z, y: -(y * F.logsigmoid(z) + (1 - y) * F.logsigmoid(-z)),
    },
    ("03_cross_entropy_and_mse", "softmax-cross-entropy-tests", "softmax_cross_entropy"): {
        "max-shifted by row, by hand": lambda z, y: (z.max(1).values + (z - z.max(1, keepdim=True).values).exp()
                                                      .sum(1).log() - z[torch.arange(len(y)), y]).mean(),
    },
    ("04_kl_divergence", "kl-discrete-tests", "kl_discrete"): {
        "xlogy(p, p) - xlogy(p, q)": lambda p, q: (torch.special.xlogy(p, p) - torch.special.xlogy(p, q)).sum().item(),
    },
    ("04_kl_divergence", "entropy-cross-entropy-tests", "entropy_and_cross_entropy"): {
        "xlogy": lambda p, q: (-torch.special.xlogy(p, p).sum().item(), -torch.special.xlogy(p, q).sum().item()),
    },
    ("02_generative_vs_discriminative", "fit-gaussians-tests", "fit_gaussians"): {
        "numpy's cov with bias=True": lambda x, y: _fit_gaussians_numpy(x, y),
    },
    ("02_generative_vs_discriminative", "log-posterior-tests", "log_posterior"): {
        "scipy's multivariate normal and logsumexp": lambda x, p, m, c: _log_posterior_scipy(x, p, m, c),
    },
    ("02_generative_vs_discriminative", "sample-labelled-tests", "sample_labelled"): {
        "a loop over the classes": lambda n, p, m, c, g: _sample_by_class(n, p, m, c, g),
    },
    ("09_vaes", "reparameterize-tests", "reparameterize"): {
        "sqrt(exp(logvar)) and an explicit check": lambda m, lv, g: _reparameterize(m, lv, g) if m.shape != lv.shape
        else m + torch.sqrt(torch.exp(lv)) * torch.randn(m.shape, generator=g, dtype=m.dtype),
    },
    ("09_vaes", "kl-to-prior-tests", "kl_to_standard_normal"): {
        "torch.distributions": lambda m, lv: D.kl_divergence(D.Normal(m, torch.exp(0.5 * lv)),
                                                             D.Normal(torch.zeros_like(m), torch.ones_like(m))).sum(-1),
    },
    ("09_vaes", "bernoulli-elbo-tests", "bernoulli_elbo"): {
        "minus BCE with logits": lambda x, lg, m, lv: _bernoulli_elbo(x, lg, m, lv),
        "x·l − softplus(l)": lambda x, lg, m, lv: (x * lg - F.softplus(lg)).sum(1)
        - 0.5 * (m.pow(2) + lv.exp() - lv - 1).sum(-1),
    },
    ("09_vaes", "iwae-estimate-tests", "iwae_estimate"): {
        "max-shifted by hand": lambda lw: lw.max(0).values + torch.log(torch.exp(lw - lw.max(0).values).mean(0)),
    },
    ("06_weight_sharing", "conv-as-matrix-tests", "conv_as_matrix"): {
        "from the unfold of an identity": lambda k, n: torch.eye(n, dtype=k.dtype).unfold(0, len(k), 1) @ k,
    },
    ("06_weight_sharing", "layer-parameters-tests", "layer_parameters"): {
        "by building the layers": lambda h, w, ci, co, k: (
            sum(p.numel() for p in torch.nn.Linear(ci * h * w, co * h * w).parameters()),
            sum(p.numel() for p in torch.nn.Conv2d(ci, co, k).parameters())),
    },
    ("07_gans", "optimal-d-tests", "optimal_d"): {
        "nan_to_num after dividing": lambda p, q: torch.nan_to_num(p / (p + q), nan=0.5),
    },
    ("07_gans", "gan-losses-tests", "gan_losses"): {
        "logaddexp": lambda r, f: (torch.logaddexp(torch.zeros_like(r), -r).mean()
                                   + torch.logaddexp(torch.zeros_like(f), f).mean(),
                                   torch.logaddexp(torch.zeros_like(f), -f).mean()),
        "logsigmoid": lambda r, f: (-(F.logsigmoid(r).mean() + F.logsigmoid(-f).mean()), -F.logsigmoid(f).mean()),
        # issue 21: one F.logsigmoid(fake) node feeds both losses (log(1 − σ(l)) = log σ(l) − l); the visible test
        # differentiates loss_d and then loss_g, which needs retain_graph on the first
        "one logsigmoid node shared by both losses": lambda r, f: (lambda log_d_fake: (
            -(F.logsigmoid(r).mean() + (log_d_fake - f).mean()), -log_d_fake.mean()))(F.logsigmoid(f)),
        "F.binary_cross_entropy_with_logits": lambda r, f: (
            F.binary_cross_entropy_with_logits(r, torch.ones_like(r))
            + F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
            F.binary_cross_entropy_with_logits(f, torch.ones_like(f))),
    },
    ("07_gans", "count-modes-tests", "count_modes"): {
        "a loop over the samples": lambda x, c, s: _count_modes_by_loop(x, c, s),
    },
    ("08_wasserstein_and_wgan", "w1-sorted-tests", "w1_sorted"): {
        "the difference of the sorted values, by quantile": lambda x, y: (
            torch.quantile(x, torch.linspace(0, 1, len(x), dtype=x.dtype)) - torch.sort(y).values).abs().mean()
        if len(x) > 1 else (x - y).abs().mean(),
        "sort both together": lambda x, y: torch.sort(torch.stack([x, y]), dim=1).values.diff(dim=0).abs().mean(),
    },
    ("08_wasserstein_and_wgan", "gradient-penalty-tests", "gradient_penalty"): {
        "torch.func.grad per sample, vmapped": lambda c, r, f, e: _gp_by_autograd_functional(c, r, f, e),
    },
}


# Wrong answers that Validate (the visible tests alone) still calls a success: only the hidden tests, when
# graded, catch them. A student who sees "Success" and then loses points has been misled, so every requirement
# the text states needs a visible check: strengthen the visible tests and delete the entry here. What may stay
# is hard-coding or a subtle numerical slip that only other values reveal. test_the_visible_tests_catch... and
# test_hidden_only_is_not_stale keep this list exact.
HIDDEN_ONLY: dict[tuple[str, str, str], set[str]] = {}  # empty: Validate rejects every wrong answer above


def _fit_gaussians_numpy(x, y):
    x, k = x.double().numpy(), int(y.max()) + 1
    labels = y.numpy()
    return (torch.tensor([np.mean(labels == c) for c in range(k)]),
            torch.tensor(np.stack([x[labels == c].mean(0) for c in range(k)])),
            torch.tensor(np.stack([np.cov(x[labels == c].T, bias=True).reshape(x.shape[1], x.shape[1])
                                   for c in range(k)])))


def _log_posterior_scipy(x, priors, means, covariances):
    from scipy.special import logsumexp
    from scipy.stats import multivariate_normal

    joint = np.stack([np.log(priors[c].item()) + multivariate_normal(means[c].numpy(), covariances[c].numpy())
                      .logpdf(x.numpy()).reshape(-1) for c in range(len(priors))], axis=1)
    return torch.tensor(joint - logsumexp(joint, axis=1, keepdims=True))


def _sample_by_class(n, priors, means, covariances, generator):
    """Right in distribution: labels first, then the points of each class with its own Cholesky factor."""
    labels = torch.multinomial(priors.double(), n, replacement=True, generator=generator)
    z = torch.randn(n, means.shape[1], generator=generator, dtype=torch.float64)
    x = torch.empty(n, means.shape[1], dtype=torch.float64)
    for c in range(len(priors)):
        chosen = labels == c
        x[chosen] = means[c].double() + z[chosen] @ torch.linalg.cholesky(covariances[c].double()).T
    return x, labels


def _gp_by_autograd_functional(critic, real, fake, eps):
    """The same penalty, one sample at a time through torch.autograd.functional.jacobian (create_graph)."""
    x_hat = (eps * real + (1 - eps) * fake).detach()
    norms = torch.stack([torch.autograd.functional.jacobian(lambda p: critic(p[None]).sum(), point, create_graph=True)
                         .norm() for point in x_hat])
    return ((norms - 1) ** 2).mean()


def _count_modes_by_loop(x, centers, std):
    counts = [0] * len(centers)
    for point in x.double():
        distance = (centers.double() - point).norm(dim=1)
        if float(distance.min()) <= 3 * std:
            counts[int(distance.argmin())] += 1
    total = sum(counts)
    if total == 0:
        return 0, 0.0, math.nan
    kl = sum(c / total * math.log(c / total * len(centers)) for c in counts if c)
    return sum(c > 0 for c in counts), total / len(x), kl


def _penalty(weights, lam, term):
    """Chapter 05's penalties with the check of λ, summing ``term`` over the tensors."""
    if lam < 0:
        raise ValueError("lam must be >= 0")
    return lam * sum(term(w) for w in weights)


def _checked_lam(value, compute):
    if value < 0:
        raise ValueError("must be >= 0")
    return compute()


def _shrink(w, step, mistake: str = ""):
    """Chapter 05's soft threshold, right or with one ``mistake``."""
    if step < 0:
        raise ValueError("step must be >= 0")
    if mistake == "hard":
        return torch.where(w.abs() > step, w, torch.zeros_like(w))
    if mistake == "no sign":
        return torch.clamp(w - step, min=0.0)
    if mistake == "no clamp":
        return w - step * torch.sign(w)
    return torch.sign(w) * torch.clamp(w.abs() - step, min=0.0)


def _power(W, n_iter, generator, mistake: str = ""):
    """Chapter 05's power iteration, right or with one ``mistake``."""
    if mistake == "only 1-D refused":
        if W.ndim == 1 or n_iter < 1:
            raise ValueError("W must not be 1-D and n_iter >= 1")
    elif mistake != "no checks" and (W.ndim != 2 or n_iter < 1):
        raise ValueError("W must be 2-D and n_iter >= 1")
    if mistake == "from u":
        u = torch.randn(W.shape[0], generator=generator, dtype=W.dtype)
        for _ in range(n_iter):
            v = F.normalize(W.T @ u, dim=0)
            u = F.normalize(W @ v, dim=0)
        return float((W.T @ u).norm())
    v = torch.randn(W.shape[1], generator=generator, dtype=W.dtype)
    u = None
    for _ in range(n_iter):
        if mistake == "mv":
            u = F.normalize(torch.mv(W, v), dim=0)
            v = F.normalize(torch.mv(W.T, u), dim=0)
        else:
            u = W @ v
            u = u / u.norm()
            v = W.T @ u
            v = v / v.norm()
    if mistake == "half step" and u is not None:
        return float((W.T @ u).norm())
    return float((W @ v).norm())


def _checked(a, b, compute):
    if b < a:
        raise ValueError("need a <= b")
    return compute()


@pytest.mark.parametrize(
    ("key", "variant"),
    [(key, variant) for key, answers in sorted(RIGHT.items()) for variant in answers],
    ids=lambda v: v[1] if isinstance(v, tuple) else v,
)
def test_a_correct_alternative_passes_the_graded_cell(key: tuple[str, str, str], variant: str) -> None:
    """Does the graded cell accept a correct answer that is written differently from the solution?"""
    chapter, grade_id, name = key
    run_test_cell(graded_cells(chapter)[grade_id], {name: RIGHT[key][variant]}, chapter)


@pytest.mark.parametrize("key", sorted(WRONG), ids=lambda k: k[1])
def test_the_solution_passes_its_own_test_cell(key: tuple[str, str, str]) -> None:
    """Does the reference answer pass the graded cell when run outside a kernel (a sanity check of this file)?"""
    chapter, grade_id, name = key
    run_test_cell(graded_cells(chapter)[grade_id], {name: solution_functions(chapter)[name]}, chapter)


@pytest.mark.parametrize(
    ("key", "mistake"),
    [(key, mistake) for key, answers in sorted(WRONG.items()) for mistake in answers],
    ids=lambda v: v[1] if isinstance(v, tuple) else v,
)
def test_a_wrong_answer_fails_the_graded_cell(key: tuple[str, str, str], mistake: str) -> None:
    """Does the graded cell reject this wrong answer, with an AssertionError a student can read?"""
    chapter, grade_id, name = key
    with pytest.raises(AssertionError) as failure:
        run_test_cell(graded_cells(chapter)[grade_id], {name: WRONG[key][mistake]}, chapter)
    assert str(failure.value).strip(), "the failure message should tell the student what to fix"


def test_every_graded_cell_is_covered_here() -> None:
    """Is every graded test cell of every chapter attacked by at least one wrong answer above?"""
    graded = {(chapter.name, grade_id) for chapter in sorted((REPO_ROOT / "solutions").iterdir())
              if chapter.is_dir() for grade_id in graded_cells(chapter.name)}
    covered = {(chapter, grade_id) for chapter, grade_id, _ in WRONG}
    assert graded <= covered, f"graded cells without wrong answers in {__file__}: {sorted(graded - covered)}"


def visible_part(source: str) -> str:
    """What Validate runs of a test cell: everything before the hidden tests (the release removes them)."""
    return source.split("### BEGIN HIDDEN TESTS")[0]


@pytest.mark.parametrize(
    ("key", "mistake"),
    [(key, mistake) for key, answers in sorted(WRONG.items()) for mistake in answers
     if mistake not in HIDDEN_ONLY.get(key, ())],
    ids=lambda v: v[1] if isinstance(v, tuple) else v,
)
def test_the_visible_tests_catch_this_wrong_answer(key: tuple[str, str, str], mistake: str) -> None:
    """Does Validate already reject this wrong answer, so that "Success" means what the student thinks?"""
    chapter, grade_id, name = key
    with pytest.raises(AssertionError) as failure:
        run_test_cell(visible_part(graded_cells(chapter)[grade_id]), {name: WRONG[key][mistake]}, chapter)
    assert str(failure.value).strip(), "the failure message should tell the student what to fix"


def test_hidden_only_is_not_stale() -> None:
    """Is each HIDDEN_ONLY entry a wrong answer of WRONG that the visible tests really let through?"""
    for key, mistakes in sorted(HIDDEN_ONLY.items()):
        chapter, grade_id, name = key
        for mistake in sorted(mistakes):
            assert mistake in WRONG.get(key, {}), f"HIDDEN_ONLY names {mistake!r}, which WRONG[{key}] does not have"
            try:
                run_test_cell(visible_part(graded_cells(chapter)[grade_id]), {name: WRONG[key][mistake]}, chapter)
            except AssertionError:
                pytest.fail(f"the visible tests now catch {mistake!r}: delete it from HIDDEN_ONLY")


def test_every_assert_in_a_graded_cell_has_a_message() -> None:
    """Does every ``assert`` of every graded test cell (visible and hidden) carry a message saying what to fix?

    A bare ``assert`` shows the student an AssertionError with nothing after it (issue 21).
    """
    bare = [f"{chapter.name} {grade_id} line {node.lineno}: {ast.unparse(node.test)}"
            for chapter in sorted((REPO_ROOT / "solutions").iterdir()) if chapter.is_dir()
            for grade_id, source in graded_cells(chapter.name).items()
            for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Assert) and node.msg is None]
    assert not bare, "asserts without a message in graded test cells:\n" + "\n".join(bare)


@pytest.mark.parametrize(
    ("key", "mistake", "hint"),
    [(("07_gans", "optimal-d-tests", "optimal_d"), "no zero handling (nan where p = q = 0)", "return 1/2 there"),
     (("03_cross_entropy_and_mse", "softmax-cross-entropy-tests", "softmax_cross_entropy"), "log of F.softmax",
      "stay in log space")],
    ids=lambda v: v[1] if isinstance(v, tuple) else v,
)
def test_the_visible_failure_gives_the_hint_for_this_mistake(key: tuple[str, str, str], mistake: str,
                                                             hint: str) -> None:
    """Does Validate's message for this mistake carry its own hint, not a generic one that fires first (issue 21)?"""
    chapter, grade_id, name = key
    with pytest.raises(AssertionError) as failure:
        run_test_cell(visible_part(graded_cells(chapter)[grade_id]), {name: WRONG[key][mistake]}, chapter)
    assert hint in str(failure.value), f"the message for {mistake!r} lacks {hint!r}: {failure.value}"
