"""Runs too long for a chapter's CPU budget, shipped as small files made by ``course train``.

A claim such as "the plain GAN collapses on the grid" needs a converged run (8,000 steps: minutes on a
laptop's CPU); the chapter loads it and says so, while the student still trains a short run live. Each run
is one file in ``course_utils/pretrained/`` (the weights, the config and the History of the checkpoint that
``course train`` wrote, without the optimizer state and random streams that only a resume needs), listed in
``manifest.json`` with its sha256 and the exact ``course train`` arguments that remake it
(``benchmarks/make_pretrained.py NAME`` reruns them). ``tests/test_pretrained.py`` checks that every entry
loads, matches its hash and its command, and scores what its record says.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from course_utils._io import atomic_write, atomic_write_json
from course_utils.training.config import GANConfig, VAEConfig
from course_utils.training.history import History
from course_utils.training.steps import build_gan, build_vae

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
MANIFEST = "manifest.json"
DATA_DIMS = {"ring": 2, "grid": 2, "moons": 2, "swiss_roll": 2, "points": 2, "digits": 64}


@dataclass(frozen=True)
class Pretrained:
    """A shipped run: its config, its models in eval mode, its History and the arguments that remake it."""

    name: str
    kind: str  # course train's MODEL: "gan", "wgan", "wgan-gp", "best", "vae", ...
    config: GANConfig | VAEConfig
    models: dict[str, nn.Module]
    history: History
    command: tuple[str, ...]  # the arguments of `course train` that made it (without --out)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(folder: Path = PRETRAINED_DIR) -> dict[str, dict[str, Any]]:
    """name -> {"file", "sha256", "command", "kind"} of every shipped run."""
    path = folder / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else {}


def available(folder: Path = PRETRAINED_DIR) -> list[str]:
    """The names :func:`load_pretrained` accepts."""
    return sorted(read_manifest(folder))


def load_pretrained(name: str, device: str | torch.device = "cpu", *, folder: Path = PRETRAINED_DIR) -> Pretrained:
    """The shipped run ``name`` (one of :func:`available`), its sha256 checked, models on ``device``."""
    manifest = read_manifest(folder)
    if name not in manifest:
        raise ValueError(f"no shipped run named {name!r}; available: {', '.join(sorted(manifest)) or 'none'}")
    entry = manifest[name]
    path = folder / entry["file"]
    if not path.is_file() or sha256(path) != entry["sha256"]:
        raise ValueError(f"{path} is missing or changed (sha256 differs from {MANIFEST}); remake it with "
                         f"`python benchmarks/make_pretrained.py {name}`")
    saved = torch.load(path, map_location=device, weights_only=True)
    config, models = _build(saved["kind"], saved["config"])
    for key, module in models.items():
        module.load_state_dict(saved["state_dict"][key])
        module.to(device).eval()
    return Pretrained(name, entry["kind"], config, models, History.from_dict(saved["history"]),
                      tuple(entry["command"]))


def _build(kind: str, values: dict[str, Any]) -> tuple[GANConfig | VAEConfig, dict[str, nn.Module]]:
    if kind == "vae":
        config = VAEConfig.from_dict(values)
        return config, {"vae": build_vae(config, DATA_DIMS[config.data])}
    config = GANConfig.from_dict(values)
    generator, critic = build_gan(config, DATA_DIMS[config.data])
    return config, {"generator": generator, "critic": critic}


def ship(checkpoint_path: str | Path, name: str, kind: str, command: list[str], *,
         folder: Path = PRETRAINED_DIR) -> Path:
    """Write ``folder/name.pt`` from a ``course train`` checkpoint (weights, config, History; no optimizer
    state or random streams) and record it in the manifest with its sha256 and ``command``."""
    saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if saved.get("world_size", 1) != 1:
        raise ValueError("ship a run of one process: its History is the whole run's")
    # the EMA generator, when there is one, is what samples; ship exactly the modules _build makes
    state_dict = {key: saved["state_dict"][key] for key in ("vae",) if key in saved["state_dict"]} or {
        "generator": saved["state_dict"]["generator"], "critic": saved["state_dict"]["critic"]}
    slim = {"kind": saved["kind"], "config": saved["config"], "state_dict": state_dict, "step": saved["step"],
            "history": saved["history"]}
    path = atomic_write(folder / f"{name}.pt", lambda fh: torch.save(slim, fh))
    manifest = read_manifest(folder)
    manifest[name] = {"file": path.name, "sha256": sha256(path), "kind": kind, "command": list(command)}
    atomic_write_json(folder / MANIFEST, dict(sorted(manifest.items())))
    return path
