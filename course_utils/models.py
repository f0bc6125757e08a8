"""The networks the course trains: nn.Modules only (losses live in losses.py, loops in train.py).

- :class:`MLPGenerator`, :class:`MLPDiscriminator` (also the WGAN critic) for 2-D toy data, and
  :class:`PackedDiscriminator`, PacGAN's discriminator of m samples at once;
- :class:`ConvGenerator`, :class:`ConvDiscriminator` for 8x8 digits and 28x28 MNIST;
- :class:`VAE` with :class:`MLPVAE` and :class:`ConvVAE`, Bernoulli (logits) or Gaussian decoders;
- :class:`TiedAutoencoder`, whose decoder reuses the encoder's weight matrix transposed.

Discriminators and critics return one unbounded score per example, shape (B,): a logit for a GAN
(the sigmoid lives inside the loss, for numerical stability), a critic value for a WGAN. None of
them uses batch normalisation, which would make one example's score depend on the rest of the batch
and break the per-example gradient penalty of WGAN-GP (Gulrajani et al. 2017, §4).

Image modules accept images as (B, 1, H, W) or flattened (B, H·W), since the data sets in
``course_utils.data`` are flattened; generators and decoders return (B, 1, H, W).
"""

from __future__ import annotations

import copy
import math
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm as _spectral_norm

Tensor = torch.Tensor
Likelihood = Literal["bernoulli", "gaussian"]


def _check_positive_int(name: str, value: int, minimum: int = 1) -> int:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return value


def _maybe_sn(layer: nn.Module, spectral_norm: bool) -> nn.Module:
    # Spectral normalisation divides the weight by its largest singular value (estimated by one power
    # iteration per training forward pass), making each layer 1-Lipschitz (Miyato et al. 2018).
    return _spectral_norm(layer) if spectral_norm else layer


def mlp(in_dim: int, out_dim: int, hidden: int, depth: int, activation: type[nn.Module] | nn.Module,
        spectral_norm: bool = False) -> nn.Sequential:
    """``depth`` hidden layers of width ``hidden`` with ``activation`` between, then a linear output.

    ``activation`` is a module class (``nn.ReLU``) or an instance to copy the settings of
    (``nn.LeakyReLU(0.2)``); ``depth = 0`` gives a single linear map.
    """
    for name, value in (("in_dim", in_dim), ("out_dim", out_dim), ("hidden", hidden)):
        _check_positive_int(name, value)
    _check_positive_int("depth", depth, minimum=0)
    widths = [in_dim] + [hidden] * depth + [out_dim]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(_maybe_sn(nn.Linear(a, b), spectral_norm))
        if i < depth:
            layers.append(activation() if isinstance(activation, type) else copy.deepcopy(activation))
    return nn.Sequential(*layers)


# ============================================================================ 2-D GANs
class MLPGenerator(nn.Module):
    """G: latent z (B, latent_dim) → point (B, data_dim), ReLU hidden layers, linear output.

    The output is unbounded (no tanh): the toy sets of ``course_utils.data`` are not in [-1, 1].
    """

    def __init__(self, latent_dim: int = 2, data_dim: int = 2, hidden: int = 128, depth: int = 3):
        super().__init__()
        self.latent_dim = latent_dim
        self.net = mlp(latent_dim, data_dim, hidden, depth, nn.ReLU)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)  # (B, data_dim)


class MLPDiscriminator(nn.Module):
    """D or critic f: point (B, data_dim) → score (B,), LeakyReLU(0.2) hidden layers.

    The score is a logit for a GAN (D(x) = sigmoid(score)) and the critic value for a WGAN.
    ``spectral_norm=True`` wraps every linear layer in
    ``torch.nn.utils.parametrizations.spectral_norm`` (Miyato et al. 2018).
    """

    def __init__(self, data_dim: int = 2, hidden: int = 128, depth: int = 3, spectral_norm: bool = False):
        super().__init__()
        # LeakyReLU: a dead ReLU gives D no gradient to pass on to G (Radford et al. 2016, DCGAN)
        self.net = mlp(data_dim, 1, hidden, depth, nn.LeakyReLU(0.2), spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x).squeeze(-1)  # (B,)


MLPCritic = MLPDiscriminator  # the WGAN name for the same network: no sigmoid at the end either way


class PackedDiscriminator(nn.Module):
    """PacGAN packing (Lin et al. 2018, §3): D judges ``pack`` samples at once, not one.

    The batch (B, D) is cut into B/m packs of m consecutive samples, each flattened into one row
    (B/m, m·D) for ``discriminator`` (whose input size must be m·D), which returns one score per
    pack, (B/m,). All m samples of a pack are real or all are fake, so a collapsed generator shows
    up as m near-identical points, which one sample alone cannot reveal: packing penalises mode
    collapse (their Theorem 3). The batch must be a multiple of ``pack``.
    """

    def __init__(self, discriminator: nn.Module, pack: int):
        super().__init__()
        self.discriminator = discriminator
        self.pack = _check_positive_int("pack", pack)

    def forward(self, x: Tensor) -> Tensor:
        if len(x) % self.pack:
            raise ValueError(f"a packed discriminator needs a batch that is a multiple of pack={self.pack}; "
                             f"got {len(x)} samples (choose batch_size divisible by pack)")
        packs = x.flatten(1).reshape(len(x) // self.pack, -1)  # (B/m, m·D): m consecutive samples per row
        return self.discriminator(packs)  # (B/m,)


# ============================================================================ image GANs
def _image_size(image_size: int) -> int:
    if type(image_size) is not int or image_size < 4 or image_size % 4:
        raise ValueError(f"image_size must be a multiple of 4 (8 for digits, 28 for MNIST); got {image_size!r}")
    return image_size


def _as_images(x: Tensor, channels: int, image_size: int) -> Tensor:
    """(B, C·H·W) or (B, C, H, W) → (B, C, H, W)."""
    if x.ndim == 2:
        return x.reshape(len(x), channels, image_size, image_size)  # (B, C, H, W)
    if x.ndim == 4 and x.shape[1:] == (channels, image_size, image_size):
        return x
    raise ValueError(f"expected images of shape (B, {channels * image_size**2}) or "
                     f"(B, {channels}, {image_size}, {image_size}); got {tuple(x.shape)}")


class _UpsamplingDecoder(nn.Module):
    """z (B, latent_dim) → (B, C, S, S): a linear map to a (2w, S/4, S/4) feature map, then two
    stride-2 transposed convolutions (DCGAN, Radford et al. 2016), each doubling the side."""

    def __init__(self, latent_dim: int, image_size: int, channels: int, width: int, batch_norm: bool):
        super().__init__()
        self.base = _image_size(image_size) // 4
        self.width = _check_positive_int("width", width)
        self.channels = channels
        norm = (lambda c: nn.BatchNorm2d(c)) if batch_norm else (lambda c: nn.Identity())
        self.project = nn.Sequential(nn.Linear(latent_dim, 2 * width * self.base**2), nn.ReLU())
        self.up = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1), norm(width), nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1),
        )

    def forward(self, z: Tensor) -> Tensor:
        h = self.project(z).reshape(len(z), 2 * self.width, self.base, self.base)  # (B, 2w, S/4, S/4)
        return self.up(h)  # (B, C, S, S)


class _DownsamplingEncoder(nn.Module):
    """(B, C, S, S) → features (B, 2w·(S/4)²): two stride-2 convolutions with LeakyReLU(0.2)."""

    def __init__(self, image_size: int, channels: int, width: int, spectral_norm: bool):
        super().__init__()
        self.image_size = _image_size(image_size)
        self.channels = channels
        _check_positive_int("width", width)
        self.features = nn.Sequential(
            _maybe_sn(nn.Conv2d(channels, width, 4, stride=2, padding=1), spectral_norm), nn.LeakyReLU(0.2),
            _maybe_sn(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1), spectral_norm), nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.out_features = 2 * width * (image_size // 4) ** 2

    def forward(self, x: Tensor) -> Tensor:
        x = _as_images(x, self.channels, self.image_size)  # (B, C, S, S)
        return self.features(x)  # (B, 2w·(S/4)²)


class ConvGenerator(nn.Module):
    """G: z (B, latent_dim) → images (B, channels, S, S) with pixels in (0, 1) (a sigmoid output,
    matching the data's [0, 1] scaling). ``image_size`` 8 for digits, 28 for MNIST."""

    def __init__(self, latent_dim: int = 16, image_size: int = 8, channels: int = 1, width: int = 32,
                 batch_norm: bool = True):
        super().__init__()
        self.latent_dim = latent_dim
        self.decoder = _UpsamplingDecoder(latent_dim, image_size, channels, width, batch_norm)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.decoder(z))  # (B, C, S, S) in (0, 1)


class ConvDiscriminator(nn.Module):
    """D or critic: images (B, C, S, S) or (B, C·S·S) → score (B,). No batch norm (see module doc)."""

    def __init__(self, image_size: int = 8, channels: int = 1, width: int = 32, spectral_norm: bool = False):
        super().__init__()
        self.encoder = _DownsamplingEncoder(image_size, channels, width, spectral_norm)
        self.head = _maybe_sn(nn.Linear(self.encoder.out_features, 1), spectral_norm)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.encoder(x)).squeeze(-1)  # (B,)


ConvCritic = ConvDiscriminator


# ============================================================================ VAEs
class VAE(nn.Module):
    """A variational autoencoder (Kingma & Welling 2014) around an encoder and a decoder module.

    - ``encoder``: x → (B, 2·latent_dim), split into the mean μ and the log-variance log σ² of
      the Gaussian posterior q(z | x) = N(μ, diag σ²);
    - ``decoder``: z (B, latent_dim) → the parameters of p(x | z): Bernoulli **logits**
      (``likelihood="bernoulli"``) or the Gaussian **mean** (``likelihood="gaussian"``), whose
      variance is fixed at ``obs_std²`` and kept as the buffer ``obs_logvar``.

    The prior is p(z) = N(0, I). ``losses.elbo`` turns ``forward``'s output into the ELBO.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, latent_dim: int,
                 likelihood: Likelihood = "bernoulli", obs_std: float = 0.1):
        super().__init__()
        if likelihood not in ("bernoulli", "gaussian"):
            raise ValueError(f"likelihood must be 'bernoulli' or 'gaussian'; got {likelihood!r}")
        if not (isinstance(obs_std, (int, float)) and math.isfinite(obs_std) and obs_std > 0):
            raise ValueError(f"obs_std must be a positive number; got {obs_std!r}")
        self.encoder, self.decoder = encoder, decoder
        self.latent_dim = _check_positive_int("latent_dim", latent_dim)
        self.likelihood: Likelihood = likelihood
        # a buffer, so it follows .to(device) and lands in the state_dict; unused by the Bernoulli decoder
        self.register_buffer("obs_logvar", torch.tensor(2 * math.log(obs_std)))

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """q(z | x): ``(mu, logvar)``, each (B, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)  # (B, latent_dim) each
        return mu, logvar

    def decode(self, z: Tensor) -> Tensor:
        """p(x | z): logits (Bernoulli) or mean (Gaussian), shaped like one data example per row."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """z = μ + σ ⊙ ε with ε ~ N(0, I): the reparameterisation trick (Kingma & Welling 2014, §2.4).

        The randomness sits in ε, which does not depend on the encoder, so z is a differentiable
        function of (μ, log σ²) and the ELBO's gradient flows back into the encoder; sampling
        z ~ N(μ, σ²) directly would block it. ``generator`` must live on ``mu``'s device.
        """
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)  # (B, latent_dim)
        return mu + torch.exp(0.5 * logvar) * eps  # σ = exp(log σ² / 2)

    def forward(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """``(recon_params, mu, logvar)`` for one z ~ q(z | x) per example (sampled in eval mode too:
        the ELBO estimate needs it; use ``decode(mu)`` for a deterministic reconstruction)."""
        mu, logvar = self.encode(x)  # (B, latent_dim) each
        z = self.reparameterize(mu, logvar, generator)  # (B, latent_dim)
        return self.decode(z), mu, logvar

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n new examples decoded from the prior: z ~ N(0, I), then the decoder's mean
        (sigmoid of the logits for a Bernoulli decoder), not a noisy draw from p(x | z)."""
        buffer = self.obs_logvar  # follows .to(device) and .double(): where and in what dtype to draw z
        z = torch.randn(n, self.latent_dim, generator=generator, device=buffer.device, dtype=buffer.dtype)  # (n, L)
        params = self.decode(z)
        return torch.sigmoid(params) if self.likelihood == "bernoulli" else params


class MLPVAE(VAE):
    """A VAE with MLP encoder and decoder (ReLU) for flat data (B, data_dim)."""

    def __init__(self, data_dim: int = 64, latent_dim: int = 2, hidden: int = 256, depth: int = 2,
                 likelihood: Likelihood = "bernoulli", obs_std: float = 0.1):
        encoder = mlp(data_dim, 2 * latent_dim, hidden, depth, nn.ReLU)
        decoder = mlp(latent_dim, data_dim, hidden, depth, nn.ReLU)
        super().__init__(encoder, decoder, latent_dim, likelihood, obs_std)


class ConvVAE(VAE):
    """A VAE with the convolutional encoder/decoder of the image GANs (no batch norm): images
    (B, C, S, S) or flattened (B, C·S·S) in, decoder output (B, C, S, S)."""

    def __init__(self, image_size: int = 8, latent_dim: int = 8, channels: int = 1, width: int = 32,
                 likelihood: Likelihood = "bernoulli", obs_std: float = 0.1):
        features = _DownsamplingEncoder(image_size, channels, width, spectral_norm=False)
        encoder = nn.Sequential(features, nn.Linear(features.out_features, 2 * latent_dim))
        decoder = _UpsamplingDecoder(latent_dim, image_size, channels, width, batch_norm=False)
        super().__init__(encoder, decoder, latent_dim, likelihood, obs_std)


# ============================================================================ weight sharing
class TiedAutoencoder(nn.Module):
    """An autoencoder whose decoder reuses the encoder's weight matrix, transposed.

    h = act(W x + b),  x̂ = Wᵀ h + c:  one matrix W (hidden × in), used twice. Its gradient is the
    sum of the gradients of both uses, and the model has ``hidden·in + hidden + in`` parameters,
    not ``2·hidden·in + …`` (weight sharing, chapter 06; tied weights as in Vincent et al. 2010, JMLR). With
    ``activation=None`` it is linear, and at its optimum spans the principal subspace (compare
    ``course_utils.ppca``). ``output="sigmoid"`` squashes x̂ into (0, 1) for pixel data.
    """

    def __init__(self, in_dim: int = 64, hidden_dim: int = 16, activation: type[nn.Module] | None = nn.Sigmoid,
                 output: Literal["linear", "sigmoid"] = "linear"):
        super().__init__()
        if output not in ("linear", "sigmoid"):
            raise ValueError(f"output must be 'linear' or 'sigmoid'; got {output!r}")
        self.encoder = nn.Linear(_check_positive_int("in_dim", in_dim), _check_positive_int("hidden_dim", hidden_dim))
        self.decoder_bias = nn.Parameter(torch.zeros(in_dim))  # the decoder's own bias c; W is shared
        self.activation = activation() if activation is not None else nn.Identity()
        self.output = output

    def encode(self, x: Tensor) -> Tensor:
        return self.activation(self.encoder(x))  # (B, hidden_dim)

    def decode(self, h: Tensor) -> Tensor:
        # F.linear(h, A) computes h Aᵀ; with A = Wᵀ (in × hidden) that is h W, i.e. Wᵀ h per example
        x_hat = nn.functional.linear(h, self.encoder.weight.t(), self.decoder_bias)  # (B, in_dim)
        return torch.sigmoid(x_hat) if self.output == "sigmoid" else x_hat

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))  # (B, in_dim)
