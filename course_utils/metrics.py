"""Measures of generated samples."""

from __future__ import annotations

import torch


def nearest_neighbours(queries: torch.Tensor, reference: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Euclidean distance from each query to its nearest reference row, and that row's index.

    ``queries``: (n, D), ``reference``: (m, D) → ``(distances (n,), indices (n,))``. Used to ask
    whether generated samples are copies of training data (distance ≈ 0) or new, and to label a
    generated digit by its nearest training image (a 1-nearest-neighbour classifier).
    """
    if queries.ndim != 2 or reference.ndim != 2 or queries.shape[1] != reference.shape[1]:
        raise ValueError(f"queries and reference must be (n, D) and (m, D) with the same D; got "
                         f"{tuple(queries.shape)} and {tuple(reference.shape)}")
    if len(reference) == 0:
        raise ValueError("reference must have at least one row")
    distances = torch.cdist(queries.double(), reference.double())  # (n, m)
    best, index = distances.min(dim=1)
    return best.to(queries.dtype), index
