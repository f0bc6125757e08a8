"""Probabilistic PCA: the linear-Gaussian latent variable model, fitted in closed form.

    z ~ N(0, I_k),    x | z ~ N(W z + μ, σ² I_D)    ⇒    x ~ N(μ, W Wᵀ + σ² I_D)

It is the simplest model with the VAE's structure (a prior on a latent code, a decoder, an
encoder = the posterior), and for a VAE with linear encoder and decoder the global optimum of the
ELBO is exactly this model's maximum-likelihood fit (Lucas et al., "Don't Blame the ELBO",
NeurIPS 2019). Chapter 00 uses it to show, in a second of compute, what the source document gets
wrong: a latent-variable model is *trained* on a data set, generates new samples without it, and
generates every class it was trained on.

Reference: Tipping & Bishop, "Probabilistic Principal Component Analysis", JRSS-B 1999, eq. 7-8.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import distributions as D


@dataclass(frozen=True)
class PPCA:
    """A fitted model: ``mean`` (D,), ``weight`` W (D, k) and ``noise_var`` σ²."""

    mean: torch.Tensor  # (D,)
    weight: torch.Tensor  # (D, k)
    noise_var: float  # σ², the variance the k latent directions leave unexplained

    @property
    def latent_dim(self) -> int:
        return self.weight.shape[1]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean ``E[x | z] = W z + μ``. ``z``: (n, k) → (n, D)."""
        return z @ self.weight.T + self.mean  # (n, D)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean ``E[z | x] = M⁻¹ Wᵀ (x − μ)``, ``M = WᵀW + σ² I`` (T&B eq. 6). (n, D) → (n, k)."""
        m = self.weight.T @ self.weight + self.noise_var * torch.eye(self.latent_dim, dtype=self.weight.dtype)
        return torch.linalg.solve(m, self.weight.T @ (x - self.mean).T).T  # (n, k)

    def sample(self, n: int, generator: torch.Generator | None = None, *, noise: bool = False) -> torch.Tensor:
        """Draw ``z ~ N(0, I)`` and decode it; only the model's parameters are used, no data.

        ``noise=False`` returns the decoder mean (what one shows as an image); ``noise=True`` adds
        the σ² pixel noise, giving exact samples of the model's p(x).
        """
        if type(n) is not int or n < 1:
            raise ValueError(f"n must be a positive int; got {n!r}")
        z = torch.randn(n, self.latent_dim, generator=generator, dtype=self.weight.dtype)  # (n, k)
        x = self.decode(z)
        if noise:
            x = x + self.noise_var**0.5 * torch.randn(x.shape, generator=generator, dtype=x.dtype)
        return x

    def marginal(self) -> D.MultivariateNormal:
        """p(x) = N(μ, W Wᵀ + σ² I)."""
        d = self.mean.numel()
        cov = self.weight @ self.weight.T + self.noise_var * torch.eye(d, dtype=self.weight.dtype)
        return D.MultivariateNormal(self.mean, covariance_matrix=cov)

    def log_likelihood(self, x: torch.Tensor) -> float:
        """Mean log p(x) over the rows of ``x`` (nats per example)."""
        return float(self.marginal().log_prob(x.to(self.weight.dtype)).mean())

    def num_parameters(self) -> int:
        """Numbers the model keeps after training: μ, W and σ²."""
        return self.mean.numel() + self.weight.numel() + 1


def fit_ppca(x: torch.Tensor, latent_dim: int) -> PPCA:
    """Maximum-likelihood PPCA (Tipping & Bishop 1999, eq. 7-8).

    With the data covariance ``S = U Λ Uᵀ`` (eigenvalues descending, 1/N normalisation):
    ``σ² = mean(λ_{k+1..D})`` and ``W = U_k (Λ_k − σ² I)^{1/2}``.

    Parameters
    ----------
    x : Tensor, shape (N, D)
        Training data, one example per row.
    latent_dim : int
        k, with 1 ≤ k < D.
    """
    if type(x) is not torch.Tensor or x.ndim != 2:
        raise ValueError(f"x must be a 2-D torch.Tensor (N, D); got {type(x).__name__} "
                         f"with shape {tuple(getattr(x, 'shape', ()))}")
    n, d = x.shape
    if type(latent_dim) is not int or not 1 <= latent_dim < d:
        raise ValueError(f"latent_dim must be an int from 1 to {d - 1} (the data has D={d}); got {latent_dim!r}")
    if n < 2:
        raise ValueError(f"x needs at least 2 rows to estimate a covariance; got {n}")
    x = x.double()  # eigendecompositions of nearly singular covariances need float64
    mean = x.mean(dim=0)  # (D,)
    centred = x - mean
    cov = centred.T @ centred / n  # (D, D), the ML estimate
    eigvals, eigvecs = torch.linalg.eigh(cov)  # ascending
    eigvals, eigvecs = eigvals.flip(0).clamp_min(0.0), eigvecs.flip(1)
    noise_var = float(eigvals[latent_dim:].mean())
    # round-off leaves ~1e-17, not 0, for data of rank <= k: use numpy.linalg.matrix_rank's tolerance
    if noise_var <= float(eigvals[0]) * d * torch.finfo(torch.float64).eps:
        raise ValueError(f"latent_dim={latent_dim} already explains all the variance; choose a smaller one")
    scale = (eigvals[:latent_dim] - noise_var).clamp_min(0.0).sqrt()  # (k,)
    return PPCA(mean=mean, weight=eigvecs[:, :latent_dim] * scale, noise_var=noise_var)
