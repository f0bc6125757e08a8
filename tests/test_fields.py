"""training.fields: the critic's field, the generator's pull and the latent map, against closed forms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_utils.training.fields import critic_field, generator_pull, latent_map

W, B = torch.tensor([1.5, -0.5]), 0.25


class LinearCritic(nn.Module):
    """f(x) = w·x + b, one score per row, like the course's critics."""

    def __init__(self):
        super().__init__()
        self.w, self.b = nn.Parameter(W.clone()), nn.Parameter(torch.tensor(B))

    def forward(self, x):
        return x @ self.w + self.b


class IdentityGenerator(nn.Module):
    latent_dim = 2

    def __init__(self):
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(1))

    def forward(self, z):
        return z + 0 * self.unused


def test_the_critic_field_is_the_critic_on_a_grid_with_rows_along_y():
    """Is entry (i, j) σ(f(x_j, y_i)) for a GAN and f itself for a WGAN, rows going up in y?"""
    field = critic_field(LinearCritic(), "gan", (-1.0, 1.0), (-2.0, 2.0), resolution=5)
    xs, ys = torch.linspace(-1, 1, 5), torch.linspace(-2, 2, 5)
    expected = torch.sigmoid(W[0] * xs[None, :] + W[1] * ys[:, None] + B)
    torch.testing.assert_close(field, expected)
    raw = critic_field(LinearCritic(), "wgan-gp", (-1.0, 1.0), (-2.0, 2.0), resolution=5)
    torch.testing.assert_close(raw, torch.logit(expected))


@pytest.mark.parametrize(("loss", "pull"), [
    ("wgan", lambda f: torch.ones_like(f)),  # ℓ = -f: pulled along +w with unit strength
    ("gan", lambda f: torch.sigmoid(-f)),  # ℓ = softplus(-f): strong where D says "fake"
    ("minimax", lambda f: torch.sigmoid(f)),  # ℓ = -softplus(f): weak where D says "fake" (it saturates)
    ("lsgan", lambda f: 1 - f),  # ℓ = ½(f - 1)²
])
def test_the_pull_on_each_fake_is_minus_the_gradient_of_its_own_loss(loss, pull):
    fakes = torch.tensor([[0.0, 0.0], [1.0, 2.0], [-3.0, 1.0]])
    f = fakes @ W + B
    torch.testing.assert_close(generator_pull(LinearCritic(), loss, fakes), pull(f)[:, None] * W)


def test_the_pull_leaves_the_critic_trainable():
    critic = LinearCritic()
    generator_pull(critic, "gan", torch.zeros(4, 2))
    assert all(p.requires_grad for p in critic.parameters()) and critic.w.grad is None


@pytest.mark.parametrize(("noise", "edge"), [("gaussian", 2.0), ("uniform", 1.0)])
def test_the_latent_map_of_the_identity_is_the_latent_grid(noise, edge):
    """For G(z) = z, are the polylines straight lines of the grid spanning the noise's range?"""
    lines = latent_map(IdentityGenerator(), noise, lines=3, points=4)
    assert lines.shape == (6, 4, 2)
    torch.testing.assert_close(lines[0, :, 0], torch.linspace(-edge, edge, 4))  # z₁ varies ...
    torch.testing.assert_close(lines[0, :, 1], torch.full((4,), -edge))  # ... at the lowest z₂
    torch.testing.assert_close(lines[5, :, 1], torch.linspace(-edge, edge, 4))  # z₂ varies at the largest z₁
    torch.testing.assert_close(lines[5, :, 0], torch.full((4,), edge))


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="loss must be one of"):
        critic_field(LinearCritic(), "hinge", (0.0, 1.0), (0.0, 1.0))
    with pytest.raises(ValueError, match="noise must be one of 'gaussian', 'uniform'; got 'cauchy'"):
        latent_map(IdentityGenerator(), "cauchy")


def test_arrows_are_drawn_on_one_fixed_log_scale():
    """Issue 21: is a pull's drawn length fixed by its norm alone, a fifth of the longest arrow per decade from
    PULL_RANGE[0] (a dot) to PULL_RANGE[1] (the longest), whatever else is drawn beside it?"""
    from course_utils.training.fields import PULL_RANGE, arrow_lengths

    assert PULL_RANGE == (1e-4, 1e1)
    norms = torch.tensor([1e-6, 1e-4, 1e-3, 1e-1, 10.0, 1e3])
    torch.testing.assert_close(arrow_lengths(norms, 2.0), torch.tensor([0.0, 0.0, 0.4, 1.2, 2.0, 2.0]))
    torch.testing.assert_close(arrow_lengths(norms[2:4], 2.0), arrow_lengths(norms, 2.0)[2:4])  # no rescaling
    with pytest.raises(ValueError, match="longest must be a length > 0"):
        arrow_lengths(norms, 0.0)


def test_pull_arrows_point_along_the_pull():
    from course_utils.training.fields import arrow_lengths, pull_arrows

    pull = torch.tensor([[3.0, 4.0], [0.0, -0.01], [0.0, 0.0]])
    arrows = pull_arrows(pull, 1.0)
    torch.testing.assert_close(arrows.norm(dim=1), arrow_lengths(pull.norm(dim=1), 1.0))
    torch.testing.assert_close(arrows[0] / arrows[0].norm(), torch.tensor([0.6, 0.8]))
    assert arrows[1, 0] == 0 and arrows[1, 1] < 0 and arrows[2].tolist() == [0.0, 0.0]


def test_the_minimax_pull_is_drawn_shorter_when_d_rejects_the_fakes():
    """Does a D that scores the fakes as fake (logit -6) give the minimax loss's arrows σ(-6)/σ(6) of the
    non-saturating loss's pull, drawn about two decades (two fifths of the longest arrow) shorter?"""
    from course_utils.training.fields import pull_arrows

    critic = LinearCritic()
    with torch.no_grad():
        critic.b.fill_(-6.0)
    fakes = torch.tensor([[0.0, 0.0], [0.1, -0.2], [-0.3, 0.1]])  # f ≈ -6 at each
    minimax, saturating = generator_pull(critic, "minimax", fakes), generator_pull(critic, "gan", fakes)
    f = fakes @ W - 6.0
    torch.testing.assert_close(minimax.norm(dim=1) / saturating.norm(dim=1), torch.sigmoid(f) / torch.sigmoid(-f))
    shorter = pull_arrows(saturating, 1.0).norm(dim=1) - pull_arrows(minimax, 1.0).norm(dim=1)
    assert torch.all(shorter > 0.4)  # log10(σ(6)/σ(-6)) ≈ 2.6 decades at a fifth each
