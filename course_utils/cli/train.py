"""``course train``: train a GAN, WGAN, WGAN-GP, the course's best GAN or a VAE from the command line; save it.

    course train gan --data ring --steps 3000 --seed 0 --device auto --out runs/gan-ring

writes, into ``--out``:

- ``config.json``: the model kind and the full config (``GANConfig`` / ``VAEConfig`` as a dict);
- ``metrics.json``: the History (losses, metrics) and the final figures;
- ``checkpoint.pt``: weights, optimizers, step, random states (``course_utils.training.load_checkpoint``);
- ``samples.png``: generated samples (a scatter over the data for 2-D sets, an image grid for digits);
- ``samples.npy``: for 2-D data, 2,500 generated points, float32 (2500, 2).

Arguments are checked, and the output folder tested for writing, before training starts; each file
is written to a temporary name in the folder and renamed, so none is ever half-written. Torch and
matplotlib are imported only when the command runs (``course --help`` stays fast).

A run found elsewhere (the GAN lab's ``save``, or an earlier ``course train``) is repeated from its
``config.json``, with any field changed by ``--set`` (values read as JSON: numbers, ``null``, ``true``;
anything else is a string), e.g. on a GPU with more steps and without rejection sampling:

    course train --config runs/lab/config.json --set steps=20000 --set drs_quantile=null --out runs/big

A config with ``"data": "points"`` trains on the ``points.csv`` beside it (the lab saves it there).

The same command trains data-parallel under ``torchrun`` (DDP; NCCL on GPUs, gloo on the CPU), the
preset's batch size being the global batch, split evenly over the processes
(:mod:`course_utils.training.distributed`); rank 0 alone writes the files and prints:

    torchrun --standalone --nproc-per-node 2 --no-python course train gan --data ring --out runs/gan
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path

from course_utils._io import atomic_write, atomic_write_json
from course_utils.cli.args import whole_number
from course_utils.cli.base import Command, CommandFailed, UsageError

KINDS = ("gan", "minimax", "lsgan", "wgan", "wgan-gp", "best", "vae")  # "best": the tuned GAN (GANConfig.preset)
DATA = ("ring", "grid", "moons", "digits")
DEVICES = ("auto", "cuda", "mps", "cpu")
N_SAMPLES = 2_500  # generated points saved and scored (the mode-coverage protocol's count)


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``course train``."""
    parser.add_argument("kind", choices=KINDS, metavar="MODEL", nargs="?",
                        help=f"what to train: {', '.join(KINDS)} (or give --config)")
    parser.add_argument("--config", type=Path, metavar="FILE",
                        help="train the config in FILE (a config.json of course train or of the GAN lab)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="settings",
                        help="change one field of the config (repeatable), e.g. --set steps=20000")
    parser.add_argument("--data", choices=DATA, default=None,
                        help="training set (default: ring for GANs, digits for the VAE)")
    parser.add_argument("--steps", type=whole_number(1, "2000"), default=None,
                        help="generator (or VAE) updates (default: the preset's)")
    parser.add_argument("--seed", type=whole_number(0, "0"), default=None,
                        help="seeds weights, data and batches (default 0, or the config's)")
    parser.add_argument("--device", choices=DEVICES, default="auto", help="auto: CUDA, then MPS, then CPU")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the outputs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _make_config(args: argparse.Namespace):
    """``(kind, config)``: the preset of MODEL, or the config of ``--config``; then --steps, --seed, --set."""
    from dataclasses import replace

    from course_utils.training import GANConfig, VAEConfig

    if (args.kind is None) == (args.config is None):
        raise UsageError("give MODEL (e.g. course train gan) or --config FILE, not both" if args.kind else
                         "give MODEL (e.g. course train gan) or --config FILE")
    overrides = {name: value for name, value in (("seed", args.seed), ("steps", args.steps)) if value is not None}
    overrides |= _parse_settings(args.settings)
    try:
        if args.config is not None:
            if args.data is not None:
                raise UsageError("argument --data: the config names its data; change it with --set data=NAME")
            kind, config = _read_config(args.config)
            unknown = sorted(set(overrides) - set(_field_names(config)))
            if unknown:
                raise UsageError(f"argument --set: {', '.join(map(repr, unknown))} is not a field of "
                                 f"{type(config).__name__}; its fields: {', '.join(_field_names(config))}")
            return kind, replace(config, **{k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()})
        if args.kind == "vae":
            return args.kind, VAEConfig.preset(args.data or "digits", **overrides)
        return args.kind, GANConfig.preset(args.kind, args.data or "ring", **overrides)
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None


def _field_names(config) -> list[str]:
    from dataclasses import fields

    return [field.name for field in fields(config)]


def _parse_settings(settings: list[str]) -> dict:
    """``["steps=20000", "drs_quantile=null"]`` -> ``{"steps": 20000, "drs_quantile": None}`` (JSON, else text)."""
    import json

    values = {}
    for setting in settings:
        key, equals, text = setting.partition("=")
        if not (equals and key.strip()):
            raise UsageError(f"argument --set: {setting!r} is not KEY=VALUE (e.g. --set steps=20000)")
        try:
            values[key.strip()] = json.loads(text)
        except ValueError:
            values[key.strip()] = text  # a bare word: loss=wgan-gp
    return values


def _read_config(path: Path):
    """``(kind, config)`` from a config.json of ``course train`` ({"kind", "config"}) or of the GAN lab (the
    GANConfig's fields)."""
    import json

    from course_utils.training import GANConfig, VAEConfig

    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"argument --config: {str(path)!r} does not exist") from None
    except (OSError, ValueError) as error:
        raise UsageError(f"argument --config: {str(path)!r} is not a readable JSON file ({error})") from None
    if not isinstance(saved, dict):
        raise UsageError(f"argument --config: {str(path)!r} holds no config (a JSON object)")
    if "config" in saved and "kind" in saved:  # course train's own config.json
        kind, fields = saved["kind"], saved["config"]
    else:  # the GAN lab's: the fields themselves
        kind, fields = str(saved.get("loss", "gan")), saved  # its loss names the run, as MODEL would
    config_type = VAEConfig if kind == "vae" else GANConfig
    try:
        return kind, config_type.from_dict(fields)
    except (ValueError, TypeError) as error:
        raise UsageError(f"argument --config: {error}") from None



def _prepare_out_dir(out: Path) -> bool:
    """Create ``out`` if needed and check that files can be written there; return whether it was created."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"argument --out: {str(out)!r} is a file; give a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as error:
        if created:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise UsageError(f"argument --out: cannot write to {str(out)!r} ({error.strerror or error})") from None
    return created


def _join_processes(args: argparse.Namespace, config):
    """This process's place among torchrun's processes, and its device; refuses a batch that does not split."""
    from course_utils.device import get_device
    from course_utils.training import distributed

    try:
        device = get_device(args.device)
    except ValueError as error:
        raise UsageError(f"argument --device: {error}") from None
    try:
        ctx, device = distributed.join(device)  # under torchrun (several processes): this rank, and its GPU
        distributed.shard_size(config.batch_size, ctx, getattr(config, "pack", 1))  # refuse an uneven split
    except ValueError as error:
        raise UsageError(str(error)) from None
    return ctx, device


def _points_for(config, config_file: Path | None):
    """The points of a ``data="points"`` config: ``points.csv`` beside its config file; None for other data."""
    from course_utils.data import parse_points
    from course_utils.training import USER_POINTS

    if config.data != USER_POINTS:
        return None
    path = (config_file.parent if config_file is not None else Path.cwd()) / "points.csv"
    try:
        return parse_points(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"data 'points' trains on your points: put them in {path} (x, y per line)") from None
    except ValueError as error:
        raise UsageError(f"{path}: {error}") from None


def _samples(kind: str, models, config, device):
    """N_SAMPLES generated points (or images, flattened), on the CPU, drawn as the History's evaluations draw."""
    import torch

    from course_utils.training import sample_gan

    rng = torch.Generator(device).manual_seed(config.seed + 1)  # the z of the History's evaluations
    if kind == "vae":
        samples = models["vae"].sample(N_SAMPLES, generator=rng).flatten(1).float()
    else:
        samples = sample_gan(models, config, N_SAMPLES, rng=rng)
    return samples.cpu()  # (2500, D)


def _final_figures(samples, config, history) -> dict[str, float]:
    """Mode coverage on ring and grid (PacGAN protocol), the last held-out ELBO for a VAE, else nothing."""
    from course_utils.metrics import mode_coverage
    from course_utils.training import MODE_DATA

    if config.data in MODE_DATA:
        centers_fn, std = MODE_DATA[config.data]
        coverage = mode_coverage(samples, centers_fn(), std)
        return {"modes": coverage.modes, "n_modes": len(coverage.counts),
                "high_quality": coverage.fraction_high_quality, "reverse_kl": coverage.reverse_kl}
    if "test_elbo" in history.metrics:
        return {"test_elbo": history.metrics["test_elbo"][-1]}
    return {}


def _samples_figure(samples, data, kind: str, data_name: str):
    from course_utils.plotting import DATA_COLOR, MODEL_COLOR, new_figure, plot_image_grid

    if data_name == "digits":
        fig = new_figure(width=4.5, height=4.8)
        plot_image_grid(fig.axes[0], samples[:64], (8, 8), title=f"{kind}: 64 samples")
        return fig
    fig = new_figure(width=4.5, height=4.5)
    ax = fig.axes[0]
    ax.scatter(data[:N_SAMPLES, 0], data[:N_SAMPLES, 1], s=2, color=DATA_COLOR, alpha=0.4, label="data")
    ax.scatter(samples[:, 0], samples[:, 1], s=2, color=MODEL_COLOR, alpha=0.4, label=kind)
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", markerscale=4)
    ax.set_title(f"{kind} on {data_name}: {len(samples):,} samples")
    return fig


def _write_outputs(out: Path, kind: str, config, history, samples, final: dict, world_size: int,
                   points=None) -> None:
    """config.json, metrics.json, samples.npy (2-D data) and samples.png; the loop wrote checkpoint.pt."""
    from dataclasses import asdict

    import numpy as np

    from course_utils.training import load_training_data

    step = history.step[-1] if history.step else 0
    # world_size: batches are global, but each process draws its own z, so a run repeats with as many processes
    atomic_write_json(out / "config.json", {"kind": kind, "config": asdict(config), "world_size": world_size})
    atomic_write_json(out / "metrics.json", {"step": step, "interrupted": history.interrupted, "final": final,
                                             "history": history.to_dict()})
    data = None
    if config.data != "digits":
        atomic_write(out / "samples.npy", lambda fh: np.save(fh, samples.numpy().astype(np.float32)))
        data = points if points is not None else load_training_data(config.data, config.n_data, config.seed)[0]
    fig = _samples_figure(samples, data, kind, config.data)
    atomic_write(out / "samples.png", lambda fh: fig.savefig(fh, format="png", dpi=100))


def run(args: argparse.Namespace) -> int:
    """Train, then write config.json, metrics.json, checkpoint.pt, samples.png (and samples.npy)."""
    from course_utils.training import TrainingDiverged, train_gan_models, train_vae_models
    from course_utils.training.distributed import on_main

    kind, config = _make_config(args)
    args.kind = kind  # the label of the outputs: the preset's name, or the loss of a --config
    points = _points_for(config, args.config)
    ctx, device = _join_processes(args, config)
    out: Path = args.out
    created = on_main(lambda: _prepare_out_dir(out), ctx)  # its UsageError reaches every rank
    train = train_vae_models if args.kind == "vae" else train_gan_models
    try:
        history, models = train(config, points, device=device, out_dir=out, progress=not args.no_progress)
    except TrainingDiverged as error:  # every rank stops at the same History row (losses are all-reduced)
        if created and ctx.is_main:
            with contextlib.suppress(OSError):
                out.rmdir()
        raise CommandFailed(f"{error}; nothing was written") from None
    if not ctx.is_main:  # rank 0 writes the other files and prints; the checkpoint is saved already
        return 0

    samples = _samples(args.kind, models, config, device)
    final = _final_figures(samples, config, history)
    _write_outputs(out, args.kind, config, history, samples, final, ctx.world_size, points)

    step = history.step[-1] if history.step else 0
    summary = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in final.items())
    where = device.type + (f" ({ctx.world_size} processes)" if ctx.is_distributed else "")
    print(f"{args.kind} on {config.data}: {step} steps on {where}" + (f"; {summary}" if summary else ""))
    print(f"wrote {out}/: config.json, metrics.json, checkpoint.pt, samples.png"
          + (", samples.npy" if config.data != "digits" else ""))
    if history.interrupted:
        print(f"interrupted at step {step}; resume from {out / 'checkpoint.pt'} with course_utils.training")
        return 130
    return 0


COMMAND = Command("train", "train a GAN, WGAN, WGAN-GP or VAE; save its checkpoint, samples and metrics",
                  configure, run, needs_root=False)
