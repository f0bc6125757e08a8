"""course_utils.training: reproducibility, exact resume, Ctrl-C, divergence, atomic checkpoints, and a
seeded quick ring run that must capture most modes."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch

from course_utils import training as T
from course_utils.training import (
    ClassifierConfig,
    GANConfig,
    History,
    TrainingDiverged,
    VAEConfig,
    load_checkpoint,
    train_classifier_models,
    train_gan,
    train_gan_models,
    train_vae_models,
)
from course_utils.training.steps import build_optimizer

# small models and data sets: each run takes a fraction of a second on one core
TINY = dict(hidden=32, depth=2, n_data=2_000, batch_size=64, log_every=1, eval_every=10)


def tiny_gan(loss: str = "wgan-gp", steps: int = 20, **overrides) -> GANConfig:
    return GANConfig.preset(loss, "ring", steps=steps, **{**TINY, **overrides})


def tiny_vae(steps: int = 20, **overrides) -> VAEConfig:
    return VAEConfig.preset("digits", steps=steps, **{**TINY, "batch_size": 32, **overrides})


def params(models: dict[str, torch.nn.Module]) -> dict[str, torch.Tensor]:
    return {f"{name}.{k}": v.detach().clone() for name, m in models.items() for k, v in m.state_dict().items()}


def as_json(history: History) -> str:
    """A History as text, so that NaN (reverse KL with no high-quality sample) compares equal to NaN."""
    return json.dumps(history.to_dict(), sort_keys=True)


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


# ============================================================================ configs
def test_config_defaults_are_validated() -> None:
    """Are bad settings refused at construction, naming the field?"""
    with pytest.raises(ValueError, match="loss must be one of"):
        GANConfig(loss="hinge")
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        GANConfig(steps=-1)
    with pytest.raises(ValueError, match="betas"):
        GANConfig(betas=(0.5, 1.5))
    with pytest.raises(ValueError, match="likelihood='gaussian'"):
        VAEConfig(data="ring")
    with pytest.raises(ValueError, match="conv"):
        VAEConfig.preset("moons", model="conv")


def test_configs_are_frozen_and_round_trip_through_json() -> None:
    """Does asdict → JSON → from_dict give the same config back (tuples included)?"""
    for config in (GANConfig.preset("wgan-gp", "grid", seed=3), VAEConfig.preset("moons")):
        again = type(config).from_dict(json.loads(json.dumps(asdict(config))))
        assert again == config
        with pytest.raises(AttributeError):
            config.steps = 1  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown GANConfig field"):
        GANConfig.from_dict({"learning_rate": 1.0})


def test_presets_follow_the_papers() -> None:
    """Do the presets use the published settings of each loss?"""
    wgan = GANConfig.preset("wgan")
    assert (wgan.optimizer, wgan.lr, wgan.n_critic, wgan.clip_value) == ("rmsprop", 5e-5, 5, 0.01)
    gp = GANConfig.preset("wgan-gp", "digits")
    assert (gp.lr, gp.betas, gp.n_critic, gp.gp_lambda, gp.latent_dim) == (1e-4, (0.5, 0.9), 5, 10.0, 16)
    assert GANConfig.preset("wgan-gp", "ring").gp_lambda == 0.1  # Gulrajani et al.'s toy code


# ============================================================================ reproducibility and resume
@pytest.mark.parametrize("loss", ["gan", "wgan", "wgan-gp"])
def test_same_seed_gives_the_same_numbers_twice(loss: str) -> None:
    """On the CPU, does one seed give identical losses, metrics and weights on two runs?"""
    config = tiny_gan(loss)
    h1, m1 = train_gan_models(config, device="cpu", progress=False)
    h2, m2 = train_gan_models(config, device="cpu", progress=False)
    assert as_json(h1) == as_json(h2)
    assert_same(params(m1), params(m2))
    h3, _ = train_gan_models(replace(config, seed=1), device="cpu", progress=False)
    assert h3.losses != h1.losses  # and the seed matters


@pytest.mark.parametrize("kind", ["wgan-gp", "wgan", "gan-ema", "vae", "classifier"])
def test_resume_gives_the_numbers_of_an_uninterrupted_run(kind: str, tmp_path: Path) -> None:
    """Do N steps, a checkpoint and N more give exactly what 2N steps in one go give? (N a multiple of
    eval_every: a run also evaluates at its last step, so an N-step History holds one extra row.)"""
    if kind == "gan-ema":  # the average of G's weights is saved and restored too
        config, run = tiny_gan("gan", steps=16, eval_every=4, ema=0.9), train_gan_models
    elif kind == "vae":
        config, run = tiny_vae(steps=16, eval_every=4), train_vae_models
    elif kind == "classifier":
        config, run = ClassifierConfig(steps=16, eval_every=4, log_every=1, hidden=32), train_classifier_models
    else:
        config, run = tiny_gan(kind, steps=16, eval_every=4), train_gan_models
    full_history, full_models = run(config, device="cpu", progress=False)
    run(replace(config, steps=8), device="cpu", progress=False, out_dir=tmp_path)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 8
    history, models = run(config, device="cpu", progress=False, resume=tmp_path / "checkpoint.pt")
    assert as_json(history) == as_json(full_history)
    assert_same(params(models), params(full_models))


def test_resume_refuses_a_different_config(tmp_path: Path) -> None:
    """Is a checkpoint of another config (other than steps) refused, naming what differs?"""
    train_gan(tiny_gan(steps=2), device="cpu", progress=False, out_dir=tmp_path)
    with pytest.raises(ValueError, match="lr differ"):
        train_gan(tiny_gan(steps=4, lr=1e-3), device="cpu", progress=False, resume=tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match="not 'gan'"):
        train_gan(tiny_gan("gan", steps=4), device="cpu", progress=False, resume=tmp_path / "checkpoint.pt")


def test_a_checkpoint_older_than_a_config_field_still_resumes(tmp_path: Path) -> None:
    """A checkpoint written before a field existed (its config lacks ``ema``, ``spectral_norm``) resumes when the
    run uses the field's default, and is refused when it does not."""
    import torch

    train_gan(tiny_gan(steps=2), device="cpu", progress=False, out_dir=tmp_path)
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    for name in ("ema", "spectral_norm"):
        del saved["config"][name]
    torch.save(saved, tmp_path / "old.pt")
    history = train_gan(tiny_gan(steps=4), device="cpu", progress=False, resume=tmp_path / "old.pt")
    assert history.step[-1] == 4
    with pytest.raises(ValueError, match="spectral_norm differ"):
        train_gan(tiny_gan(steps=4, spectral_norm=True), device="cpu", progress=False, resume=tmp_path / "old.pt")


def test_checkpoint_holds_config_weights_optimizers_step_and_rng(tmp_path: Path) -> None:
    """Is the checkpoint the documented dict, loadable with weights_only (no pickled code)?"""
    config = tiny_gan(steps=3)
    train_gan(config, device="cpu", progress=False, out_dir=tmp_path)
    saved = load_checkpoint(tmp_path / "checkpoint.pt")
    assert saved["config"] == asdict(config)
    assert set(saved["state_dict"]) == set(saved["optimizer"]) == {"generator", "critic"}
    assert saved["step"] == 3
    assert set(saved["rng"]) == {"torch", "cuda", "numpy", "python", "train"}
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # no temporary file left


def test_checkpoint_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Does a save that fails half-way leave the old checkpoint intact and no temporary file?"""
    path = T.save_checkpoint(tmp_path / "checkpoint.pt", {"step": 1})
    before = path.read_bytes()

    def broken_save(obj, fh) -> None:
        fh.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        T.save_checkpoint(path, {"step": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]


# ============================================================================ callbacks, Ctrl-C, divergence
def test_callback_runs_every_n_steps_with_history_and_models() -> None:
    """Is the callback called every callback_every steps and after the last, with the models?"""
    calls = []

    def callback(step: int, history: History, models: dict) -> None:
        assert history.step[-1] == step
        assert set(models) == {"generator", "critic"}
        calls.append(step)

    train_gan(tiny_gan(steps=10), device="cpu", progress=False, callback=callback, callback_every=4)
    assert calls == [4, 8, 10]


def test_ctrl_c_saves_a_checkpoint_and_returns_the_history(tmp_path: Path) -> None:
    """Does a KeyboardInterrupt in the loop save the step reached and return the History so far,
    from which a resume finishes with the numbers of an uninterrupted run?"""
    config = tiny_gan(steps=12)

    def interrupt(step: int, history: History, models: dict) -> None:
        if step == 6:
            raise KeyboardInterrupt

    history = train_gan(config, device="cpu", progress=False, out_dir=tmp_path, callback=interrupt, callback_every=1)
    assert history.interrupted and history.step[-1] == 6
    assert load_checkpoint(tmp_path / "checkpoint.pt")["step"] == 6
    resumed = train_gan(config, device="cpu", progress=False, resume=tmp_path / "checkpoint.pt")
    assert as_json(resumed) == as_json(train_gan(config, device="cpu", progress=False))


def test_nan_loss_raises_training_diverged_naming_step_loss_and_cause() -> None:
    """Does a NaN loss stop training with a RuntimeError that says where, which loss and what to try?"""
    data = torch.full((100, 2), math.nan)
    with pytest.raises(TrainingDiverged, match=r"loss_d is nan at step 1 \(wgan\).*lower lr") as info:
        train_gan(tiny_gan("wgan", steps=5), data, device="cpu", progress=False)
    assert isinstance(info.value, RuntimeError)


def test_progress_bar_can_be_turned_off(capsys: pytest.CaptureFixture[str]) -> None:
    """Is progress=False silent, and progress=True a tqdm bar on stderr?"""
    train_gan(tiny_gan(steps=3), device="cpu", progress=False)
    assert capsys.readouterr().err == ""
    train_gan(tiny_gan(steps=3), device="cpu", progress=True)
    assert "3/3" in capsys.readouterr().err


def test_history_records_losses_and_mode_coverage() -> None:
    """Does the History hold each loss per logged step, mode coverage per evaluation, and serialise to JSON?"""
    history = train_gan(tiny_gan("wgan-gp", steps=20, log_every=5), device="cpu", progress=False)
    assert history.step == [5, 10, 15, 20]
    assert set(history.losses) == {"loss_d", "loss_g", "wasserstein", "gp"}
    assert history.metric_step == [10, 20]
    assert set(history.metrics) == {"modes", "high_quality", "reverse_kl"}
    assert json.loads(json.dumps(history.to_dict()))["step"] == history.step


# ============================================================================ quality
def test_quick_ring_run_captures_most_modes() -> None:
    """Does the default config (non-saturating GAN, 3,000 steps, seed 0) capture >= 7 of the ring's
    8 modes with a fair share of high-quality samples, on a CPU core in about 15 s?

    Measured: seeds 0-3 all capture 8/8 modes with 50-72% high-quality samples and reverse KL <= 0.15.
    """
    history = train_gan(GANConfig(), device="cpu", progress=False)
    assert history.metric_step[-1] == 3_000
    assert history.last("modes") >= 7
    assert history.last("high_quality") >= 0.25
    assert history.last("reverse_kl") < 0.5


def test_vae_held_out_elbo_improves_on_digits() -> None:
    """Does a short VAE run on digits raise the held-out ELBO well above its starting value?"""
    history, _ = train_vae_models(tiny_vae(steps=200, hidden=64, eval_every=100, log_every=50),
                                  device="cpu", progress=False)
    first, last = history.metrics["test_elbo"][0], history.metrics["test_elbo"][-1]
    assert history.metric_step == [100, 200]
    assert last > first
    assert last > -40  # nats per 8x8 image; an untrained decoder scores about -44


def test_vae_beta_trades_rate_for_distortion_and_logs_the_true_elbo() -> None:
    """Does a larger β give a smaller KL (rate) on the same data and seed, and does the logged neg_elbo stay the
    true −ELBO (the KL plus the distortion) whatever β is?"""
    runs = {beta: train_vae_models(tiny_vae(steps=150, hidden=32, beta=beta), device="cpu", progress=False)
            for beta in (0.5, 4.0)}
    rates = {beta: history.last("kl") for beta, (history, _) in runs.items()}
    assert rates[4.0] < 0.6 * rates[0.5], rates
    history, models = runs[4.0]
    assert history.last("neg_elbo") > history.last("kl")  # −ELBO = distortion (> 0 for pixels) + KL


@pytest.mark.parametrize(("field", "value"), [("beta", 0.0), ("beta", -1.0), ("free_bits", -0.5), ("beta", "1")])
def test_vae_config_refuses_bad_beta_and_free_bits(field: str, value) -> None:
    with pytest.raises(ValueError, match=field):
        VAEConfig(**{field: value})


def test_classifier_reaches_high_accuracy_on_digits() -> None:
    """Does a short MLP classifier run classify over 90% of the held-out digits (chance: 10%)?

    Measured: 96% after 1,000 steps (the default), 95% after 300.
    """
    history, models = train_classifier_models(ClassifierConfig(steps=300, eval_every=150), device="cpu",
                                              progress=False)
    assert history.metric_step == [150, 300]
    assert history.last("test_accuracy") > 0.9
    assert history.last("cross_entropy") < 0.3


# ============================================================================ PacGAN packing, lr decay (the "best" GAN)
def test_packed_discriminator_scores_packs_of_consecutive_samples() -> None:
    """Does a pack-m discriminator give one score per m samples, namely the inner D's score of the m
    points laid side by side, and refuse a batch that is not a multiple of m?"""
    from course_utils.models import MLPDiscriminator, PackedDiscriminator

    torch.manual_seed(0)
    inner = MLPDiscriminator(data_dim=2 * 4, hidden=16, depth=2)
    packed = PackedDiscriminator(inner, pack=4)
    x = torch.randn(12, 2)  # 3 packs of 4 points
    scores = packed(x)
    assert scores.shape == (3,)
    by_hand = torch.stack([inner(x[4 * i:4 * i + 4].reshape(1, 8))[0] for i in range(3)])  # (x1, y1, ..., x4, y4)
    torch.testing.assert_close(scores, by_hand)
    with pytest.raises(ValueError, match="multiple of pack=4"):
        packed(torch.randn(10, 2))
    generator, critic = T.build_gan(GANConfig(pack=2, hidden=16, depth=1), data_dim=2)
    assert isinstance(critic, PackedDiscriminator) and critic(generator(torch.randn(6, 2))).shape == (3,)


def test_lr_multiplier_is_a_linear_decay_to_zero_over_the_last_steps() -> None:
    """Is the factor 1, then min(1, (T - k) / d) over the last d = lr_decay·T updates, and do the
    critic's and the generator's optimizers follow it step by step?"""
    config = GANConfig(steps=10, lr_decay=0.4)  # d = 4: factors 1 (k = 0..6), 3/4, 2/4, 1/4
    assert [T.lr_multiplier(config, k) for k in range(10)] == [1.0] * 7 + [0.75, 0.5, 0.25]
    assert [T.lr_multiplier(replace(config, lr_decay=0.0), k) for k in range(10)] == [1.0] * 10
    assert T.lr_multiplier(replace(config, lr_decay=1.0), 0) == 1.0  # decays from the first step: 10/10
    config = tiny_gan("gan", steps=10, lr_decay=0.4, n_critic=2, lr=1e-3)
    generator, critic = T.build_gan(config, 2)
    opt_g, opt_d = build_optimizer(config, generator.parameters()), build_optimizer(config, critic.parameters())
    rng = torch.Generator().manual_seed(0)
    for k in range(10):
        for _ in range(2):
            T.gan_critic_step(generator, critic, opt_d, torch.randn(64, 2, generator=rng), config, rng)
            assert opt_d.param_groups[0]["lr"] == pytest.approx(1e-3 * T.lr_multiplier(config, k))
        T.gan_generator_step(generator, critic, opt_g, 64, config, rng)
        assert opt_g.param_groups[0]["lr"] == pytest.approx(1e-3 * T.lr_multiplier(config, k))


def test_new_gan_fields_are_validated() -> None:
    """Are bad pack and lr_decay values refused with a message naming the field?"""
    with pytest.raises(ValueError, match="pack must be an int >= 1"):
        GANConfig(pack=0)
    with pytest.raises(ValueError, match="batch_size must be a multiple of pack"):
        GANConfig(pack=3, batch_size=256)
    for bad in (-0.1, 1.5, float("nan"), True, "0.5"):
        with pytest.raises(ValueError, match=r"lr_decay must be a number in \[0, 1\]"):
            GANConfig(lr_decay=bad)
    with pytest.raises(ValueError, match="pack > 1"):
        T.build_gan(GANConfig(data="digits", pack=2), data_dim=64)


class _Line(torch.nn.Module):
    """G(z) = (z, 0): a generator whose samples are N(0, 1) along the x axis."""

    latent_dim = 1

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(1, 2)
        with torch.no_grad():
            self.linear.weight.copy_(torch.tensor([[1.0], [0.0]]))
            self.linear.bias.zero_()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)  # (B, 2)


class _Window(torch.nn.Module):
    """A discriminator sure that every point with |x| > 1 is fake (logit -20) and unsure elsewhere (0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.where(x[:, 0].abs() > 1, -20.0, 0.0)  # (B,)


def test_rejection_sampling_drops_what_the_discriminator_calls_fake() -> None:
    """Does DRS (Azadi et al. 2019) keep n samples, none where D is sure they are fake, where plain
    sampling puts P(|z| > 1) = 31.7% of them, and is it reproducible with one seed?"""
    generator, critic = _Line(), _Window()
    plain = T.generate(generator, 4_000, rng=torch.Generator().manual_seed(0))
    assert 0.29 < float((plain[:, 0].abs() > 1).float().mean()) < 0.34
    kept = T.generate(generator, 4_000, rng=torch.Generator().manual_seed(0), critic=critic, drs_quantile=0.5)
    assert kept.shape == (4_000, 2)
    assert float((kept[:, 0].abs() > 1).float().mean()) < 1e-3  # σ(-20 - 13.8) ≈ 2e-15 per such point
    assert kept[:, 0].abs().max() <= 1 + 1e-6
    again = T.generate(generator, 4_000, rng=torch.Generator().manual_seed(0), critic=critic, drs_quantile=0.5)
    assert torch.equal(kept, again)
    with pytest.raises(ValueError, match=r"drs_quantile must be a number in \[0, 1\)"):
        T.generate(generator, 10, critic=critic, drs_quantile=1.0)


def test_drs_quantile_is_validated() -> None:
    """Are a bad drs_quantile, or DRS with a WGAN critic or a packed D, refused?"""
    for bad in (-0.1, 1.0, True, "0.5"):
        with pytest.raises(ValueError, match="drs_quantile must be None"):
            GANConfig(drs_quantile=bad)
    with pytest.raises(ValueError, match="needs a GAN discriminator"):
        GANConfig(loss="wgan-gp", drs_quantile=0.5)
    with pytest.raises(ValueError, match="pack=1"):
        GANConfig(pack=2, drs_quantile=0.5)


def test_best_preset_is_a_tuned_nonsaturating_gan() -> None:
    """Is preset("best") the non-saturating GAN with a larger lr decayed to 0, batch 512 and rejection
    sampling, while the "gan" and "wgan-gp" presets keep their published settings?"""
    best = GANConfig.preset("best", "grid")
    assert (best.loss, best.lr, best.lr_decay, best.batch_size, best.steps, best.drs_quantile, best.pack,
            best.ema) == ("gan", 1e-3, 0.15, 512, 6_000, 0.2, 1, 0.0)
    assert (GANConfig.preset("best", "ring").steps, GANConfig.preset("best", "ring").lr) == (4_000, 1e-3)
    # Adam's second moment over ~200 steps (β2 = 0.995) on the grid; Adam's 0.999 elsewhere
    assert (best.betas, GANConfig.preset("best", "ring").betas) == ((0.5, 0.995), (0.5, 0.999))
    assert GANConfig.preset("best", "ring", steps=10, drs_quantile=None).drs_quantile is None  # overrides win
    plain = GANConfig.preset("gan", "grid")
    assert (plain.lr, plain.lr_decay, plain.drs_quantile, plain.batch_size) == (2e-4, 0.0, None, 256)
    assert GANConfig.preset("wgan-gp", "grid").lr_decay == 0.0
    with pytest.raises(ValueError, match="tuned for 2-D data"):
        GANConfig.preset("best", "digits")
    with pytest.raises(ValueError, match="loss must be one of"):
        GANConfig.preset("pacgan")


def test_r1_penalty_is_half_gamma_times_the_mean_squared_gradient_at_real_data() -> None:
    """Is R1 (Mescheder et al. 2018, eq. 9) (γ/2)·mean ‖∇D(x)‖², with a gradient that reaches D?"""
    from course_utils import losses

    weight = torch.nn.Parameter(torch.tensor(1.5))
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    scores = weight * (real ** 2).sum(1)  # D(x) = w‖x‖², ∇D = 2w x
    penalty = losses.r1_penalty(scores, real, gamma=0.5)
    expected = 0.5 / 2 * (4 * 1.5 ** 2 * (real.detach() ** 2).sum(1)).mean()
    assert float(penalty.detach()) == pytest.approx(float(expected))
    penalty.backward()
    assert weight.grad is not None and float(weight.grad) == pytest.approx(2 * float(expected) / 1.5)


def test_r1_fields_are_validated() -> None:
    """Are bad r1_gamma / r1_every / r1_until values, and R1 on a WGAN critic, refused?"""
    with pytest.raises(ValueError, match="r1_gamma"):
        GANConfig(r1_gamma=-0.1)
    with pytest.raises(ValueError, match="r1_every must be an int >= 1"):
        GANConfig(r1_every=0)
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match=r"r1_until must be a number in \[0, 1\]"):
            GANConfig(r1_until=bad)
    with pytest.raises(ValueError, match="r1_gamma is a penalty on a GAN discriminator"):
        GANConfig(loss="wgan-gp", r1_gamma=0.1)


def test_lazy_r1_runs_on_every_kth_critic_update_of_the_first_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """With r1_every=2 and r1_until=0.5 over 8 steps, is R1 added on critic updates 0 and 2 only, with
    γ scaled by 2 (StyleGAN2's lazy regularisation), and does the best preset use it?"""
    from course_utils import losses

    calls: list[float] = []
    real_penalty = losses.r1_penalty

    def spy(scores, real, *, gamma):
        calls.append(gamma)
        return real_penalty(scores, real, gamma=gamma)

    monkeypatch.setattr(losses, "r1_penalty", spy)
    config = tiny_gan("gan", steps=8, r1_gamma=0.1, r1_every=2, r1_until=0.5)
    history, _ = train_gan_models(config, device="cpu", progress=False)
    assert calls == [pytest.approx(0.2)] * 2
    assert all(math.isfinite(v) for v in history.losses["loss_d"])
    calls.clear()
    train_gan_models(replace(config, r1_gamma=0.0), device="cpu", progress=False)
    assert calls == []
    grid, ring = GANConfig.preset("best", "grid"), GANConfig.preset("best", "ring")
    assert (grid.r1_gamma, grid.r1_every, grid.r1_until) == (ring.r1_gamma, ring.r1_every, ring.r1_until) == \
        (0.1, 4, 0.5)


# ============================================================================ the moving average of G's weights
def test_ema_is_the_closed_form_average_of_the_generators_iterates_and_is_what_samples() -> None:
    """With ema = β, is models["generator"] β^T θ_0 + Σ_t (1 − β) β^(T−t) θ_t over the trained generator's
    iterates θ_t (models["raw_generator"]), is the training itself untouched (the losses and the trained
    weights of ema=0), and does the average draw the samples?"""
    beta, steps = 0.8, 6
    config = tiny_gan("gan", steps=steps, ema=beta, eval_every=steps)
    iterates = [params({"g": train_gan_models(replace(config, steps=0), device="cpu", progress=False)[1]
                        ["raw_generator"]})]  # θ_0

    def record(step, history, models) -> None:
        iterates.append(params({"g": models["raw_generator"]}))

    history, models = train_gan_models(config, device="cpu", progress=False, callback=record, callback_every=1)
    assert set(models) == {"generator", "critic", "raw_generator"} and len(iterates) == steps + 1
    expected = {key: beta ** steps * iterates[0][key] + sum((1 - beta) * beta ** (steps - t) * iterates[t][key]
                                                            for t in range(1, steps + 1)) for key in iterates[0]}
    got = params({"g": models["generator"]})
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert not torch.equal(got["g.net.0.weight"], iterates[-1]["g.net.0.weight"])
    plain_history, plain = train_gan_models(replace(config, ema=0.0), device="cpu", progress=False)
    assert set(plain) == {"generator", "critic"}  # ema=0: no average, the trained G samples (as before)
    assert_same(params({"g": plain["generator"]}), params({"g": models["raw_generator"]}))
    assert_same(params({"d": plain["critic"]}), params({"d": models["critic"]}))
    assert history.losses == plain_history.losses
    rng = torch.Generator().manual_seed(1)
    sampled = T.sample_gan(models, config, 100, rng=rng)  # what the History, course train and bench score
    assert torch.equal(sampled, T.generate(models["generator"], 100, rng=rng.manual_seed(1)))
    assert not torch.equal(sampled, T.generate(models["raw_generator"], 100, rng=rng.manual_seed(1)))


def test_a_session_with_ema_advanced_in_chunks_ends_where_train_gan_ends() -> None:
    config = tiny_gan("gan", steps=12, ema=0.9, eval_every=4)
    history, models = train_gan_models(config, device="cpu", progress=False)
    session = T.Session(config, device="cpu")
    while not session.finished:
        session.advance(5)
    assert as_json(session.history) == as_json(history)
    assert_same(params(session.models), params(models))


def test_ema_is_validated() -> None:
    for bad in (-0.1, 1.0, 1.5, float("nan"), True, "0.9", None):
        with pytest.raises(ValueError, match=r"ema must be a number in \[0, 1\): the decay of G's weight average"):
            GANConfig(ema=bad)
    assert GANConfig().ema == 0.0 and GANConfig(ema=0.999).ema == 0.999


def test_a_misspelt_option_is_named_with_the_options_there_are() -> None:
    """Does train_gan(..., calback=f) say which keyword is wrong and list the real ones, before any training?"""
    with pytest.raises(TypeError, match=r"train_gan_models\(\) got unexpected keyword argument\(s\) 'calback'; "
                                        r"its options are device, callback, callback_every, resume, out_dir, progress"):
        train_gan(GANConfig(steps=1), calback=print)
