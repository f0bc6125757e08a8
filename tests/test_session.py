"""training.Session (a run advanced step by step), the uniform latent noise and the least-squares GAN."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from course_utils import losses
from course_utils.training import (
    GANConfig,
    Session,
    VAEConfig,
    latent_noise,
    sample_gan,
    train_gan,
    train_gan_models,
    train_vae,
)


def small(loss: str = "gan", **overrides) -> GANConfig:
    return GANConfig.preset(loss, "ring", **({"steps": 60, "batch_size": 64, "log_every": 10, "eval_every": 30,
                                                "hidden": 32} | overrides))


@pytest.mark.parametrize("chunks", [1, 7, 60])
def test_a_session_advanced_in_any_chunks_ends_where_train_gan_ends(chunks: int) -> None:
    """Advanced 1, 7 or 60 steps at a time, does a session log the History and end with the weights of train_gan?"""
    config = small()
    history, models = train_gan_models(config, device="cpu", progress=False)
    session = Session(config, device="cpu")
    while not session.finished:
        session.advance(chunks)
    assert session.step == 60 and session.history.to_dict() == history.to_dict()
    for name in models:
        for a, b in zip(models[name].parameters(), session.models[name].parameters(), strict=True):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_a_session_never_trains_past_its_steps_and_counts_what_it_took() -> None:
    session = Session(small(steps=5), device="cpu")
    assert session.advance(3) == 3 and session.advance(10) == 2 and session.advance(1) == 0
    assert session.finished and session.step == 5
    with pytest.raises(ValueError, match="n must be an int >= 0"):
        session.advance(-1)


def test_a_saved_session_resumes_as_if_never_stopped(tmp_path: Path) -> None:
    """Saved at step 30 and resumed in a new session, are the losses of steps 31-60 those of an unbroken run?"""
    config = small()
    unbroken = train_gan(config, device="cpu", progress=False)
    first = Session(config, device="cpu")
    first.advance(30)
    path = first.save(tmp_path / "run")
    assert path.name == "checkpoint.pt" and path.is_file()
    second = Session(config, device="cpu", resume=path)
    assert second.step == 30
    second.advance(30)
    assert json.dumps(second.history.to_dict()) == json.dumps(unbroken.to_dict())  # NaN != NaN in a dict compare


def test_a_session_trains_a_vae_too_and_refuses_other_configs() -> None:
    config = VAEConfig.preset("moons", steps=20, log_every=5, eval_every=10)
    session = Session(config, device="cpu")
    session.advance(20)
    assert session.history.to_dict() == train_vae(config, device="cpu", progress=False).to_dict()
    with pytest.raises(TypeError, match="config must be a GANConfig, VAEConfig or ClassifierConfig; got dict"):
        Session({"steps": 3})


def test_uniform_noise_lies_in_the_cube_and_gaussian_noise_is_standard() -> None:
    rng = torch.Generator().manual_seed(0)
    uniform = latent_noise(20_000, 3, "uniform", rng=rng)
    assert uniform.shape == (20_000, 3) and uniform.min() >= -1 and uniform.max() <= 1
    assert uniform.var(dim=0) == pytest.approx(torch.full((3,), 1 / 3), abs=0.01)  # Var U(-1, 1) = 1/3
    gaussian = latent_noise(20_000, 3, "gaussian", rng=rng)
    assert gaussian.mean(dim=0).abs().max() < 0.03 and gaussian.std(dim=0) == pytest.approx(torch.ones(3), abs=0.02)
    with pytest.raises(ValueError, match="noise must be 'gaussian' or 'uniform'; got 'cauchy'"):
        latent_noise(3, 2, "cauchy")
    with pytest.raises(ValueError, match="noise must be one of 'gaussian', 'uniform'; got 'normal'"):
        GANConfig(noise="normal")


def test_a_uniform_noise_gan_samples_from_the_cube() -> None:
    """Does a uniform-noise GAN draw z from U(-1, 1)^d when it samples (not N(0, I))?"""
    config = small(steps=2, noise="uniform")
    _, models = train_gan_models(config, device="cpu", progress=False)
    seen = []
    hook = models["generator"].register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    sample_gan(models, config, 500, rng=torch.Generator().manual_seed(1))
    hook.remove()
    assert seen and seen[0].abs().max() <= 1 and seen[0].abs().max() > 0.9


def test_lsgan_losses_are_the_least_squares_of_mao_et_al() -> None:
    """D: ½E[(D(x) − 1)²] + ½E[D(G(z))²]; G: ½E[(D(G(z)) − 1)²]; zero exactly at their targets."""
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([0.0, -2.0])
    assert losses.lsgan_discriminator_loss(real, fake).item() == pytest.approx(0.5 * 2.0 + 0.5 * 2.0)
    assert losses.lsgan_generator_loss(fake).item() == pytest.approx(0.5 * (1 + 9) / 2)
    assert losses.lsgan_discriminator_loss(torch.ones(4), torch.zeros(4)).item() == 0
    assert losses.lsgan_generator_loss(torch.ones(4)).item() == 0


def test_a_least_squares_gan_learns_the_ring() -> None:
    """Does the "lsgan" loss train (most of the ring's modes in 1,500 steps of a small model)?"""
    config = GANConfig.preset("lsgan", "ring", steps=1_500, eval_every=1_500)
    history = train_gan(config, device="cpu", progress=False)
    assert history.last("modes") >= 6, history.metrics


def test_lsgan_refuses_rejection_sampling_and_r1() -> None:
    with pytest.raises(ValueError, match="drs_quantile needs a GAN discriminator"):
        GANConfig(loss="lsgan", drs_quantile=0.2)
    with pytest.raises(ValueError, match="r1_gamma is a penalty on a GAN discriminator"):
        GANConfig(loss="lsgan", r1_gamma=0.1)
    assert replace(small("lsgan"), steps=1).loss == "lsgan"


def test_points_need_their_data() -> None:
    """data="points" names points you pass: without them, does the run say so?"""
    with pytest.raises(ValueError, match=r"data='points' trains on points you give: pass them as data="):
        Session(GANConfig(data="points"), device="cpu")
    session = Session(GANConfig(data="points", steps=3, batch_size=4), data=torch.rand(10, 2), device="cpu")
    assert session.advance(3) == 3
