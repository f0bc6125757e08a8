"""gan_theory: the optimal discriminator, the value function and its Jensen-Shannon form (Goodfellow et al. 2014)."""

from __future__ import annotations

import math

import pytest
import torch
from scipy.spatial.distance import jensenshannon
from torch import distributions as D
from torch import nn

from course_utils.distributions import density
from course_utils.gan_theory import (
    discriminator_probability,
    js_on_grid,
    optimal_discriminator,
    train_discriminator,
    value_on_grid,
)
from course_utils.training import generator_gradient_norm

F64 = dict(dtype=torch.float64)
GRID = torch.linspace(-30, 34, 16001, **F64)  # wide enough that no mass falls outside


def normal(mean: float, std: float) -> D.Normal:
    return D.Normal(torch.tensor(mean, **F64), torch.tensor(std, **F64))


def test_the_optimal_discriminator_is_p_over_p_plus_q():
    p, q = torch.tensor([1.0, 0.0, 3.0, 0.0]), torch.tensor([1.0, 2.0, 1.0, 0.0])
    assert optimal_discriminator(p, q).tolist() == [0.5, 0.0, 0.75, 0.5]  # ½ where neither has density
    with pytest.raises(ValueError, match="same shape"):
        optimal_discriminator(p, q[:3])
    with pytest.raises(ValueError, match="densities must be >= 0"):
        optimal_discriminator(-p, q)


@pytest.mark.parametrize(("p", "q"), [(normal(0, 1), normal(2, 0.7)), (normal(0, 1), normal(0, 3)),
                                      (normal(-1, 0.5), normal(4, 2))])
def test_the_value_at_the_optimal_discriminator_is_2_js_minus_log_4(p, q):
    """V(D*, G) = 2·JS(p, q) − log 4 (Theorem 1), JS agreeing with scipy, and no other D does better?"""
    d_star = optimal_discriminator(density(p, GRID), density(q, GRID))
    value = value_on_grid(p, q, d_star, GRID)
    js = js_on_grid(p, q, GRID)
    assert value == pytest.approx(2 * js - math.log(4), abs=1e-9)
    p_bins, q_bins = density(p, GRID).numpy(), density(q, GRID).numpy()
    assert js == pytest.approx(jensenshannon(p_bins, q_bins) ** 2, rel=1e-9)  # scipy gives √JS, base e
    for other in (torch.full_like(GRID, 0.5), (d_star * 0.9).clamp(1e-6, 1 - 1e-6), d_star.sqrt()):
        assert value_on_grid(p, q, other, GRID) < value


def test_the_game_is_worth_minus_log_4_when_the_generator_is_perfect():
    p = normal(0.5, 1.2)
    d_star = optimal_discriminator(density(p, GRID), density(p, GRID))
    assert torch.all(d_star == 0.5) and value_on_grid(p, p, d_star, GRID) == pytest.approx(-math.log(4), abs=1e-9)
    assert js_on_grid(p, p, GRID) == pytest.approx(0.0, abs=1e-12)


def test_a_trained_discriminator_approaches_the_optimal_one():
    """Trained on samples, is σ(logit) within 0.05 of p/(p + q) where either density has mass?"""
    p, q = D.Normal(0.0, 1.0), D.Normal(2.0, 0.7)
    network = train_discriminator(p, q, steps=800)
    x = torch.linspace(-2.0, 3.5, 23)
    expected = optimal_discriminator(density(p, x), density(q, x))
    assert (discriminator_probability(network, x) - expected).abs().max() < 0.05


def test_bad_grids_are_refused():
    with pytest.raises(ValueError, match="grid must be a 1-D increasing tensor"):
        js_on_grid(normal(0, 1), normal(1, 1), torch.tensor([1.0, 0.0]))


class Constant(nn.Module):
    """G(z) = a·z + b with a = 0 at the start: every fake sits at b."""

    latent_dim = 1

    def __init__(self, b: float):
        super().__init__()
        self.a, self.b = nn.Parameter(torch.tensor(0.0)), nn.Parameter(torch.tensor(b))

    def forward(self, z):
        return (self.a * z + self.b)


@pytest.mark.parametrize("logit", [-6.0, -1.0, 2.0])
def test_the_non_saturating_loss_pushes_e_to_the_minus_logit_times_harder(logit: float):
    """With every fake scored at logit l, is ‖∇ℓ_gan‖ / ‖∇ℓ_minimax‖ = σ(−l)/σ(l) = e^(−l)?"""
    critic = nn.Linear(1, 1)
    with torch.no_grad():
        critic.weight.fill_(1.0)
        critic.bias.fill_(0.0)
    flat_critic = nn.Sequential(critic, nn.Flatten(0))
    generator, z = Constant(logit), torch.randn(64, 1)
    ratio = generator_gradient_norm(generator, flat_critic, "gan", z) / generator_gradient_norm(
        generator, flat_critic, "minimax", z)
    assert ratio == pytest.approx(math.exp(-logit), rel=1e-4)
    assert all(p.requires_grad for p in critic.parameters()) and generator.b.grad is None
