"""generative_classifiers: the Gaussian class-conditional model against sklearn and scipy, logistic regression
against sklearn, and the Ng & Jordan crossover on the chapter's data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis, QuadraticDiscriminantAnalysis
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

from course_utils.generative_classifiers import (
    COVARIANCES,
    error_rate,
    fit_gaussian_classes,
    fit_logistic_regression,
    learning_curves,
    tailed_classes,
)


def _three_classes(n: int = 600, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    centres = torch.tensor([[0.0, 0.0], [3.0, 1.0], [-1.0, 3.0]], dtype=torch.float64)
    scales = torch.tensor([[[1.0, 0.3], [0.0, 0.5]], [[0.7, 0.0], [0.4, 1.2]], [[0.5, 0.0], [0.0, 0.5]]],
                          dtype=torch.float64)
    noise = torch.randn(n, 2, generator=g, dtype=torch.float64)
    return centres[y] + (scales[y] @ noise[..., None])[..., 0], y


@pytest.mark.parametrize(("covariance", "reference"), [("full", QuadraticDiscriminantAnalysis(reg_param=0.0)),
                                                       ("shared", LinearDiscriminantAnalysis(solver="lsqr"))])
def test_the_posterior_is_sklearns_discriminant_analysis(covariance: str, reference) -> None:
    """Do Bayes' rule on the ML fit (full: QDA, shared: LDA) and sklearn give the same p(y | x)?"""
    x, y = _three_classes()
    model = fit_gaussian_classes(x, y, covariance=covariance, ridge=0.0)
    reference.fit(x.numpy(), y.numpy())
    queries = torch.linspace(-4, 6, 40, dtype=torch.float64).reshape(-1, 2)
    np.testing.assert_allclose(model.log_posterior(queries).exp().numpy(), reference.predict_proba(queries.numpy()),
                               rtol=1e-6, atol=1e-9)
    assert torch.equal(model.predict(queries), torch.as_tensor(reference.predict(queries.numpy())))


def test_the_density_and_joint_are_scipys_gaussians() -> None:
    x, y = _three_classes(seed=1)
    model = fit_gaussian_classes(x, y)
    queries = torch.randn(25, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 3
    joint = np.stack([np.log(model.priors[k].item()) + multivariate_normal(model.means[k].numpy(),
                      model.covariances[k].numpy()).logpdf(queries.numpy()) for k in range(3)], axis=1)
    np.testing.assert_allclose(model.log_joint(queries).numpy(), joint, rtol=1e-10)
    np.testing.assert_allclose(model.log_density(queries).numpy(), logsumexp(joint, axis=1), rtol=1e-10)
    far = torch.tensor([[1e3, -1e3]], dtype=torch.float64)  # no class near: p(x, k) underflows, the posterior not
    assert bool(torch.isfinite(model.log_posterior(far)).all()) and model.log_density(far).item() < -1e4


def test_the_fit_is_the_maximum_likelihood_one_and_samples_follow_it() -> None:
    """Priors are class shares, means class means, covariances 1/n_k (biased); 200,000 samples match them."""
    x, y = _three_classes(seed=3)
    model = fit_gaussian_classes(x, y, ridge=0.0)
    for k in range(3):
        mine = x[y == k]
        assert model.priors[k].item() == pytest.approx(len(mine) / len(x))
        np.testing.assert_allclose(model.means[k].numpy(), mine.mean(0).numpy())
        np.testing.assert_allclose(model.covariances[k].numpy(), np.cov(mine.numpy().T, bias=True))
    samples, labels = model.sample(200_000, torch.Generator().manual_seed(4))
    assert samples.shape == (200_000, 2) and labels.shape == (200_000,)
    for k in range(3):
        assert (labels == k).double().mean().item() == pytest.approx(model.priors[k].item(), abs=0.005)
        np.testing.assert_allclose(samples[labels == k].mean(0).numpy(), model.means[k].numpy(), atol=0.02)
        np.testing.assert_allclose(np.cov(samples[labels == k].numpy().T), model.covariances[k].numpy(), atol=0.03)
    diagonal = fit_gaussian_classes(x, y, covariance="diagonal", ridge=0.0)
    off_diagonal = diagonal.covariances - torch.diag_embed(torch.diagonal(diagonal.covariances, 0, -2, -1))
    assert torch.count_nonzero(off_diagonal) == 0
    assert torch.equal(diagonal.covariances[0], diagonal.covariances[2])  # pooled over the classes


def test_logistic_regression_is_sklearns() -> None:
    """The same L2-penalised maximum likelihood: mean cross-entropy + l2/2 ‖w‖² is sklearn's C = 1/(l2·n)."""
    x, y = _three_classes(seed=5)
    x, y = x[y < 2], y[y < 2]
    model = fit_logistic_regression(x, y, l2=0.01)
    reference = SkLogisticRegression(C=1 / (0.01 * len(x)), tol=1e-10, max_iter=10_000).fit(x.numpy(), y.numpy())
    np.testing.assert_allclose(model.weights.numpy(), reference.coef_[0], rtol=1e-4, atol=1e-6)
    assert model.bias.item() == pytest.approx(reference.intercept_[0], rel=1e-4, abs=1e-6)
    assert error_rate(model, x, y) == pytest.approx(1 - reference.score(x.numpy(), y.numpy()))


def test_the_generative_model_wins_small_and_loses_large() -> None:
    """Ng & Jordan (2001) on the chapter's data: naive Bayes ahead at 16 points, logistic regression at 2,048."""
    errors = learning_curves(tailed_classes, [16, 2_048], range(6), test_size=10_000)
    assert errors["generative"].shape == errors["discriminative"].shape == (2, 6)
    small, large = errors["generative"].mean(1) - errors["discriminative"].mean(1)
    assert small < -0.02 and large > 0.02


def test_bad_arguments_get_one_line_that_names_them() -> None:
    x, y = _three_classes(30)
    with pytest.raises(ValueError, match="covariance must be one of 'full', 'shared', 'diagonal'"):
        fit_gaussian_classes(x, y, covariance="tied")
    with pytest.raises(ValueError, match=r"every class 0..2 needs at least one point; none of class\(es\) \[1\]"):
        fit_gaussian_classes(x[y != 1], y[y != 1])
    with pytest.raises(ValueError, match="y must be a 1-D integer tensor of 30 class labels"):
        fit_gaussian_classes(x, y.double())
    with pytest.raises(ValueError, match="x must be a non-empty"):
        fit_gaussian_classes(x[:, 0], y)
    with pytest.raises(ValueError, match="x must have 2 columns"):
        fit_gaussian_classes(x, y).log_joint(torch.zeros(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="y must hold two classes"):
        fit_logistic_regression(x, y)
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        tailed_classes(0)
    assert COVARIANCES == ("full", "shared", "diagonal")
