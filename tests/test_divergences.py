"""course_utils.divergences against scipy, torch.distributions, brute force and closed forms."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st
import torch
from hypothesis import given, settings
from hypothesis import strategies as hs
from scipy.spatial.distance import jensenshannon
from torch import distributions as D

from course_utils.divergences import (
    cross_entropy,
    entropy,
    gaussian_kl,
    js_divergence,
    kl_divergence,
    kl_monte_carlo,
    transport_plan,
    wasserstein_1d,
    wasserstein_samples,
)

LOG2 = math.log(2)
PROPERTY = settings(max_examples=60, deadline=None)  # a few hundred ms per property


def dirichlet(seed: int, shape: tuple[int, ...], zeros: bool = True) -> np.ndarray:
    """Random probability vectors on the last axis; with ``zeros``, about one entry in four is exactly 0."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    if zeros:
        p[rng.random(shape) < 0.25] = 0.0
        p[..., 0] += (p.sum(-1) == 0)  # keep every row a distribution
        p /= p.sum(-1, keepdims=True)
    return p


@hs.composite
def distribution_pairs(draw, max_k: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Two probability vectors with the same K, exact zeros included."""
    k = draw(hs.integers(1, max_k))
    entries = hs.lists(hs.one_of(hs.just(0.0), hs.floats(1e-4, 1.0)), min_size=k, max_size=k)
    vectors = []
    for _ in range(2):
        v = np.array(draw(entries.filter(lambda e: sum(e) > 0)))
        vectors.append(v / v.sum())
    return vectors[0], vectors[1]


samples = hs.lists(hs.floats(-100, 100), min_size=1, max_size=25).map(np.array)

# The three ways in: numpy; a CPU tensor needing no gradient (computed by the numpy code on a
# view); a tensor that needs a gradient (computed by torch's kernels, as on a GPU).
KINDS = ["numpy", "tensor", "tensor-grad"]


def as_kind(kind: str, array):
    """``array`` as the given kind of input (None stays None)."""
    if array is None or kind == "numpy":
        return array
    tensor = torch.tensor(np.asarray(array, dtype=np.float64))
    return tensor.requires_grad_() if kind == "tensor-grad" else tensor


def as_numpy(kind: str, result):
    """The result as numpy, after checking it is a tensor exactly when the input was one."""
    assert isinstance(result, torch.Tensor) == (kind != "numpy"), type(result)
    if kind == "numpy":
        return result
    assert result.dtype == torch.float64 and result.requires_grad == (kind == "tensor-grad")
    return result.detach().numpy()


# --------------------------------------------------------------------------- against scipy
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("base", [None, 2, 10, 0.5])
def test_entropy_matches_scipy(kind, base):
    """Does entropy equal scipy.stats.entropy row by row, in any base, for numpy and tensors alike?"""
    p = dirichlet(0, (5, 7))
    ours = as_numpy(kind, entropy(as_kind(kind, p), base=base))
    np.testing.assert_allclose(ours, st.entropy(p, base=base, axis=-1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("base", [None, 2, math.e, 3.5])
def test_kl_divergence_matches_scipy_entropy_and_rel_entr(kind, base):
    """Does kl_divergence equal scipy.stats.entropy(p, qk) and the sum of scipy.special.rel_entr?"""
    p, q = dirichlet(1, (6, 5)), dirichlet(2, (6, 5), zeros=False)
    ours = as_numpy(kind, kl_divergence(as_kind(kind, p), as_kind(kind, q), base=base))
    np.testing.assert_allclose(ours, st.entropy(p, q, base=base, axis=-1), rtol=1e-12, atol=1e-15)
    if base is None:
        np.testing.assert_allclose(ours, sp.rel_entr(p, q).sum(-1), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
def test_kl_divergence_matches_rel_entr_where_q_has_zeros(kind):
    """Where q has zeros, is KL exactly what rel_entr gives: +inf in those rows, finite in the others?"""
    p, q = dirichlet(3, (40, 4)), dirichlet(4, (40, 4))
    expected = sp.rel_entr(p, q).sum(-1)
    assert np.isinf(expected).any() and np.isfinite(expected).any()  # the data exercise both cases
    ours = as_numpy(kind, kl_divergence(as_kind(kind, p), as_kind(kind, q)))
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("base", [None, 2])
def test_cross_entropy_matches_scipy(kind, base):
    """Is cross_entropy −Σ xlogy(p, q) (scipy.special.xlogy), and scipy's H(p) + KL(p‖q)?"""
    p, q = dirichlet(5, (4, 6)), dirichlet(6, (4, 6), zeros=False)
    ours = as_numpy(kind, cross_entropy(as_kind(kind, p), as_kind(kind, q), base=base))
    expected = -sp.xlogy(p, q).sum(-1) / (1 if base is None else math.log(base))
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    np.testing.assert_allclose(ours, st.entropy(p, base=base, axis=-1) + st.entropy(p, q, base=base, axis=-1),
                               rtol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("base", [None, 2, 10])
def test_js_divergence_is_scipy_jensenshannon_squared(kind, base):
    """Is js_divergence the square of scipy.spatial.distance.jensenshannon (which returns a distance)?"""
    p, q = dirichlet(7, (5, 9)), dirichlet(8, (5, 9))
    ours = as_numpy(kind, js_divergence(as_kind(kind, p), as_kind(kind, q), base=base))
    np.testing.assert_allclose(ours, jensenshannon(p, q, base=base, axis=-1) ** 2, rtol=1e-10, atol=1e-15)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "m", "weighted"), [(50, 50, ""), (37, 80, ""), (1, 9, ""), (40, 40, "x"),
                                                  (30, 45, "y"), (30, 45, "xy"), (12, 12, "xy")])
def test_wasserstein_1d_matches_scipy(kind, n, m, weighted):
    """Does wasserstein_1d equal scipy.stats.wasserstein_distance, sizes equal or not, with or without weights?"""
    rng = np.random.default_rng(n * 100 + m)
    x, y = rng.normal(size=n), rng.standard_t(3, size=m) + 0.5
    x[: n // 3] = np.round(x[: n // 3], 1)  # ties inside x and between x and y
    y[: m // 3] = np.round(y[: m // 3], 1)
    xw = rng.random(n) if "x" in weighted else None
    yw = rng.random(m) * 3 if "y" in weighted else None
    ours = as_numpy(kind, wasserstein_1d(*(as_kind(kind, a) for a in (x, y, xw, yw))))
    assert ours.shape == ()
    assert ours == pytest.approx(st.wasserstein_distance(x, y, xw, yw), rel=1e-12, abs=1e-14)


def test_wasserstein_1d_zero_weights_drop_samples():
    """Does a sample with weight 0 count as absent, as in scipy?"""
    x, y = np.array([0.0, 1.0, 50.0]), np.array([0.5, 2.0])
    weights = np.array([1.0, 1.0, 0.0])
    assert wasserstein_1d(x, y, weights) == pytest.approx(wasserstein_1d(x[:2], y), rel=1e-12)
    assert wasserstein_1d(x, y, weights) == pytest.approx(st.wasserstein_distance(x, y, weights), rel=1e-12)


# --------------------------------------------------------------------------- Gaussians
def test_gaussian_kl_matches_torch_normal():
    """Is gaussian_kl elementwise torch.distributions.kl_divergence(Normal, Normal), broadcasting included?"""
    g = torch.Generator().manual_seed(0)
    mu0, mu1 = torch.randn(4, 3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    s0 = torch.rand(4, 3, generator=g, dtype=torch.float64) + 0.1
    s1 = torch.rand(1, 3, generator=g, dtype=torch.float64) + 0.1
    expected = D.kl_divergence(D.Normal(mu0, s0), D.Normal(mu1, s1)).numpy()
    for kind in KINDS:
        ours = as_numpy(kind, gaussian_kl(*(as_kind(kind, t.numpy()) for t in (mu0, s0, mu1, s1))))
        assert ours.shape == (4, 3)
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)


def test_gaussian_kl_diagonal_matches_independent_normal():
    """With diagonal=True, is the KL that of Independent(Normal, 1): summed over the last axis?"""
    g = torch.Generator().manual_seed(1)
    mu0 = torch.randn(5, 4, generator=g, dtype=torch.float64)
    s0 = torch.rand(5, 4, generator=g, dtype=torch.float64) + 0.2
    mu1, s1 = torch.randn(4, generator=g, dtype=torch.float64), torch.rand(4, generator=g, dtype=torch.float64) + 0.2
    expected = D.kl_divergence(D.Independent(D.Normal(mu0, s0), 1), D.Independent(D.Normal(mu1, s1), 1)).numpy()
    for kind in KINDS:
        ours = as_numpy(kind, gaussian_kl(*(as_kind(kind, t.numpy()) for t in (mu0, s0, mu1, s1)), diagonal=True))
        assert ours.shape == (5,)
        np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-14)


def test_gaussian_kl_closed_forms():
    """Does gaussian_kl give the textbook values: 0 for equal Gaussians, ½μ² for a shifted unit one, the VAE term?"""
    assert gaussian_kl(1.5, 2.0, 1.5, 2.0) == 0.0
    assert gaussian_kl(3.0, 1.0, 0.0, 1.0) == pytest.approx(4.5, rel=1e-15)
    assert gaussian_kl(0.0, 1.0, 1.0, 2.0) == pytest.approx(math.log(2) + 2 / 8 - 0.5, rel=1e-15)
    assert gaussian_kl(0.0, 1.0, 1.0, 2.0, base=2) == pytest.approx((math.log(2) + 2 / 8 - 0.5) / LOG2, rel=1e-15)
    assert type(gaussian_kl(0.0, 1.0, 1.0, 2.0)) is np.float64
    # the VAE's KL(q(z|x) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²)   (Kingma & Welling 2014, App. B)
    mu = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    logvar = torch.tensor([[0.1, -0.3, 0.7]], dtype=torch.float64)
    vae = -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(-1)
    torch.testing.assert_close(gaussian_kl(mu, (0.5 * logvar).exp(), 0.0, 1.0, diagonal=True), vae, rtol=1e-12, atol=0)


def test_gaussian_kl_gradient_matches_finite_differences():
    """Is the gradient of gaussian_kl with respect to all four parameters right (gradcheck, float64)?"""
    g = torch.Generator().manual_seed(2)
    params = [torch.randn(3, generator=g, dtype=torch.float64), torch.rand(3, generator=g, dtype=torch.float64) + 0.5,
              torch.randn(3, generator=g, dtype=torch.float64), torch.rand(3, generator=g, dtype=torch.float64) + 0.5]
    params = [t.requires_grad_() for t in params]
    assert torch.autograd.gradcheck(lambda *a: gaussian_kl(*a, diagonal=True), params)


# --------------------------------------------------------------------------- Monte Carlo
MC_CASES = {
    "normal": (D.Normal(torch.tensor(0.3), torch.tensor(1.2)), D.Normal(torch.tensor(-0.5), torch.tensor(0.8)),
               lambda: gaussian_kl(0.3, 1.2, -0.5, 0.8)),
    "diagonal normal": (D.Independent(D.Normal(torch.tensor([0.0, 1.0, -1.0]), torch.tensor([1.0, 0.5, 2.0])), 1),
                        D.Independent(D.Normal(torch.zeros(3), torch.ones(3)), 1),
                        lambda: gaussian_kl([0.0, 1.0, -1.0], [1.0, 0.5, 2.0], 0.0, 1.0, diagonal=True)),
}


@pytest.mark.parametrize("name", MC_CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_monte_carlo_within_four_standard_errors(name, seed):
    """Does the seeded Monte-Carlo estimate land within 4 standard errors of the closed form, with a small error?"""
    p, q, closed_form = MC_CASES[name]
    estimate, se = kl_monte_carlo(p, q, 20_000, torch.Generator().manual_seed(seed))
    assert type(estimate) is float and type(se) is float
    assert 0 < se < 0.05 * closed_form()
    assert abs(estimate - closed_form()) < 4 * se


def test_kl_monte_carlo_is_reproducible_and_leaves_the_global_rng_alone():
    """Does one generator seed give one estimate, a different seed another, with torch's global RNG untouched?"""
    p, q, _ = MC_CASES["normal"]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    first = kl_monte_carlo(p, q, 500, torch.Generator().manual_seed(7))
    again = kl_monte_carlo(p, q, 500, torch.Generator().manual_seed(7))
    other = kl_monte_carlo(p, q, 500, torch.Generator().manual_seed(8))
    assert first == again and first != other
    assert torch.equal(torch.get_rng_state(), before)
    g = torch.Generator().manual_seed(7)
    assert kl_monte_carlo(p, q, 500, g) == first and kl_monte_carlo(p, q, 500, g) != first  # the generator advances


def test_kl_monte_carlo_base_and_infinite_cases():
    """Is the estimate in bits with base=2, and +inf when p puts samples where q has no density?"""
    p, q, _ = MC_CASES["normal"]
    nats = kl_monte_carlo(p, q, 1000, torch.Generator().manual_seed(3))
    bits = kl_monte_carlo(p, q, 1000, torch.Generator().manual_seed(3), base=2)
    assert bits == pytest.approx((nats[0] / LOG2, nats[1] / LOG2), rel=1e-12)
    uniform = D.Uniform(torch.tensor(0.0), torch.tensor(1.0))
    assert kl_monte_carlo(D.Normal(torch.tensor(0.0), torch.tensor(1.0)), uniform, 100) == (math.inf, 0.0)
    # the other way round KL is finite: Uniform(0, 1) against N(0, 1)
    estimate, se = kl_monte_carlo(uniform, D.Normal(torch.tensor(0.0), torch.tensor(1.0)), 20_000,
                                  torch.Generator().manual_seed(4))
    exact = 0.5 * math.log(2 * math.pi) + 1 / 6  # −H(U) − E[log φ(X)] = 0 + ½ log 2π + E[X²]/2
    assert abs(estimate - exact) < 4 * se


# --------------------------------------------------------------------------- conventions
def test_zero_log_zero_is_zero():
    """Is 0·log 0 = 0: a point mass has entropy exactly 0.0 (not nan, not −0.0), numpy and torch?"""
    for p in ([0.0, 1.0, 0.0], np.array([1.0, 0.0]), torch.tensor([0.0, 0.0, 1.0]),
              torch.tensor([0.0, 1.0], requires_grad=True)):
        h = entropy(p)
        h = float(h.detach()) if isinstance(h, torch.Tensor) else float(h)
        assert h == 0.0 and math.copysign(1.0, h) == 1.0
    assert entropy([0.5, 0.5, 0.0]) == pytest.approx(LOG2, rel=1e-15)


def test_kl_is_infinite_where_q_has_no_mass():
    """Is KL +inf (not nan, no warning, no exception) when q has no mass where p has some, and finite the other way?"""
    p, q = [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero warning would fail here
        assert kl_divergence(p, q) == math.inf
        assert cross_entropy(p, q) == math.inf
        assert kl_divergence(q, p) == pytest.approx(LOG2, rel=1e-15)
        assert js_divergence(p, q) < LOG2
    for kind in ("tensor", "tensor-grad"):
        assert torch.isposinf(kl_divergence(as_kind(kind, p), as_kind(kind, q)))
        assert torch.isposinf(cross_entropy(as_kind(kind, p), as_kind(kind, q)))


def test_js_reaches_log2_exactly_on_disjoint_supports():
    """Is JS = log 2 nats = 1 bit for disjoint supports, and always finite?"""
    p, q = [0.3, 0.7, 0.0, 0.0], [0.0, 0.0, 0.6, 0.4]
    assert js_divergence(p, q) == pytest.approx(LOG2, rel=1e-14)
    assert js_divergence(p, q, base=2) == pytest.approx(1.0, rel=1e-14)
    for kind in ("tensor", "tensor-grad"):
        bits = as_numpy(kind, js_divergence(as_kind(kind, p), as_kind(kind, q), base=2))
        assert bits == pytest.approx(1.0, rel=1e-14)


def test_numpy_and_list_inputs_give_numpy_floats_and_arrays():
    """Do lists and numpy arrays give numpy floats (one distribution) and arrays (a batch), keeping float32?"""
    assert type(entropy([0.25, 0.75])) is np.float64
    assert type(kl_divergence(np.array([0.25, 0.75]), [0.5, 0.5])) is np.float64
    assert type(wasserstein_1d([0.0, 1.0], [2.0])) is np.float64
    assert type(wasserstein_samples([[0.0, 1.0]], [[2.0, 3.0]])) is np.float64
    batch = js_divergence(dirichlet(9, (3, 4)), dirichlet(10, (3, 4)))
    assert isinstance(batch, np.ndarray) and batch.shape == (3,)
    assert entropy(np.array([0.25, 0.75], dtype=np.float32)).dtype == np.float32
    assert entropy([1, 0]) == 0.0  # integers are probabilities too


def test_tensor_inputs_give_tensors_and_may_be_mixed():
    """Does a tensor give a tensor of its dtype, with lists or floats beside it converted to match?"""
    for p in (torch.tensor([0.25, 0.75]), torch.tensor([0.25, 0.75], requires_grad=True)):
        for result in (entropy(p), kl_divergence(p, [0.5, 0.5]), js_divergence([0.5, 0.5], p), cross_entropy(p, p),
                       gaussian_kl(p, 1.0, 0.0, 2.0, diagonal=True), wasserstein_1d(p, [0.0, 2.0]),
                       wasserstein_samples(p, np.array([1.0, 2.0]))):
            assert type(result) is torch.Tensor and result.dtype == torch.float32 and result.shape == ()
            assert result.requires_grad == p.requires_grad
        assert kl_divergence(p, torch.tensor([0.5, 0.5], dtype=torch.float64)).dtype == torch.float64
        expected = kl_divergence([0.25, 0.75], [0.5, 0.5])
        assert float(kl_divergence(p, [0.5, 0.5]).detach()) == pytest.approx(expected, rel=1e-6)
    half = entropy(torch.tensor([0.25, 0.75], dtype=torch.float16))  # computed by torch: numpy has no fast float16
    assert half.dtype == torch.float16 and float(half) == pytest.approx(0.5623, rel=1e-3)


def test_batched_shapes_and_broadcasting():
    """Does (..., K) give (...), with batch axes of p and q broadcast like numpy's?"""
    p, q = dirichlet(11, (2, 3, 5)), dirichlet(12, (3, 5), zeros=False)
    for kind in KINDS:
        assert entropy(as_kind(kind, p)).shape == (2, 3)
    for f in (kl_divergence, js_divergence, cross_entropy):
        out = f(p, q)
        for kind in KINDS:
            np.testing.assert_allclose(as_numpy(kind, f(as_kind(kind, p), as_kind(kind, q))), out, rtol=1e-14)
        np.testing.assert_allclose(out, f(p, np.broadcast_to(q, p.shape)), rtol=1e-14)
        np.testing.assert_allclose(out[1, 2], f(p[1, 2], q[2]), rtol=1e-14)
    assert kl_divergence(q[0], q).shape == (3,)


def test_sum_tolerance_follows_the_dtype():
    """Are sums within rounding of 1 accepted (a float32 softmax over 10⁵ outcomes), and real misses refused?"""
    logits = torch.randn(10**5, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(entropy(torch.softmax(logits, 0)))
    assert entropy([0.5, 0.5 + 5e-7]) > 0  # float64: 5e-7 off is rounding
    with pytest.raises(ValueError, match="sums to 1.000005"):
        entropy([0.5, 0.5 + 5e-6])
    assert entropy(np.array([0.5, 0.5 + 5e-6], dtype=np.float32)) > 0  # float32: 5e-6 is a few ulps
    with pytest.raises(ValueError, match="sum to 1"):
        entropy(torch.tensor([0.5, 0.5 + 5e-5]))


# --------------------------------------------------------------------------- gradients
def test_kl_gradient_wrt_q_logits_matches_finite_differences():
    """Does autograd's gradient of KL(p‖softmax(logits)) match finite differences in float64, p with zeros?"""
    p = torch.from_numpy(dirichlet(13, (3, 6)))
    assert (p == 0).any()
    logits = torch.randn(3, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
    for f in (kl_divergence, js_divergence, cross_entropy):
        assert torch.autograd.gradcheck(lambda z, f=f: f(p, torch.softmax(z, -1)), (logits,))
    assert torch.autograd.gradcheck(lambda z: entropy(torch.softmax(z, -1)), (logits,))


def test_gradients_are_finite_when_p_and_q_have_zeros():
    """Are gradients finite (no nan, no inf) wherever the value is, with zeros in p, in q, and in both?"""
    p = torch.tensor([0.5, 0.5, 0.0, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.5, 0.25, 0.0], dtype=torch.float64, requires_grad=True)
    for f in (kl_divergence, js_divergence, cross_entropy):
        p.grad = q.grad = None
        value = f(p, q)
        value.backward()
        assert torch.isfinite(value) and torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all(), f.__name__
    p.grad = None
    entropy(p).backward()
    assert torch.isfinite(p.grad).all()


def test_gradient_conventions_at_zero():
    """Is the gradient exact except for the −∞ derivative of x·log x at 0, taken as 0?"""
    p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.25, 0.25, 0.5], dtype=torch.float64, requires_grad=True)
    entropy(p).backward()
    torch.testing.assert_close(p.grad, torch.tensor([-(math.log(0.5) + 1)] * 2 + [0.0], dtype=torch.float64))
    p.grad = None
    cross_entropy(p, q).backward()  # linear in p: ∂/∂p_k = −log q_k, at p_k = 0 too
    torch.testing.assert_close(p.grad, -q.detach().log())
    torch.testing.assert_close(q.grad, -p.detach() / q.detach())
    p.grad = q.grad = None
    kl_divergence(p, q).backward()  # ∂/∂p_k = log p_k + 1 − log q_k; at p_k = 0 only the x·log x part is dropped
    expected = torch.tensor([math.log(2) + 1, math.log(2) + 1, -math.log(0.5)], dtype=torch.float64)
    torch.testing.assert_close(p.grad, expected)


# --------------------------------------------------------------------------- properties
@PROPERTY
@given(distribution_pairs())
def test_kl_is_nonnegative_and_zero_on_itself(pair):
    """Is KL(p‖q) >= 0 for every pair, and KL(p‖p) exactly 0?"""
    p, q = pair
    for kind in ("numpy", "tensor-grad"):
        assert as_numpy(kind, kl_divergence(as_kind(kind, p), as_kind(kind, q))) >= 0
        assert as_numpy(kind, kl_divergence(as_kind(kind, p), as_kind(kind, p))) == 0.0


@PROPERTY
@given(distribution_pairs())
def test_js_is_symmetric_and_bounded(pair):
    """Is JS symmetric, and in [0, log 2] nats ([0, 1] bits), for every pair, with torch's kernels too?"""
    p, q = pair
    for kind in ("numpy", "tensor-grad"):
        js = as_numpy(kind, js_divergence(as_kind(kind, p), as_kind(kind, q)))
        assert js == pytest.approx(as_numpy(kind, js_divergence(as_kind(kind, q), as_kind(kind, p))), rel=1e-12,
                                   abs=1e-15)
        assert 0.0 <= js <= LOG2
        assert 0.0 <= as_numpy(kind, js_divergence(as_kind(kind, p), as_kind(kind, q), base=2)) <= 1.0


@PROPERTY
@given(distribution_pairs())
def test_cross_entropy_is_entropy_plus_kl(pair):
    """Does H(p, q) = H(p) + KL(p‖q) hold for every pair, infinities included?"""
    p, q = pair
    lhs, rhs = cross_entropy(p, q), entropy(p) + kl_divergence(p, q)
    if math.isinf(rhs):
        assert lhs == rhs == math.inf
    else:
        assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@PROPERTY
@given(samples, samples, samples)
def test_wasserstein_1d_is_a_metric(x, y, z):
    """Is W1 non-negative, symmetric, zero on identical samples, and does it obey the triangle inequality?"""
    d_xy = wasserstein_1d(x, y)
    assert d_xy >= 0
    assert d_xy == pytest.approx(wasserstein_1d(y, x), rel=1e-12, abs=1e-12)
    assert wasserstein_1d(x, x) == 0.0
    assert wasserstein_1d(x, z) <= d_xy + wasserstein_1d(y, z) + 1e-9
    assert wasserstein_1d(x, np.concatenate([x, x])) == pytest.approx(0.0, abs=1e-12)  # the same empirical law


@PROPERTY
@given(samples, hs.floats(-50, 50))
def test_wasserstein_1d_of_a_shift_is_the_shift(x, c):
    """Is W1(x, x + c) = |c|, for every sample and shift?"""
    assert wasserstein_1d(x, x + c) == pytest.approx(abs(c), rel=1e-9, abs=1e-9)


@PROPERTY
@given(samples, samples, hs.lists(hs.floats(0.01, 1), min_size=25, max_size=25))
def test_wasserstein_1d_weighted_matches_scipy_everywhere(x, y, w):
    """Does weighted W1 equal scipy's for every sample and weighting, ties and single points included?"""
    xw = np.array(w[: len(x)])
    assert wasserstein_1d(x, y, xw) == pytest.approx(st.wasserstein_distance(x, y, xw), rel=1e-9, abs=1e-9)


# --------------------------------------------------------------------------- point clouds
@pytest.mark.parametrize("n", [1, 2, 7, 30])
def test_wasserstein_samples_in_1d_equals_wasserstein_1d(n):
    """For 1-D samples of equal size, does the assignment give the sorted-matching W1?"""
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=n), rng.exponential(size=n)
    assert wasserstein_samples(x, y) == pytest.approx(wasserstein_1d(x, y), rel=1e-12, abs=1e-14)
    assert wasserstein_samples(x[:, None], y[:, None]) == pytest.approx(wasserstein_1d(x, y), rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_wasserstein_samples_is_the_best_permutation(n):
    """In 2-D, is W1 the minimum over all n! matchings of the mean distance (brute force)?"""
    rng = np.random.default_rng(10 + n)
    for _ in range(3):
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + [1.0, 0.0]
        brute = min(np.linalg.norm(x - y[list(perm)], axis=1).mean() for perm in itertools.permutations(range(n)))
        assert wasserstein_samples(x, y) == pytest.approx(brute, rel=1e-12)
        for kind in ("tensor", "tensor-grad"):
            ours = as_numpy(kind, wasserstein_samples(as_kind(kind, x), as_kind(kind, y)))
            assert ours == pytest.approx(brute, rel=1e-12)


def test_wasserstein_samples_gradient():
    """Does the gradient move each point along its matched segment (finite differences), finite at distance 0?"""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(6, 3, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randn(6, 3, dtype=torch.float64, generator=g)
    assert torch.autograd.gradcheck(lambda a: wasserstein_samples(a, y), (x,))
    same = y.clone().requires_grad_()
    wasserstein_samples(same, y).backward()
    assert torch.isfinite(same.grad).all()


def test_wasserstein_1d_gradient():
    """Is W1 differentiable in the samples and the weights (gradcheck, float64, no ties)?"""
    g = torch.Generator().manual_seed(6)
    x = torch.randn(7, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.randn(5, dtype=torch.float64, generator=g) + 0.3
    w = (torch.rand(7, dtype=torch.float64, generator=g) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: wasserstein_1d(a, y, b), (x, w))
    assert torch.autograd.gradcheck(lambda a: wasserstein_1d(a, y[:5].clone() + 0.1 * torch.arange(5)), (x[:5],))


# --------------------------------------------------------------------------- bad inputs
BAD_DISTRIBUTIONS = [
    ([0.5, -0.1, 0.6], "p must be non-negative; p\\[1\\] = -0.1"),
    ([[0.5, 0.5], [0.4, 0.5]], "p must sum to 1 along the last axis; p\\[1\\] sums to 0.9 \\(normalise it"),
    ([0.3, 0.3], "p must sum to 1 along the last axis; p sums to 0.6"),
    ([0.5, np.nan, 0.5], "p contains nan at p\\[1\\]"),
    ([0.5, np.inf], "p must be finite; p\\[1\\] = inf"),
    ([], "p must not be empty"),
    (np.zeros((0, 3)), "p must not be empty"),
    (1.0, "p must have at least one axis"),
    ([[0.5, 0.5], [1.0]], "rectangular"),
]


@pytest.mark.parametrize(("p", "message"), BAD_DISTRIBUTIONS)
def test_entropy_refuses_what_is_not_a_distribution(p, message):
    """Does entropy raise a ValueError that names p and says what is wrong, for numpy and torch input?"""
    with pytest.raises(ValueError, match=message):
        entropy(p)
    if "rectangular" not in message:
        with pytest.raises(ValueError, match=message):
            entropy(torch.tensor(np.asarray(p, dtype=np.float64)))


@pytest.mark.parametrize("f", [kl_divergence, js_divergence, cross_entropy])
def test_pair_functions_name_the_bad_argument(f):
    """Do the two-argument functions name q (not p) when q is the bad one, and refuse mismatched shapes?"""
    good = [0.5, 0.5]
    with pytest.raises(ValueError, match=r"q must sum to 1 along the last axis; q\[1\] sums to 0.9 \(normalise it: "
                                         r"q / q.sum\(-1, keepdims=True\)\)"):
        f(good, [[0.5, 0.5], [0.5, 0.4]])
    with pytest.raises(ValueError, match="q must be non-negative"):
        f(good, [1.5, -0.5])
    with pytest.raises(ValueError, match="q contains nan"):
        f(torch.tensor(good), torch.tensor([np.nan, 1.0]))
    with pytest.raises(ValueError, match=r"same number of outcomes K on the last axis; got shapes \(2,\) and \(3,\)"):
        f(good, [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match="batch shapes that broadcast"):
        f(dirichlet(0, (2, 3)), dirichlet(1, (4, 3)))
    with pytest.raises(ValueError, match="q must not be empty"):
        f(good, np.zeros((0, 2)))


@pytest.mark.parametrize("f", [entropy, kl_divergence, js_divergence, cross_entropy])
@pytest.mark.parametrize(("base", "error", "message"), [
    (1, ValueError, "base must be a positive finite number other than 1"),
    (0, ValueError, "base must be a positive"),
    (-2.0, ValueError, "base must be a positive"),
    (math.inf, ValueError, "base must be a positive finite"),
    ("2", TypeError, "base must be a number"),
    (True, TypeError, "base must be a number"),
])
def test_bad_base(f, base, error, message):
    """Is a base <= 0, equal to 1, infinite or not a number refused, with the reason?"""
    args = ([0.5, 0.5],) if f is entropy else ([0.5, 0.5], [0.5, 0.5])
    with pytest.raises(error, match=message):
        f(*args, base=base)


@pytest.mark.parametrize(("p", "message"), [
    ("0.5, 0.5", "p must be a numpy array, a list of numbers or a torch.Tensor; got str"),
    (None, "got NoneType"),
    ({"a": 0.5}, "got dict"),
    ([True, False], "p must hold real numbers; got an array of dtype bool"),
    (np.array([0.5 + 0j, 0.5]), "dtype complex128"),
    (torch.tensor([True, False]), "tensor of dtype torch.bool"),
    (torch.tensor([0.5 + 0j, 0.5]), "tensor of dtype torch.complex64"),
    (np.array(["a", "b"]), "dtype <U1"),
])
def test_wrong_types_raise_type_error(p, message):
    """Are strings, None, dicts, booleans and complex numbers refused with a TypeError naming the argument?"""
    with pytest.raises(TypeError, match=message):
        entropy(p)
    with pytest.raises(TypeError, match=message.replace("p must", "q must")):
        kl_divergence([0.5, 0.5], p)


def test_tensors_on_different_devices_are_refused():
    """Are p and q on different devices refused with a ValueError that says how to fix it?"""
    with pytest.raises(ValueError, match="one device; got p on cpu, q on meta"):
        kl_divergence(torch.tensor([0.5, 0.5]), torch.empty(2, device="meta"))


@pytest.mark.parametrize(("args", "kwargs", "error", "message"), [
    ((0.0, 0.0, 0.0, 1.0), {}, ValueError, "sigma0 must be > 0 \\(a standard deviation\\); sigma0 = 0"),
    (([0.0, 0.0], 1.0, 0.0, [1.0, -1.0]), {}, ValueError,
     "sigma1 must be > 0.*sigma1\\[1\\] = -1.*exp\\(0.5 \\* logvar"),
    (([0.0, np.nan], 1.0, 0.0, 1.0), {}, ValueError, "mu0 must be finite; mu0\\[1\\] = nan"),
    ((0.0, 1.0, np.inf, 1.0), {}, ValueError, "mu1 must be finite; mu1 = inf"),
    (([0.0, 1.0], [1.0, 1.0, 1.0], 0.0, 1.0), {}, ValueError,
     "must broadcast to one shape; got shapes \\(2,\\), \\(3,\\)"),
    ((0.0, 1.0, 0.0, 1.0), {"diagonal": True}, ValueError, "diagonal=True sums over the last axis"),
    (([], [], 0.0, 1.0), {}, ValueError, "must not be empty"),
    ((0.0, 1.0, 0.0, 1.0), {"diagonal": 1}, TypeError, "diagonal must be True or False"),
    (("0", 1.0, 0.0, 1.0), {}, TypeError, "mu0 must be a numpy array, a list of numbers or a torch.Tensor; got str"),
    ((0.0, [1.0, 1j], 0.0, 1.0), {}, TypeError, "sigma0 must hold real numbers; got an array of dtype complex128"),
    ((0.0, 1.0, 0.0, 1.0), {"base": 1.0}, ValueError, "base must be"),
])
def test_gaussian_kl_bad_inputs(args, kwargs, error, message):
    """Does gaussian_kl refuse non-positive or non-finite parameters, shapes that do not broadcast and bad flags?"""
    with pytest.raises(error, match=message):
        gaussian_kl(*args, **kwargs)


def test_gaussian_kl_bad_tensor_inputs():
    """Are bad tensor parameters refused just as numpy ones are?"""
    with pytest.raises(ValueError, match="sigma0 must be > 0.*sigma0\\[2\\] = 0"):
        gaussian_kl(torch.zeros(3), torch.tensor([1.0, 1.0, 0.0]), 0.0, 1.0)


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda p, q: kl_monte_carlo("p", q, 10), TypeError, "p must be a torch.distributions.Distribution; got str"),
    (lambda p, q: kl_monte_carlo(p, None, 10), TypeError, "q must be a torch.distributions.Distribution"),
    (lambda p, q: kl_monte_carlo(p, q, 10.0), TypeError, "n must be an int; got float"),
    (lambda p, q: kl_monte_carlo(p, q, 1), ValueError, "n must be at least 2"),
    (lambda p, q: kl_monte_carlo(p, q, 10, generator=0), TypeError, "generator must be a torch.Generator"),
    (lambda p, q: kl_monte_carlo(p, q, 10, base=0), ValueError, "base must be"),
    (lambda p, q: kl_monte_carlo(D.Normal(torch.zeros(3), torch.ones(3)), q, 10), ValueError,
     "p must describe one distribution \\(batch_shape \\(\\)\\); got batch_shape \\(3,\\) \\(wrap it: Independent"),
    (lambda p, q: kl_monte_carlo(p, D.Independent(D.Normal(torch.zeros(2), torch.ones(2)), 1), 10), ValueError,
     "same space; got event shapes \\(\\) and \\(2,\\)"),
])
def test_kl_monte_carlo_bad_inputs(call, error, message):
    """Does kl_monte_carlo refuse non-distributions, batches, mismatched spaces, a bad n, generator or base?"""
    p, q, _ = MC_CASES["normal"]
    with pytest.raises(error, match=message):
        call(p, q)


@pytest.mark.parametrize(("args", "error", "message"), [
    (([[0.0, 1.0]], [0.0]), ValueError, "x must be a non-empty 1-D array of samples; got shape \\(1, 2\\)"),
    (([0.0], []), ValueError, "y must be a non-empty 1-D array"),
    (([0.0, np.nan], [1.0]), ValueError, "x must be finite; x\\[1\\] = nan"),
    (([0.0], [1.0, -np.inf]), ValueError, "y must be finite; y\\[1\\] = -inf"),
    (([0.0, 1.0], [1.0], [1.0]), ValueError,
     "x_weights must have one weight per sample of x: shape \\(2,\\); got \\(1,\\)"),
    (([0.0, 1.0], [1.0], [1.0, -1.0]), ValueError, "x_weights must be non-negative; x_weights\\[1\\] = -1"),
    (([0.0, 1.0], [1.0], None, [0.0]), ValueError, "y_weights must have a positive sum"),
    (([0.0, 1.0], [1.0], None, [np.nan]), ValueError, "y_weights must be finite"),
    (("01", [1.0]), TypeError, "x must be a numpy array"),
    (([0.0], [1.0], "w"), TypeError, "x_weights must be a numpy array"),
])
def test_wasserstein_1d_bad_inputs(args, error, message):
    """Does wasserstein_1d refuse samples that are not 1-D, empty or not finite, and bad weights, naming them?"""
    with pytest.raises(error, match=message):
        wasserstein_1d(*args)


@pytest.mark.parametrize(("x", "y", "error", "message"), [
    (np.zeros((3, 2)), np.zeros((4, 2)), ValueError, "same number of points .*got 3 and 4 .*wasserstein_1d"),
    (np.zeros((3, 2)), np.zeros((3, 3)), ValueError, "same dimension d; got shapes \\(3, 2\\) and \\(3, 3\\)"),
    (np.zeros((3, 2, 1)), np.zeros((3, 2, 1)), ValueError, "x must be a non-empty point cloud of shape \\(n, d\\)"),
    (np.zeros((0, 2)), np.zeros((0, 2)), ValueError, "x must be a non-empty point cloud"),
    (np.zeros((2, 2)), [[0.0, 0.0], [np.nan, 0.0]], ValueError, "y must be finite; y\\[1, 0\\] = nan"),
    (None, np.zeros((2, 2)), TypeError, "x must be a numpy array"),
])
def test_wasserstein_samples_bad_inputs(x, y, error, message):
    """Does wasserstein_samples refuse clouds of different sizes or dimensions, wrong ranks, nan and non-arrays?"""
    with pytest.raises(error, match=message):
        wasserstein_samples(x, y)


def test_the_transport_plan_is_the_matching_of_wasserstein_samples():
    """Is σ a permutation whose mean arrow length is W1, no longer than any other matching tried?"""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + [3.0, 0.0]
    plan = transport_plan(torch.as_tensor(x), torch.as_tensor(y))
    assert plan.dtype == np.int64 and sorted(plan) == list(range(30))
    length = np.linalg.norm(x - y[plan], axis=1).mean()
    assert length == pytest.approx(wasserstein_samples(x, y), rel=1e-12)
    for _ in range(50):
        assert length <= np.linalg.norm(x - y[rng.permutation(30)], axis=1).mean() + 1e-12
    assert list(transport_plan([0.0, 5.0, 1.0], [4.9, 0.2, 1.1])) == [1, 0, 2]  # 1-D: sorted order
    with pytest.raises(ValueError, match="x and y must hold the same number of points"):
        transport_plan(x, y[:3])
