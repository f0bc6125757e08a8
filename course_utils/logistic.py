"""Chapter 03's experiments: losses as negative log-likelihoods, and why sigmoid + MSE learns slowly.

A logistic model predicts ``p = σ(z)`` with logit ``z = w·x + b``. Trained with the squared error
``(σ(z) − y)²`` its gradient carries a factor ``σ(z)(1 − σ(z))`` that vanishes when the model is
confidently wrong; trained with the cross-entropy (the Bernoulli negative log-likelihood) the
gradient is ``σ(z) − y`` and does not. Everything here is small enough to run inside a widget.

References: Bishop, *Pattern Recognition and Machine Learning* (2006), §4.3.2 and §5.2;
Glorot & Bengio, "Understanding the difficulty of training deep feedforward networks" (2010), §4;
Goodfellow et al., *Deep Learning* (2016), §6.2.2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from scipy.special import expit
from torch import distributions as D

LossName = Literal["mse", "bce"]
LOSSES: tuple[LossName, ...] = ("mse", "bce")


# --------------------------------------------------------------------------- losses as likelihoods
def gaussian_nll(prediction: torch.Tensor, target: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Mean −log N(target; prediction, σ²) = MSE / (2σ²) + log(σ√(2π)): MSE is a Gaussian NLL."""
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0; got {sigma}")
    return -D.Normal(prediction, sigma).log_prob(target).mean()


def bernoulli_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean −log Bernoulli(target; σ(logits)): binary cross-entropy is a Bernoulli NLL."""
    return -D.Bernoulli(logits=logits).log_prob(target).mean()


def categorical_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean −log Categorical(label; softmax(logits)): softmax cross-entropy is a categorical NLL.

    ``logits``: (n, K), ``labels``: (n,) int64 class indices.
    """
    return -D.Categorical(logits=logits).log_prob(labels).mean()


def naive_bce_with_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise −[y log σ(z) + (1 − y) log(1 − σ(z))], computed the naive way.

    Shown to fail: in float32, σ(z) rounds to exactly 1 for z ≳ 17, so log(1 − σ(z)) = −inf and a
    confidently wrong prediction gets an infinite loss (and nan gradients) instead of ≈ |z|.
    """
    p = torch.sigmoid(logits)
    return -(target * torch.log(p) + (1 - target) * torch.log(1 - p))


# --------------------------------------------------------------------------- loss and gradient curves
@dataclass(frozen=True)
class LossCurves:
    """Loss and its derivative with respect to the logit, for a grid of logits and one label."""

    logits: torch.Tensor  # (m,)
    loss: dict[str, torch.Tensor]  # name -> (m,)
    gradient: dict[str, torch.Tensor]  # name -> (m,), d loss / d logit


def loss_of_logit(name: LossName, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Elementwise loss of a sigmoid output: ``"mse"`` (σ(z) − y)² or ``"bce"`` the cross-entropy."""
    if name == "mse":
        return (torch.sigmoid(logits) - target) ** 2
    if name == "bce":
        return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")
    raise ValueError(f"loss must be one of {LOSSES}; got {name!r}")


def sigmoid_loss_curves(logits: torch.Tensor, label: float) -> LossCurves:
    """Both losses and their gradients d loss / d z at each logit, by autograd.

    Closed forms (tested): d/dz (σ(z) − y)² = 2(σ(z) − y) σ(z)(1 − σ(z)); d/dz BCE = σ(z) − y.
    """
    if label not in (0, 1, 0.0, 1.0):
        raise ValueError(f"label must be 0 or 1; got {label}")
    z = logits.detach().double().requires_grad_(True)
    target = torch.full_like(z, float(label))
    losses, gradients = {}, {}
    for name in LOSSES:
        loss = loss_of_logit(name, z, target)
        (grad,) = torch.autograd.grad(loss.sum(), z)  # elementwise losses: grad of the sum = each derivative
        losses[name], gradients[name] = loss.detach(), grad
    return LossCurves(logits=z.detach(), loss=losses, gradient=gradients)


# --------------------------------------------------------------------------- the training race
def make_two_blobs(n: int, *, separation: float = 2.0, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Two Gaussian classes in 2-D, centred at ±(separation/2)·(1, 1)/√2. Returns x (n, 2), y (n,) in {0, 1}."""
    if type(n) is not int or n < 2:
        raise ValueError(f"n must be an int >= 2; got {n!r}")
    if not separation >= 0:
        raise ValueError(f"separation must be >= 0 (the distance between the class centres); got {separation}")
    y = (torch.arange(n) % 2).float()  # (n,) balanced classes
    direction = torch.tensor([1.0, 1.0]) / math.sqrt(2)
    centres = (2 * y[:, None] - 1) * (separation / 2) * direction  # (n, 2)
    return centres + torch.randn(n, 2, generator=generator), y


@dataclass(frozen=True)
class LogisticRun:
    """What one full-batch training run of a logistic model recorded, one entry per step."""

    loss: list[float]  # the training loss being minimised
    accuracy: list[float]  # fraction of points classified correctly
    gradient_norm: list[float]  # ‖∇_(w, b) loss‖, the signal the optimiser sees


# d loss / d z as a function of p = σ(z) and the label y; written once for tensors and numpy arrays alike
_LOGIT_GRADIENT_OF_P = {
    "mse": lambda p, y: 2 * (p - y) * p * (1 - p),  # the σ(1 − σ) factor vanishes when σ saturates
    "bce": lambda p, y: p - y,
}


def logit_gradient(name: LossName, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """d loss / d z in closed form: 2(σ − y)σ(1 − σ) for the squared error, σ − y for the cross-entropy."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {name!r}")
    return _LOGIT_GRADIENT_OF_P[name](torch.sigmoid(logits), target)


def train_logistic(x: torch.Tensor, y: torch.Tensor, loss: LossName, *, learning_rate: float = 0.5,
                   steps: int = 200, initial_weight: tuple[float, float] = (-4.0, -4.0),
                   initial_bias: float = 0.0) -> LogisticRun:
    """Full-batch gradient descent on p = σ(w·x + b) with the squared error or the cross-entropy.

    The default start is *confidently wrong* (w points away from the classes): the situation in
    which the squared error's gradient vanishes and the cross-entropy's does not. Gradients use
    the closed forms of :func:`logit_gradient` (autograd gives the same, tested). The steps run in
    numpy: with three parameters, torch's few microseconds per operation would be most of the
    time, and chapter 03's widget trains two of these on every slider move.
    """
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}; got {loss!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0; got {learning_rate}")
    if type(steps) is not int or steps < 1:
        raise ValueError(f"steps must be a positive int; got {steps!r}")
    points, labels = x.detach().cpu().numpy(), y.detach().cpu().numpy()
    w, b = np.asarray(initial_weight, dtype=points.dtype), points.dtype.type(initial_bias)  # (2,), scalar
    gradient_of_p = _LOGIT_GRADIENT_OF_P[loss]
    weights, biases, weight_gradients, bias_gradients = [], [], [], []
    for _ in range(steps):  # the loop does only what the next step needs; the records come after it
        dz = gradient_of_p(expit(points @ w + b), labels)  # (n,) d loss / d logit, point by point
        grad_w, grad_b = points.T @ dz / len(labels), dz.mean()  # chain rule through z = x·w + b, averaged
        weights.append(w)
        biases.append(b)
        weight_gradients.append(grad_w)
        bias_gradients.append(grad_b)
        w, b = w - learning_rate * grad_w, b - learning_rate * grad_b
    # every step's loss and accuracy in one batch: (steps, n) logits, rather than a dozen small ops per step
    logits = torch.from_numpy(np.stack(weights) @ points.T + np.stack(biases)[:, None])  # (steps, n)
    norms = np.sqrt(np.square(np.stack(weight_gradients)).sum(axis=1) + np.square(np.stack(bias_gradients)))
    return LogisticRun(loss=loss_of_logit(loss, logits, y.expand_as(logits)).mean(dim=1).tolist(),
                       accuracy=((logits > 0).to(y.dtype) == y).to(x.dtype).mean(dim=1).tolist(),
                       gradient_norm=norms.tolist())
