"""course_utils.models: shapes, spectral norm, batch independence, the reparameterisation trick, tied weights."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from course_utils.models import (
    MLPVAE,
    VAE,
    ConvDiscriminator,
    ConvGenerator,
    ConvVAE,
    MLPCritic,
    MLPDiscriminator,
    MLPGenerator,
    TiedAutoencoder,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def linear_layers(module: nn.Module) -> list[nn.Linear]:
    return [m for m in module.modules() if isinstance(m, nn.Linear)]


# --------------------------------------------------------------------------- 2-D GANs
@pytest.mark.parametrize("hidden, depth", [(16, 0), (32, 1), (64, 3)])
def test_mlp_generator_and_discriminator_shapes_width_and_depth(hidden, depth):
    """Do G map (B, latent) → (B, 2) and D map (B, 2) → (B,), with depth hidden layers of the given width?"""
    g, d = MLPGenerator(latent_dim=3, hidden=hidden, depth=depth), MLPDiscriminator(hidden=hidden, depth=depth)
    assert g(torch.randn(7, 3)).shape == (7, 2)
    assert d(torch.randn(7, 2)).shape == (7,)
    for net in (g, d):
        layers = linear_layers(net)
        assert len(layers) == depth + 1
        assert all(layer.out_features == hidden for layer in layers[:-1])
    assert MLPCritic is MLPDiscriminator


def largest_singular_value(weight: torch.Tensor) -> float:
    return float(torch.linalg.matrix_norm(weight.detach().flatten(1), ord=2))


@pytest.mark.parametrize(
    "make",
    [lambda sn: MLPDiscriminator(hidden=32, depth=2, spectral_norm=sn),
     lambda sn: ConvDiscriminator(image_size=8, width=8, spectral_norm=sn)],
    ids=["mlp", "conv"],
)
def test_spectral_norm_makes_every_weight_have_unit_largest_singular_value(make):
    """With spectral_norm=True, after some training-mode passes (power iterations), is σ_max(W) ≈ 1 for
    every layer, using torch's parametrization; and is it not so without it?"""
    sn, plain = make(True), make(False)
    x = torch.randn(16, 2) if isinstance(sn, MLPDiscriminator) else torch.rand(16, 64)
    sn.train()
    for _ in range(30):
        sn(x)
    layers = [m for m in sn.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
    for layer in layers:
        assert largest_singular_value(layer.weight) == pytest.approx(1.0, abs=1e-2)
    plain_values = [largest_singular_value(m.weight) for m in plain.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert not all(abs(v - 1) < 1e-2 for v in plain_values)


@pytest.mark.parametrize("image_size", [8, 28])
def test_conv_gan_shapes_and_pixel_range(image_size):
    """Does the conv G make (B, 1, S, S) images in (0, 1) and D score them (and their flat form) as (B,)?"""
    g = ConvGenerator(latent_dim=5, image_size=image_size, width=8)
    d = ConvDiscriminator(image_size=image_size, width=8).eval()
    images = g(torch.randn(6, 5)).detach()
    assert images.shape == (6, 1, image_size, image_size)
    assert float(images.min()) > 0 and float(images.max()) < 1
    scores = d(images)
    assert scores.shape == (6,)
    assert torch.equal(scores, d(images.flatten(1)))


def test_conv_modules_refuse_image_sizes_they_cannot_build():
    """Is an image size that is not a multiple of 4, or a wrongly shaped input, refused with ValueError?"""
    with pytest.raises(ValueError, match="multiple of 4"):
        ConvGenerator(image_size=10)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 64\)"):
        ConvDiscriminator(image_size=8)(torch.rand(2, 1, 28, 28))


@pytest.mark.parametrize(
    "critic, shape",
    [(MLPDiscriminator(hidden=16, depth=2), (5, 2)), (ConvDiscriminator(image_size=8, width=4), (5, 64))],
    ids=["mlp", "conv"],
)
def test_critic_scores_do_not_depend_on_the_rest_of_the_batch(critic, shape):
    """Is each example's score the same alone as in a batch (no batch norm), as the per-example gradient
    penalty requires — in training mode too?"""
    critic.train()
    x = torch.rand(shape)
    batch = critic(x)
    alone = torch.cat([critic(x[i : i + 1]) for i in range(len(x))])
    torch.testing.assert_close(batch, alone)


# --------------------------------------------------------------------------- VAEs
@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize(
    "make, x_shape, out_shape",
    [(lambda lik: MLPVAE(data_dim=64, latent_dim=3, hidden=16, likelihood=lik), (5, 64), (5, 64)),
     (lambda lik: ConvVAE(image_size=8, latent_dim=3, width=4, likelihood=lik), (5, 64), (5, 1, 8, 8)),
     (lambda lik: ConvVAE(image_size=28, latent_dim=3, width=4, likelihood=lik), (5, 1, 28, 28), (5, 1, 28, 28))],
    ids=["mlp", "conv8", "conv28"],
)
def test_vae_shapes(make, x_shape, out_shape, likelihood):
    """Do encode, decode, forward and sample return the shapes the ELBO needs?"""
    model = make(likelihood)
    x = torch.rand(x_shape)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (5, 3)
    assert model.decode(mu).shape == out_shape
    recon, mu2, logvar2 = model(x)
    assert recon.shape == out_shape and mu2.shape == (5, 3) and logvar2.shape == (5, 3)
    assert model.likelihood == likelihood
    samples = model.sample(4)
    assert samples.shape == (4, *out_shape[1:])
    if likelihood == "bernoulli":  # probabilities, not logits
        assert float(samples.min()) >= 0 and float(samples.max()) <= 1


def test_reparameterisation_is_mu_plus_sigma_eps_and_differentiable():
    """Is z = μ + exp(logvar/2)·ε with the generator's ε, with ∂z/∂μ = 1 and ∂z/∂logvar = σε/2?"""
    mu = torch.tensor([[0.5, -1.0, 2.0]], requires_grad=True)
    logvar = torch.tensor([[0.0, math.log(4.0), -2.0]], requires_grad=True)
    z = VAE.reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    eps = torch.randn(1, 3, generator=torch.Generator().manual_seed(3))
    sigma = torch.exp(0.5 * logvar.detach())
    torch.testing.assert_close(z.detach(), mu.detach() + sigma * eps)
    z.sum().backward()
    torch.testing.assert_close(mu.grad, torch.ones_like(mu))
    torch.testing.assert_close(logvar.grad, 0.5 * sigma * eps)


def test_vae_forward_is_seeded_and_samples_even_in_eval_mode():
    """Does a seeded generator make forward reproducible, and does eval mode still draw z (not z = μ)?"""
    model = MLPVAE(data_dim=8, latent_dim=2, hidden=8).eval()
    x = torch.rand(4, 8)
    a = model(x, generator=torch.Generator().manual_seed(1))[0]
    b = model(x, generator=torch.Generator().manual_seed(1))[0]
    assert torch.equal(a, b)
    mu, _ = model.encode(x)
    assert not torch.allclose(a, model.decode(mu))


def test_vae_observation_variance_is_a_buffer():
    """Is obs_logvar = 2·log(obs_std), saved in the state_dict, and not a trained parameter?"""
    model = MLPVAE(data_dim=8, latent_dim=2, hidden=8, likelihood="gaussian", obs_std=0.3)
    assert float(model.obs_logvar) == pytest.approx(2 * math.log(0.3))
    assert "obs_logvar" in model.state_dict()
    assert all(p is not model.obs_logvar for p in model.parameters())


@pytest.mark.parametrize("kwargs, message", [({"likelihood": "poisson"}, "likelihood must be"),
                                             ({"obs_std": 0.0}, "obs_std must be a positive number")])
def test_vae_refuses_unknown_likelihoods_and_bad_std(kwargs, message):
    """Are an unknown likelihood and a non-positive observation std refused with ValueError?"""
    with pytest.raises(ValueError, match=message):
        MLPVAE(data_dim=8, latent_dim=2, hidden=8, **kwargs)


# --------------------------------------------------------------------------- tied autoencoder
def test_tied_autoencoder_has_one_weight_matrix():
    """Does the tied autoencoder have in·h + h + in parameters (one W, two biases), half an untied one's W?"""
    model = TiedAutoencoder(in_dim=64, hidden_dim=16)
    assert sum(p.numel() for p in model.parameters()) == 64 * 16 + 16 + 64
    assert model(torch.rand(3, 64)).shape == (3, 64)


def test_tied_decoder_uses_the_encoder_weight_transposed():
    """Is the reconstruction Wᵀ act(W x + b) + c, and does changing W change the decoder too?"""
    model = TiedAutoencoder(in_dim=6, hidden_dim=3, activation=nn.Tanh)
    with torch.no_grad():
        model.decoder_bias.copy_(torch.linspace(-1, 1, 6))
    x = torch.randn(4, 6)
    w, b, c = model.encoder.weight, model.encoder.bias, model.decoder_bias
    torch.testing.assert_close(model(x), torch.tanh(x @ w.T + b) @ w + c)
    h = torch.ones(1, 3)
    before = model.decode(h).detach()
    with torch.no_grad():
        model.encoder.weight.mul_(2)  # only the encoder's weight is touched
    torch.testing.assert_close(model.decode(h).detach() - c.detach(), 2 * (before - c.detach()))


def test_tied_weight_gradient_is_the_sum_of_both_uses():
    """Is ∂L/∂W of the tied model the encoder gradient plus the transposed decoder gradient of an
    untied copy that starts with the same W (weight sharing sums the gradients of every use)?"""
    tied = TiedAutoencoder(in_dim=5, hidden_dim=3, activation=nn.Sigmoid, output="sigmoid")
    w_enc = tied.encoder.weight.detach().clone().requires_grad_(True)
    w_dec = tied.encoder.weight.detach().clone().T.contiguous().requires_grad_(True)  # (in, hidden)
    x = torch.rand(8, 5)

    tied_loss = ((tied(x) - x) ** 2).sum()
    tied_loss.backward()

    h = torch.sigmoid(x @ w_enc.T + tied.encoder.bias.detach())
    untied = torch.sigmoid(h @ w_dec.T + tied.decoder_bias.detach())
    untied_loss = ((untied - x) ** 2).sum()
    untied_loss.backward()

    torch.testing.assert_close(tied_loss.detach(), untied_loss.detach())
    torch.testing.assert_close(tied.encoder.weight.grad, w_enc.grad + w_dec.grad.T)
