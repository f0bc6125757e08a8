"""Data sets the course can use offline.

Image data is scikit-learn's bundled 8x8 digits (1,797 images, no download). Toy 2-D sets for the
GAN chapters are added beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

DIGITS_TEST_SIZE = 297  # held-out images; the remaining 1,500 train (a round number, fixed forever)
DIGITS_SPLIT_SEED = 0  # the permutation that defines the split; changing it changes every figure


@dataclass(frozen=True)
class Digits:
    """scikit-learn's 8x8 digits as float32 pixels in [0, 1] with a fixed train/test split."""

    x_train: torch.Tensor  # (1500, 64) float32 in [0, 1]
    y_train: torch.Tensor  # (1500,) int64 in 0..9
    x_test: torch.Tensor  # (297, 64)
    y_test: torch.Tensor  # (297,)

    image_shape = (8, 8)


def load_digits() -> Digits:
    """Load the digits bundled with scikit-learn (pixel values 0..16, scaled to [0, 1]).

    The split is the same on every machine: a permutation from a fixed torch seed.
    """
    from sklearn.datasets import load_digits as sklearn_digits  # import here: sklearn is slow to import

    bunch = sklearn_digits()
    x = torch.as_tensor(bunch.data, dtype=torch.float32) / 16.0  # (1797, 64)
    y = torch.as_tensor(bunch.target, dtype=torch.int64)  # (1797,)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(DIGITS_SPLIT_SEED))
    test, train = order[:DIGITS_TEST_SIZE], order[DIGITS_TEST_SIZE:]
    return Digits(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])
