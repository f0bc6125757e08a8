"""course_utils.ppca against scikit-learn's PCA (which is probabilistic PCA's ML fit) and scipy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats as st
import torch
from sklearn.decomposition import PCA

from course_utils.data import load_digits
from course_utils.metrics import nearest_neighbours
from course_utils.ppca import PPCA, fit_ppca


@pytest.fixture(scope="module")
def digits():
    return load_digits()


@pytest.fixture(scope="module")
def synthetic() -> torch.Tensor:
    """600 points in D=6 from a known low-rank-plus-noise Gaussian (float64)."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 2)) * np.array([3.0, 1.5])
    z = rng.normal(size=(600, 2))
    x = z @ w.T + 0.3 * rng.normal(size=(600, 6)) + np.arange(6.0)
    return torch.as_tensor(x)


def ml_covariance(pca: PCA, n: int) -> np.ndarray:
    """sklearn's PPCA covariance uses 1/(n-1) variances; rescale to the 1/n ML estimate."""
    return pca.get_covariance() * (n - 1) / n


@pytest.mark.parametrize("k", [1, 2, 4])
def test_synthetic_log_likelihood_matches_sklearn_score(synthetic, k):
    """Is the mean log-likelihood sklearn's PCA(n_components=k).score (to 1e-4 relative) on synthetic data?"""
    model = fit_ppca(synthetic, k)
    x = synthetic.numpy()
    assert model.log_likelihood(synthetic) == pytest.approx(PCA(n_components=k).fit(x).score(x), rel=1e-4)


@pytest.mark.parametrize("k", [1, 10, 30])
def test_digits_log_likelihood_matches_sklearn_score(digits, k):
    """On the digits, is the mean log-likelihood sklearn's PCA(k).score within 1e-4 relative?"""
    x = digits.x_train.double().numpy()
    model = fit_ppca(digits.x_train, k)
    assert model.log_likelihood(digits.x_train) == pytest.approx(
        PCA(n_components=k).fit(x).score(x), rel=1e-4
    )


@pytest.mark.parametrize("k", [1, 2, 5])
def test_marginal_covariance_matches_sklearn(synthetic, k):
    """Is W Wᵀ + σ² I sklearn's get_covariance()·(n−1)/n to 1e-8, and μ the data mean?"""
    x = synthetic.numpy()
    model = fit_ppca(synthetic, k)
    pca = PCA(n_components=k).fit(x)
    np.testing.assert_allclose(
        model.marginal().covariance_matrix.numpy(), ml_covariance(pca, len(x)), atol=1e-8
    )
    np.testing.assert_allclose(model.mean.numpy(), x.mean(axis=0), atol=1e-12)
    assert model.noise_var == pytest.approx(pca.noise_variance_ * (len(x) - 1) / len(x), rel=1e-8)


def test_digits_marginal_covariance_matches_sklearn(digits):
    """On the digits with k=10, is the model covariance sklearn's rescaled covariance to 1e-8?"""
    x = digits.x_train.double().numpy()
    model = fit_ppca(digits.x_train, 10)
    np.testing.assert_allclose(
        model.marginal().covariance_matrix.numpy(),
        ml_covariance(PCA(n_components=10).fit(x), len(x)),
        atol=1e-8,
    )


def test_noise_variance_is_mean_of_discarded_eigenvalues(synthetic):
    """Is σ² the mean of the D−k smallest eigenvalues of the 1/N covariance (Tipping & Bishop eq. 8)?"""
    eig = np.sort(np.linalg.eigvalsh(np.cov(synthetic.numpy(), rowvar=False, bias=True)))[::-1]
    for k in (1, 3, 5):
        assert fit_ppca(synthetic, k).noise_var == pytest.approx(eig[k:].mean(), rel=1e-10)


def test_log_likelihood_equals_scipy_multivariate_normal(digits):
    """Is log_likelihood the mean of scipy's multivariate_normal.logpdf under N(μ, WWᵀ + σ²I), held out?"""
    model = fit_ppca(digits.x_train, 10)
    cov = model.weight.numpy() @ model.weight.numpy().T + model.noise_var * np.eye(64)
    expected = st.multivariate_normal(model.mean.numpy(), cov).logpdf(digits.x_test.double().numpy()).mean()
    assert model.log_likelihood(digits.x_test) == pytest.approx(expected, rel=1e-9)


def test_log_likelihood_is_maximal_at_the_fit(synthetic):
    """Does perturbing W or σ² away from the fit lower the training log-likelihood (it is the ML solution)?"""
    model = fit_ppca(synthetic, 2)
    best = model.log_likelihood(synthetic)
    for weight, noise in [
        (model.weight * 1.05, model.noise_var),
        (model.weight, model.noise_var * 1.1),
        (model.weight * 0.95, model.noise_var * 0.9),
    ]:
        assert PPCA(model.mean, weight, noise).log_likelihood(synthetic) < best


def test_encode_is_posterior_mean(synthetic):
    """Is encode(x) = M⁻¹Wᵀ(x − μ), and equal to the Gaussian conditional mean Wᵀ C⁻¹ (x − μ)?"""
    model = fit_ppca(synthetic, 3)
    w, mu, s2 = model.weight.numpy(), model.mean.numpy(), model.noise_var
    x = synthetic[:50].numpy()
    m = w.T @ w + s2 * np.eye(3)
    tipping_bishop = np.linalg.solve(m, w.T @ (x - mu).T).T
    conditional = (
        w.T @ np.linalg.solve(w @ w.T + s2 * np.eye(6), (x - mu).T)
    ).T  # E[z|x] of the joint Gaussian
    encoded = model.encode(synthetic[:50]).numpy()
    assert encoded.shape == (50, 3)
    np.testing.assert_allclose(encoded, tipping_bishop, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(encoded, conditional, rtol=1e-8, atol=1e-8)


def test_encode_accepts_float32_input(digits):
    """Does encode work on the float32 digits with the float64 model, matching the float64 result?"""
    model = fit_ppca(digits.x_train, 5)
    np.testing.assert_allclose(
        model.encode(digits.x_test[:10]).numpy(), model.encode(digits.x_test[:10].double()).numpy(), atol=1e-5
    )


def test_decode_is_affine(synthetic):
    """Is decode(z) = W z + μ row by row?"""
    model = fit_ppca(synthetic, 2)
    z = torch.tensor([[0.0, 0.0], [1.0, -2.0]], dtype=torch.float64)
    expected = z.numpy() @ model.weight.numpy().T + model.mean.numpy()
    np.testing.assert_allclose(model.decode(z).numpy(), expected, atol=1e-12)


def test_sample_shapes_and_reproducibility(synthetic):
    """Does sample(n) give (n, D), the same values for the same seed, and decoder means without noise?"""
    model = fit_ppca(synthetic, 2)
    a = model.sample(7, torch.Generator().manual_seed(1))
    assert a.shape == (7, 6) and a.dtype == torch.float64
    assert torch.equal(a, model.sample(7, torch.Generator().manual_seed(1)))
    z = torch.randn(7, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(a, model.decode(z))
    assert model.sample(3, noise=True).shape == (3, 6)


def test_noisy_samples_have_the_model_covariance(synthetic):
    """With noise=True, is the sample covariance within 5 standard errors of W Wᵀ + σ² I in every entry?"""
    model = fit_ppca(synthetic, 2)
    n = 100_000
    x = model.sample(n, torch.Generator().manual_seed(3), noise=True).numpy()
    cov = model.marginal().covariance_matrix.numpy()
    sample_cov = np.cov(x, rowvar=False)
    se = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)  # SE of a Gaussian sample covariance
    assert np.all(np.abs(sample_cov - cov) < 5 * se)
    assert np.all(np.abs(x.mean(axis=0) - model.mean.numpy()) < 5 * np.sqrt(np.diag(cov) / n))


def test_noise_free_samples_miss_the_noise_variance(synthetic):
    """Without noise, is the sample covariance W Wᵀ (σ² I smaller), so noise=True really adds σ²?"""
    model = fit_ppca(synthetic, 2)
    n = 100_000
    x = model.sample(n, torch.Generator().manual_seed(4)).numpy()
    wwt = model.weight.numpy() @ model.weight.numpy().T
    se = np.sqrt((np.outer(np.diag(wwt), np.diag(wwt)) + wwt**2) / n) + 1e-12
    assert np.all(np.abs(np.cov(x, rowvar=False) - wwt) < 5 * se)


def test_num_parameters(synthetic):
    """Is the parameter count D + D·k + 1?"""
    assert fit_ppca(synthetic, 2).num_parameters() == 6 + 12 + 1
    assert fit_ppca(synthetic, 2).latent_dim == 2


@pytest.mark.parametrize("k", [0, 6, 7, -1, 2.0, True])
def test_bad_latent_dim_raises(synthetic, k):
    """Is a latent_dim outside 1..D−1 (or not an int) refused with ValueError naming latent_dim?"""
    with pytest.raises(ValueError, match="latent_dim must be an int from 1 to 5"):
        fit_ppca(synthetic, k)


@pytest.mark.parametrize("x", [np.zeros((10, 3)), torch.zeros(10), torch.zeros(2, 3, 4), [[0.0, 1.0]]])
def test_bad_x_raises(x):
    """Is x that is not a 2-D torch.Tensor refused with ValueError naming x and its shape?"""
    with pytest.raises(ValueError, match=r"x must be a 2-D torch.Tensor \(N, D\)"):
        fit_ppca(x, 1)


def test_too_few_rows_raises():
    """Is a single row refused (no covariance from one example)?"""
    with pytest.raises(ValueError, match="at least 2 rows"):
        fit_ppca(torch.zeros(1, 3), 1)


def test_no_variance_left_raises():
    """Is a latent_dim that leaves no variance (data on a line, k=1) refused with a message naming it?"""
    t = torch.linspace(0, 1, 20, dtype=torch.float64)
    x = torch.stack([t, 2 * t, -t], dim=1)
    with pytest.raises(ValueError, match="latent_dim=1 already explains all the variance"):
        fit_ppca(x, 1)


def test_digits_rank_limit(digits):
    """The centred training digits have rank 60 (four pixels are always blank): is k = 60 refused (σ² would be
    round-off, ~1e-18) while k = 59 fits with a finite log-likelihood equal to sklearn's score?"""
    x = digits.x_train.double().numpy()
    assert np.linalg.matrix_rank(x - x.mean(axis=0)) == 60
    with pytest.raises(ValueError, match="latent_dim=60 already explains all the variance"):
        fit_ppca(digits.x_train, 60)
    model = fit_ppca(digits.x_train, 59)
    assert model.noise_var > 1e-8
    assert model.log_likelihood(digits.x_train) == pytest.approx(
        PCA(n_components=59).fit(x).score(x), rel=1e-4
    )


@pytest.mark.parametrize("n", [0, -3, 2.0])
def test_bad_sample_size_raises(synthetic, n):
    """Is a non-positive or non-int n refused with ValueError naming n?"""
    with pytest.raises(ValueError, match="n must be a positive int"):
        fit_ppca(synthetic, 2).sample(n)


def test_generated_digits_cover_all_ten_classes(digits):
    """Chapter 00's claim: do 1,000 samples of a k=10 model, labelled by nearest training image, cover all 10
    classes, none being a copy (distance > 0) and typically farther away than held-out real digits?"""
    model = fit_ppca(digits.x_train, 10)
    samples = model.sample(1_000, torch.Generator().manual_seed(0)).float()
    distance, index = nearest_neighbours(samples, digits.x_train)
    counts = torch.bincount(digits.y_train[index], minlength=10)
    assert counts.shape == (10,) and bool((counts > 0).all()), counts.tolist()
    assert int(counts.min()) >= 20  # every class substantially, not by one accident
    assert float(distance.min()) > 0.1
    held_out, _ = nearest_neighbours(digits.x_test, digits.x_train)
    assert float(distance.median()) > float(held_out.median())


def test_widget_default_draw_shows_all_ten_classes(digits):
    """Do the 24 samples of the welcome widget's default (k=10, seed 0) include all ten classes?"""
    model = fit_ppca(digits.x_train, 10)
    samples = model.sample(24, torch.Generator().manual_seed(0)).float()
    _, index = nearest_neighbours(samples, digits.x_train)
    assert set(digits.y_train[index].tolist()) == set(range(10))


def test_held_out_likelihood_improves_with_k_then_is_finite(digits):
    """Is the held-out log-likelihood finite and higher for k=10 than for k=1 (more structure is captured)?"""
    lls = [fit_ppca(digits.x_train, k).log_likelihood(digits.x_test) for k in (1, 10)]
    assert all(math.isfinite(v) for v in lls)
    assert lls[1] > lls[0]
