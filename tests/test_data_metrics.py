"""course_utils.data (the digits and their fixed split) and course_utils.metrics (nearest neighbours)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pytest
import sklearn.datasets
import torch
from scipy.spatial.distance import cdist

from course_utils.data import DIGITS_TEST_SIZE, load_digits
from course_utils.metrics import nearest_neighbours


@pytest.fixture(scope="module")
def digits():
    return load_digits()


def rows(x: torch.Tensor, y: torch.Tensor) -> Counter:
    """The multiset of (pixels, label) rows."""
    return Counter((tuple(px), int(label)) for px, label in zip(x.tolist(), y.tolist(), strict=True))


# --------------------------------------------------------------------------- digits
def test_digits_shapes_and_dtypes(digits):
    """Are there 1,500 training and 297 test images of 64 float32 pixels, with int64 labels?"""
    assert digits.x_train.shape == (1500, 64) and digits.x_test.shape == (297, 64)
    assert digits.y_train.shape == (1500,) and digits.y_test.shape == (297,)
    assert digits.x_train.dtype == digits.x_test.dtype == torch.float32
    assert digits.y_train.dtype == digits.y_test.dtype == torch.int64
    assert DIGITS_TEST_SIZE == 297
    assert digits.image_shape == (8, 8)


def test_digits_pixels_in_unit_interval_and_scaled_by_16(digits):
    """Are pixels in [0, 1], multiples of 1/16, reaching both 0 and 1?"""
    x = torch.cat([digits.x_train, digits.x_test])
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert torch.equal(x * 16, (x * 16).round())


def test_digits_labels_cover_0_to_9(digits):
    """Are the labels exactly 0..9, each present in both splits?"""
    assert set(digits.y_train.tolist()) == set(range(10))
    assert set(digits.y_test.tolist()) == set(range(10))


def test_digits_split_is_a_partition_of_sklearns_digits(digits):
    """Are train and test together exactly sklearn's 1,797 (image/16, label) rows, each used once?"""
    bunch = sklearn.datasets.load_digits()
    everything = rows(torch.as_tensor(bunch.data / 16.0, dtype=torch.float32), torch.as_tensor(bunch.target))
    assert rows(digits.x_train, digits.y_train) + rows(digits.x_test, digits.y_test) == everything


def test_digits_split_is_fixed(digits):
    """Does loading twice give the identical split (a fixed permutation, not the global RNG)?"""
    torch.manual_seed(12345)  # disturbing the global RNG must not matter
    again = load_digits()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(digits, name), getattr(again, name))


def test_digits_split_is_shuffled(digits):
    """Is the test set a shuffled sample rather than sklearn's first (or last) 297 rows?"""
    bunch = sklearn.datasets.load_digits()
    first = torch.as_tensor(bunch.target[:297])
    last = torch.as_tensor(bunch.target[-297:])
    assert not torch.equal(digits.y_test, first) and not torch.equal(digits.y_test, last)


# --------------------------------------------------------------------------- nearest neighbours
def brute_force(queries: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((queries[:, None, :] - reference[None, :, :]) ** 2).sum(-1))
    return d.min(axis=1), d.argmin(axis=1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_nearest_neighbours_matches_brute_force_and_cdist(dtype):
    """Are the distances and indices those of a brute-force numpy search and scipy's cdist?"""
    rng = np.random.default_rng(0)
    queries, reference = rng.normal(size=(40, 5)), rng.normal(size=(70, 5))
    distance, index = nearest_neighbours(
        torch.as_tensor(queries, dtype=dtype), torch.as_tensor(reference, dtype=dtype)
    )
    assert distance.shape == (40,) and index.shape == (40,)
    assert distance.dtype == dtype and index.dtype == torch.int64
    q64 = torch.as_tensor(queries, dtype=dtype).double().numpy()
    r64 = torch.as_tensor(reference, dtype=dtype).double().numpy()
    ref_distance, ref_index = brute_force(q64, r64)
    np.testing.assert_array_equal(index.numpy(), ref_index)
    np.testing.assert_allclose(distance.double().numpy(), ref_distance, rtol=1e-6)
    all_pairs = cdist(q64, r64)
    np.testing.assert_array_equal(index.numpy(), all_pairs.argmin(axis=1))
    np.testing.assert_allclose(distance.double().numpy(), all_pairs.min(axis=1), rtol=1e-6)


def test_nearest_neighbours_of_training_rows_is_themselves(digits):
    """Is each training image's nearest training image at distance 0 (itself or an exact duplicate)?"""
    distance, index = nearest_neighbours(digits.x_train[:100], digits.x_train)
    assert torch.all(distance == 0)
    assert torch.equal(digits.x_train[index], digits.x_train[:100])


def test_nearest_neighbours_digits_match_cdist(digits):
    """On the digits (test vs train), do distances and labels match scipy's cdist?"""
    distance, index = nearest_neighbours(digits.x_test, digits.x_train)
    all_pairs = cdist(digits.x_test.double().numpy(), digits.x_train.double().numpy())
    np.testing.assert_allclose(distance.double().numpy(), all_pairs.min(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(
        digits.y_train[index].numpy(), digits.y_train.numpy()[all_pairs.argmin(axis=1)]
    )


def test_nearest_neighbours_small_exact_case():
    """For points on a line, are the distances and indices the obvious ones (3-4-5 triangle included)?"""
    reference = torch.tensor([[0.0, 0.0], [10.0, 0.0]])
    queries = torch.tensor([[3.0, 4.0], [9.0, 0.0], [10.0, 0.0]])
    distance, index = nearest_neighbours(queries, reference)
    assert distance.tolist() == [5.0, 1.0, 0.0]
    assert index.tolist() == [0, 1, 1]


@pytest.mark.parametrize(
    "queries, reference",
    [
        (torch.zeros(3), torch.zeros(4, 3)),
        (torch.zeros(2, 3), torch.zeros(4, 2)),
        (torch.zeros(2, 3), torch.zeros(3)),
        (torch.zeros(2, 3, 1), torch.zeros(4, 3)),
    ],
)
def test_nearest_neighbours_shape_errors(queries, reference):
    """Are mismatched or non-2-D shapes refused with ValueError that shows both shapes?"""
    message = (
        f"queries and reference must be (n, D) and (m, D) with the same D; "
        f"got {tuple(queries.shape)} and {tuple(reference.shape)}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        nearest_neighbours(queries, reference)


def test_nearest_neighbours_empty_reference():
    """Is an empty reference set refused with ValueError?"""
    with pytest.raises(ValueError, match="reference must have at least one row"):
        nearest_neighbours(torch.zeros(2, 3), torch.zeros(0, 3))
