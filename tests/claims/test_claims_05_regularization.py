"""Chapter 05's measured sentences, rerun with the chapter's own calls and settings on three seeds (draws of the
15 points for the closed forms, initialisations for the networks, draws of the samples for the critics), each
against the baseline that would also pass it."""

from __future__ import annotations

import math

import pytest
import torch

from course_utils.evidence import compare
from course_utils.regularization import (
    CRITIC_W1,
    architecture_shift_gaps,
    chapter_runs,
    constrained_least_squares,
    critic_report,
    curve_data,
    lagrange_multiplier,
    lasso,
    least_squares,
    legendre_features,
    make_ball_problems,
    mse,
    pooling_shift_change,
    regularizer_summary,
    ridge,
)

SEEDS = (0, 1, 2)  # the chapter's seeds (its draw of the points is curve_data's default, seed 2)


def polynomial_fits(seed: int, degree: int) -> tuple[float, float]:
    data = curve_data(seed)
    X = legendre_features(data.x_train, degree)
    w = least_squares(X, data.y_train)
    return mse(X, w, data.y_train), mse(legendre_features(data.x_val, degree), w, data.y_val)


def test_a_high_degree_polynomial_overfits() -> None:
    """Cell 4: degree 14 fits the 15 points better than degree 3 and new points far worse (log10 MSE, paired
    over draws of the points)."""
    low = [polynomial_fits(seed, 3) for seed in SEEDS]
    high = [polynomial_fits(seed, 14) for seed in SEEDS]
    train = compare([math.log10(h[0]) for h in high], [math.log10(lo[0]) for lo in low], larger=False, paired=True)
    val = compare([math.log10(h[1]) for h in high], [math.log10(lo[1]) for lo in low], paired=True)
    assert train.holds, str(train)
    assert val.holds, str(val)


def ridge_errors(seed: int, lam: float) -> tuple[float, float]:
    data = curve_data(seed)
    X9 = legendre_features(data.x_train, 9)
    w = ridge(X9, data.y_train, lam)
    return mse(X9, w, data.y_train), mse(legendre_features(data.x_val, 9), w, data.y_val)


def test_the_validation_loss_falls_then_rises_with_lambda_the_training_loss_only_rises() -> None:
    """Sentences 2 and 4: validation MSE at λ = 0.01 below both λ = 1e-4 and λ = 1 (log10, paired), and λ = 0's
    above λ = 1e-4's on every draw (its size varies over orders of magnitude, so its own z is meaningless); the
    training MSE higher at λ = 1 than at 0 (a smaller ball fits the training points worse)."""
    none, weak, mid, strong = ([ridge_errors(seed, lam) for seed in SEEDS] for lam in (0.0, 1e-4, 1e-2, 1.0))
    assert all(n[1] > w[1] for n, w in zip(none, weak, strict=True)), (none, weak)
    for baseline in (weak, strong):
        result = compare([math.log10(m[1]) for m in mid], [math.log10(b[1]) for b in baseline], larger=False,
                         paired=True)
        assert result.holds, str(result)
    train = compare([s[0] for s in strong], [n[0] for n in none], paired=True)
    assert train.holds, str(train)


def test_only_the_lasso_sets_weights_exactly_to_zero() -> None:
    """Cell 21: exact zeros of the lasso against ridge at λ = 0.1 on the degree-9 polynomial."""
    lasso_zeros, ridge_zeros = [], []
    for seed in SEEDS:
        data = curve_data(seed)
        X9 = legendre_features(data.x_train, 9)
        lasso_zeros.append(int((lasso(X9, data.y_train, 0.1) == 0).sum()))
        ridge_zeros.append(int((ridge(X9, data.y_train, 0.1) == 0).sum()))
    result = compare(lasso_zeros, ridge_zeros, paired=True)
    assert result.holds, str(result)


def test_the_l1_ball_gives_exact_zeros_the_l2_ball_does_not() -> None:
    """Cell 23: share of 500 binding problems with an exact zero, L1 ball against L2 ball, three draws."""
    l1, l2 = [], []
    for seed in SEEDS:
        A, b, _ = make_ball_problems(500, 0.15, generator=torch.Generator().manual_seed(seed))
        l1.append(float((constrained_least_squares(A, b, 0.15, norm="l1", steps=2_000) == 0).any(-1).double().mean()))
        l2.append(float((constrained_least_squares(A, b, 0.15, norm="l2", steps=2_000) == 0).any(-1).double().mean()))
    result = compare(l1, l2, paired=True)
    assert result.holds, str(result)


def test_the_l2_penalty_and_the_l2_ball_of_its_radius_agree() -> None:
    """Cell 35: the constrained solution at r = ‖w_λ‖ is w_λ (to rounding) and its multiplier is λ; the baseline, the
    ball of radius 0.9 r, is far from w_λ (the agreement is not a property of any ball)."""
    lam, same, other = 0.01, [], []
    for seed in SEEDS:
        data = curve_data(seed)
        X9 = legendre_features(data.x_train, 9)
        w_penalty = ridge(X9, data.y_train, lam)
        r = float(w_penalty.norm())
        w_constraint = constrained_least_squares(X9, data.y_train, r, norm="l2")
        same.append(float((w_constraint - w_penalty).abs().max()))
        other.append(float((constrained_least_squares(X9, data.y_train, 0.9 * r, norm="l2") - w_penalty).abs().max()))
        assert lagrange_multiplier(X9, data.y_train, w_constraint) == pytest.approx(lam, rel=1e-6)
    assert max(same) < 1e-8, same
    result = compare(same, other, larger=False, paired=True)
    assert result.holds, str(result)


@pytest.fixture(scope="module")
def summaries():
    return [regularizer_summary(chapter_runs(init_seed=seed)) for seed in SEEDS]


@pytest.mark.parametrize("kind", ["l2", "l1", "dropout", "early stopping"])
def test_every_regulariser_lowers_the_validation_loss_and_underfits_when_strongest(summaries, kind) -> None:
    """Summary: each regulariser's best validation MSE below the unregularised network's, and its training MSE at
    its strongest setting above it, paired over three initialisations (the chapter's new cell prints the same)."""
    best = compare([s.best_val[kind] for s in summaries], [s.plain_val for s in summaries], larger=False, paired=True)
    strong = compare([s.strongest_train[kind] for s in summaries], [s.plain_train for s in summaries], paired=True)
    assert best.holds, str(best)
    assert strong.holds, str(strong)


def test_l1_drives_network_weights_near_zero_but_none_exactly() -> None:
    """Cell 27's L1 row: weights below 0.001 at λ = 0.01 against the unregularised network, none exactly 0."""
    near, plain_near, exact = [], [], []
    for seed in SEEDS:
        runs = chapter_runs(init_seed=seed)
        l1, plain = runs.weights[runs.index("l1", 1e-2), -1], runs.weights[runs.index("none"), -1]
        near.append(int((l1.abs() < 1e-3).sum()))
        plain_near.append(int((plain.abs() < 1e-3).sum()))
        exact.append(int((l1 == 0).sum()))
    result = compare(near, plain_near, paired=True)
    assert result.holds, str(result)
    assert exact == [0, 0, 0], exact


@pytest.fixture(scope="module")
def critics():
    settings = (("none", 1.0), ("clip", 0.01), ("spectral_norm", 1.0), ("gradient_penalty", 10.0))
    return {setting: [critic_report(*setting, seed=seed) for seed in SEEDS] for setting in settings}


def test_the_measured_constant_never_exceeds_the_product_bound(critics) -> None:
    for reports in critics.values():
        for report in reports:
            assert report.lipschitz <= report.bound * (1 + 1e-6), (report.kind, report.lipschitz, report.bound)


def test_without_a_constraint_the_score_runs_away(critics) -> None:
    """'Without any of them a WGAN critic's score grows without bound': the unconstrained score against the
    spectrally normalised critic's (whose score is at most about W₁)."""
    result = compare([r.score for r in critics["none", 1.0]], [r.score for r in critics["spectral_norm", 1.0]],
                     paired=True)
    assert result.holds, str(result)


def test_spectral_normalisation_holds_the_constant_near_one_and_clipping_at_001_scores_a_sliver(critics) -> None:
    spectral = critics["spectral_norm", 1.0]
    assert all(0.9 < r.lipschitz <= 1.0 and r.bound <= 1.01 for r in spectral), [
        (r.lipschitz, r.bound) for r in spectral]
    result = compare([r.score for r in spectral], [r.score for r in critics["clip", 0.01]], paired=True)
    assert result.holds, str(result)
    assert all(r.score < 0.05 * CRITIC_W1 for r in critics["clip", 0.01])


def test_the_gradient_penalty_critic_is_not_1_lipschitz_and_overestimates_w1(critics) -> None:
    """Cell 41: its score above W₁ = 2 by more than 3 standard errors on every draw (no 1-Lipschitz critic can),
    above the spectrally normalised critic's (paired), its measured constant above 1, and score / L ≤ W₁."""
    penalised = critics["gradient_penalty", 10.0]
    assert all((r.score - CRITIC_W1) / r.score_se > 3 for r in penalised), [(r.score, r.score_se) for r in penalised]
    assert all(r.lipschitz > 1 for r in penalised), [r.lipschitz for r in penalised]
    assert all(r.score / r.lipschitz <= CRITIC_W1 for r in penalised), [r.score / r.lipschitz for r in penalised]
    result = compare([r.score for r in penalised], [r.score for r in critics["spectral_norm", 1.0]], paired=True)
    assert result.holds, str(result)


def test_a_window_of_four_keeps_three_fifths_of_its_outputs_under_a_shift() -> None:
    """Cell 45: the share of pooled outputs unchanged by a shift of one is 3/5 (the closed form), three draws."""
    for seed in SEEDS:
        signals = torch.randn(10_000, 8, generator=torch.Generator().manual_seed(seed))
        share = float((pooling_shift_change(signals, 4, 1) == 0).double().mean())
        assert abs(share - 0.6) < 0.02, (seed, share)


def test_a_global_max_is_shift_invariant_for_every_weight_the_flatten_head_is_not() -> None:
    """Cell 48: the infinitely strong prior. The largest output change under a shift, over 100 random networks per
    draw: exactly 0 with a global max (×1,000 weights too), against the same convolution with a dense head."""
    pooled = [float(architecture_shift_gaps("global_max", n_networks=100, seed=seed).max()) for seed in SEEDS]
    flat = [float(architecture_shift_gaps("flatten", n_networks=100, seed=seed).max()) for seed in SEEDS]
    assert pooled == [0.0, 0.0, 0.0]
    assert float(architecture_shift_gaps("global_max", n_networks=100, weight_scale=1000.0).max()) == 0.0
    result = compare(flat, pooled, paired=True)
    assert result.holds, str(result)
