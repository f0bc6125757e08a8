"""Training loops over frozen, typed configs: :func:`train_gan` (GAN, WGAN, WGAN-GP), :func:`train_vae`
and :func:`train_classifier`.

Each loop returns a :class:`History` (losses every ``log_every`` steps, metrics every ``eval_every``)
and shares the same machinery:

- the device is decided in one place, :func:`course_utils.device.get_device`; the training set is
  moved there once and batches are drawn there, so no step copies data from the CPU;
- one ``seed`` makes a run reproducible: on the CPU the same config gives the same numbers twice;
- a ``tqdm.auto`` progress bar (``progress=False`` turns it off);
- ``callback(step, history, models)`` every ``callback_every`` steps, for live plots;
- ``out_dir``: a checkpoint ``out_dir/checkpoint.pt`` at the end, written atomically (a temporary
  file in the same folder, then ``os.replace``), holding the config, the weights, the optimizers,
  the step, every random state and the history; ``resume=path`` continues from it and gives the
  same numbers as a run that was never interrupted;
- Ctrl-C (``KeyboardInterrupt``) inside the loop saves a checkpoint (when ``out_dir`` is given) and
  returns the History so far, with ``history.interrupted = True``;
- a loss that is NaN or infinite raises :class:`TrainingDiverged`, naming the step, the loss and
  a likely cause;
- on CUDA, image models run their forward passes under bf16 autocast (``amp=True``); bf16 keeps
  fp32's exponent range, so no GradScaler is needed. The gradient penalty (a double backward) and
  the 2-D toy models always run in fp32.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from course_utils import losses
from course_utils._io import atomic_write
from course_utils.data import load_digits, make_grid, make_moons_data, make_ring, make_swiss_roll_2d
from course_utils.device import get_device, seed_everything
from course_utils.distributions import grid_centers, ring_centers
from course_utils.metrics import held_out_elbo, mode_coverage
from course_utils.models import (
    MLPVAE,
    ConvDiscriminator,
    ConvGenerator,
    ConvVAE,
    MLPDiscriminator,
    MLPGenerator,
    PackedDiscriminator,
    mlp,
)
from course_utils.training import distributed

Tensor = torch.Tensor
GANLoss = Literal["gan", "minimax", "wgan", "wgan-gp"]
DataName = Literal["ring", "grid", "moons", "swiss_roll", "digits"]
GAN_LOSSES = ("gan", "minimax", "wgan", "wgan-gp")
GAN_PRESETS = GAN_LOSSES + ("best",)  # "best": the course's best 2-D configuration (a tuned non-saturating GAN)
DATA_NAMES = ("ring", "grid", "moons", "swiss_roll", "digits")
TOY_DATA = ("ring", "grid", "moons", "swiss_roll")
MODE_DATA = {"ring": (ring_centers, 0.01), "grid": (grid_centers, 0.05)}  # centres and σ of the protocol
COVERAGE_SAMPLES = 2_500  # generator samples per mode-coverage evaluation (PacGAN / VEEGAN protocol)
CHECKPOINT_NAME = "checkpoint.pt"


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message names the step, the loss and a likely cause.

    Losses are checked at each History row (every ``log_every`` steps and the last), where they are
    read anyway: checking every step would add a host sync per step on a GPU. A NaN propagates into
    the weights, so it is caught at most ``log_every - 1`` steps late.
    """


# ============================================================================ configs
def _check_int(name: str, value: Any, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number; got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_common(config: Any) -> None:
    _check_choice("data", config.data, DATA_NAMES)
    _check_int("steps", config.steps, 0)
    _check_int("batch_size", config.batch_size, 1)
    _check_positive("lr", config.lr)
    if not (isinstance(config.betas, tuple) and len(config.betas) == 2
            and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in config.betas)):
        raise ValueError(f"betas must be a pair of numbers in [0, 1); got {config.betas!r}")
    for name in ("latent_dim", "hidden", "n_data", "log_every", "eval_every"):
        if hasattr(config, name):  # a classifier has no latent space and no sampled data set
            _check_int(name, getattr(config, name), 1)
    _check_int("depth", config.depth, 0)
    _check_int("seed", config.seed, 0)


def _from_dict(cls: type, values: dict[str, Any]):
    """A config from ``asdict`` output or JSON (where tuples became lists); unknown keys refused."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


@dataclass(frozen=True)
class GANConfig:
    """One GAN / WGAN / WGAN-GP experiment. The defaults are a quick, reliable ring run on a CPU
    (measured: 8/8 modes in about 15 s on one core; see ``tests/test_train.py``).

    ``steps`` counts generator updates; each does ``n_critic`` critic updates before it.
    Use :meth:`preset` for the settings each loss is usually trained with, and ``preset("best", data)``
    for the course's best 2-D configuration.
    """

    loss: GANLoss = "gan"  # "gan" non-saturating (Goodfellow et al. 2014, §3), "minimax" eq. 1, "wgan", "wgan-gp"
    data: DataName = "ring"  # a course_utils.data set; ring/grid also get mode coverage in the History
    steps: int = 3_000  # generator updates: enough for 8/8 ring modes with the defaults (measured)
    batch_size: int = 256  # PacGAN / VEEGAN toy experiments; the low end of the 256..512 usual on 2-D data
    lr: float = 2e-4  # Adam step size for G and D (DCGAN, Radford et al. 2016)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam (β1, β2): β1 = 0.5 damps oscillations (DCGAN)
    optimizer: Literal["adam", "rmsprop"] = "adam"  # rmsprop for weight clipping (WGAN paper, Alg. 1)
    n_critic: int = 1  # critic updates per generator update: 1 for a GAN, 5 for WGANs (WGAN-GP paper, Alg. 1)
    clip_value: float = 0.01  # weight clipping c of "wgan" (WGAN paper, Alg. 1)
    gp_lambda: float = 10.0  # gradient-penalty weight λ of "wgan-gp" (WGAN-GP paper, Alg. 1)
    latent_dim: int = 2  # z ~ N(0, I) of this size; 2 is enough for 2-D data, digits use 16
    hidden: int = 128  # MLP width (2-D data) or conv width (digits)
    depth: int = 3  # hidden layers of the MLPs (ignored by the conv models)
    pack: int = 1  # D scores packs of this many samples; 1 is Goodfellow et al.'s D, PacGAN uses 2-4 (Lin et al. 2018)
    lr_decay: float = 0.0  # share of the last steps over which both lrs fall linearly to 0; 0: constant (DCGAN)
    drs_quantile: float | None = None  # γ's quantile for discriminator rejection sampling (Azadi et al. 2019);
    # None samples G(z) as it is, as the papers above do; the "best" preset uses 0.2 (see preset)
    r1_gamma: float = 0.0  # γ of the R1 penalty (γ/2)·E_real ‖∇D(x)‖² on D (Mescheder et al. 2018, eq. 9), for
    # "gan"/"minimax": it makes the GAN converge instead of circling (their Thm 4.1); 0: off. "best" uses 0.1
    # (measured: it feeds the modes that training without it starves; see preset)
    r1_every: int = 1  # lazy regularisation: add the penalty, times r1_every, on every r1_every-th critic update
    # only (StyleGAN2, Karras et al. 2020, §3.1, who use 16): the double backward costs about 30% per step
    r1_until: float = 1.0  # share of the steps, from the start, that get R1; "best" stops it where its lr decay
    # starts (0.5): R1 balances the modes, then a D free to sharpen gives sharp modes (measured, high-quality share
    # with R1 to the end -> stopped at 0.5: grid seed 1 83% -> 96%, ring seed 0 94% -> 98%)
    n_data: int = 50_000  # training points drawn once for 2-D data (digits: the 1,500 training images)
    log_every: int = 10  # steps between History rows (each row is one host sync on a GPU)
    eval_every: int = 500  # steps between mode-coverage evaluations (ring and grid only)
    amp: bool = True  # bf16 autocast for image models on CUDA; ignored on the CPU and for 2-D data
    seed: int = 0  # seeds the weights, the data set and every batch

    def __post_init__(self) -> None:
        _check_choice("loss", self.loss, GAN_LOSSES)
        _check_common(self)
        _check_choice("optimizer", self.optimizer, ("adam", "rmsprop"))
        _check_int("n_critic", self.n_critic, 1)
        _check_positive("clip_value", self.clip_value)
        _check_positive("gp_lambda", self.gp_lambda, allow_zero=True)
        _check_int("pack", self.pack, 1)
        _check_positive("r1_gamma", self.r1_gamma, allow_zero=True)
        _check_int("r1_every", self.r1_every, 1)
        ok = isinstance(self.r1_until, (int, float)) and not isinstance(self.r1_until, bool)
        if not (ok and 0 <= self.r1_until <= 1):
            raise ValueError(f"r1_until must be a number in [0, 1] (the share of the steps with R1); "
                             f"got {self.r1_until!r}")
        if self.r1_gamma > 0 and self.loss not in ("gan", "minimax"):
            raise ValueError(f"r1_gamma is a penalty on a GAN discriminator (loss 'gan' or 'minimax'); WGAN-GP has "
                             f"its own (gp_lambda); got loss={self.loss!r}")
        if self.batch_size % self.pack:
            raise ValueError(f"batch_size must be a multiple of pack (the discriminator scores packs of "
                             f"{self.pack} samples); got batch_size={self.batch_size}, pack={self.pack}")
        ok = isinstance(self.lr_decay, (int, float)) and not isinstance(self.lr_decay, bool)
        if not (ok and 0 <= self.lr_decay <= 1):
            raise ValueError(f"lr_decay must be a number in [0, 1] (the share of the steps over which the "
                             f"learning rates fall to 0); got {self.lr_decay!r}")
        if self.drs_quantile is not None:
            ok = isinstance(self.drs_quantile, (int, float)) and not isinstance(self.drs_quantile, bool)
            if not (ok and 0 <= self.drs_quantile < 1):
                raise ValueError(f"drs_quantile must be None (no rejection sampling) or a number in [0, 1); "
                                 f"got {self.drs_quantile!r}")
            if self.loss not in ("gan", "minimax") or self.pack > 1:
                raise ValueError("drs_quantile needs a GAN discriminator (loss 'gan' or 'minimax'), whose logit "
                                 "estimates log p_data/p_G, scoring single samples (pack=1); got "
                                 f"loss={self.loss!r}, pack={self.pack}")

    @classmethod
    def preset(cls, loss: GANLoss | Literal["best"] = "gan", data: DataName = "ring", **overrides: Any) -> GANConfig:
        """The usual settings of ``loss`` on ``data``, then ``overrides``.

        - ``gan``/``minimax``: Adam 2e-4, β = (0.5, 0.999), one D step per G step (DCGAN);
        - ``wgan``: RMSprop 5e-5, five critic steps, clipping at 0.01 (Arjovsky et al. 2017, Alg. 1);
        - ``wgan-gp``: Adam 1e-4, β = (0.5, 0.9), five critic steps, λ = 10 (Gulrajani et al. 2017,
          Alg. 1 and their toy code, which uses β1 = 0.5), λ = 0.1 on 2-D data (their toy code);
        - ``digits``: a 16-d latent and conv width 32;
        - ``best``: the course's best configuration on 2-D data: the non-saturating GAN (``loss="gan"``)
          with Adam 1e-3 (5e-4 off the grid) decayed linearly to 0 over the second half (CycleGAN's
          schedule), batch 512, 6,000 steps on the grid (3,000 elsewhere), and discriminator rejection
          sampling with γ at the 20th percentile (``drs_quantile=0.2``, Azadi et al. 2019), and an R1
          penalty γ = 0.1 on D (Mescheder et al. 2018) on every 4th critic update (StyleGAN2's lazy
          regularisation) over the first half. Measured, seeds 0-9, protocol of ``metrics.mode_coverage``:
          grid 25.0 modes (every seed), 96.8% high quality, reverse KL 0.02 in 6,000 steps; ring 8.0 modes
          (every seed), 98.1%, 0.02 in 4,000 steps; about 51 s (grid) and 35 s (ring) on one CPU core.
          Without R1: grid 24.5 ± 0.3 modes (all 25 in 7 seeds of 10), 93.3%, 0.13; ring 8.0, 93.5%, 0.12.
          The "gan" preset, for comparison, gets 21/25 modes, 16% and 1.19 on the grid in 8,000 steps (seed 0).
          PacGAN's packing (``pack``) is not in it: with these small MLPs and budgets it cut the grid's
          high-quality share to 2-8% (a packed D must resolve 25^m joint modes).
        """
        _check_choice("loss", loss, GAN_PRESETS)
        _check_choice("data", data, DATA_NAMES)
        settings: dict[str, Any] = {"loss": loss, "data": data}
        if loss == "best":
            if data not in TOY_DATA:
                raise ValueError(f"the 'best' preset is tuned for 2-D data ({', '.join(TOY_DATA)}); got {data!r}")
            settings.update(
                loss="gan",  # the non-saturating GAN: the tuning below, not another loss, makes the difference
                # 5x DCGAN's 2e-4 on the grid, where 2e-4 had not found all modes by the decay; on the ring
                # 1e-3 lost a mode in 1 of 4 seeds and 5e-4 fixed both bad seeds (measured)
                lr=1e-3 if data == "grid" else 5e-4,
                lr_decay=0.5,  # anneal the second half: grid HQ rose from 22% to 84% during it (seed 0, measured)
                batch_size=512,  # better-balanced modes than 256: grid rKL 0.05-0.21 against 0.28-0.46 (seeds 1-2)
                # grid 110 steps/s, ring 115 on one core of a 2-core CPU. Grid, seeds 0-9, with DRS: 4,000 steps
                # 24.3 modes / 83% / 0.23, 5,000 24.2 / 91% / 0.15, 6,000 24.5 / 93% / 0.13. Ring: 5,000 steps
                # raise HQ to 98% but lose a mode in 1 seed of 10 without R1; with R1 (below), ring seeds 0-9:
                # 3,000 steps 8/8, 96.96%, 0.018; 4,000 steps 8/8, 98.1%, 0.021, every seed >= 97.1%
                steps=6_000 if data == "grid" else 4_000,
                drs_quantile=0.2,  # drops G's samples between modes: grid HQ 88% -> 93%, ring 87% -> 94% (seeds 0-9)
                # R1 (Mescheder et al. 2018) on every 4th critic update (lazy, StyleGAN2), first half only: without
                # it some seeds starve modes (grid seeds 5, 8: 23/25 modes, reverse KL 0.27-0.37; ring seeds 2, 5, 9:
                # 0.24-0.45); with it, seeds 0-9: grid 25/25, 96.8%, 0.02; ring 8/8, 97.0%, 0.02 (measured). Every
                # step costs 30% more time (grid 68 s); an EMA of G's weights (Yazıcı et al. 2019) did not help
                r1_gamma=0.1,
                r1_every=4,
                r1_until=0.5,  # R1 until the lr decay starts, then a sharp D for sharp modes
            )
        elif loss == "wgan":
            settings.update(optimizer="rmsprop", lr=5e-5, n_critic=5)
        elif loss == "wgan-gp":
            settings.update(lr=1e-4, betas=(0.5, 0.9), n_critic=5, steps=1_500)
            if data in TOY_DATA:
                # "Smaller lambda seems to help for toy tasks specifically" (Gulrajani et al.'s gan_toy.py
                # uses λ = 0.1); measured on the ring, 1,500 steps: 8/8 modes, 36% high quality with
                # λ = 0.1, against 1/8 modes and 1% with λ = 10
                settings.update(gp_lambda=0.1)
        if data == "digits":
            settings.update(latent_dim=16, hidden=32)
        return replace(cls(), **{**settings, **overrides})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GANConfig:
        """The inverse of ``dataclasses.asdict`` (and of a JSON round trip)."""
        return _from_dict(cls, values)


@dataclass(frozen=True)
class VAEConfig:
    """One VAE experiment: the negative ELBO minimised with Adam (Kingma & Welling 2014)."""

    data: DataName = "digits"  # a course_utils.data set; 2-D sets need likelihood="gaussian"
    model: Literal["mlp", "conv"] = "mlp"  # conv: images only
    likelihood: Literal["bernoulli", "gaussian"] = "bernoulli"  # p(x | z); Bernoulli for pixels in [0, 1]
    obs_std: float = 0.1  # σ of a Gaussian p(x | z) (ignored by Bernoulli)
    steps: int = 3_000  # Adam updates (about 250 epochs of the 1,500 digits at batch 128)
    batch_size: int = 128  # pytorch/examples vae
    lr: float = 1e-3  # Adam step size (pytorch/examples vae)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's defaults (Kingma & Ba 2015)
    latent_dim: int = 8  # 2 draws a readable latent map; 8 fits digits better (held-out ELBO)
    hidden: int = 256  # MLP width, or conv width for model="conv"
    depth: int = 2  # hidden layers of the MLP encoder and decoder
    n_data: int = 50_000  # training points drawn once for 2-D data (digits: the 1,500 training images)
    log_every: int = 10  # steps between History rows
    eval_every: int = 500  # steps between held-out ELBO evaluations (digits: the 297 test images)
    amp: bool = True  # bf16 autocast for image models on CUDA; ignored on the CPU and for 2-D data
    seed: int = 0  # seeds the weights, the data set, every batch and every z

    def __post_init__(self) -> None:
        _check_common(self)
        _check_choice("model", self.model, ("mlp", "conv"))
        _check_choice("likelihood", self.likelihood, ("bernoulli", "gaussian"))
        _check_positive("obs_std", self.obs_std)
        if self.model == "conv" and self.data != "digits":
            raise ValueError(f"model='conv' needs image data (data='digits'); got data={self.data!r}")
        if self.likelihood == "bernoulli" and self.data in TOY_DATA:
            raise ValueError(f"a Bernoulli decoder needs data in [0, 1]; use likelihood='gaussian' for "
                             f"data={self.data!r} (or VAEConfig.preset)")

    @classmethod
    def preset(cls, data: DataName = "digits", **overrides: Any) -> VAEConfig:
        """The usual settings on ``data``: Bernoulli decoder on digits; on 2-D data a Gaussian decoder
        with σ = 0.05, latent 2 and width 128."""
        _check_choice("data", data, DATA_NAMES)
        settings: dict[str, Any] = {"data": data}
        if data in TOY_DATA:
            settings.update(likelihood="gaussian", obs_std=0.05, latent_dim=2, hidden=128, batch_size=256)
        return replace(cls(), **{**settings, **overrides})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> VAEConfig:
        """The inverse of ``dataclasses.asdict`` (and of a JSON round trip)."""
        return _from_dict(cls, values)


@dataclass(frozen=True)
class ClassifierConfig:
    """A discriminative model p(y | x) of the digits (chapter 02): an MLP on the cross-entropy."""

    data: Literal["digits"] = "digits"  # labelled images: only the digits have labels here
    steps: int = 1_000  # Adam updates (about 85 epochs of the 1,500 training images at batch 128)
    batch_size: int = 128  # pytorch/examples mnist uses 64; 128 halves the steps per epoch on a CPU
    lr: float = 1e-3  # Adam's default step size (Kingma & Ba 2015)
    betas: tuple[float, float] = (0.9, 0.999)  # Adam's defaults (Kingma & Ba 2015)
    hidden: int = 128  # MLP width
    depth: int = 2  # hidden layers
    log_every: int = 10  # steps between History rows
    eval_every: int = 250  # steps between held-out accuracy evaluations (the 297 test images)
    amp: bool = True  # unused by this small MLP; kept so every config reads the same
    seed: int = 0  # seeds the weights and every batch

    def __post_init__(self) -> None:
        _check_common(self)
        _check_choice("data", self.data, ("digits",))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierConfig:
        """The inverse of ``dataclasses.asdict`` (and of a JSON round trip)."""
        return _from_dict(cls, values)


# ============================================================================ history
@dataclass
class History:
    """What a run recorded: losses every ``log_every`` steps, metrics every ``eval_every``.

    ``losses[name][i]`` belongs to ``step[i]``; ``metrics[name][j]`` to ``metric_step[j]``.
    """

    step: list[int] = field(default_factory=list)
    losses: dict[str, list[float]] = field(default_factory=dict)
    metric_step: list[int] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    interrupted: bool = False  # stopped by Ctrl-C before the last step

    def log(self, step: int, values: dict[str, float]) -> None:
        self.step.append(step)
        for name, value in values.items():
            self.losses.setdefault(name, []).append(value)

    def log_metrics(self, step: int, values: dict[str, float]) -> None:
        self.metric_step.append(step)
        for name, value in values.items():
            self.metrics.setdefault(name, []).append(value)

    def last(self, name: str) -> float:
        """The latest value of a loss or metric."""
        series = self.losses.get(name) or self.metrics.get(name)
        if not series:
            raise KeyError(f"no values recorded for {name!r}; have {sorted({*self.losses, *self.metrics})}")
        return series[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain lists and dicts, ready for ``json.dump``."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> History:
        return cls(step=list(values["step"]), losses={k: list(v) for k, v in values["losses"].items()},
                   metric_step=list(values["metric_step"]),
                   metrics={k: list(v) for k, v in values["metrics"].items()},
                   interrupted=bool(values.get("interrupted", False)))


Callback = Callable[[int, History, dict[str, nn.Module]], None]


# ============================================================================ data and models
def load_training_data(name: DataName, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    """``(train, test)`` float32 tensors on the CPU: ``n`` points of a 2-D set drawn with ``seed``
    (test ``None``), or the fixed digits split (1,500 / 297 images of 64 pixels in [0, 1])."""
    _check_choice("data", name, DATA_NAMES)
    if name == "digits":
        digits = load_digits()
        return digits.x_train, digits.x_test
    generator = torch.Generator().manual_seed(seed)
    maker = {"ring": make_ring, "grid": make_grid, "moons": make_moons_data, "swiss_roll": make_swiss_roll_2d}[name]
    return maker(n, generator=generator), None


def _check_data(data: Any, config: Any) -> Tensor:
    if not isinstance(data, torch.Tensor) or data.ndim != 2 or len(data) == 0:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a tensor of shape (N, D) with N >= 1; got {shape}")
    if config.data == "digits" and data.shape[1] != 64:
        raise ValueError(f"data={config.data!r} expects 64 pixels per row; got shape {tuple(data.shape)}")
    return data.float()


def build_gan(config: GANConfig, data_dim: int) -> tuple[nn.Module, nn.Module]:
    """``(generator, critic)`` for ``config``: MLPs for 2-D data, conv nets for digits."""
    if config.data == "digits":
        critic: nn.Module = ConvDiscriminator(image_size=8, width=config.hidden)
        generator: nn.Module = ConvGenerator(config.latent_dim, image_size=8, width=config.hidden)
    else:
        # a packed D reads pack samples side by side: its input is pack·D wide
        critic = MLPDiscriminator(data_dim * config.pack, config.hidden, config.depth)
        generator = MLPGenerator(config.latent_dim, data_dim, config.hidden, config.depth)
    if config.pack > 1:
        if config.data == "digits":
            raise ValueError("pack > 1 is implemented for the 2-D MLP discriminator only; use pack=1 on digits")
        critic = PackedDiscriminator(critic, config.pack)
    return generator, critic


def lr_multiplier(config: GANConfig, update: int) -> float:
    """The factor on ``config.lr`` for the generator update ``update`` = 0, 1, …, steps - 1.

    1 until the last ``d = round(lr_decay · steps)`` updates, then a linear fall to 0:
    ``min(1, (steps - update) / d)``, so the last update uses lr / d and none uses 0. CycleGAN trains
    its GAN this way: a constant lr, then a linear decay to zero over the second half (Zhu et al.
    2017, §4, "Training details"), i.e. ``lr_decay = 0.5``. The critic's n_critic updates before
    generator update k use the factor of k. Small late steps let G settle on the modes it holds
    instead of circling around them, which sharpens the samples. The factor depends on
    ``config.steps``: resuming with more steps stretches the decay.
    """
    decay = round(config.lr_decay * config.steps)
    if decay == 0:
        return 1.0
    return min(1.0, (config.steps - update) / decay)


def _updates_done(optimizer: torch.optim.Optimizer) -> int:
    """Steps taken so far by ``optimizer`` (Adam's and RMSprop's per-parameter "step"); saved with its
    state, so a resumed run continues the schedule where it stopped."""
    for group in optimizer.param_groups:
        for parameter in group["params"]:
            state = optimizer.state.get(parameter)
            if state and "step" in state:
                return int(state["step"])
    return 0


def _schedule_lr(optimizer: torch.optim.Optimizer, config: GANConfig, steps_per_update: int = 1) -> None:
    """Set the lr of the coming optimizer step from :func:`lr_multiplier`; ``steps_per_update`` optimizer
    steps make one generator update (n_critic for the critic)."""
    if config.lr_decay > 0:  # otherwise touch nothing: reading a CUDA optimizer's step count is a host sync
        update = _updates_done(optimizer) // steps_per_update
        for group in optimizer.param_groups:
            group["lr"] = config.lr * lr_multiplier(config, update)


def build_vae(config: VAEConfig, data_dim: int) -> nn.Module:
    """The VAE of ``config``: an MLP VAE, or a conv VAE for 8x8 digits."""
    if config.model == "conv":
        return ConvVAE(image_size=8, latent_dim=config.latent_dim, width=config.hidden,
                       likelihood=config.likelihood, obs_std=config.obs_std)
    return MLPVAE(data_dim, config.latent_dim, config.hidden, config.depth, config.likelihood, config.obs_std)


def _optimizer(config: Any, params) -> torch.optim.Optimizer:
    if getattr(config, "optimizer", "adam") == "rmsprop":
        return torch.optim.RMSprop(params, lr=config.lr)
    return torch.optim.Adam(params, lr=config.lr, betas=config.betas)


def _autocast(config: Any, device: torch.device):
    """bf16 autocast for image models on CUDA; a no-op elsewhere. 2-D toy data stays in fp32: the ring's
    σ = 0.01 at radius 1 is 2^-7, bf16's relative precision, so bf16 would blur every mode."""
    if config.amp and device.type == "cuda" and config.data == "digits" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


DRS_BURN_IN = 10_000  # samples that estimate max D̃ and γ before accepting any (Azadi et al. 2019, §4)
DRS_EPS = 1e-6  # ε in F(x) keeps the log finite at the max logit (Azadi et al. 2019, Alg. 1)


@torch.no_grad()
def generate(generator: nn.Module, n: int, *, rng: torch.Generator | None = None, critic: nn.Module | None = None,
             drs_quantile: float | None = None) -> Tensor:
    """n samples G(z), z ~ N(0, I), in eval mode (batch norm uses its running statistics), flattened to (n, D).

    With a ``critic`` and a ``drs_quantile``, the samples are those kept by discriminator rejection
    sampling (DRS, Azadi et al. 2019, Alg. 1). For the optimal D of the GAN loss, D̃(x) = logit D(x) =
    log p_data(x) / p_G(x), so accepting x ~ p_G with probability exp(D̃(x) - max D̃) gives exactly
    p_data; DRS softens this with

        F(x) = D̃(x) - D̃*_M - log(1 - exp(D̃(x) - D̃*_M - ε)) - γ,   accept with probability σ(F(x)),

    where D̃*_M is the largest logit seen (over a burn-in of 10,000 samples, raised whenever a larger
    one appears) and γ is the ``drs_quantile`` quantile of F + γ over the burn-in: a higher quantile
    rejects more. It throws away the points G puts between modes, which D scores as fake.
    """
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    try:
        if critic is None or drs_quantile is None:
            z = torch.randn(n, generator.latent_dim, generator=rng, device=device)  # (n, latent_dim)
            return generator(z).flatten(1).float()  # (n, D)
        return _rejection_sample(generator, critic, n, drs_quantile, rng, device)
    finally:
        generator.train(was_training)


def sample_gan(models: dict[str, nn.Module], config: GANConfig, n: int, *,
               rng: torch.Generator | None = None) -> Tensor:
    """n samples of a trained GAN as ``config`` draws them: :func:`generate`, with rejection sampling
    when ``config.drs_quantile`` is set. ``models`` is ``{"generator": G, "critic": D}``
    (:func:`train_gan_models`). The History's mode coverage, ``course train`` and ``course bench`` all
    score these samples."""
    return generate(models["generator"], n, rng=rng, critic=models["critic"], drs_quantile=config.drs_quantile)


def _rejection_sample(generator: nn.Module, critic: nn.Module, n: int, quantile: float,
                      rng: torch.Generator | None, device: torch.device) -> Tensor:
    """DRS (Azadi et al. 2019, Alg. 1); see :func:`generate`."""
    if not (isinstance(quantile, (int, float)) and 0 <= quantile < 1):
        raise ValueError(f"drs_quantile must be a number in [0, 1); got {quantile!r}")
    if isinstance(critic, PackedDiscriminator):
        raise ValueError("rejection sampling needs one score per sample; a packed discriminator (pack > 1) "
                         "scores packs")
    was_training = critic.training
    critic.eval()

    def propose(m: int) -> tuple[Tensor, Tensor]:
        z = torch.randn(m, generator.latent_dim, generator=rng, device=device)  # (m, latent_dim)
        x = generator(z).flatten(1).float()  # (m, D)
        return x, critic(x).float()  # (m, D), logits (m,)

    def f_plus_gamma(logits: Tensor, max_logit: Tensor) -> Tensor:
        shifted = logits - max_logit  # (m,), <= 0
        return shifted - torch.log1p(-torch.exp(shifted - DRS_EPS))  # F(x) + γ, (m,)

    try:
        _, logits = propose(DRS_BURN_IN)
        max_logit = logits.max()
        gamma = torch.quantile(f_plus_gamma(logits, max_logit), quantile)
        kept: list[Tensor] = []
        count = 0
        while count < n:
            x, logits = propose(max(2 * (n - count), 256))  # about half are kept at the median γ
            max_logit = torch.maximum(max_logit, logits.max())  # D̃*_M follows the largest logit seen
            accept = torch.sigmoid(f_plus_gamma(logits, max_logit) - gamma)  # (m,)
            keep = torch.rand(len(x), generator=rng, device=device) < accept
            kept.append(x[keep])  # (k, D)
            count += int(keep.sum())
        return torch.cat(kept)[:n]  # (n, D)
    finally:
        critic.train(was_training)


# ============================================================================ one step
def gan_critic_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: Tensor,
                    config: GANConfig, rng: torch.Generator | None = None,
                    autocast: contextlib.AbstractContextManager | None = None) -> dict[str, Tensor]:
    """One update of the discriminator / critic on a real batch (B, D) and as many fakes.

    Returns the detached losses: ``loss_d`` (what was minimised), and for WGANs ``wasserstein``
    (E f(real) - E f(fake), the critic's estimate of W1 up to its Lipschitz constant) and ``gp``.
    """
    autocast = autocast or contextlib.nullcontext()
    z = torch.randn(len(real), config.latent_dim, generator=rng, device=real.device)  # (B, latent_dim)
    with torch.no_grad():  # no gradient into G on the critic step
        fake = generator(z).flatten(1).float()  # (B, D)
    # R1 on this update? Every r1_every-th one, counted by the critic's optimizer (so a resume keeps the rhythm)
    r1 = config.loss in ("gan", "minimax") and config.r1_gamma > 0
    if r1 and (config.r1_every > 1 or config.r1_until < 1):  # reading the step count is a host sync on a GPU
        update = _updates_done(optimizer) // config.n_critic  # this critic update precedes G update `update`
        r1 = _updates_done(optimizer) % config.r1_every == 0 and update < config.r1_until * config.steps
    if r1:
        real = real.detach().requires_grad_(True)  # (B, D): the penalty differentiates D's logit w.r.t. it
    with autocast:
        real_scores, fake_scores = critic(real).float(), critic(fake).float()  # (B,) each
    out: dict[str, Tensor] = {}
    if config.loss in ("gan", "minimax"):
        loss = losses.discriminator_loss(real_scores, fake_scores)
        if r1:
            # lazy regularisation scales the penalty by r1_every to keep its average weight γ (StyleGAN2, §3.1)
            penalty = losses.r1_penalty(real_scores, real, gamma=config.r1_gamma * config.r1_every)
            loss = loss + penalty
    else:
        loss = losses.wgan_critic_loss(real_scores, fake_scores)
        out["wasserstein"] = -loss.detach()
        if config.loss == "wgan-gp":
            # fp32, outside autocast: the penalty differentiates a gradient, where bf16 rounding is unverified
            gp = losses.gradient_penalty(critic, real, fake, rng, lambda_gp=config.gp_lambda)
            out["gp"] = gp.detach()
            loss = loss + gp
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    _schedule_lr(optimizer, config, config.n_critic)  # the critic steps before G update k use its lr
    optimizer.step()
    if config.loss == "wgan":
        losses.clip_weights_(critic, config.clip_value)  # keep f K-Lipschitz (WGAN paper, Alg. 1)
    return {"loss_d": loss.detach(), **out}


def gan_generator_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, batch_size: int,
                       config: GANConfig, rng: torch.Generator | None = None,
                       autocast: contextlib.AbstractContextManager | None = None) -> dict[str, Tensor]:
    """One update of the generator on ``batch_size`` fresh z; returns ``{"loss_g": ...}`` (detached)."""
    autocast = autocast or contextlib.nullcontext()
    device = next(generator.parameters()).device
    z = torch.randn(batch_size, config.latent_dim, generator=rng, device=device)  # (B, latent_dim)
    critic.requires_grad_(False)  # the critic's weights are constants here: skip their gradients
    try:
        with autocast:
            scores = critic(generator(z).flatten(1)).float()  # (B,)
    finally:
        critic.requires_grad_(True)
    if config.loss == "gan":
        loss = losses.generator_loss_nonsaturating(scores)
    elif config.loss == "minimax":
        loss = losses.generator_loss_minimax(scores)
    else:
        loss = losses.wgan_generator_loss(scores)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    _schedule_lr(optimizer, config)
    optimizer.step()
    return {"loss_g": loss.detach()}


def vae_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, rng: torch.Generator | None = None,
             autocast: contextlib.AbstractContextManager | None = None) -> dict[str, Tensor]:
    """One Adam step on the mean negative ELBO of the batch ``x`` (B, D); returns ``{"neg_elbo": ...}``."""
    autocast = autocast or contextlib.nullcontext()
    with autocast:
        recon, mu, logvar = model(x, generator=rng)
    # the ELBO itself in fp32: its sums over 64 pixels and the exp of log σ² are where bf16 would hurt
    loss = losses.negative_elbo(x, recon.float(), mu.float(), logvar.float(), likelihood=model.likelihood,
                                obs_logvar=model.obs_logvar).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"neg_elbo": loss.detach()}


# ============================================================================ checkpoints and random states
def _rng_state(train_rng: torch.Generator) -> dict[str, Any]:
    """Every random state a run touches, as tensors and plain Python values (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "python": random.getstate(),
        "train": train_rng.get_state(),
    }


def _set_rng_state(state: dict[str, Any], train_rng: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    train_rng.set_state(state["train"].cpu())


def save_checkpoint(path: str | os.PathLike, checkpoint: dict[str, Any]) -> Path:
    """``torch.save`` through :func:`course_utils._io.atomic_write`: a reader (or a crash) never sees half a
    checkpoint."""
    return atomic_write(path, lambda fh: torch.save(checkpoint, fh))


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint written by a ``train_*`` loop (``weights_only``: no code runs on load)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=device, weights_only=True)


def _check_resumable(config: Any, saved: dict[str, Any]) -> None:
    """Everything but ``steps`` (and the logging cadence) must match the checkpoint's config."""
    ignored = {"steps", "log_every", "eval_every"}
    mine = {k: v for k, v in asdict(config).items() if k not in ignored}
    theirs = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items() if k not in ignored}
    if mine != theirs:
        diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        raise ValueError(f"the checkpoint was made with a different config ({', '.join(diff)} differ); "
                         "only steps may change on resume")


# ============================================================================ the loop
_DIVERGENCE_HINTS = {
    "gan": "try a lower lr (e.g. 1e-4) or a smaller Adam beta1",
    "minimax": "try a lower lr (e.g. 1e-4), or loss='gan' (the non-saturating loss)",
    "wgan": "the learning rate is likely too high for weight clipping; try a lower lr (5e-5, RMSprop) "
            "or loss='wgan-gp'",
    "wgan-gp": "try a lower lr (e.g. 1e-4) or check the data for NaN/inf",
    "vae": "try a lower lr, or a larger obs_std for a Gaussian decoder",
    "classifier": "try a lower lr, or check the data for NaN/inf",
}


def _check_finite(step: int, values: dict[str, float], kind: str) -> None:
    for name, value in values.items():
        if not math.isfinite(value):
            raise TrainingDiverged(f"{name} is {value} at step {step} ({kind}): {_DIVERGENCE_HINTS[kind]}")


@dataclass
class _Run:
    """What the shared loop needs from a GAN, VAE or classifier run."""

    kind: str  # "gan", "minimax", "wgan", "wgan-gp", "vae" or "classifier"
    config: Any
    models: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    train_rng: torch.Generator  # the batches (and, in a single process, every z and ε too)
    step_fn: Callable[[], dict[str, Tensor]]
    eval_fn: Callable[[], dict[str, float]] | None
    ctx: distributed.Context = distributed.SINGLE  # this process among those of a torchrun
    rank_rng: torch.Generator | None = None  # under torchrun: this rank's own z and ε (see _streams)


def _checkpoint(run: _Run, step: int, history: History) -> dict[str, Any]:
    """What ``checkpoint.pt`` holds; a collective under torchrun (every rank sends its random stream)."""
    checkpoint = {
        "kind": run.kind,
        "device": run.train_rng.device.type,  # random streams differ across device types: resume on the same
        "world_size": run.ctx.world_size,  # each rank has its own stream: resume with as many processes
        "config": asdict(run.config),
        "state_dict": {name: m.state_dict() for name, m in run.models.items()},  # plain modules: no "module."
        "optimizer": {name: o.state_dict() for name, o in run.optimizers.items()},
        "step": step,
        "rng": _rng_state(run.train_rng),
        "history": history.to_dict(),
    }
    if run.rank_rng is not None:
        checkpoint["rank_rng"] = distributed.gather(run.rank_rng.get_state().cpu(), run.ctx)  # [rank 0, 1, ...]
    return checkpoint


def _loop(run: _Run, *, device: torch.device, callback: Callback | None, callback_every: int,
          resume: str | os.PathLike | None, out_dir: str | os.PathLike | None, progress: bool) -> History:
    from tqdm.auto import tqdm

    _check_int("callback_every", callback_every, 1)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(step, history, models); got {type(callback).__name__}")
    history, start = History(), 0
    if resume is not None:
        saved = load_checkpoint(resume, device)
        if saved.get("kind") != run.kind:
            raise ValueError(f"{resume} is a {saved.get('kind')!r} checkpoint, not {run.kind!r}")
        _check_resumable(run.config, saved["config"])
        if saved["device"] != device.type:
            raise ValueError(f"{resume} was made on {saved['device']}; resume it on {saved['device']} too "
                             f"(this run is on {device.type}): random streams differ between device types")
        if saved.get("world_size", 1) != run.ctx.world_size:
            raise ValueError(f"{resume} was made by {saved.get('world_size', 1)} process(es); resume it with as "
                             f"many (this run has {run.ctx.world_size}): each process has its own random stream")
        for name, module in run.models.items():
            module.load_state_dict(saved["state_dict"][name])
        for name, optimizer in run.optimizers.items():
            optimizer.load_state_dict(saved["optimizer"][name])
        _set_rng_state(saved["rng"], run.train_rng)
        if run.rank_rng is not None:
            run.rank_rng.set_state(saved["rank_rng"][run.ctx.rank].cpu())
        history, start = History.from_dict(saved["history"]), int(saved["step"])
        history.interrupted = False
    steps = run.config.steps
    done = start
    # under torchrun every rank runs this same loop in lockstep (the DDP backward and the History rows
    # are collectives); only rank 0 shows a bar and writes the checkpoint
    bar = tqdm(total=steps, initial=start, disable=not (progress and run.ctx.is_main), desc=run.kind,
               dynamic_ncols=True)
    try:
        for step in range(start + 1, steps + 1):
            values = run.step_fn()
            last = step == steps
            if step % run.config.log_every == 0 or last:
                # one host sync per row; under torchrun, the mean over the ranks (one all-reduce): the global
                # batch's loss, the same on every rank, so a NaN anywhere stops every rank at this row
                row = distributed.mean_over_ranks(values, run.ctx)
                _check_finite(step, row, run.kind)
                history.log(step, row)
                bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()}, refresh=False)
            # every rank evaluates its (identical) plain models, with no collective: the Histories agree on
            # all ranks, and the others would only wait for rank 0 at the next all-reduce anyway
            if run.eval_fn is not None and (step % run.config.eval_every == 0 or last):
                history.log_metrics(step, run.eval_fn())
            done = step
            bar.update(1)
            if callback is not None and (step % callback_every == 0 or last):
                callback(step, history, run.models)
    except KeyboardInterrupt:  # Ctrl-C: keep what was learnt
        # the checkpoint says `done`, the last completed step; a Ctrl-C inside a step may have updated the
        # critic already, so only an interrupt between steps (e.g. from the callback) resumes bit-for-bit.
        # Under torchrun a callback must stop every rank at the same step (the checkpoint is a collective);
        # a Ctrl-C in the terminal is torchrun's to handle: it stops all the processes
        history.interrupted = True
    finally:
        bar.close()
    if out_dir is not None:
        checkpoint = _checkpoint(run, done, history)  # on every rank: it gathers the ranks' random streams
        if run.ctx.is_main:
            save_checkpoint(Path(out_dir) / CHECKPOINT_NAME, checkpoint)
        distributed.barrier(run.ctx)  # the file exists on return, whichever rank reads it
    return history


# ============================================================================ GANs
def _coverage_fn(config: Any, sampler: Callable[[int, torch.Generator], Tensor],
                 device: torch.device) -> Callable[[], dict[str, float]] | None:
    if config.data not in MODE_DATA:
        return None
    centers_fn, std = MODE_DATA[config.data]
    centers = centers_fn()

    def evaluate() -> dict[str, float]:
        # the same z at every evaluation (its own seeded generator): the training RNG is left untouched
        rng = torch.Generator(device).manual_seed(config.seed + 1)
        coverage = mode_coverage(sampler(COVERAGE_SAMPLES, rng), centers, std)
        return {"modes": float(coverage.modes), "high_quality": coverage.fraction_high_quality,
                "reverse_kl": coverage.reverse_kl}

    return evaluate


def _batch_sampler(data: Tensor, batch_size: int, rng: torch.Generator,
                   ctx: distributed.Context = distributed.SINGLE) -> Callable[[], Tensor]:
    """Batches of ``data`` drawn with replacement: the global batch of ``batch_size`` indices from ``rng``
    (the same on every rank), of which this rank keeps its slice of ``batch_size // world_size`` rows."""
    shard = distributed.shard_size(batch_size, ctx)
    lo = ctx.rank * shard

    def sample() -> Tensor:
        index = torch.randint(len(data), (batch_size,), generator=rng, device=data.device)  # (B,), with replacement
        return data[index[lo:lo + shard]]  # (B / world_size, D); (B, D) in a single process

    return sample


def _streams(config: Any, device: torch.device,
             ctx: distributed.Context) -> tuple[torch.Generator, torch.Generator]:
    """``(batch_rng, noise_rng)``: where the batches and the z, ε of each step come from.

    In a single process they are one stream seeded with ``config.seed`` (saved in checkpoints). Under
    torchrun every rank seeds ``batch_rng`` alike, so all draw the batches of the single-process run
    and each trains on its slice; ``noise_rng`` is the rank's own, seeded from ``(seed, rank)`` by
    NumPy's ``SeedSequence`` (made to derive independent streams): shared noise would give every rank
    the same fakes. So a run on W processes sees the same data as on one but other z, and matches it
    statistically; a step without noise (the classifier) matches it up to float rounding.
    """
    batch_rng = torch.Generator(device).manual_seed(config.seed)
    if not ctx.is_distributed:
        return batch_rng, batch_rng
    seed = int(np.random.SeedSequence([config.seed, ctx.rank]).generate_state(1, np.uint64)[0])
    return batch_rng, torch.Generator(device).manual_seed(seed)


def _setup(config: Any, data: Tensor | None, device: torch.device,
           ctx: distributed.Context) -> tuple[torch.device, Tensor, Tensor | None]:
    distributed.shard_size(config.batch_size, ctx, getattr(config, "pack", 1))  # refuse an uneven split first
    seed_everything(config.seed)  # weights are initialised from the global RNG: the same on every rank
    if data is None:
        data, test = load_training_data(config.data, config.n_data, config.seed)
    else:
        data, test = _check_data(data, config), None
    return device, data.to(device), None if test is None else test.to(device)


def train_gan(config: GANConfig, data: Tensor | None = None, *, device: str | torch.device = "auto",
              callback: Callback | None = None, callback_every: int = 100,
              resume: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
              progress: bool = True) -> History:
    """Train a GAN, WGAN or WGAN-GP (``config.loss``) and return its :class:`History`.

    Parameters
    ----------
    config : GANConfig
    data : Tensor, shape (N, D), optional
        The training set; by default ``config.n_data`` points of ``config.data`` drawn with
        ``config.seed`` (digits: the 1,500 training images). Moved to the device once.
    device : {"auto", "cuda", "mps", "cpu"} or torch.device
        Resolved by :func:`course_utils.device.get_device`.
    callback : callable(step, history, models), optional
        Called every ``callback_every`` steps and after the last, with
        ``models = {"generator": G, "critic": D}``; raise ``KeyboardInterrupt`` in it to stop early.
    resume : path, optional
        A checkpoint of an earlier run with the same config (``steps`` may grow): training continues
        from its step, with the numbers an uninterrupted run would give.
    out_dir : path, optional
        Where ``checkpoint.pt`` goes, at the end or on Ctrl-C.
    progress : bool
        Show a ``tqdm`` progress bar.

    Returns
    -------
    History
        Losses ``loss_d``, ``loss_g`` (and ``wasserstein``, ``gp`` for WGANs); metrics ``modes``,
        ``high_quality``, ``reverse_kl`` on the ring and the grid. :func:`train_gan_models` also
        returns the trained networks.
    """
    history, _ = train_gan_models(config, data, device=device, callback=callback, callback_every=callback_every,
                                  resume=resume, out_dir=out_dir, progress=progress)
    return history


def train_gan_models(config: GANConfig, data: Tensor | None = None, *, device: str | torch.device = "auto",
                     callback: Callback | None = None, callback_every: int = 100,
                     resume: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
                     progress: bool = True) -> tuple[History, dict[str, nn.Module]]:
    """:func:`train_gan`, returning ``(history, {"generator": G, "critic": D})``."""
    if not isinstance(config, GANConfig):
        raise TypeError(f"config must be a GANConfig; got {type(config).__name__}")
    ctx, device = distributed.join(get_device(device))  # under torchrun: this rank, and its GPU
    device, data, _ = _setup(config, data, device, ctx)
    generator, critic = (m.to(device) for m in build_gan(config, data.shape[1]))
    opt_g, opt_d = _optimizer(config, generator.parameters()), _optimizer(config, critic.parameters())
    rng, noise_rng = _streams(config, device, ctx)  # batches; z and ε (one stream in a single process)
    next_batch = _batch_sampler(data, config.batch_size, rng, ctx)
    shard = config.batch_size // ctx.world_size  # this rank's share of the G batch (checked in _setup)
    autocast = _autocast(config, device)
    # Under torchrun each step trains through the DDP wrapper of the network it updates (its backward
    # averages that network's gradients over the ranks) and reads the other as a plain module: G runs under
    # no_grad on the critic step, D's weights are constants on the generator step. DDP handles the gradient
    # penalty's double backward: it reduces when .grad is accumulated, which autograd.grad(x̂) does not do
    # (tests/test_distributed.py checks the gradients against the whole batch's). It reduces only once every
    # parameter has its gradient: the Wasserstein term reaches all of D's (the penalty alone misses the
    # last bias, and would then reduce nothing). step_fn holds the wrappers: a collected one reduces nothing.
    ddp_generator, ddp_critic = distributed.wrap(generator, ctx), distributed.wrap(critic, ctx)

    def step_fn() -> dict[str, Tensor]:
        for _ in range(config.n_critic):
            out = gan_critic_step(generator, ddp_critic, opt_d, next_batch(), config, noise_rng, autocast)
        out.update(gan_generator_step(ddp_generator, critic, opt_g, shard, config, noise_rng, autocast))
        return out

    models = {"generator": generator, "critic": critic}  # the plain modules: evaluated, saved, returned
    eval_fn = _coverage_fn(config, lambda n, r: sample_gan(models, config, n, rng=r), device)
    run = _Run(config.loss, config, models, {"generator": opt_g, "critic": opt_d}, rng, step_fn, eval_fn,
               ctx, None if noise_rng is rng else noise_rng)
    history = _loop(run, device=device, callback=callback, callback_every=callback_every, resume=resume,
                    out_dir=out_dir, progress=progress)
    return history, models


# ============================================================================ VAEs
def train_vae(config: VAEConfig, data: Tensor | None = None, *, device: str | torch.device = "auto",
              callback: Callback | None = None, callback_every: int = 100,
              resume: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
              progress: bool = True) -> History:
    """Train a VAE on the negative ELBO and return its :class:`History`.

    Same arguments as :func:`train_gan`; ``models = {"vae": model}``. Losses: ``neg_elbo`` (nats per
    example, the training batch); metrics: ``test_elbo`` on the held-out digits, and mode coverage of
    decoded prior samples on the ring and the grid.
    """
    history, _ = train_vae_models(config, data, device=device, callback=callback, callback_every=callback_every,
                                  resume=resume, out_dir=out_dir, progress=progress)
    return history


def train_vae_models(config: VAEConfig, data: Tensor | None = None, *, device: str | torch.device = "auto",
                     callback: Callback | None = None, callback_every: int = 100,
                     resume: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
                     progress: bool = True) -> tuple[History, dict[str, nn.Module]]:
    """:func:`train_vae`, returning ``(history, {"vae": model})``."""
    if not isinstance(config, VAEConfig):
        raise TypeError(f"config must be a VAEConfig; got {type(config).__name__}")
    ctx, device = distributed.join(get_device(device))  # under torchrun: this rank, and its GPU
    device, data, test = _setup(config, data, device, ctx)
    model = build_vae(config, data.shape[1]).to(device)
    optimizer = _optimizer(config, model.parameters())
    rng, noise_rng = _streams(config, device, ctx)  # batches; the reparameterisation's ε
    next_batch = _batch_sampler(data, config.batch_size, rng, ctx)
    autocast = _autocast(config, device)
    ddp_model = distributed.wrap(model, ctx)  # train through DDP (under torchrun); evaluate the plain model

    def step_fn() -> dict[str, Tensor]:
        return vae_step(ddp_model, optimizer, next_batch(), noise_rng, autocast)

    def test_elbo() -> dict[str, float]:
        rng_eval = torch.Generator(device).manual_seed(config.seed + 1)  # same z each time; training RNG untouched
        return {"test_elbo": held_out_elbo(model, test, generator=rng_eval)}

    eval_fn = test_elbo if test is not None else \
        _coverage_fn(config, lambda n, r: model.sample(n, generator=r).flatten(1).float(), device)
    models = {"vae": model}
    run = _Run("vae", config, models, {"vae": optimizer}, rng, step_fn, eval_fn, ctx,
               None if noise_rng is rng else noise_rng)
    history = _loop(run, device=device, callback=callback, callback_every=callback_every, resume=resume,
                    out_dir=out_dir, progress=progress)
    return history, models


# ============================================================================ classifiers
def classifier_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: Tensor, y: Tensor) -> dict[str, Tensor]:
    """One Adam step on the mean cross-entropy of labels ``y`` (B,) under ``model``'s logits (B, K)."""
    logits = model(x)  # (B, K)
    # -log softmax(l)_y, the multi-class cross-entropy (Bishop 2006, §4.3.4), averaged over the batch
    loss = nn.functional.cross_entropy(logits, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"cross_entropy": loss.detach()}


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Share of ``x`` whose most probable class is ``y``."""
    return float((model(x).argmax(dim=1) == y).double().mean())


def train_classifier(config: ClassifierConfig, data: tuple[Tensor, Tensor] | None = None, *,
                     device: str | torch.device = "auto", callback: Callback | None = None, callback_every: int = 100,
                     resume: str | os.PathLike | None = None, out_dir: str | os.PathLike | None = None,
                     progress: bool = True) -> History:
    """Train an MLP classifier on the cross-entropy; same arguments as :func:`train_gan`, ``data`` an
    ``(x (N, D), y (N,))`` pair (default: the 1,500 training digits). Losses: ``cross_entropy``;
    metrics: ``test_accuracy`` on the 297 held-out digits (default data only)."""
    history, _ = train_classifier_models(config, data, device=device, callback=callback,
                                         callback_every=callback_every, resume=resume, out_dir=out_dir,
                                         progress=progress)
    return history


def train_classifier_models(config: ClassifierConfig, data: tuple[Tensor, Tensor] | None = None, *,
                            device: str | torch.device = "auto", callback: Callback | None = None,
                            callback_every: int = 100, resume: str | os.PathLike | None = None,
                            out_dir: str | os.PathLike | None = None,
                            progress: bool = True) -> tuple[History, dict[str, nn.Module]]:
    """:func:`train_classifier`, returning ``(history, {"classifier": model})``."""
    if not isinstance(config, ClassifierConfig):
        raise TypeError(f"config must be a ClassifierConfig; got {type(config).__name__}")
    ctx, device = distributed.join(get_device(device))  # under torchrun: this rank, and its GPU
    shard = distributed.shard_size(config.batch_size, ctx)  # refuse an uneven split first
    seed_everything(config.seed)  # weights are initialised from the global RNG: the same on every rank
    test = None
    if data is None:
        digits = load_digits()
        (x, y), test = (digits.x_train, digits.y_train), (digits.x_test.to(device), digits.y_test.to(device))
    else:
        x, y = data
        if not (isinstance(x, Tensor) and isinstance(y, Tensor) and x.ndim == 2 and y.shape == (len(x),)
                and len(x)):
            raise ValueError("data must be a pair (x of shape (N, D), y of shape (N,)) with N >= 1")
    x, y = x.float().to(device), y.long().to(device)
    model = mlp(x.shape[1], int(y.max()) + 1 if test is None else 10, config.hidden, config.depth,
                nn.ReLU).to(device)
    optimizer = _optimizer(config, model.parameters())
    rng = torch.Generator(device).manual_seed(config.seed)  # the same on every rank: the same global batches
    ddp_model = distributed.wrap(model, ctx)  # train through DDP (under torchrun); evaluate the plain model
    lo = ctx.rank * shard

    def step_fn() -> dict[str, Tensor]:
        index = torch.randint(len(x), (config.batch_size,), generator=rng, device=device)  # (B,)
        index = index[lo:lo + shard]  # (B / world_size,): this rank's slice of the global batch
        return classifier_step(ddp_model, optimizer, x[index], y[index])

    def test_accuracy() -> dict[str, float]:
        model.eval()
        try:
            return {"test_accuracy": accuracy(model, *test)}
        finally:
            model.train()

    models = {"classifier": model}
    run = _Run("classifier", config, models, {"classifier": optimizer}, rng, step_fn,
               test_accuracy if test is not None else None, ctx)
    history = _loop(run, device=device, callback=callback, callback_every=callback_every, resume=resume,
                    out_dir=out_dir, progress=progress)
    return history, models
