"""Measurements of a GAN at one moment of its training, not of its samples: how strongly each generator loss
pulls a fixed generator as the discriminator trains against it (chapter 07's saturation)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from course_utils.training.batches import load_training_data
from course_utils.training.config import GANConfig
from course_utils.training.steps import build_gan, build_optimizer, gan_critic_step, generator_gradient_norm


@dataclass(frozen=True)
class Saturation:
    """Both generator losses' pull on one fixed G, after D has trained ``d_steps`` steps against it."""

    d_steps: int
    mean_d_fake: float  # D's mean probability that a fake is real
    minimax_norm: float  # ‖∇θ E log(1 − D(G(z)))‖ (Goodfellow et al. 2014, eq. 1)
    non_saturating_norm: float  # ‖∇θ −E log D(G(z))‖ (their §3)

    @property
    def ratio(self) -> float:
        """How many times stronger the non-saturating pull is: 1 at D = ½, about e^{−logit} once D wins."""
        return self.non_saturating_norm / self.minimax_norm


def saturation_over_d_steps(config: GANConfig, d_steps: Sequence[int] = (0, 10, 100, 300), *, seed: int = 0,
                            n_z: int = 2_000, device: str | torch.device = "cpu") -> list[Saturation]:
    """Train only the discriminator of ``config`` (G stays at its initial weights for ``seed``) and measure both
    generator losses' gradient norms in G's weights after each of ``d_steps`` discriminator steps (increasing,
    0 for the untrained D), on the same ``n_z`` noise vectors each time.

    The untrained D (step 0) is the baseline: there D ≈ ½ and the two losses pull about equally hard; the
    ratio grows as D learns to reject G's samples.
    """
    steps = list(d_steps)
    if not steps or any(type(s) is not int or s < 0 for s in steps) or steps != sorted(set(steps)):
        raise ValueError(f"d_steps must be increasing ints >= 0, e.g. (0, 10, 100, 300); got {d_steps!r}")
    if config.data not in ("ring", "grid", "moons", "swiss_roll"):
        raise ValueError(f"saturation is measured on 2-D data; got data={config.data!r}")
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):  # the weights come from the global stream: leave it as it was
        torch.manual_seed(seed)
        generator, critic = (m.to(device) for m in build_gan(config, data_dim=2))
    points = load_training_data(config.data, 20_000, seed)[0].to(device)
    optimizer = build_optimizer(config, critic.parameters())
    rng = torch.Generator(device).manual_seed(seed + 1)
    z = torch.randn(n_z, config.latent_dim, generator=rng, device=device)  # (n_z, latent): the same z throughout
    rows, done = [], 0
    for target in steps:
        for _ in range(target - done):  # train D only: G stays where it started
            real = points[torch.randint(len(points), (config.batch_size,), generator=rng, device=device)]
            gan_critic_step(generator, critic, optimizer, real, config, rng)
        done = target
        with torch.no_grad():
            mean_d_fake = float(torch.sigmoid(critic(generator(z))).mean())
        rows.append(Saturation(target, mean_d_fake, generator_gradient_norm(generator, critic, "minimax", z),
                               generator_gradient_norm(generator, critic, "gan", z)))
    return rows
