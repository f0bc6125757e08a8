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


def test_pca_features_are_the_leading_components_fitted_on_the_training_split():
    """Do the PCA features reproduce scikit-learn's projection, fitted on train only, with width checked?"""
    from sklearn.decomposition import PCA

    from course_utils.probes import pca_features

    g = np.random.default_rng(0)
    train, test = g.normal(size=(50, 6)) * np.arange(1, 7), g.normal(size=(10, 6))
    f_train, f_test = pca_features(train, test, 2)
    reference = PCA(2).fit(train)
    np.testing.assert_allclose(np.abs(f_test), np.abs(reference.transform(test)), atol=1e-10)  # up to sign
    assert f_train.shape == (50, 2) and np.allclose(f_train.mean(0), 0)
    with pytest.raises(ValueError, match="width must be an int"):
        pca_features(train, test, 7)


def test_encoder_means_are_the_posterior_means_and_keep_the_mode():
    """Are the features the encoder's means (not a sample of z), computed without changing the model's mode?"""
    from course_utils.models import MLPVAE
    from course_utils.probes import encoder_means

    torch.manual_seed(0)
    model = MLPVAE(data_dim=5, latent_dim=3, hidden=8).train()
    x = torch.rand(4, 5)
    means = encoder_means(model, x)
    torch.testing.assert_close(means, model.eval().encode(x)[0])
    model.train()
    encoder_means(model, x)
    assert model.training and means.shape == (4, 3) and not means.requires_grad


def test_encoder_probe_is_the_probe_on_the_encoder_means():
    from course_utils.models import MLPVAE
    from course_utils.probes import encoder_means, encoder_probe_accuracy

    torch.manual_seed(1)
    model = MLPVAE(data_dim=5, latent_dim=3, hidden=8)
    x, y = torch.rand(60, 5), torch.randint(0, 3, (60,))
    assert encoder_probe_accuracy(model, x[:40], y[:40], x[40:], y[40:]) == linear_probe_accuracy(
        encoder_means(model, x[:40]), y[:40], encoder_means(model, x[40:]), y[40:])
