"""Checkpoints: what ``checkpoint.pt`` holds (config, weights, optimizers, step, every random state, the
History), writing it atomically, and resuming from it with the numbers of an uninterrupted run."""

from __future__ import annotations

import os
import random
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from course_utils._io import atomic_write
from course_utils.training import distributed
from course_utils.training.history import History

CHECKPOINT_NAME = "checkpoint.pt"


@dataclass
class TrainingState:
    """What a checkpoint saves and a resume restores: a run's models, optimizers and random streams."""

    kind: str  # "gan", "minimax", "wgan", "wgan-gp", "vae" or "classifier"
    config: Any
    models: dict[str, nn.Module]  # the plain modules, not DDP's wrappers: their weights are saved without "module."
    optimizers: dict[str, torch.optim.Optimizer]
    train_rng: torch.Generator  # the batches (and, in a single process, every z and ε too)
    ctx: distributed.Context = distributed.SINGLE  # this process among those of a torchrun
    rank_rng: torch.Generator | None = None  # under torchrun: this rank's own z and ε (batches.rank_stream)


# ============================================================================ random states
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


# ============================================================================ files
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


# ============================================================================ save and resume a run
def write_checkpoint(out_dir: str | os.PathLike, state: TrainingState, step: int, history: History) -> None:
    """Save ``out_dir/checkpoint.pt`` after ``step``. Under torchrun call it on every rank: it gathers the
    ranks' random streams, rank 0 writes, and the file exists on return whichever rank reads it."""
    checkpoint = {
        "kind": state.kind,
        "device": state.train_rng.device.type,  # random streams differ across device types: resume on the same
        "world_size": state.ctx.world_size,  # each rank has its own stream: resume with as many processes
        "config": asdict(state.config),
        "state_dict": {name: m.state_dict() for name, m in state.models.items()},
        "optimizer": {name: o.state_dict() for name, o in state.optimizers.items()},
        "step": step,
        "rng": _rng_state(state.train_rng),
        "history": history.to_dict(),
    }
    if state.rank_rng is not None:
        checkpoint["rank_rng"] = distributed.gather(state.rank_rng.get_state().cpu(), state.ctx)  # [rank 0, 1, ...]
    if state.ctx.is_main:
        save_checkpoint(Path(out_dir) / CHECKPOINT_NAME, checkpoint)
    distributed.barrier(state.ctx)


def resume_from(path: str | os.PathLike, state: TrainingState, device: torch.device) -> tuple[History, int]:
    """Load the checkpoint at ``path`` into ``state`` (weights, optimizers, random streams); return the
    History so far and the step it reached."""
    saved = load_checkpoint(path, device)
    _check_resumable(path, saved, state, device)
    for name, module in state.models.items():
        module.load_state_dict(saved["state_dict"][name])
    for name, optimizer in state.optimizers.items():
        optimizer.load_state_dict(saved["optimizer"][name])
    _set_rng_state(saved["rng"], state.train_rng)
    if state.rank_rng is not None:
        state.rank_rng.set_state(saved["rank_rng"][state.ctx.rank].cpu())
    history = History.from_dict(saved["history"])
    history.interrupted = False
    return history, int(saved["step"])


def _check_resumable(path: str | os.PathLike, saved: dict[str, Any], state: TrainingState,
                     device: torch.device) -> None:
    """The checkpoint continues this run: the same kind and config, device type and number of processes."""
    if saved.get("kind") != state.kind:
        raise ValueError(f"{path} is a {saved.get('kind')!r} checkpoint, not {state.kind!r}")
    _check_same_config(state.config, saved["config"])
    if saved["device"] != device.type:
        raise ValueError(f"{path} was made on {saved['device']}; resume it on {saved['device']} too "
                         f"(this run is on {device.type}): random streams differ between device types")
    if saved.get("world_size", 1) != state.ctx.world_size:
        raise ValueError(f"{path} was made by {saved.get('world_size', 1)} process(es); resume it with as "
                         f"many (this run has {state.ctx.world_size}): each process has its own random stream")


def _check_same_config(config: Any, saved: dict[str, Any]) -> None:
    """Everything but ``steps`` (and the logging cadence) must match the checkpoint's config.

    A field the saved config lacks (added to the config class after the checkpoint was written, as ``ema`` and
    ``spectral_norm`` were) counts as its default, which is what the run that wrote it used.
    """
    ignored = {"steps", "log_every", "eval_every"}
    defaults = {f.name: f.default for f in fields(config) if f.default is not MISSING}
    mine = {k: v for k, v in asdict(config).items() if k not in ignored}
    theirs = {k: tuple(v) if isinstance(v, list) else v for k, v in (defaults | saved).items() if k not in ignored}
    if mine != theirs:
        diff = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        raise ValueError(f"the checkpoint was made with a different config ({', '.join(diff)} differ); "
                         "only steps may change on resume")
