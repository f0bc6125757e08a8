"""course_utils.metrics.class_clarity against a brute-force numpy loop and a case worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.metrics import class_clarity


def brute_force(queries: np.ndarray, reference: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One query at a time: nearest row, its label, nearest row of any other label."""
    ratios, nearest_labels = [], []
    for q in queries:
        d = np.sqrt(((reference - q) ** 2).sum(axis=1))
        i = int(np.argmin(d))
        other = min(d[j] for j in range(len(reference)) if labels[j] != labels[i])
        ratios.append(other / d[i])
        nearest_labels.append(labels[i])
    return np.array(ratios), np.array(nearest_labels)


def test_matches_a_brute_force_loop():
    """Do the ratios and labels equal those of a plain numpy loop, on random data with 4 classes?"""
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(60, 5))
    labels = rng.integers(0, 4, size=60)
    queries = rng.normal(size=(25, 5))
    ratio, label = class_clarity(torch.as_tensor(queries), torch.as_tensor(reference), torch.as_tensor(labels))
    expected_ratio, expected_label = brute_force(queries, reference, labels)
    assert ratio.dtype == torch.float64 and label.dtype == torch.int64
    np.testing.assert_allclose(ratio.numpy(), expected_ratio, rtol=1e-12)
    np.testing.assert_array_equal(label.numpy(), expected_label)


def test_a_case_worked_by_hand():
    """Class 0 at x = 0 and 1, class 1 at x = 10: is the ratio 8 at x = 2, 1 halfway between the classes?"""
    reference = torch.tensor([[0.0], [1.0], [10.0]])
    labels = torch.tensor([0, 0, 1])
    queries = torch.tensor([[2.0], [5.5], [12.0]])
    ratio, label = class_clarity(queries, reference, labels)
    # x = 2: nearest 1 (class 0) at 1, class 1 at 8 -> 8; x = 5.5: nearest 1 at 4.5, class 1 at 4.5 -> 1;
    # x = 12: nearest 10 (class 1) at 2, class 0 at 11 -> 5.5
    torch.testing.assert_close(ratio, torch.tensor([8.0, 1.0, 5.5], dtype=torch.float64))
    assert label.tolist() == [0, 0, 1]


def test_a_copy_of_a_reference_row_is_infinitely_clear():
    """Is the ratio inf for a query that equals a reference row?"""
    ratio, _ = class_clarity(torch.tensor([[1.0]]), torch.tensor([[1.0], [3.0]]), torch.tensor([0, 1]))
    assert ratio.item() == float("inf")


@pytest.mark.parametrize("labels, match", [
    (torch.tensor([0, 0, 0]), "two classes"),
    (torch.tensor([0, 1]), "shape"),
    (torch.tensor([0.0, 1.0, 1.0]), "integers"),
])
def test_refuses_bad_labels(labels, match):
    """Does it refuse a single class, labels of the wrong length, and float labels?"""
    with pytest.raises(ValueError, match=match):
        class_clarity(torch.zeros(2, 1), torch.tensor([[0.0], [1.0], [2.0]]), labels)
