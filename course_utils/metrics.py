"""Measures of generated samples and of trained models.

- :func:`nearest_neighbours`: copies of the training data, or new samples?
- :func:`class_clarity`: does a sample look like one class, as a real image does, or like noise between them?
- :func:`mode_coverage`: the PacGAN / VEEGAN mode-collapse protocol on the ring and grid;
- :func:`held_out_elbo`, :func:`importance_weighted_bound`, :func:`importance_weighted_nll`: how well a VAE
  models held-out data (:func:`latent_log_terms`: the log-densities both are made of);
- :func:`classifier_verdict`: which classes a trained classifier confidently sees in a set of images;
  :func:`recognised_and_clear`: per class, the images it is confident about that are also clear members of it;
  :func:`digit_quality`: that judge calibrated on pixel noise (:func:`pixel_noise_like`), with the images' spread;
- :func:`noise_like`: noise fitted to 2-D data, the baseline of the mode-coverage tables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .losses import elbo, reconstruction_log_likelihood


def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each query to its nearest reference row, and that row's index.

    ``queries``: (n, D), ``reference``: (m, D) → ``(distances (n,), indices (n,))``. Used to ask
    whether generated samples are copies of training data (distance ≈ 0) or new, and to label a
    generated digit by its nearest training image (a 1-nearest-neighbour classifier).
    """
    if queries.ndim != 2 or reference.ndim != 2 or queries.shape[1] != reference.shape[1]:
        raise ValueError(f"queries and reference must be (n, D) and (m, D) with the same D; got "
                         f"{tuple(queries.shape)} and {tuple(reference.shape)}")
    if len(reference) == 0:
        raise ValueError("reference must have at least one row")
    distances = torch.cdist(queries.double(), reference.double())  # (n, m)
    best, index = distances.min(dim=1)
    return best.to(queries.dtype), index


def class_clarity(queries: torch.Tensor, reference: torch.Tensor,
                  labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-clarity ratio of each query, and the label of its nearest reference row.

    The ratio is (distance to the nearest reference row of *another* class) ÷ (distance to the nearest
    reference row), where "another" means a label other than that of the nearest row. A real image
    of one class sits much closer to its own class than to any other (ratio well above 1); a point
    between the classes, such as pixelwise noise, is about as close to another class as to its
    nearest image (ratio near 1). A 1-nearest-neighbour label alone cannot tell these apart: noise
    gets a label too. The ratio is ``inf`` for a query equal to a reference row.

    Parameters
    ----------
    queries : Tensor, shape (n, D)
        Images to judge, e.g. generated samples.
    reference : Tensor, shape (m, D)
        Labelled images, e.g. the training set.
    labels : Tensor, shape (m,), integer
        Class of each reference row; at least two classes must occur.

    Returns
    -------
    ratio : Tensor, shape (n,), float64
    nearest_label : Tensor, shape (n,), int64
    """
    if labels.ndim != 1 or len(labels) != len(reference):
        raise ValueError(f"labels must have shape (m,) with m = len(reference) = {len(reference)}; "
                         f"got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be integers; got {labels.dtype}")
    if len(torch.unique(labels)) < 2:
        raise ValueError("labels must hold at least two classes: a ratio needs another class")
    distances = torch.cdist(queries.double(), reference.double())  # (n, m), once for both minima
    nearest, index = distances.min(dim=1)  # (n,) each: what nearest_neighbours gives, from the same matrix
    nearest_label = labels[index].long()  # (n,)
    same = labels.long()[None, :] == nearest_label[:, None]  # (n, m): reference rows of the nearest's class
    other = distances.masked_fill(same, math.inf).min(dim=1).values  # (n,)
    return other / nearest, nearest_label


# ============================================================================ mode coverage
HIGH_QUALITY_STDS = 3.0  # a sample is high quality within 3σ of its nearest mode (PacGAN, VEEGAN)


@dataclass(frozen=True)
class ModeCoverage:
    """The three numbers of the mode-coverage protocol, plus the histogram behind the last."""

    modes: int  # modes captured: nearest mode of at least one high-quality sample (8 / 25 is perfect)
    fraction_high_quality: float  # share of all samples within 3σ of their nearest mode
    reverse_kl: float  # KL(histogram of high-quality samples over modes ‖ uniform), nats; nan if none
    counts: tuple[int, ...]  # high-quality samples per mode, in the order of ``centers``


def mode_coverage(samples: torch.Tensor, centers: torch.Tensor, std: float) -> ModeCoverage:
    """Mode coverage of generated ``samples`` on a mixture with modes at ``centers``, each of std ``std``.

    The protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018), their Tables 1:

    1. each sample's nearest mode is found by Euclidean distance;
    2. a sample is **high quality** if that distance is at most 3·std (3σ as a radius in the plane:
       a sample of the true mixture is high quality with probability P(χ²₂ ≤ 9) = 1 - e^{-9/2} ≈ 0.989,
       not the 0.997 of the 1-D three-sigma rule);
    3. a mode is **captured** if it is the nearest mode of at least one high-quality sample;
    4. **reverse KL** = Σ_k p_k log(p_k K) = KL(p ‖ uniform over the K modes), where p_k is the share
       of the *high-quality samples only* whose nearest mode is k (samples further than 3σ from
       every mode are left out of the histogram). Empty modes contribute 0 (0·log 0 = 0), so the
       KL is finite: 0 when every mode holds the same share, log K when all samples sit on one mode.
       With no high-quality sample at all the histogram is undefined and ``reverse_kl`` is ``nan``.

    Non-finite samples (a diverged generator) count as samples that are not high quality.

    Parameters
    ----------
    samples : Tensor, shape (N, D)
        Generated points (the protocol draws N = 2,500).
    centers : Tensor, shape (K, D)
        Mode centres, e.g. ``distributions.ring_centers()`` or ``distributions.grid_centers()``.
    std : float
        The modes' standard deviation (0.01 on the ring, 0.05 on the grid).
    """
    if not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise ValueError(f"std must be a positive number; got {std!r}")
    samples, centers = torch.as_tensor(samples), torch.as_tensor(centers)
    if samples.ndim != 2 or len(samples) == 0:
        raise ValueError(f"samples must have shape (N, D) with N >= 1; got {tuple(samples.shape)}")
    # on the CPU in float64: a few thousand points, and MPS has no float64
    distance, nearest = nearest_neighbours(samples.detach().cpu().double(), centers.detach().cpu().double())  # (N,)
    high = distance <= HIGH_QUALITY_STDS * std  # (N,); NaN distances compare False
    counts = torch.bincount(nearest[high], minlength=len(centers))  # (K,)
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.nan
    else:
        p = counts[counts > 0].double() / total  # (non-empty modes,): 0·log 0 = 0 drops the rest
        reverse_kl = float((p * (p * len(centers)).log()).sum())
    return ModeCoverage(
        modes=int((counts > 0).sum()),
        fraction_high_quality=total / len(samples),
        reverse_kl=reverse_kl,
        counts=tuple(int(c) for c in counts),
    )


NOISE_BASELINES = ("uniform", "gaussian")  # what noise_like draws: see its docstring


def noise_like(points: torch.Tensor, n: int, kind: str, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples of a noise model fitted to ``points``: the baseline a generative model must beat.

    - ``"uniform"``: uniform over the points' bounding box (per coordinate, from min to max);
    - ``"gaussian"``: the Gaussian with the points' mean and covariance (moment matched).

    Neither knows where the modes are, so a mode-coverage score that either of them reaches says nothing
    about a model (on the grid, uniform noise puts about 2% of its samples within 3σ of some mode and
    "captures" most of the 25 modes).

    Parameters
    ----------
    points : Tensor, shape (N, D)
        The data, N >= 2.
    n : int
        Samples to draw.
    kind : {"uniform", "gaussian"}
    generator : torch.Generator, optional
        A CPU generator for the draws.

    Returns
    -------
    Tensor, shape (n, D), float32 on the CPU.
    """
    if kind not in NOISE_BASELINES:
        raise ValueError(f"kind must be one of {', '.join(NOISE_BASELINES)}; got {kind!r}")
    if type(n) is not int or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    points = torch.as_tensor(points).detach().cpu().double()
    if points.ndim != 2 or len(points) < 2:
        raise ValueError(f"points must have shape (N, D) with N >= 2; got {tuple(points.shape)}")
    dim = points.shape[1]
    if kind == "uniform":
        low, high = points.min(dim=0).values, points.max(dim=0).values  # (D,) each
        u = torch.rand(n, dim, generator=generator, dtype=torch.float64)
        return (low + u * (high - low)).float()
    mean = points.mean(dim=0)  # (D,)
    covariance = torch.cov(points.T).reshape(dim, dim)  # (D, D)
    jitter = 1e-12 * covariance.diagonal().mean() * torch.eye(dim, dtype=torch.float64)  # a flat cloud still factors
    factor = torch.linalg.cholesky(covariance + jitter)
    z = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    return (mean + z @ factor.T).float()


# ============================================================================ VAE likelihoods
def _batches(data: torch.Tensor, batch_size: int):
    if type(batch_size) is not int or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    if len(data) == 0:
        raise ValueError("data must hold at least one example")
    return data.split(batch_size)


class EvalMode:
    """``with EvalMode(model):`` eval mode and no gradients inside, the model's own mode restored after."""

    def __init__(self, model: torch.nn.Module):
        self.model, self.was_training = model, model.training
        self.no_grad = torch.no_grad()

    def __enter__(self):
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def held_out_elbo(model: torch.nn.Module, data: torch.Tensor, *, batch_size: int = 256,
                  generator: torch.Generator | None = None) -> float:
    """Mean ELBO per example on ``data``, in nats: one z ~ q(z | x) per example, KL in closed form.

    A lower bound on the mean log-likelihood; higher is better. ``model`` is a
    :class:`course_utils.models.VAE` (its ``likelihood`` and ``obs_logvar`` pick the decoder);
    ``data`` is moved batch by batch to the model's device, and ``generator`` must live there.
    """
    device = model.obs_logvar.device
    total = 0.0
    with EvalMode(model):
        for x in _batches(data, batch_size):
            x = x.to(device)
            recon, mu, logvar = model(x, generator=generator)
            total += float(elbo(x, recon, mu, logvar, likelihood=model.likelihood,
                                obs_logvar=model.obs_logvar).sum())
    return total / len(data)


# IWAE bound (Burda et al. 2016, §3):  log p(x) ≥ L_k = E[log (1/k) Σ_i p(x, z_i) / q(z_i | x)],
# z_1..z_k ~ q(z | x) i.i.d.; L_1 = ELBO, L_k ≤ L_{k+1} (their Theorem 1) and L_k → log p(x) as k → ∞.
# log w_i = log p(x | z_i) + log N(z_i; 0, I) - log N(z_i; μ, σ²), and L_k = logsumexp_i(log w_i) - log k
# (log-sum-exp: the weights themselves under- or overflow in float32 for any real image).
def latent_log_terms(model: torch.nn.Module, x: torch.Tensor, *, k: int,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For k draws z_i ~ q(z | x) per example of ``x`` (B, ...): ``(log p(x | z_i), log p(z_i), log q(z_i | x))``,
    each (k, B), in nats. The ELBO is the mean over i of the first minus the KL (:func:`held_out_elbo`); the IWAE
    bound (:func:`importance_weighted_bound`) the log-mean-exp of the log-weights, first + second − third.
    ``x`` must be on the model's device; no gradients, eval mode (the model's own restored after)."""
    if type(k) is not int or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    with EvalMode(model):
        mu, logvar = model.encode(x)  # (B, L) each
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)  # (k, B, L)
        z = mu + torch.exp(0.5 * logvar) * eps  # (k, B, L)
        recon = model.decode(z.flatten(0, 1))  # (k·B, ...)
        x_rep = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)  # (k·B, ...), row i·B + b is x[b]
        log_px_z = reconstruction_log_likelihood(x_rep, recon, model.likelihood, model.obs_logvar).view(k, -1)
        log_pz = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)  # (k, B)
        log_qz = -0.5 * (eps.pow(2) + math.log(2 * math.pi) + logvar).sum(-1)  # (k, B); (z-μ)/σ = ε
    return log_px_z, log_pz, log_qz


def importance_weighted_bound(model: torch.nn.Module, x: torch.Tensor, *, k: int = 100,
                              generator: torch.Generator | None = None) -> torch.Tensor:
    """L_k per example of one batch ``x`` (B, ...), (B,) in nats: the IWAE lower bound on log p(x), which
    tightens as ``k`` grows (Burda et al. 2016). ``x`` must be on the model's device; no gradients."""
    log_px_z, log_pz, log_qz = latent_log_terms(model, x, k=k, generator=generator)
    return torch.logsumexp(log_px_z + log_pz - log_qz, dim=0) - math.log(k)  # (B,)


def importance_weighted_nll(model: torch.nn.Module, data: torch.Tensor, *, k: int = 100,
                            generator: torch.Generator | None = None, batch_size: int = 64) -> float:
    """Mean of −L_k per example on ``data``, in nats: an upper bound on the negative log-likelihood
    that tightens as ``k`` grows (Burda et al. 2016). With ``k = 1`` it equals the negative ELBO in
    expectation. Decodes ``k · batch_size`` latents at a time.
    """
    if type(k) is not int or k < 1:
        raise ValueError(f"k must be a positive int; got {k!r}")
    device = model.obs_logvar.device
    total = 0.0
    for x in _batches(data, batch_size):
        total -= float(importance_weighted_bound(model, x.to(device), k=k, generator=generator).sum())
    return total / len(data)


# ============================================================================ samples judged by a classifier
@dataclass(frozen=True)
class ClassifierVerdict:
    """What a trained digit classifier makes of a set of images."""

    confident_share: float  # share of the images whose most probable class has probability ≥ the threshold
    class_counts: tuple[int, ...]  # confident images per class
    mean_confidence: float  # mean of the largest class probability

    @property
    def classes_covered(self) -> int:
        """Classes with at least one confident image."""
        return sum(count > 0 for count in self.class_counts)


def _class_probabilities(classifier: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """softmax of ``classifier``'s logits for ``images`` (N, D): (N, K), computed in eval mode (restored after)."""
    if images.ndim != 2 or len(images) == 0:
        raise ValueError(f"images must be a non-empty (N, D) tensor; got shape {tuple(images.shape)}")
    with EvalMode(classifier):
        return torch.softmax(classifier(images).float(), dim=1)


def _check_confidence(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie in (0, 1); got {value!r}")


def classifier_verdict(classifier: torch.nn.Module, images: torch.Tensor, *,
                       threshold: float = 0.9) -> ClassifierVerdict:
    """Classify ``images`` (N, D) with ``classifier`` (logits (N, K)) and count, per class, the images it
    is confident about (largest softmax probability ≥ ``threshold``). Run it on held-out data and on noise
    beside a generator's samples: a class count means nothing without those two baselines."""
    _check_confidence("threshold", threshold)
    probabilities = _class_probabilities(classifier, images)  # (N, K)
    confidence, label = probabilities.max(dim=1)  # (N,) each
    confident = confidence >= threshold
    counts = torch.bincount(label[confident], minlength=probabilities.shape[1])
    return ClassifierVerdict(float(confident.double().mean()), tuple(int(c) for c in counts),
                             float(confidence.double().mean()))


def recognised_and_clear(classifier: torch.nn.Module, images: torch.Tensor, reference: torch.Tensor,
                         labels: torch.Tensor, *, clarity_threshold: float, confidence: float = 0.9) -> tuple[int, ...]:
    """Per class, how many ``images`` the classifier assigns to it with probability ≥ ``confidence`` *and* whose
    :func:`class_clarity` ratio against the labelled ``reference`` exceeds ``clarity_threshold`` (chapter 09 sets
    it at the 95th percentile of pixel noise's ratios). Both tests together: a classifier alone is fooled by noise,
    and clarity alone does not name the class."""
    _check_confidence("confidence", confidence)
    probabilities = _class_probabilities(classifier, images)  # (N, K)
    ratio, _ = class_clarity(images, reference, labels)  # (N,)
    chosen = (probabilities.amax(1) >= confidence) & (ratio > clarity_threshold)
    counts = torch.bincount(probabilities[chosen].argmax(1), minlength=probabilities.shape[1])
    return tuple(int(c) for c in counts)


# ============================================================================ digit sample quality
def pixel_noise_like(reference: torch.Tensor, n: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` images of pixelwise Gaussian noise with ``reference``'s per-pixel mean and standard deviation
    (n, D): images with the data's brightness everywhere and no digit anywhere, the baseline a digit
    generator must beat."""
    if type(n) is not int or n < 1:
        raise ValueError(f"n must be an int >= 1; got {n!r}")
    reference = torch.as_tensor(reference).detach().cpu().float()
    if reference.ndim != 2 or len(reference) < 2:
        raise ValueError(f"reference must have shape (m, D) with m >= 2; got {tuple(reference.shape)}")
    return reference.mean(0) + reference.std(0) * torch.randn(n, reference.shape[1], generator=generator)


@dataclass(frozen=True)
class DigitQuality:
    """What :func:`digit_quality` finds in a set of images."""

    share: float  # images recognised (p >= confidence) and clear (clarity above noise's 95th percentile)
    per_class: tuple[int, ...]  # such images per class
    pixel_spread: float  # mean over pixels of the std across images: near 0 for one image drawn again and again

    @property
    def classes(self) -> int:
        """Classes with at least one recognised and clear image."""
        return sum(1 for c in self.per_class if c > 0)


def digit_quality(classifier: torch.nn.Module, images: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor,
                  *, noise: torch.Tensor, confidence: float = 0.9) -> DigitQuality:
    """Chapter 09's judge of generated digits, calibrated on ``noise`` (e.g. :func:`pixel_noise_like`).

    An image counts if the ``classifier`` gives one class a probability >= ``confidence`` *and* its
    :func:`class_clarity` ratio against the labelled ``reference`` is above the 95th percentile of the
    noise images' ratios (:func:`recognised_and_clear`): by construction 5% of noise at most passes the
    clarity test, and the classifier alone is fooled by noise. ``pixel_spread`` tells a collapsed generator
    (one image, over and over) from a varied one.
    """
    noise_ratio, _ = class_clarity(noise.detach().cpu(), reference, labels)
    cut = float(torch.quantile(noise_ratio, 0.95))
    images = images.detach().cpu().float().flatten(1)
    counts = recognised_and_clear(classifier, images, reference, labels, clarity_threshold=cut,
                                  confidence=confidence)
    return DigitQuality(share=sum(counts) / len(images), per_class=counts,
                        pixel_spread=float(images.std(0).mean()) if len(images) > 1 else 0.0)
