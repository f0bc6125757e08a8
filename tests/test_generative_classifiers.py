"""generative_classifiers: the Gaussian class-conditional model against sklearn and scipy, logistic regression
against sklearn, MLPs trained side by side as if alone, the paired comparisons of the learning curves, and the
Bayes posterior D* from the true densities. The chapter's measured claims are in tests/claims/."""

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
    MODELS,
    Constant,
    bayes_posterior_real,
    error_rate,
    excess_over_largest,
    fit_gaussian_classes,
    fit_logistic_regression,
    fit_mlp_classifier,
    fit_mlp_classifiers,
    gan_toy_pair,
    learning_curves,
    paired_gaps,
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


def test_learning_curves_share_training_sets_and_a_subset_of_sizes_gives_the_same_numbers() -> None:
    """Is each (size, seed) cell its own training set, so that asking for fewer sizes or models changes nothing?"""
    errors = learning_curves(tailed_classes, [16, 64], range(3), test_size=2_000)
    assert set(errors) == set(MODELS) and all(v.shape == (2, 3) for v in errors.values())
    alone = learning_curves(tailed_classes, [64], range(3), models=("logistic", "mlp"), test_size=2_000)
    assert set(alone) == {"logistic", "mlp"}
    assert torch.equal(alone["logistic"][0], errors["logistic"][1]) and torch.equal(alone["mlp"][0], errors["mlp"][1])
    with pytest.raises(ValueError, match="models must be some of 'naive_bayes', 'logistic', 'mlp'"):
        learning_curves(tailed_classes, [16], range(2), models=("svm",))


def test_naive_bayes_nears_its_own_limit_first_and_logistic_regression_wins_large() -> None:
    """Ng & Jordan (2002) on the chapter's data, seed by seed: at 16 points naive Bayes is closer to its own
    large-n error than logistic regression to its own; at 2,048 logistic regression has the lower error."""
    errors = learning_curves(tailed_classes, [16, 2_048], range(6), models=("naive_bayes", "logistic"),
                             test_size=10_000)
    [small] = paired_gaps(excess_over_largest(errors), [16], "naive_bayes", "logistic")
    assert small.verdict == "naive_bayes", small.first_ahead
    large = paired_gaps(errors, [16, 2_048], "naive_bayes", "logistic")[1]
    assert large.verdict == "logistic", large.second_ahead


def test_paired_gaps_name_the_winner_only_past_the_margin() -> None:
    """A gap every seed agrees on and 3 se wide names its model; the same gap with one seed against it does not."""
    base = torch.tensor([[0.20, 0.25, 0.30, 0.22]], dtype=torch.float64)
    clear = paired_gaps({"a": base, "b": base + torch.tensor([0.05, 0.06, 0.05, 0.07])}, [10], "a", "b")[0]
    assert (clear.verdict, clear.n, clear.winner) == ("a", 10, clear.first_ahead) and clear.first_ahead.holds
    mixed = paired_gaps({"a": base, "b": base + torch.tensor([0.05, 0.06, -0.01, 0.07])}, [10], "a", "b")[0]
    assert mixed.verdict == "within noise" and not mixed.second_ahead.holds
    behind = paired_gaps({"a": base + 0.1, "b": base}, [10], "a", "b")[0]
    assert behind.verdict == "b" and behind.winner is behind.second_ahead
    excess = excess_over_largest({"a": torch.tensor([[0.3, 0.4], [0.25, 0.2], [0.2, 0.1]])})["a"]
    assert torch.allclose(excess, torch.tensor([[0.1, 0.3], [0.05, 0.1]]))
    with pytest.raises(ValueError, match="sizes must name the 1 rows"):
        paired_gaps({"a": base, "b": base}, [10, 20], "a", "b")


def test_mlps_trained_side_by_side_are_the_mlps_trained_alone() -> None:
    """Do R networks trained as one batch end where each would alone (their losses share no weight)?"""
    sets = [tailed_classes(64, torch.Generator().manual_seed(seed), dim=5) for seed in (1, 2)]
    together = fit_mlp_classifiers(torch.stack([x for x, _ in sets]), torch.stack([y for _, y in sets]), [7, 8],
                                   steps=50)
    for (x, y), seed, network in zip(sets, (7, 8), together, strict=True):
        alone = fit_mlp_classifier(x, y, seed=seed, steps=50)
        for mine, theirs in zip((network.w1, network.b1, network.w2, network.b2),
                                (alone.w1, alone.b1, alone.w2, alone.b2), strict=True):
            torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)
    untrained = fit_mlp_classifiers(torch.stack([x for x, _ in sets]), torch.stack([y for _, y in sets]), [7, 8],
                                    steps=0)
    assert untrained[0].w1.abs().max() <= 1 / 5**0.5 and untrained[0].w2.abs().max() <= 1 / 32**0.5
    assert not torch.equal(untrained[0].w1, untrained[1].w1)  # each seed its own initialisation


def test_an_mlp_draws_the_boundary_a_line_cannot() -> None:
    """XOR: logistic regression is no better than a coin; one hidden layer classifies almost every point."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 2, generator=g, dtype=torch.float64) * 2 - 1
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).long()
    assert error_rate(fit_logistic_regression(x, y), x, y) > 0.35
    assert error_rate(fit_mlp_classifier(x, y, steps=600, weight_decay=1e-4), x, y) < 0.05


def test_d_star_is_bayes_rule_on_the_true_densities() -> None:
    """Is D* = p_data / (p_data + p_G) from the densities, and is p_G the Gaussian with the data's moments?"""
    p_data, p_model = gan_toy_pair()
    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    ratio = p_data.log_prob(x).exp() / (p_data.log_prob(x).exp() + p_model.log_prob(x).exp())
    torch.testing.assert_close(bayes_posterior_real(p_data, p_model, x), ratio)
    torch.testing.assert_close(p_model.mean, p_data.mean)
    torch.testing.assert_close(torch.diagonal(p_model.covariance_matrix), p_data.variance)
    assert torch.equal(torch.sigmoid(Constant(0.5).logits(x)), torch.full((50,), 0.5, dtype=torch.float64))


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
    with pytest.raises(ValueError, match="y must hold two classes, 0 and 1"):
        fit_mlp_classifier(x, y)
    with pytest.raises(ValueError, match=r"x must be \(R, N, D\)"):
        fit_mlp_classifiers(x, y, [0])
    assert COVARIANCES == ("full", "shared", "diagonal")
