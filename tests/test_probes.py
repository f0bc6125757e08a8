"""probes: a linear probe's held-out accuracy, against scikit-learn and on features that carry the label or not."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.probes import linear_probe_accuracy


def test_separable_features_score_one_and_noise_scores_chance():
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (800,), generator=g)
    informative = torch.nn.functional.one_hot(labels, 4).double() * 5 + 0.1 * torch.randn(800, 4, generator=g)
    noise = torch.randn(800, 4, generator=g)
    assert linear_probe_accuracy(informative[:600], labels[:600], informative[600:], labels[600:]) == 1.0
    chance = linear_probe_accuracy(noise[:600], labels[:600], noise[600:], labels[600:])
    assert 0.1 < chance < 0.4


def test_probe_names_its_bad_arguments():
    with pytest.raises(ValueError, match="same width"):
        linear_probe_accuracy(np.zeros((4, 2)), [0, 1, 0, 1], np.zeros((2, 3)), [0, 1])
    with pytest.raises(ValueError, match="finite array of shape"):
        linear_probe_accuracy(np.full((4, 2), np.nan), [0, 1, 0, 1], np.zeros((2, 2)), [0, 1])
    with pytest.raises(ValueError, match="one label per row"):
        linear_probe_accuracy(np.zeros((4, 2)), [0, 1], np.zeros((2, 2)), [0, 1])
