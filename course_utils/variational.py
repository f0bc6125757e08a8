"""Chapter 09 (VAEs): what the ELBO bounds, measured.

- :func:`latent_grid`, :func:`log_joint_on_grid`, :func:`log_marginal_by_quadrature`: the exact log p(x) of a
  VAE with a 1- or 2-d latent, by summing p(x | z) p(z) over a fine grid of z (intractable in high dimension,
  which is why the ELBO exists); :func:`posterior_moments` of the true posterior p(z | x) from the same grid;
  :func:`kl_to_posterior`, KL(q(z | x) ‖ p(z | x)), the ELBO's gap;
- :func:`monte_carlo_elbo`: the ELBO per example, averaged over many z;
- :func:`proposal_log_weights`, :func:`effective_sample_size`, :func:`largest_normalised_weight`,
  :func:`proposal_gap`: the importance weights behind the IWAE bound, for q or a proposal with q's σ scaled, their
  tail, and the bound's gap to log p(x);
- :func:`score_function_gradients`, :func:`reparameterised_gradients`: two unbiased estimators of the gradient
  of E_q[f(z)] with respect to q's mean and log-variance, one per sample, to compare their variance;
  :func:`likelihood_gradient_variances` compares them on log p(x | z) of one image;
- :func:`kl_per_dimension`, :func:`active_units`: posterior collapse, dimension by dimension;
- :func:`rate_and_distortion`, :class:`BetaSweep`, :func:`score_beta_sweep`: the β-VAE trade-off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from course_utils.data import Digits
from course_utils.losses import LOG_2PI, gaussian_kl_per_dimension, reconstruction_log_likelihood
from course_utils.metrics import EvalMode, latent_log_terms
from course_utils.models import VAE

Tensor = torch.Tensor


# ============================================================================ the exact log-likelihood by quadrature
@dataclass(frozen=True)
class LatentGrid:
    """Points z (G, L) spaced evenly over [-half_width, half_width]^L, and log of the volume of one cell."""

    z: Tensor
    log_cell: float


def latent_grid(latent_dim: int = 2, *, half_width: float = 4.0, points: int = 201) -> LatentGrid:
    """A grid of ``points`` per axis over [-half_width, half_width] in 1 or 2 latent dimensions.

    The prior N(0, I) puts less than 1e-4 of its mass outside ±4 per axis, and a VAE's posteriors sit where
    the prior has mass; ``points`` must resolve the narrowest posterior (spacing 2·half_width / (points − 1)).
    """
    if latent_dim not in (1, 2):
        raise ValueError(f"latent_dim must be 1 or 2 (a grid in L dimensions has points^L cells); got {latent_dim!r}")
    if type(points) is not int or points < 3:
        raise ValueError(f"points must be an int of at least 3; got {points!r}")
    if not half_width > 0:
        raise ValueError(f"half_width must be positive; got {half_width!r}")
    axis = torch.linspace(-half_width, half_width, points)
    z = axis[:, None] if latent_dim == 1 else torch.cartesian_prod(axis, axis)  # (G, L)
    spacing = 2 * half_width / (points - 1)
    return LatentGrid(z, latent_dim * math.log(spacing))


def _check_grid(model: VAE, grid: LatentGrid) -> None:
    if grid.z.shape[1] != model.latent_dim:
        raise ValueError(f"the grid has {grid.z.shape[1]} latent dimensions, the model {model.latent_dim}; "
                         f"build it with latent_grid({model.latent_dim})")


@torch.no_grad()
def log_joint_on_grid(model: VAE, x: Tensor, grid: LatentGrid) -> Tensor:
    """log p(x, z) = log p(x | z) + log N(z; 0, I) for every example of ``x`` (B, D) and grid point, (B, G)."""
    _check_grid(model, grid)
    dtype = model.obs_logvar.dtype  # the model's own (float32, or float64 in the tests)
    params = model.decode(grid.z.to(dtype)).flatten(1).double()  # (G, D): decoded once, shared by every x
    x = x.flatten(1).double()  # (B, D)
    if model.likelihood == "bernoulli":
        # Σ_i x_i l_i - softplus(l_i), the Bernoulli log-likelihood with logits l, as one matrix product
        log_px_z = x @ params.T - nn.functional.softplus(params).sum(1)  # (B, G)
    else:
        var = float(model.obs_logvar.exp())
        squared = (x.pow(2).sum(1, keepdim=True) - 2 * x @ params.T + params.pow(2).sum(1))  # (B, G): ‖x - m‖²
        log_px_z = -0.5 * (squared / var + x.shape[1] * (LOG_2PI + math.log(var)))
    log_pz = -0.5 * (grid.z.double().pow(2).sum(1) + model.latent_dim * LOG_2PI)  # (G,)
    return log_px_z + log_pz


def log_marginal_by_quadrature(model: VAE, x: Tensor, grid: LatentGrid) -> Tensor:
    """log p(x) = log ∫ p(x | z) p(z) dz per example, (B,), as a Riemann sum over ``grid`` (log-sum-exp)."""
    return torch.logsumexp(log_joint_on_grid(model, x, grid), dim=1) + grid.log_cell


def posterior_moments(model: VAE, x: Tensor, grid: LatentGrid) -> tuple[Tensor, Tensor]:
    """Mean (B, L) and standard deviation (B, L) of the true posterior p(z | x) on ``grid``."""
    weights = torch.softmax(log_joint_on_grid(model, x, grid), dim=1)  # (B, G): p(z_g | x) × cell volume
    z = grid.z.double()
    mean = weights @ z  # (B, L)
    second = weights @ z.pow(2)  # (B, L)
    return mean.float(), (second - mean.pow(2)).clamp(min=0).sqrt().float()


def _log_q_on_grid(model: VAE, x: Tensor, grid: LatentGrid) -> Tensor:
    mu, logvar = (t.double() for t in model.encode(x.to(model.obs_logvar.dtype)))  # (B, L) each
    z = grid.z.double()[None]  # (1, G, L)
    return -0.5 * (((z - mu[:, None]) ** 2) / logvar.exp()[:, None] + logvar[:, None] + LOG_2PI).sum(-1)  # (B, G)


@torch.no_grad()
def kl_to_posterior(model: VAE, x: Tensor, grid: LatentGrid) -> Tensor:
    """KL(q(z | x) ‖ p(z | x)) per example, (B,), in nats, summed over ``grid``: the gap between log p(x) and
    the ELBO. q's density must be resolved by the grid (its mass on the grid is renormalised to 1)."""
    log_q = _log_q_on_grid(model, x, grid)  # (B, G) densities
    log_joint = log_joint_on_grid(model, x, grid)
    log_posterior = log_joint - torch.logsumexp(log_joint, dim=1, keepdim=True)  # (B, G) cell masses
    log_q_mass = log_q - torch.logsumexp(log_q, dim=1, keepdim=True)  # (B, G) cell masses of q
    return (log_q_mass.exp() * (log_q_mass - log_posterior)).sum(1).float()


def monte_carlo_elbo(model: VAE, x: Tensor, *, samples: int = 1_000,
                     generator: torch.Generator | None = None) -> Tensor:
    """The ELBO per example, (B,), in nats: E_q[log p(x | z)] from ``samples`` draws of z, minus the KL to the
    prior in closed form."""
    if type(samples) is not int or samples < 1:
        raise ValueError(f"samples must be a positive int (draws of z per example); got {samples!r}")
    log_px_z, _, _ = latent_log_terms(model, x, k=samples, generator=generator)  # (S, B)
    with EvalMode(model):
        return log_px_z.mean(0) - gaussian_kl_per_dimension(*model.encode(x)).sum(-1)


# ============================================================================ importance weights and their tail
# IWAE (Burda et al. 2016) averages k weights w_i = p(x, z_i) / r(z_i | x), z_i ~ r. With r = q it is L_k; any
# proposal r gives a bound. For large k, log p(x) − L_k ≈ χ²(p(z | x) ‖ r) / (2k), the variance of w / p(x)
# over 2k (the delta method; Maddison et al. 2017, Prop. 1; Domke & Sheldon 2018, Thm. 3): a proposal whose
# weights have a heavy tail (a large χ², infinite when r's tails are lighter than the posterior's, as for a
# Gaussian r narrower than a Gaussian posterior by more than √2) reaches the 1/k regime only once k ≫ χ².
def _check_scale(scale: float) -> float:
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number (the proposal's σ over q's); got {scale!r}")
    return float(scale)


@torch.no_grad()
def proposal_log_weights(model: VAE, x: Tensor, *, k: int, scale: float = 1.0,
                         generator: torch.Generator | None = None) -> Tensor:
    """log w_i = log p(x, z_i) − log r(z_i | x) for ``k`` draws z_i ~ r = N(μ, (scale·σ)²), where N(μ, σ²) is the
    encoder's q(z | x): (k, B), in float64. ``scale = 1`` gives the IWAE weights of q itself; log-mean-exp over
    dim 0 is the bound L_k of that proposal."""
    if type(k) is not int or k < 1:
        raise ValueError(f"k must be a positive int (draws of z per example); got {k!r}")
    scale = _check_scale(scale)
    with EvalMode(model):
        mu, logvar = model.encode(x)  # (B, L) each
        std = torch.exp(0.5 * logvar) * scale  # (B, L): the proposal's σ
        eps = torch.randn((k, *mu.shape), generator=generator, device=mu.device, dtype=mu.dtype)  # (k, B, L)
        z = mu + std * eps  # (k, B, L)
        recon = model.decode(z.flatten(0, 1))  # (k·B, ...)
        x_rep = x.unsqueeze(0).expand(k, *x.shape).flatten(0, 1)  # row i·B + b is x[b]
        log_px_z = reconstruction_log_likelihood(x_rep, recon, model.likelihood, model.obs_logvar).view(k, -1)
        log_pz = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)  # (k, B)
        log_r = -0.5 * (eps.pow(2) + LOG_2PI + 2 * std.log()).sum(-1)  # (k, B); (z − μ)/(scale σ) = ε
    return (log_px_z + log_pz - log_r).double()


def _check_log_weights(log_weights: Tensor) -> Tensor:
    if log_weights.ndim != 2 or len(log_weights) == 0:
        raise ValueError(f"log_weights must have shape (k, B): k draws for each of B examples; got "
                         f"{tuple(log_weights.shape)}")
    return log_weights


def effective_sample_size(log_weights: Tensor) -> Tensor:
    """Kish's effective sample size (Σ w)² / Σ w² of k weights per example, (B,), between 1 and k (Owen 2013,
    "Monte Carlo theory, methods and examples", §9.3), from ``log_weights`` (k, B)."""
    normalised = torch.softmax(_check_log_weights(log_weights), dim=0)  # (k, B), summing to 1 per example
    return 1.0 / normalised.pow(2).sum(0)


def largest_normalised_weight(log_weights: Tensor) -> Tensor:
    """max_i w_i / Σ_j w_j per example, (B,), from ``log_weights`` (k, B): 1/k for equal weights, near 1 when one
    draw carries the whole estimate (a heavy tail seen from inside the sample)."""
    return torch.softmax(_check_log_weights(log_weights), dim=0).amax(0)


def proposal_gap(model: VAE, x: Tensor, log_px: Tensor, *, k: int, scale: float = 1.0, repeats: int = 1,
                 generator: torch.Generator | None = None) -> float:
    """log p(x) − L_k of the proposal N(μ, (scale·σ)²), in nats, averaged over the examples of ``x`` and over
    ``repeats`` independent bounds; ``log_px`` (B,) is the exact log p(x) (e.g. :func:`log_marginal_by_quadrature`).
    With ``scale = 1`` and ``k = 1`` it is the ELBO's gap."""
    if type(repeats) is not int or repeats < 1:
        raise ValueError(f"repeats must be a positive int; got {repeats!r}")
    bounds = [torch.logsumexp(proposal_log_weights(model, x, k=k, scale=scale, generator=generator), dim=0)
              - math.log(k) for _ in range(repeats)]  # (B,) each: L_k per example
    return float((log_px.double() - torch.stack(bounds).mean(0)).mean())


# ============================================================================ two gradient estimators
# For q = N(μ, diag σ²) with log σ² = v and a function f of z, ∇_{μ,v} E_q[f(z)] has two unbiased estimators
# (Mohamed et al. 2020, "Monte Carlo gradient estimation in machine learning", §4 and §5):
#   score function (REINFORCE, Williams 1992): (f(z) − b) ∇ log q(z),  ∇_μ log q = ε/σ,  ∇_v log q = (ε² − 1)/2;
#   reparameterised (Kingma & Welling 2014): ∇ f(μ + σ ε) = (∇_z f, ∇_z f ⊙ ε σ / 2).
# Both with z = μ + σ ε, ε ~ N(0, I); the baseline b is any constant (it leaves the mean unchanged).
def _draws(mu: Tensor, logvar: Tensor, samples: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    if mu.ndim != 1 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must be two vectors of the same length (one q); got shapes "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")
    if type(samples) is not int or samples < 2:
        raise ValueError(f"samples must be an int of at least 2 (a variance needs two); got {samples!r}")
    eps = torch.randn((samples, len(mu)), generator=generator, dtype=mu.dtype)  # (S, L)
    return eps, mu + (0.5 * logvar).exp() * eps


def score_function_gradients(f: Callable[[Tensor], Tensor], mu: Tensor, logvar: Tensor, *, samples: int,
                             generator: torch.Generator | None = None, baseline: float = 0.0) -> Tensor:
    """One score-function estimate of ∇_{μ, log σ²} E_q[f(z)] per draw of z: (samples, 2L), the μ part first.

    ``f`` maps z (S, L) to (S,); it is only evaluated, never differentiated (REINFORCE needs no gradient of f).
    """
    eps, z = _draws(mu.detach(), logvar.detach(), samples, generator)
    with torch.no_grad():
        value = f(z) - baseline  # (S,)
    sigma = (0.5 * logvar.detach()).exp()
    return torch.cat([value[:, None] * eps / sigma, value[:, None] * (eps.pow(2) - 1) / 2], dim=1)


def reparameterised_gradients(f: Callable[[Tensor], Tensor], mu: Tensor, logvar: Tensor, *, samples: int,
                              generator: torch.Generator | None = None) -> Tensor:
    """One reparameterised estimate of ∇_{μ, log σ²} E_q[f(z)] per draw of z: (samples, 2L), the μ part first.

    ``f`` maps z (S, L) to (S,) row by row, differentiably; one backward pass gives every draw's ∇_z f.
    """
    eps, z = _draws(mu.detach(), logvar.detach(), samples, generator)
    z.requires_grad_(True)
    with torch.enable_grad():
        (grad_z,) = torch.autograd.grad(f(z).sum(), z)  # (S, L): row s is ∇_z f at z_s
    sigma = (0.5 * logvar.detach()).exp()
    return torch.cat([grad_z, grad_z * eps * sigma / 2], dim=1)


def likelihood_gradient_variances(model: VAE, image: Tensor, *, samples: int = 10_000,
                                  seed: int = 0) -> dict[str, float]:
    """Total variance (summed over the 2L coordinates) of one-draw estimates of ∇_{μ, log σ²} E_q[log p(x | z)]
    for one ``image`` (D,) and its encoder's q: ``"score function"``, ``"score function with baseline"`` (b =
    log p(x | μ), f at q's mean) and ``"reparameterised"``, ``samples`` draws each from ``seed``."""
    if image.ndim != 1:
        raise ValueError(f"image must be one flat image of shape (D,); got shape {tuple(image.shape)}")
    with EvalMode(model):
        mu, logvar = (t[0].detach() for t in model.encode(image[None]))  # (L,) each

        def log_likelihood(z: Tensor) -> Tensor:  # log p(x | z) of the one image for each row of z, (S,)
            return reconstruction_log_likelihood(image.expand(len(z), -1), model.decode(z), model.likelihood,
                                                 model.obs_logvar)

        with torch.no_grad():
            baseline = float(log_likelihood(mu[None]))
        draws = {
            "score function": score_function_gradients(
                log_likelihood, mu, logvar, samples=samples, generator=torch.Generator().manual_seed(seed)),
            "score function with baseline": score_function_gradients(
                log_likelihood, mu, logvar, samples=samples, generator=torch.Generator().manual_seed(seed),
                baseline=baseline),
            "reparameterised": reparameterised_gradients(
                log_likelihood, mu, logvar, samples=samples, generator=torch.Generator().manual_seed(seed + 1)),
        }
    return {name: float(values.var(0).sum()) for name, values in draws.items()}


# ============================================================================ collapse and the β trade-off
def kl_per_dimension(model: VAE, x: Tensor) -> Tensor:
    """Mean over ``x`` of KL(q(z_j | x) ‖ N(0, 1)) for each latent dimension j, (L,), in nats. A dimension at
    ~0 carries no information about x: its posterior collapsed onto the prior."""
    with EvalMode(model):
        return gaussian_kl_per_dimension(*model.encode(x)).mean(0)


def active_units(model: VAE, x: Tensor, *, threshold: float = 0.01) -> int:
    """Latent dimensions whose posterior mean varies with x: Cov_x(E_q[z_j]) > ``threshold`` (Burda et al.
    2016, §5.2, who use 0.01). A variance test, not a KL one: a dimension whose mean varies a little while its
    σ stays near 1 counts as active with almost no KL."""
    with EvalMode(model):
        mu, _ = model.encode(x)
    return int((mu.var(dim=0) > threshold).sum())


def rate_and_distortion(model: VAE, x: Tensor, *, generator: torch.Generator | None = None) -> tuple[float, float]:
    """(rate, distortion) on ``x`` in nats per example: the KL term and −log p(x | z) for one z ~ q each
    (Alemi et al. 2018, "Fixing a broken ELBO"). Their sum is the negative ELBO."""
    with EvalMode(model):
        recon, mu, logvar = model(x, generator=generator)
    rate = gaussian_kl_per_dimension(mu, logvar).sum(-1).mean()
    distortion = -reconstruction_log_likelihood(x, recon, model.likelihood, model.obs_logvar).mean()
    return float(rate), float(distortion)


@dataclass(frozen=True)
class BetaSweep:
    """VAEs trained with several β on the same data and seed, each scored on the held-out digits."""

    digits: Digits
    betas: tuple[float, ...]
    models: tuple[VAE, ...]
    rates: tuple[float, ...]  # nats per held-out image
    distortions: tuple[float, ...]  # nats per held-out image
    active: tuple[int, ...]  # active units

    def index(self, beta: float) -> int:
        """Position of ``beta`` in :attr:`betas`."""
        if beta not in self.betas:
            raise ValueError(f"beta must be one of the trained {self.betas}; got {beta!r}")
        return self.betas.index(beta)


def score_beta_sweep(digits: Digits, betas: tuple[float, ...], models: tuple[VAE, ...], *, seed: int = 0) -> BetaSweep:
    """Score VAEs trained with the given β (one model each, same data) on ``digits.x_test``: rate, distortion
    and active units. The models are moved to the CPU in eval mode."""
    if not betas or len(set(betas)) != len(betas):
        raise ValueError(f"betas must be distinct values, at least one; got {betas!r}")
    if len(models) != len(betas):
        raise ValueError(f"models must hold one VAE per beta ({len(betas)}); got {len(models)}")
    models = tuple(model.cpu().float().eval() for model in models)
    scores = [rate_and_distortion(model, digits.x_test, generator=torch.Generator().manual_seed(seed))
              for model in models]
    return BetaSweep(digits, tuple(float(b) for b in betas), models, tuple(r for r, _ in scores),
                     tuple(d for _, d in scores), tuple(active_units(model, digits.x_test) for model in models))
