"""What an experiment is: the frozen, validated configs (:class:`GANConfig`, :class:`VAEConfig`,
:class:`ClassifierConfig`) with their presets, and the names of the losses and data sets they accept."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from course_utils.distributions import grid_centers, ring_centers

GANLoss = Literal["gan", "minimax", "lsgan", "wgan", "wgan-gp"]
LatentNoise = Literal["gaussian", "uniform"]
DataName = Literal["ring", "grid", "moons", "swiss_roll", "digits", "points"]
GAN_LOSSES = ("gan", "minimax", "lsgan", "wgan", "wgan-gp")
LATENT_NOISES = ("gaussian", "uniform")  # z ~ N(0, I), or z ~ U(-1, 1)^d as GAN Lab draws it
GAN_PRESETS = GAN_LOSSES + ("best",)  # "best": the course's best 2-D configuration (a tuned non-saturating GAN)
# "points": 2-D points you give (``data=`` of train_gan and Session, the GAN lab's pasted points); no set to load
USER_POINTS = "points"
DATA_NAMES = ("ring", "grid", "moons", "swiss_roll", "digits", USER_POINTS)
TOY_DATA = ("ring", "grid", "moons", "swiss_roll", USER_POINTS)  # 2-D: the presets' settings for the plane
MODE_DATA = {"ring": (ring_centers, 0.01), "grid": (grid_centers, 0.05)}  # centres and σ of the protocol
COVERAGE_SAMPLES = 2_500  # generator samples per mode-coverage evaluation (PacGAN / VEEGAN protocol)


# ============================================================================ validation
def check_int(name: str, value: Any, minimum: int) -> None:
    if type(value) is not int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def _check_positive(name: str, value: Any, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be a {'non-negative' if allow_zero else 'positive'} number; got {value!r}")


def _check_share(name: str, value: Any, what: str) -> None:
    """``value`` a number in [0, 1] (not a bool); ``what`` says what it is a share of."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not (ok and 0 <= value <= 1):
        raise ValueError(f"{name} must be a number in [0, 1] ({what}); got {value!r}")


def _check_common(config: Any) -> None:
    check_choice("data", config.data, DATA_NAMES)
    check_int("steps", config.steps, 0)
    check_int("batch_size", config.batch_size, 1)
    _check_positive("lr", config.lr)
    if not (isinstance(config.betas, tuple) and len(config.betas) == 2
            and all(isinstance(b, (int, float)) and 0 <= b < 1 for b in config.betas)):
        raise ValueError(f"betas must be a pair of numbers in [0, 1); got {config.betas!r}")
    for name in ("latent_dim", "hidden", "n_data", "log_every", "eval_every"):
        if hasattr(config, name):  # a classifier has no latent space and no sampled data set
            check_int(name, getattr(config, name), 1)
    check_int("depth", config.depth, 0)
    check_int("seed", config.seed, 0)


def _from_dict(cls: type, values: dict[str, Any]):
    """A config from ``asdict`` output or JSON (where tuples became lists); unknown keys refused."""
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return cls(**values)


# ============================================================================ GANs
@dataclass(frozen=True)
class GANConfig:
    """One GAN / WGAN / WGAN-GP experiment. The defaults are a quick, reliable ring run on a CPU
    (measured: 8/8 modes in about 15 s on one core; see ``tests/test_train.py``).

    ``steps`` counts generator updates; each does ``n_critic`` critic updates before it.
    Use :meth:`preset` for the settings each loss is usually trained with, and ``preset("best", data)``
    for the course's best 2-D configuration.
    """

    # "gan" non-saturating (Goodfellow et al. 2014, §3), "minimax" (their eq. 1), "lsgan" least squares (Mao et al.
    # 2017), "wgan" weight clipping (Arjovsky et al. 2017), "wgan-gp" gradient penalty (Gulrajani et al. 2017)
    loss: GANLoss = "gan"
    data: DataName = "ring"  # a course_utils.data set; ring/grid also get mode coverage in the History
    steps: int = 3_000  # generator updates: enough for 8/8 ring modes with the defaults (measured)
    batch_size: int = 256  # PacGAN / VEEGAN toy experiments; the low end of the 256..512 usual on 2-D data
    lr: float = 2e-4  # Adam step size for G and D (DCGAN, Radford et al. 2016)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam (β1, β2): β1 = 0.5 damps oscillations (DCGAN)
    optimizer: Literal["adam", "rmsprop"] = "adam"  # rmsprop for weight clipping (WGAN paper, Alg. 1)
    n_critic: int = 1  # critic updates per generator update: 1 for a GAN, 5 for WGANs (WGAN-GP paper, Alg. 1)
    clip_value: float = 0.01  # weight clipping c of "wgan" without spectral_norm (WGAN paper, Alg. 1)
    gp_lambda: float = 10.0  # gradient-penalty weight λ of "wgan-gp" (WGAN-GP paper, Alg. 1)
    latent_dim: int = 2  # z of this size; 2 is enough for 2-D data, digits use 16
    noise: LatentNoise = "gaussian"  # z ~ N(0, I), or "uniform": z ~ U(-1, 1)^latent_dim
    hidden: int = 128  # MLP width (2-D data) or conv width (digits)
    depth: int = 3  # hidden layers of the MLPs (ignored by the conv models)
    pack: int = 1  # D scores packs of this many samples; 1 is Goodfellow et al.'s D, PacGAN uses 2-4 (Lin et al. 2018)
    # every critic layer divided by its spectral norm (Miyato et al. 2018): ≤ 1-Lipschitz; "wgan" then skips clipping
    spectral_norm: bool = False
    lr_decay: float = 0.0  # share of the last steps over which both lrs fall linearly to 0; 0: constant (DCGAN)
    # decay β of an exponential moving average of G's weights, updated after every G step, which then samples
    # (Yazıcı et al. 2019; ProGAN, StyleGAN, BigGAN); 0: off, G's last iterate samples
    ema: float = 0.0
    drs_quantile: float | None = None  # γ's quantile for rejection sampling (Azadi et al. 2019); None: plain G(z)
    r1_gamma: float = 0.0  # R1 weight γ on a GAN's D (Mescheder et al. 2018): converges, not circles; 0: off
    r1_every: int = 1  # R1 (times r1_every) on every r1_every-th critic update only: lazy, as StyleGAN2's 16
    r1_until: float = 1.0  # share of the steps, from the start, with R1: it balances the modes, a free D sharpens
    n_data: int = 50_000  # training points drawn once for 2-D data (digits: the 1,500 training images)
    log_every: int = 10  # steps between History rows (each row is one host sync on a GPU)
    eval_every: int = 500  # steps between mode-coverage evaluations (ring and grid only)
    amp: bool = True  # bf16 autocast for image models on CUDA; ignored on the CPU and for 2-D data
    seed: int = 0  # seeds the weights, the data set and every batch

    def __post_init__(self) -> None:
        check_choice("loss", self.loss, GAN_LOSSES)
        check_choice("noise", self.noise, LATENT_NOISES)
        _check_common(self)
        check_choice("optimizer", self.optimizer, ("adam", "rmsprop"))
        check_int("n_critic", self.n_critic, 1)
        _check_positive("clip_value", self.clip_value)
        _check_positive("gp_lambda", self.gp_lambda, allow_zero=True)
        check_int("pack", self.pack, 1)
        if not isinstance(self.spectral_norm, bool):
            raise ValueError(f"spectral_norm must be True or False; got {self.spectral_norm!r}")
        _check_positive("r1_gamma", self.r1_gamma, allow_zero=True)
        check_int("r1_every", self.r1_every, 1)
        _check_share("r1_until", self.r1_until, "the share of the steps with R1")
        if self.r1_gamma > 0 and self.loss not in ("gan", "minimax"):
            raise ValueError(f"r1_gamma is a penalty on a GAN discriminator (loss 'gan' or 'minimax'); WGAN-GP has "
                             f"its own (gp_lambda); got loss={self.loss!r}")
        if self.batch_size % self.pack:
            raise ValueError(f"batch_size must be a multiple of pack (the discriminator scores packs of "
                             f"{self.pack} samples); got batch_size={self.batch_size}, pack={self.pack}")
        _check_share("lr_decay", self.lr_decay, "the share of the steps over which the learning rates fall to 0")
        ok = isinstance(self.ema, (int, float)) and not isinstance(self.ema, bool)
        if not (ok and 0 <= self.ema < 1):
            raise ValueError(f"ema must be a number in [0, 1): the decay of G's weight average, e.g. 0.995, "
                             f"or 0 for none; got {self.ema!r}")
        if self.drs_quantile is not None:
            self._check_drs()

    def _check_drs(self) -> None:
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

        - ``gan``/``minimax``/``lsgan``: Adam 2e-4, β = (0.5, 0.999), one D step per G step (DCGAN; the
          LSGAN paper trains with the same Adam settings, Mao et al. 2017, §4.1);
        - ``wgan``: RMSprop 5e-5, five critic steps, clipping at 0.01 (Arjovsky et al. 2017, Alg. 1); with
          ``spectral_norm=True`` no clipping, and Adam 1e-4, β = (0.5, 0.9) (Miyato et al. 2018, setting C);
        - ``wgan-gp``: Adam 1e-4, β = (0.5, 0.9), five critic steps, λ = 10 (Gulrajani et al. 2017,
          Alg. 1 and their toy code, which uses β1 = 0.5), λ = 0.1 on 2-D data (their toy code);
        - ``digits``: a 16-d latent and conv width 32;
        - ``best``: the course's best configuration on 2-D data: the non-saturating GAN (``loss="gan"``)
          with Adam 1e-3 decayed linearly to 0 over the last 15% of the steps (β2 = 0.995 on the grid),
          batch 512, 6,000 steps on the grid (4,000 elsewhere), discriminator rejection sampling with γ at
          the 20th percentile (``drs_quantile=0.2``, Azadi et al. 2019), and an R1 penalty γ = 0.1 on D
          (Mescheder et al. 2018) on every 4th critic update (StyleGAN2's lazy regularisation) over the
          first half. Tuned on seeds 0-9 and checked on 100-109; measured on seeds 1000-1029, which no
          tuning used (mean ± standard error over the 30 seeds, G alone = plain G(z), as PacGAN scores):
          grid G alone 24.97 ± 0.03 of 25 modes, 94.2 ± 0.3% high-quality samples, reverse KL 0.02 ± 0.01,
          with one seed of 30 missing a mode (seed 1018: 24 modes, 86.6%, 0.41); with rejection sampling
          97.4 ± 0.2%; ring G alone 8 of 8 modes in every seed, 96.7 ± 0.1% high quality, reverse KL
          0.005 ± 0.001; with rejection sampling 98.9 ± 0.04%. 66-82 s (grid) and 45-51 s (ring) a run on
          one CPU thread of a 2-core machine at a load average of about 2
          (``benchmarks/results/best_preset_untouched_seeds.md``).
          What each setting was measured against, and why PacGAN's packing and an average of G's weights
          (``ema``) are not in it:
          ``benchmarks/results/best_preset_tuning.md``.
        """
        check_choice("loss", loss, GAN_PRESETS)
        check_choice("data", data, DATA_NAMES)
        settings: dict[str, Any] = {"loss": loss, "data": data}
        if loss == "best":
            settings.update(_best_settings(data))
        elif loss == "wgan" and overrides.get("spectral_norm"):
            settings.update(lr=1e-4, betas=(0.5, 0.9), n_critic=5)
        elif loss == "wgan":
            settings.update(optimizer="rmsprop", lr=5e-5, n_critic=5)
        elif loss == "wgan-gp":
            settings.update(lr=1e-4, betas=(0.5, 0.9), n_critic=5, steps=1_500)
            if data in TOY_DATA:
                # "Smaller lambda seems to help for toy tasks specifically" (Gulrajani et al.'s gan_toy.py)
                settings.update(gp_lambda=0.1)
        if data == "digits":
            settings.update(latent_dim=16, hidden=32)
        return replace(cls(), **{**settings, **overrides})

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GANConfig:
        """The inverse of ``dataclasses.asdict`` (and of a JSON round trip)."""
        return _from_dict(cls, values)


def _best_settings(data: DataName) -> dict[str, Any]:
    """The settings of ``GANConfig.preset("best", data)``; each was measured against its alternatives
    (``benchmarks/results/best_preset_tuning.md``)."""
    if data not in TOY_DATA:
        raise ValueError(f"the 'best' preset is tuned for 2-D data ({', '.join(TOY_DATA)}); got {data!r}")
    return dict(
        loss="gan",  # the non-saturating GAN: the tuning below, not another loss, makes the difference
        # 2e-4 misses grid modes by the decay; with R1 and the short decay 1e-3 also beats 5e-4 on the ring (G
        # alone 97.1% against 94.9%, seeds 0-2), and 2e-3 loses grid seed 0 (its modes never settle)
        lr=1e-3,
        # anneal the last 15% (not CycleGAN's half): a long stretch at the full lr sharpens G's modes, a short
        # fall settles them (ring G alone 97.1% against 92.5% with 0.5, seeds 0-2; grid 93.0% against 91.2%)
        lr_decay=0.15,
        # Adam's β2 = 0.995 on the grid: its step-size estimate forgets in ~200 steps, not ~1,000, and G's modes
        # sharpen sooner (G alone 94.2% against 93.1%, tuning seeds 0-9); 0.99 unbalances a seed's modes (seed 1:
        # 83%, reverse KL 0.24). Untouched seeds 1000-1029: 1 of 30 loses a mode. The ring keeps Adam's 0.999
        betas=(0.5, 0.995) if data == "grid" else (0.5, 0.999),
        batch_size=512,  # better-balanced modes than 256 (with 256 grid seed 1 drops 2 modes)
        steps=6_000 if data == "grid" else 4_000,  # where every seed's modes are sharp (the grid has 25)
        drs_quantile=0.2,  # drops G's samples between modes, which D scores as fake
        r1_gamma=0.1,  # R1 feeds the modes that some seeds starve without it
        r1_every=4,  # lazy R1 (StyleGAN2): its costly double backward on a quarter of the critic updates
        r1_until=0.5,  # R1 over the first half, then a sharp D for sharp modes
        # no average of G's weights (ema): at the end of the lr decay it equals the last G (ring 97.5% against
        # 97.6%, grid 86.1% against 86.8%, seed 0, β = 0.995); 0.999 averages weights too far apart (ring 1.2%)
        ema=0.0,
    )


# ============================================================================ VAEs and classifiers
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
    beta: float = 1.0  # weight of the KL term (β-VAE, Higgins et al. 2017); 1 is the ELBO itself
    free_bits: float = 0.0  # nats of KL per latent dimension left unpenalised (Kingma et al. 2016); 0: off
    hidden: int = 256  # MLP width, or conv width for model="conv"
    depth: int = 2  # hidden layers of the MLP encoder and decoder
    n_data: int = 50_000  # training points drawn once for 2-D data (digits: the 1,500 training images)
    log_every: int = 10  # steps between History rows
    eval_every: int = 500  # steps between held-out ELBO evaluations (digits: the 297 test images)
    amp: bool = True  # bf16 autocast for image models on CUDA; ignored on the CPU and for 2-D data
    seed: int = 0  # seeds the weights, the data set, every batch and every z

    def __post_init__(self) -> None:
        _check_common(self)
        check_choice("model", self.model, ("mlp", "conv"))
        check_choice("likelihood", self.likelihood, ("bernoulli", "gaussian"))
        _check_positive("obs_std", self.obs_std)
        _check_positive("beta", self.beta)
        _check_positive("free_bits", self.free_bits, allow_zero=True)
        if self.model == "conv" and self.data != "digits":
            raise ValueError(f"model='conv' needs image data (data='digits'); got data={self.data!r}")
        if self.likelihood == "bernoulli" and self.data in TOY_DATA:
            raise ValueError(f"a Bernoulli decoder needs data in [0, 1]; use likelihood='gaussian' for "
                             f"data={self.data!r} (or VAEConfig.preset)")

    @classmethod
    def preset(cls, data: DataName = "digits", **overrides: Any) -> VAEConfig:
        """The usual settings on ``data``: Bernoulli decoder on digits; on 2-D data a Gaussian decoder
        with σ = 0.05, latent 2 and width 128."""
        check_choice("data", data, DATA_NAMES)
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
        check_choice("data", self.data, ("digits",))

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ClassifierConfig:
        """The inverse of ``dataclasses.asdict`` (and of a JSON round trip)."""
        return _from_dict(cls, values)
