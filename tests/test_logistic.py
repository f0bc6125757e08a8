"""Chapter 03's module: losses as likelihoods, gradient closed forms, and the training race."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from course_utils.logistic import (
    LOSSES,
    bernoulli_nll,
    categorical_nll,
    gaussian_nll,
    logit_gradient,
    loss_of_logit,
    make_two_blobs,
    naive_bce_with_logits,
    sigmoid_loss_curves,
    train_logistic,
)


def test_gaussian_nll_is_scaled_mse_plus_a_constant():
    """Is the Gaussian NLL equal to MSE/(2σ²) + log(σ√(2π)), and to scipy's norm.logpdf?"""
    g = torch.Generator().manual_seed(0)
    prediction, target = torch.randn(50, generator=g, dtype=torch.float64), torch.randn(50, generator=g,
                                                                                         dtype=torch.float64)
    for sigma in (0.3, 1.0, 2.5):
        expected = F.mse_loss(prediction, target) / (2 * sigma**2) + math.log(sigma * math.sqrt(2 * math.pi))
        assert gaussian_nll(prediction, target, sigma).item() == pytest.approx(expected.item(), rel=1e-12)
        scipy_value = -stats.norm(prediction.numpy(), sigma).logpdf(target.numpy()).mean()
        assert gaussian_nll(prediction, target, sigma).item() == pytest.approx(scipy_value, rel=1e-12)
    with pytest.raises(ValueError, match="sigma must be > 0"):
        gaussian_nll(prediction, target, 0.0)


def test_bernoulli_and_categorical_nll_are_torch_cross_entropies():
    """Are the Bernoulli and categorical NLLs torch's BCE-with-logits and cross_entropy?"""
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(40, generator=g), (torch.rand(40, generator=g) > 0.5).float()
    assert bernoulli_nll(logits, labels).item() == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, labels).item(), rel=1e-6)
    class_logits, classes = torch.randn(40, 5, generator=g), torch.randint(0, 5, (40,), generator=g)
    assert categorical_nll(class_logits, classes).item() == pytest.approx(
        F.cross_entropy(class_logits, classes).item(), rel=1e-6)


def test_naive_bce_overflows_where_the_stable_form_does_not():
    """Does the naive BCE give inf for confidently wrong logits, where torch's stable BCE gives |z|?"""
    z, y = torch.tensor([1000.0, -1000.0, 30.0]), torch.tensor([0.0, 1.0, 0.0])
    assert torch.isinf(naive_bce_with_logits(z, y)).all()
    assert torch.allclose(F.binary_cross_entropy_with_logits(z, y, reduction="none"), z.abs())
    moderate = torch.tensor([-2.0, 0.0, 3.0])
    target = torch.tensor([1.0, 0.0, 1.0])
    assert torch.allclose(naive_bce_with_logits(moderate, target),
                          F.binary_cross_entropy_with_logits(moderate, target, reduction="none"))


@pytest.mark.parametrize("label", [0, 1])
def test_loss_curves_match_the_closed_form_gradients(label):
    """Do the autograd gradients equal 2(σ−y)σ(1−σ) for MSE and σ−y for BCE at every logit?"""
    z = torch.linspace(-12, 12, 97)
    curves = sigmoid_loss_curves(z, label)
    s = torch.sigmoid(z.double())
    assert torch.allclose(curves.gradient["mse"], 2 * (s - label) * s * (1 - s), atol=1e-12)
    assert torch.allclose(curves.gradient["bce"], s - label, atol=1e-12)
    for name in LOSSES:
        assert torch.allclose(curves.gradient[name], logit_gradient(name, z.double(), torch.full_like(s, label)))


def test_mse_gradient_vanishes_when_confidently_wrong_and_bce_does_not():
    """At z = -10 with y = 1 (confidently wrong), is |dMSE/dz| tiny while |dBCE/dz| is near 1?"""
    curves = sigmoid_loss_curves(torch.tensor([-10.0]), 1)
    assert abs(curves.gradient["mse"].item()) < 1e-3
    assert curves.gradient["bce"].item() == pytest.approx(-1.0, abs=1e-4)


def test_bad_labels_and_loss_names_are_refused():
    """Are a label other than 0/1 and an unknown loss name rejected with a message naming them?"""
    with pytest.raises(ValueError, match="label must be 0 or 1"):
        sigmoid_loss_curves(torch.zeros(3), 0.5)
    with pytest.raises(ValueError, match="loss must be one of"):
        loss_of_logit("hinge", torch.zeros(3), torch.zeros(3))
    x, y = make_two_blobs(10)
    with pytest.raises(ValueError, match="learning_rate"):
        train_logistic(x, y, "bce", learning_rate=0.0)
    with pytest.raises(ValueError, match="steps"):
        train_logistic(x, y, "bce", steps=0)
    with pytest.raises(ValueError, match="n must be"):
        make_two_blobs(1)


def test_closed_form_training_matches_autograd():
    """Does one closed-form gradient step equal the step autograd computes for the same loss?"""
    x, y = make_two_blobs(64, generator=torch.Generator().manual_seed(2))
    for name in LOSSES:
        w = torch.tensor([-1.0, 0.5], requires_grad=True)
        b = torch.tensor(0.2, requires_grad=True)
        loss = loss_of_logit(name, x @ w + b, y).mean()
        grad_w, grad_b = torch.autograd.grad(loss, (w, b))
        run = train_logistic(x, y, name, steps=1, initial_weight=(-1.0, 0.5), initial_bias=0.2)
        assert run.loss[0] == pytest.approx(loss.item(), rel=1e-6)
        assert run.gradient_norm[0] == pytest.approx(torch.cat([grad_w, grad_b[None]]).norm().item(), rel=1e-5)


def test_the_race_cross_entropy_escapes_a_wrong_start_and_mse_stalls():
    """From a confidently wrong start, does BCE reach ~85% accuracy in 100 steps while MSE is still below 50%?"""
    x, y = make_two_blobs(400, generator=torch.Generator().manual_seed(0))
    bce = train_logistic(x, y, "bce", steps=100, initial_weight=(-6.0, -6.0))
    mse = train_logistic(x, y, "mse", steps=100, initial_weight=(-6.0, -6.0))
    assert bce.accuracy[-1] > 0.8
    assert mse.accuracy[-1] < 0.5
    assert mse.gradient_norm[0] < 0.05 * bce.gradient_norm[0]
    assert len(bce.loss) == len(bce.accuracy) == len(bce.gradient_norm) == 100


def test_two_blobs_are_balanced_and_reproducible():
    """Are the two classes balanced, on opposite sides of the diagonal, and the same for the same seed?"""
    x, y = make_two_blobs(1000, generator=torch.Generator().manual_seed(3))
    again, _ = make_two_blobs(1000, generator=torch.Generator().manual_seed(3))
    assert torch.equal(x, again)
    assert y.sum().item() == 500
    projection = x @ torch.tensor([1.0, 1.0]) / math.sqrt(2)
    assert projection[y == 1].mean() == pytest.approx(1.0, abs=0.15)
    assert projection[y == 0].mean() == pytest.approx(-1.0, abs=0.15)
