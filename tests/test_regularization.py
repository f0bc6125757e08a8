"""regularization: penalties, closed forms, proximal steps, norm balls, the Lagrangian view, Lipschitz bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Lasso

from course_utils import losses
from course_utils.regularization import (
    CONSTRAINTS,
    STOP_STEPS,
    Scaled,
    architecture_shift_gaps,
    constrained_least_squares,
    critic_data,
    curve_data,
    early_stopping_step,
    l1_penalty,
    l2_penalty,
    lagrange_multiplier,
    lasso,
    least_squares,
    legendre_features,
    lipschitz_lower_bound,
    lipschitz_upper_bound,
    make_ball_problems,
    make_noisy_sine,
    map_estimate,
    max_norm_,
    mse,
    negative_log_posterior,
    pooling_shift_change,
    power_iteration,
    prior_strength,
    project_l1_ball,
    project_l2_ball,
    regularizer_summary,
    ridge,
    soft_threshold,
    train_constrained_critic,
    train_regularized_mlps,
)


@pytest.fixture(scope="module")
def problem():
    """The chapter's 15 points with degree-9 Legendre features, and its validation points."""
    data = curve_data()
    return legendre_features(data.x_train, 9), data.y_train, legendre_features(data.x_val, 9), data.y_val


def test_the_data_and_the_features() -> None:
    x, y = make_noisy_sine(500, noise=0.0, generator=torch.Generator().manual_seed(0))
    assert x.dtype == torch.float64 and x.min() >= -1 and x.max() <= 1
    torch.testing.assert_close(y, torch.sin(math.pi * x))
    features = legendre_features(torch.tensor([0.5], dtype=torch.float64), 3)
    torch.testing.assert_close(features[0], torch.tensor([1.0, 0.5, -0.125, -0.4375], dtype=torch.float64))
    with pytest.raises(ValueError, match="degree must be an int >= 0"):
        legendre_features(x, -1)


def test_ridge_is_the_closed_form_and_the_minimiser(problem) -> None:
    """Is ridge(λ) (XᵀX/N + λI)⁻¹Xᵀy/N, a zero of the penalised gradient, and least squares at λ = 0?"""
    X, y, _, _ = problem
    for lam in (0.0, 1e-3, 0.1):
        w = ridge(X, y, lam)
        gradient = 2 * X.T @ (X @ w - y) / len(y) + 2 * lam * w
        assert gradient.abs().max() < 1e-10
    torch.testing.assert_close(ridge(X, y, 0.0), least_squares(X, y))
    # scipy's general-purpose minimiser agrees with the closed form
    objective = lambda w: float(np.mean((X.numpy() @ w - y.numpy()) ** 2) + 0.01 * np.sum(w**2))  # noqa: E731
    found = scipy.optimize.minimize(objective, np.zeros(X.shape[1]), method="BFGS", options={"gtol": 1e-10}).x
    np.testing.assert_allclose(found, ridge(X, y, 0.01).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        ridge(X, y, -1.0)


def test_penalties_sum_over_a_list_of_tensors() -> None:
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([[3.0], [-0.5]])
    assert float(l2_penalty([a, b], 0.5)) == pytest.approx(0.5 * (1 + 4 + 9 + 0.25))
    assert float(l1_penalty([a, b], 2.0)) == pytest.approx(2.0 * (1 + 2 + 3 + 0.5))
    w = torch.tensor([0.3, -1.2], requires_grad=True)
    l2_penalty([w], 0.7).backward()
    torch.testing.assert_close(w.grad, 2 * 0.7 * w.detach())  # weight decay: the gradient is 2λw
    for penalty in (l2_penalty, l1_penalty):
        with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
            penalty([a], -0.1)
        with pytest.raises(ValueError, match="non-empty list of tensors"):
            penalty([], 0.1)


@given(st.floats(-5, 5), st.floats(0, 3))
@settings(max_examples=60, deadline=None)
def test_soft_threshold_is_the_l1_proximal_step(w: float, step: float) -> None:
    """Is soft_threshold(w, t) the minimiser of ½(v − w)² + t|v| (found by brute force on a fine grid)?"""
    grid = np.linspace(-6, 6, 120_001)
    brute = grid[np.argmin(0.5 * (grid - w) ** 2 + step * np.abs(grid))]
    got = float(soft_threshold(torch.tensor([w], dtype=torch.float64), step)[0])
    assert got == pytest.approx(brute, abs=2e-4)
    assert (got == 0.0) == (abs(w) <= step)  # exactly 0 inside the threshold


def test_soft_threshold_refuses_a_negative_step() -> None:
    with pytest.raises(ValueError, match="step must be a finite number >= 0"):
        soft_threshold(torch.ones(3), -0.1)


def test_lasso_matches_scikit_learn_and_has_exact_zeros(problem) -> None:
    """scikit-learn's Lasso minimises (1/2N)‖Xw − y‖² + α‖w‖₁, i.e. ours with λ = 2α."""
    X, y, _, _ = problem
    for lam in (1e-3, 1e-2, 1e-1):
        w = lasso(X, y, lam)
        reference = Lasso(alpha=lam / 2, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(X.numpy(), y.numpy())
        np.testing.assert_allclose(w.numpy(), reference.coef_, atol=1e-8)
        assert int((w == 0).sum()) == int((reference.coef_ == 0).sum()) >= 2
        assert int((ridge(X, y, lam) == 0).sum()) == 0  # ridge shrinks, never to exactly 0


def test_gaussian_and_laplace_priors_give_ridge_and_lasso(problem) -> None:
    """Is the MAP estimate under N(0, τ²) weights ridge with λ = σ²/(Nτ²), and is the lasso the minimiser of the
    negative log posterior under Laplace(0, b) weights with λ = 2σ²/(Nb)?"""
    X, y, _, _ = problem
    sigma, tau, b = 0.2, 0.5, 0.3
    lam = prior_strength(sigma, tau, len(y), "gaussian")
    assert lam == pytest.approx(sigma**2 / (len(y) * tau**2))
    torch.testing.assert_close(
        map_estimate(X, y, noise_std=sigma, prior_scale=tau), ridge(X, y, lam), atol=1e-6, rtol=0
    )
    lam1 = prior_strength(sigma, b, len(y), "laplace")
    w = lasso(X, y, lam1, steps=20_000)
    at = lambda v: float(negative_log_posterior(X, y, v, noise_std=sigma, prior_scale=b, prior="laplace"))  # noqa: E731
    g = torch.Generator().manual_seed(0)
    for _ in range(50):  # no nearby point has a higher posterior
        assert at(w) <= at(w + 1e-3 * torch.randn(len(w), generator=g, dtype=w.dtype)) + 1e-12
    with pytest.raises(ValueError, match="prior must be 'gaussian' or 'laplace'"):
        prior_strength(sigma, tau, 15, "cauchy")


def test_projections_onto_the_balls() -> None:
    g = torch.Generator().manual_seed(0)
    w = 3 * torch.randn(200, 4, generator=g, dtype=torch.float64)
    p2 = project_l2_ball(w, 1.0)
    assert torch.all(p2.norm(dim=1) <= 1 + 1e-12)
    torch.testing.assert_close(project_l2_ball(0.1 * w[:1] / w[:1].norm(), 1.0), 0.1 * w[:1] / w[:1].norm())
    p1 = project_l1_ball(w, 1.0)
    outside = w.abs().sum(1) > 1
    torch.testing.assert_close(p1[outside].abs().sum(1), torch.ones(int(outside.sum()), dtype=torch.float64))
    torch.testing.assert_close(p1[~outside], w[~outside])
    # the nearest point: scipy's constrained minimiser (SLSQP) on a few of them
    for row in w[:5]:
        target = row.numpy()
        found = scipy.optimize.minimize(
            lambda v, t=target: np.sum((v - t) ** 2),
            np.zeros(4),
            method="SLSQP",
            constraints=[{"type": "ineq", "fun": lambda v: 1 - np.sum(np.abs(v))}],
            options={"ftol": 1e-12, "maxiter": 500},
        ).x
        np.testing.assert_allclose(project_l1_ball(row, 1.0).numpy(), found, atol=1e-4)


def test_the_l2_penalty_and_the_l2_ball_give_the_same_solution(problem) -> None:
    """Ridge at λ and least squares in the ball of radius ‖w_λ‖: the same w, and the ball's multiplier is λ."""
    X, y, _, _ = problem
    for lam in (1e-3, 1e-2, 1e-1):
        w_penalty = ridge(X, y, lam)
        w_constraint = constrained_least_squares(X, y, float(w_penalty.norm()), norm="l2", steps=8_000)
        torch.testing.assert_close(w_constraint, w_penalty, atol=1e-8, rtol=0)
        assert lagrange_multiplier(X, y, w_constraint) == pytest.approx(lam, rel=1e-5)
    with pytest.raises(ValueError, match="norm must be 'l2' or 'l1'"):
        constrained_least_squares(X, y, 1.0, norm="linf")


def test_ball_problems_have_solutions_outside_both_balls() -> None:
    """Does make_ball_problems return n problems, drawn with the generator, whose least-squares solution lies
    outside the L2 ball (so outside the L1 ball too), and is w_ls their least-squares solution?"""
    A, b, w_ls = make_ball_problems(300, 0.4, generator=torch.Generator().manual_seed(0))
    assert A.shape == (300, 10, 2) and b.shape == (300, 10) and w_ls.shape == (300, 2)
    torch.testing.assert_close(w_ls, torch.linalg.lstsq(A, b[..., None]).solution[..., 0])
    assert bool((w_ls.norm(dim=-1) > 0.4).all()) and bool((w_ls.abs().sum(-1) > 0.4).all())
    again = make_ball_problems(300, 0.4, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again[0], A)
    # a large radius leaves few problems per batch: the draw goes on until there are n
    A5, _, w5 = make_ball_problems(20, 1.0, n_points=10, dim=3, generator=torch.Generator().manual_seed(1))
    assert A5.shape == (20, 10, 3) and bool((w5.norm(dim=-1) > 1.0).all())
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        make_ball_problems(0, 0.1)
    with pytest.raises(ValueError, match="radius must be a finite number >= 0"):
        make_ball_problems(5, -0.1)


def test_the_l1_ball_puts_solutions_on_its_corners() -> None:
    """On random 2-D least-squares problems on which both balls bind (both solutions on their boundary), the
    L1-ball solution often has an exact 0; the L2-ball solution never does."""
    A, b, _ = make_ball_problems(300, 0.15, generator=torch.Generator().manual_seed(0))
    w1 = constrained_least_squares(A, b, 0.15, norm="l1", steps=3_000)
    w2 = constrained_least_squares(A, b, 0.15, norm="l2", steps=3_000)
    torch.testing.assert_close(w1.abs().sum(-1), torch.full((300,), 0.15, dtype=torch.float64))  # both bind
    torch.testing.assert_close(w2.norm(dim=-1), torch.full((300,), 0.15, dtype=torch.float64))
    assert float((w1 == 0).any(-1).double().mean()) > 0.2
    assert int((w2 == 0).sum()) == 0


def test_the_iterative_solvers_refuse_a_bad_step_count(problem) -> None:
    """Is a step count that is not an int >= 1 refused with a ValueError naming `steps`, not silently run?"""
    X, y, _, _ = problem
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="steps must be an int >= 1"):
            lasso(X, y, 0.01, steps=bad)
        with pytest.raises(ValueError, match="steps must be an int >= 1"):
            constrained_least_squares(X, y, 1.0, steps=bad)
    with pytest.raises(ValueError, match="radius must be a finite number >= 0"):
        constrained_least_squares(X, y, -1.0)


def test_the_multiplier_is_refused_at_zero(problem) -> None:
    """At w = 0 the ball does not bind and μ would be 0/0: is that a ValueError that says why, not a NaN?"""
    X, y, _, _ = problem
    with pytest.raises(ValueError, match="does not bind"):
        lagrange_multiplier(X, y, torch.zeros(X.shape[1], dtype=X.dtype))


def test_early_stopping_keeps_the_best_point_before_patience_runs_out() -> None:
    curve = torch.tensor([5.0, 3.0, 2.0, 2.5, 2.6, 1.0, 3.0, 3.0])
    assert early_stopping_step(curve, patience=2) == 2  # stops at index 4, two records after the best
    assert early_stopping_step(curve, patience=3) == 5
    assert early_stopping_step(curve, patience=100) == 5
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        early_stopping_step(curve, 0)


def test_regularised_networks_train_independently_and_generalise_better() -> None:
    """A batch of networks trained together equals each trained alone; on the chapter's points the unregularised
    one overfits (training MSE far below validation) and each regulariser lowers the validation MSE."""
    data = curve_data()
    runs = train_regularized_mlps(
        data.x_train, data.y_train, data.x_val, data.y_val, l2=(1e-2,), l1=(1e-2,), dropout=(0.2,), steps=600
    )
    assert runs.kinds == ("none", "l2", "l1", "dropout") and runs.predictions.shape == (4, len(runs.steps), 201)
    alone = train_regularized_mlps(data.x_train, data.y_train, data.x_val, data.y_val, l2=(1e-2,), steps=600)
    torch.testing.assert_close(alone.val_loss[1], runs.val_loss[1], atol=1e-5, rtol=1e-4)
    plain = runs.index("none")
    assert runs.train_loss[plain, -1] < 0.3 * runs.val_loss[plain, -1]
    for kind, strength in (("l2", 1e-2), ("l1", 1e-2), ("dropout", 0.2)):
        assert runs.val_loss[runs.index(kind, strength), -1] < runs.val_loss[plain, -1]
    with pytest.raises(ValueError, match="dropout probability must lie in"):
        train_regularized_mlps(data.x_train, data.y_train, data.x_val, data.y_val, dropout=(1.0,), steps=1)


@pytest.mark.parametrize("shape", [(5, 3), (16, 16), (1, 7), (40, 2)])
def test_power_iteration_converges_to_the_spectral_norm(shape) -> None:
    g = torch.Generator().manual_seed(sum(shape))
    W = torch.randn(*shape, generator=g, dtype=torch.float64)
    exact = float(torch.linalg.matrix_norm(W, ord=2))
    assert power_iteration(W, 500, torch.Generator().manual_seed(0)) == pytest.approx(exact, rel=1e-8)
    assert power_iteration(W, 1, torch.Generator().manual_seed(0)) <= exact + 1e-12  # from below
    with pytest.raises(ValueError, match="n_iter must be an int >= 1"):
        power_iteration(W, 0)
    with pytest.raises(ValueError, match="W must be a 2-D tensor"):
        power_iteration(W[0], 3)


def test_a_linear_maps_lipschitz_constant_is_its_spectral_norm() -> None:
    """For f(x) = wᵀx the largest gradient norm, the product bound and σ_max all equal ‖w‖; for a chain of two
    linear layers the bound is above the true constant σ_max(W₂W₁) unless the layers line up."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(3, 1)
    points = torch.randn(50, 3)
    expected = float(torch.linalg.matrix_norm(linear.weight.detach().double(), ord=2))
    assert lipschitz_lower_bound(torch.nn.Sequential(linear, torch.nn.Flatten(0)), points) == pytest.approx(
        expected, rel=1e-6
    )
    assert lipschitz_upper_bound(linear) == pytest.approx(expected, rel=1e-12)
    chain = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    slopes = lipschitz_lower_bound(torch.nn.Sequential(chain, torch.nn.Flatten(0)), torch.randn(2_000, 3))
    assert slopes <= lipschitz_upper_bound(chain) + 1e-9
    assert lipschitz_upper_bound(Scaled(linear, 3.0)) == pytest.approx(3 * expected)


def test_max_norm_projects_each_units_weights() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    with torch.no_grad():
        net[0].weight.mul_(10)
    small_row = net[2].weight[0].detach().clone() * 0 + 0.01
    with torch.no_grad():
        net[2].weight[0] = small_row
    max_norm_(net, 0.5)
    assert torch.all(net[0].weight.norm(dim=1) <= 0.5 + 1e-6)
    torch.testing.assert_close(net[2].weight[0], small_row)  # rows inside the ball are left alone


@pytest.mark.parametrize("kind", CONSTRAINTS)
def test_each_constraint_bounds_the_critic(kind) -> None:
    """Is the measured constant at most the bound, and do the constraints hold: SN's bound is its scale, clipped
    weights lie in [−c, c], max-norm rows lie in the ball; without one the critic's slope keeps growing?"""
    real, fake = critic_data(500)
    strength = {"none": 1.0, "max_norm": 0.5, "clip": 0.05, "spectral_norm": 2.0, "gradient_penalty": 10.0}[kind]
    critic = train_constrained_critic(real, fake, kind, strength, steps=150)
    points = torch.cartesian_prod(torch.linspace(-3, 3, 40), torch.linspace(-3, 3, 40))
    measured, bound = lipschitz_lower_bound(critic, points), lipschitz_upper_bound(critic)
    assert measured <= bound * (1 + 1e-5)
    if kind == "spectral_norm":
        assert bound == pytest.approx(2.0, rel=0.02)
    if kind == "clip":
        assert all(float(p.detach().abs().max()) <= 0.05 + 1e-7 for p in critic.parameters())
    if kind == "max_norm":
        assert all(
            float(m.weight.detach().norm(dim=1).max()) <= 0.5 + 1e-5
            for m in critic.modules()
            if isinstance(m, torch.nn.Linear)
        )
    if kind == "none":
        longer = train_constrained_critic(real, fake, kind, steps=300)
        assert lipschitz_lower_bound(longer, points) > 1.5 * measured > 5
    if kind == "gradient_penalty":  # the penalty is the library's WGAN-GP term, so it drives the slopes to about 1
        assert 0.7 < measured < 2.0
        assert float(losses.gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0)).detach()) < 1.0
    with pytest.raises(ValueError, match="kind must be one of"):
        train_constrained_critic(real, fake, "dropout")


def test_training_a_critic_leaves_the_global_random_state_alone() -> None:
    """Is the critic a function of `seed` alone (not of the global RNG), and is the caller's RNG state untouched?"""
    real, fake = critic_data(200)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = train_constrained_critic(real, fake, "spectral_norm", 1.0, steps=5, seed=4)
    assert torch.equal(torch.get_rng_state(), state)
    torch.manual_seed(999)  # a different global state: the same critic
    second = train_constrained_critic(real, fake, "spectral_norm", 1.0, steps=5, seed=4)
    points = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(first(points), second(points))
    with pytest.raises(ValueError, match="steps must be an int >= 0"):
        train_constrained_critic(real, fake, "none", steps=-1)


def test_max_pooling_ignores_a_shift_within_its_window_and_has_no_parameters() -> None:
    spike = torch.zeros(1, 8)
    spike[0, 1] = 1.0  # in the first window of 4
    assert float(pooling_shift_change(spike, 4, 2).max()) == 0  # moved to position 3: still in the window
    assert float(pooling_shift_change(spike, 4, 3).max()) == 1  # moved to position 4: the next window
    assert sum(p.numel() for p in torch.nn.MaxPool1d(4).parameters()) == 0
    with pytest.raises(ValueError, match="divisible by window"):
        pooling_shift_change(torch.zeros(1, 7), 4, 1)
    torch.testing.assert_close(pooling_shift_change(spike, 4, -1), pooling_shift_change(spike, 4, 7))  # circular
    for bad in (1.5, "1", None):
        with pytest.raises(ValueError, match="steps must be an int"):
            pooling_shift_change(spike, 4, bad)


def test_mse_helper(problem) -> None:
    X, y, _, _ = problem
    w = ridge(X, y, 0.01)
    assert mse(X, w, y) == pytest.approx(float(torch.mean((X @ w - y) ** 2)))


def test_regularizer_summary_reads_the_runs_it_is_given() -> None:
    """Are best, strongest and early-stopping entries the recorded values they name?"""
    data = curve_data()
    runs = train_regularized_mlps(data.x_train, data.y_train, data.x_val, data.y_val, l2=(1e-3, 1e-1),
                                  dropout=(0.3,), steps=100, record_every=25)
    summary = regularizer_summary(runs, patience=2)
    assert set(summary.best_val) == {"l2", "dropout", "early stopping"}  # no L1 strengths given: no L1 entry
    assert summary.best_val["l2"] == pytest.approx(float(runs.val_loss[[1, 2], -1].min()))
    assert summary.strongest_train["l2"] == pytest.approx(float(runs.train_loss[runs.index("l2", 1e-1), -1]))
    stop = early_stopping_step(runs.val_loss[0], patience=2)
    assert summary.best_val["early stopping"] == pytest.approx(float(runs.val_loss[0, stop]))
    budget = list(runs.steps.tolist()).index(min(STOP_STEPS))
    assert summary.strongest_train["early stopping"] == pytest.approx(float(runs.train_loss[0, budget]))
    assert summary.plain_val == pytest.approx(float(runs.val_loss[0, -1]))


def test_a_global_max_after_a_circular_convolution_is_invariant_for_any_weights() -> None:
    """Is every gap exactly 0 with a global max (at any weight scale and shift) and positive with a dense head?"""
    for scale, steps in ((1.0, 1), (1000.0, 3), (0.01, -2)):
        assert float(architecture_shift_gaps("global_max", n_networks=10, weight_scale=scale, steps=steps).max()) == 0
    assert float(architecture_shift_gaps("flatten", n_networks=10).min()) > 0
    before = torch.random.get_rng_state()
    architecture_shift_gaps("flatten", n_networks=2)
    assert torch.equal(before, torch.random.get_rng_state())  # the caller's random state is left as it was
    with pytest.raises(ValueError, match="head must be"):
        architecture_shift_gaps("mean")
