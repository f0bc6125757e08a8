"""Linear probes: how much of a label a set of features makes linearly readable.

"Meaningful features" (the document, on VAEs) is a measurable claim: fit a multinomial logistic regression on
one split's features and score its accuracy on held-out ones, beside the features that would also pass
(raw pixels, PCA of the same width, an untrained network's features, random projections).
:func:`pca_features` and :func:`encoder_means` make two of those feature sets.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler


def _as_2d(name: str, features) -> np.ndarray:
    array = (features.detach().cpu().double().numpy() if isinstance(features, torch.Tensor)
             else np.asarray(features, dtype=np.float64))
    if array.ndim != 2 or len(array) == 0 or not np.isfinite(array).all():
        raise ValueError(f"{name} must be a finite array of shape (N, F) with N >= 1; got shape {array.shape}")
    return array


def linear_probe_accuracy(train_features, train_labels, test_features, test_labels, *,
                          regularization: float = 1.0, max_iter: int = 2_000) -> float:
    """Held-out accuracy of a multinomial logistic regression fitted on standardised ``train_features``.

    Parameters
    ----------
    train_features, test_features : Tensor or array, shape (N, F) and (M, F)
    train_labels, test_labels : Tensor or array of int, shape (N,) and (M,)
    regularization : float
        scikit-learn's ``C`` (the inverse L2 strength), the same for every feature set compared.
    max_iter : int
        L-BFGS iterations.

    Returns
    -------
    float, the share of ``test_features`` whose predicted class is ``test_labels``.
    """
    x_train, x_test = _as_2d("train_features", train_features), _as_2d("test_features", test_features)
    if x_train.shape[1] != x_test.shape[1]:
        raise ValueError(f"train_features and test_features need the same width; got {x_train.shape[1]} and "
                         f"{x_test.shape[1]}")
    y_train, y_test = np.asarray(train_labels).ravel(), np.asarray(test_labels).ravel()
    if len(y_train) != len(x_train) or len(y_test) != len(x_test):
        raise ValueError("one label per row of features is needed")
    scaler = StandardScaler().fit(x_train)  # one scale for every feature set: C means the same for all
    model = LogisticRegression(C=regularization, max_iter=max_iter)
    model.fit(scaler.transform(x_train), y_train)
    return float((model.predict(scaler.transform(x_test)) == y_test).mean())


def pca_features(train_x, test_x, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``width`` principal components of ``train_x`` (N, D), fitted on it alone, as features of both
    splits: (N, width) and (M, width). The linear baseline for any learned code of the same width."""
    from sklearn.decomposition import PCA  # import here: scikit-learn's decomposition is slow to import

    x_train, x_test = _as_2d("train_x", train_x), _as_2d("test_x", test_x)
    if type(width) is not int or not 1 <= width <= min(x_train.shape):
        raise ValueError(f"width must be an int between 1 and min(N, D) = {min(x_train.shape)}; got {width!r}")
    pca = PCA(n_components=width, random_state=0).fit(x_train)
    return pca.transform(x_train), pca.transform(x_test)


@torch.no_grad()
def encoder_means(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A VAE encoder's posterior means E_q[z | x] for ``x`` (N, D): (N, latent_dim), computed in eval mode (the
    model's own mode restored after): the VAE's features of ``x``."""
    was_training = model.training
    model.eval()
    try:
        mu, _ = model.encode(x)
    finally:
        model.train(was_training)
    return mu


def encoder_probe_accuracy(model: torch.nn.Module, train_x: torch.Tensor, train_labels, test_x: torch.Tensor,
                           test_labels) -> float:
    """:func:`linear_probe_accuracy` on a VAE's :func:`encoder_means` of both splits."""
    return linear_probe_accuracy(encoder_means(model, train_x), train_labels, encoder_means(model, test_x),
                                 test_labels)
