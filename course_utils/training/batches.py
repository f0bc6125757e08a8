"""The training data of a run: its training (and test) set on the device, the random streams a run draws
from, and the batch indices each step takes (under torchrun: this rank's slice of the global batch)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from course_utils.data import load_digits, make_grid, make_moons_data, make_ring, make_swiss_roll_2d
from course_utils.training import distributed
from course_utils.training.config import DATA_NAMES, USER_POINTS, DataName, check_choice

Tensor = torch.Tensor


def load_training_data(name: DataName, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    """``(train, test)`` float32 tensors on the CPU: ``n`` points of a 2-D set drawn with ``seed``
    (test ``None``), or the fixed digits split (1,500 / 297 images of 64 pixels in [0, 1])."""
    check_choice("data", name, DATA_NAMES)
    if name == USER_POINTS:
        raise ValueError(f"data={USER_POINTS!r} trains on points you give: pass them as data=, a tensor (N, 2)")
    if name == "digits":
        digits = load_digits()
        return digits.x_train, digits.x_test
    generator = torch.Generator().manual_seed(seed)
    maker = {"ring": make_ring, "grid": make_grid, "moons": make_moons_data, "swiss_roll": make_swiss_roll_2d}[name]
    return maker(n, generator=generator), None


def training_set(config: Any, data: Tensor | None, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """``(train, test)`` on ``device``: ``data`` if given (test ``None``), else :func:`load_training_data`."""
    if data is None:
        data, test = load_training_data(config.data, config.n_data, config.seed)
    else:
        data, test = _check_data(data, config), None
    return data.to(device), None if test is None else test.to(device)


def _check_data(data: Any, config: Any) -> Tensor:
    if not isinstance(data, torch.Tensor) or data.ndim != 2 or len(data) == 0:
        shape = tuple(data.shape) if isinstance(data, torch.Tensor) else type(data).__name__
        raise ValueError(f"data must be a tensor of shape (N, D) with N >= 1; got {shape}")
    if config.data == "digits" and data.shape[1] != 64:
        raise ValueError(f"data={config.data!r} expects 64 pixels per row; got shape {tuple(data.shape)}")
    return data.float()


def labelled_set(data: tuple[Tensor, Tensor] | None,
                 device: torch.device) -> tuple[Tensor, Tensor, tuple[Tensor, Tensor] | None]:
    """``(x, y, test)`` on ``device``: the pair ``data`` if given (test ``None``), else the training digits
    and, as ``test``, the held-out ones."""
    test = None
    if data is None:
        digits = load_digits()
        (x, y), test = (digits.x_train, digits.y_train), (digits.x_test.to(device), digits.y_test.to(device))
    else:
        x, y = data
        if not (isinstance(x, Tensor) and isinstance(y, Tensor) and x.ndim == 2 and y.shape == (len(x),)
                and len(x)):
            raise ValueError("data must be a pair (x of shape (N, D), y of shape (N,)) with N >= 1")
    return x.float().to(device), y.long().to(device), test


def batch_stream(config: Any, device: torch.device) -> torch.Generator:
    """The stream every batch is drawn from, seeded with ``config.seed``: the same on every rank, so all
    draw the batches of the single-process run."""
    return torch.Generator(device).manual_seed(config.seed)


def rank_stream(config: Any, device: torch.device, ctx: distributed.Context) -> torch.Generator | None:
    """Under torchrun, the stream of this rank's z and ε; ``None`` in a single process, where they come
    from the :func:`batch_stream` (one stream, saved in checkpoints).

    Each rank's is seeded from ``(seed, rank)`` by NumPy's ``SeedSequence`` (made to derive independent
    streams): shared noise would give every rank the same fakes. So a run on W processes sees the same
    data as on one but other z, and matches it statistically; a step without noise (the classifier)
    matches it up to float rounding.
    """
    if not ctx.is_distributed:
        return None
    seed = int(np.random.SeedSequence([config.seed, ctx.rank]).generate_state(1, np.uint64)[0])
    return torch.Generator(device).manual_seed(seed)


def batch_indices(n: int, batch_size: int, rng: torch.Generator, device: torch.device,
                  ctx: distributed.Context = distributed.SINGLE) -> Callable[[], Tensor]:
    """Indices of batches drawn with replacement from ``n`` rows: the global batch of ``batch_size``
    indices from ``rng`` (the same on every rank), on ``device``, of which this rank keeps its slice of
    ``batch_size // world_size``."""
    shard = distributed.shard_size(batch_size, ctx)
    lo = ctx.rank * shard

    def sample() -> Tensor:
        index = torch.randint(n, (batch_size,), generator=rng, device=device)  # (B,), with replacement
        return index[lo:lo + shard]  # (B / world_size,); (B,) in a single process

    return sample
