"""One place that decides the device, the seed and the size of each experiment.

Notebooks call :func:`get_device` and :func:`seed_everything` once, in their setup cell, and
read experiment sizes from :func:`run_profile`, so that the same cell trains a quick
configuration on a laptop CPU and a larger one on a GPU.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu")
# Threads for the course's small models on a CPU. Measured on a 2-core machine with one other busy process
# (benchmarks/cpu_threads.py): a 600-step ring GAN took 4.7 s on one thread and 16.7-19.5 s on torch's default
# two, a 300-step digit VAE 1.6 s against 5.9-6.4 s; quiet, two threads gain little on models this small. A
# second thread helps only when the core is free, and hurts several-fold when it is not (a student's other
# notebook, the lab training beside a chapter): one thread. COURSE_CPU_THREADS overrides it.
CPU_THREADS = 1


def mps_available() -> bool:
    """Is Apple's Metal backend built into this torch and usable on this machine?"""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def get_device(preference: str | torch.device = "auto") -> torch.device:
    """Return the device that training should use.

    Parameters
    ----------
    preference : {"auto", "cuda", "mps", "cpu"} or torch.device
        ``"auto"`` picks CUDA, then Apple MPS, then the CPU. The environment variable
        ``COURSE_DEVICE`` overrides ``"auto"`` (e.g. ``COURSE_DEVICE=cpu`` on a shared GPU box).
        Naming an accelerator that is not available raises ``ValueError``.
    """
    if isinstance(preference, torch.device):
        preference = preference.type
    if not isinstance(preference, str):
        raise TypeError(f"preference must be a str such as 'auto' or 'cpu'; got {type(preference).__name__}")
    choice, source = preference.lower(), "preference"
    if choice == "auto" and os.environ.get("COURSE_DEVICE", "").lower() not in ("", "auto"):
        # errors then name the variable, not the 'auto' the caller passed
        preference, source = os.environ["COURSE_DEVICE"], "COURSE_DEVICE"
        choice = preference.lower()
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"{source} must be one of {', '.join(DEVICE_CHOICES)}; got {preference!r}")
    if choice == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        choice = "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{source}='cuda' but torch sees no CUDA GPU; use 'auto' or 'cpu' "
                         "(or install a CUDA build of torch: see `course doctor`)")
    if choice == "mps" and not mps_available():
        raise ValueError(f"{source}='mps' but this torch has no usable MPS backend; use 'auto' or 'cpu'")
    if choice == "cpu":
        use_cpu_threads()
    return torch.device(choice)


def cpu_threads() -> int:
    """The threads torch should use on the CPU: ``COURSE_CPU_THREADS`` if set, else :data:`CPU_THREADS`."""
    value = os.environ.get("COURSE_CPU_THREADS", "").strip()
    if not value:
        return CPU_THREADS
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"COURSE_CPU_THREADS must be a whole number >= 1 (threads for torch on the CPU); "
                         f"got {value!r}")
    return int(value)


def use_cpu_threads() -> int:
    """Set torch's intra-op threads to :func:`cpu_threads` (what :func:`get_device` does when it picks the CPU);
    return the number."""
    threads = cpu_threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


def describe_device(device: torch.device) -> str:
    """A human-readable name, e.g. ``'cuda (NVIDIA H100 80GB HBM3)'`` or ``'cpu (2 threads)'``."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'' if n == 1 else 's'})"
    return device.type


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a CPU ``torch.Generator`` seeded the same.

    Pass the returned generator to functions that take ``generator=`` so a cell's randomness does
    not depend on what ran before it.
    """
    if type(seed) is not int or seed < 0:
        raise ValueError(f"seed must be a non-negative int; got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class RunProfile:
    """How big the experiments of a chapter are on this machine."""

    name: str  # "quick" (CPU, about a minute per chapter) or "full" (GPU)
    n_samples: int  # samples drawn for histograms and Monte-Carlo estimates
    train_steps: int  # optimisation steps for the models a chapter trains
    batch_size: int  # minibatch size for those models


QUICK = RunProfile(name="quick", n_samples=20_000, train_steps=2_000, batch_size=256)
FULL = RunProfile(name="full", n_samples=1_000_000, train_steps=20_000, batch_size=1_024)


def run_profile(device: torch.device | None = None) -> RunProfile:
    """The quick profile on a CPU, the full one on an accelerator; ``COURSE_PROFILE`` overrides."""
    forced = os.environ.get("COURSE_PROFILE", "").lower()
    if forced:
        if forced not in ("quick", "full"):
            raise ValueError(f"COURSE_PROFILE must be 'quick' or 'full'; got {forced!r}")
        return QUICK if forced == "quick" else FULL
    device = get_device() if device is None else device
    return QUICK if device.type == "cpu" else FULL
