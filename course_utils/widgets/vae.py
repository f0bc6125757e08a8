"""Chapter 09 (VAEs): explore the latent space of the VAE you trained (sliders on z, the encoded test digits
coloured by class, interpolation between two digits), and move β over the runs you trained to see the
rate–distortion trade-off and posterior collapse."""

from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from course_utils.data import Digits
from course_utils.models import VAE
from course_utils.plotting import ACCENT_COLOR, DATA_COLOR, MODEL_COLOR, plot_image_grid
from course_utils.variational import BetaSweep, kl_per_dimension
from course_utils.widgets.base import LiveFigure, selection_slider, slider

CLASS_COLORS = ("#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
                "#CCB974", "#64B5CD")  # seaborn's "deep" palette, one colour per digit class
LATENT_LIMIT = 3.5  # the maps show z in [-3.5, 3.5]²: 99.9 % of the prior's mass per axis


@torch.no_grad()
def _encoded_means(vae: VAE, digits: Digits) -> np.ndarray:
    vae.eval()
    mu, _ = vae.encode(digits.x_test.to(vae.obs_logvar.device))
    return mu.cpu().float().numpy()


def _check_two_dimensional(vae: VAE) -> None:
    if vae.latent_dim != 2:
        raise ValueError(f"the latent explorer draws a 2-d latent space; this VAE has latent_dim={vae.latent_dim} "
                         f"(train one with VAEConfig(latent_dim=2))")


def _draw_latent_map(ax, means: np.ndarray, labels: np.ndarray) -> None:
    for digit, color in enumerate(CLASS_COLORS):  # plot markers, not scatter: ten calls, fast to draw
        points = means[labels == digit]
        ax.plot(points[:, 0], points[:, 1], "o", ms=3, color=color, alpha=0.7, label=str(digit))
    ax.set(xlim=(-LATENT_LIMIT, LATENT_LIMIT), ylim=(-LATENT_LIMIT, LATENT_LIMIT), xlabel="z₁", ylabel="z₂",
           title="test digits, encoded (mean of q)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False, handletextpad=0.1)


@torch.no_grad()
def _decode(vae: VAE, z: torch.Tensor) -> torch.Tensor:
    """Pixel probabilities (N, 64) of the decoder at ``z`` (N, 2) (Bernoulli: sigmoid of the logits)."""
    params = vae.decode(z.to(vae.obs_logvar.device)).flatten(1).cpu().float()
    return torch.sigmoid(params) if vae.likelihood == "bernoulli" else params


def latent_explorer(vae: VAE, digits: Digits) -> LiveFigure:
    """Two sliders set z; the left panel marks it among the encoded test digits, the right one shows what the
    decoder makes of it. The readout names the nearest encoded test digit."""
    _check_two_dimensional(vae)
    means, labels = _encoded_means(vae, digits), digits.y_test.numpy()

    def draw(fig: Figure, z1: float, z2: float) -> str:
        latent_map, picture = fig.axes
        _draw_latent_map(latent_map, means, labels)
        latent_map.plot([z1], [z2], "X", ms=11, color="k")
        image = _decode(vae, torch.tensor([[z1, z2]]))[0].reshape(8, 8)
        picture.imshow(image.numpy(), cmap="gray_r", vmin=0, vmax=1)
        picture.set(xticks=[], yticks=[], title="decoded: p(x | z), pixel means")
        distance = np.hypot(means[:, 0] - z1, means[:, 1] - z2)
        nearest = int(distance.argmin())
        prior_density = float(np.exp(-(z1**2 + z2**2) / 2) / (2 * np.pi))
        return (f"z = ({z1:+.2f}, {z2:+.2f}) · prior density p(z) = {prior_density:.2e} · nearest encoded test "
                f"digit: a {labels[nearest]} at distance {distance[nearest]:.2f}")

    controls = {"z1": slider("z₁", 0.0, -3.0, 3.0, 0.1), "z2": slider("z₂", 0.0, -3.0, 3.0, 0.1)}
    return LiveFigure(controls, draw, ncols=2, width=3.6, height=3.4)


def interpolation(vae: VAE, digits: Digits, *, steps: int = 8) -> LiveFigure:
    """Pick two test digits: the top row decodes ``steps`` points on the straight line between their encodings,
    the bottom row blends their pixels. Decoding walks through digits; blending overlays two images."""
    _check_two_dimensional(vae)
    means, labels = _encoded_means(vae, digits), digits.y_test.numpy()
    fractions = torch.linspace(0, 1, steps)[:, None]  # (steps, 1)

    def draw(fig: Figure, start: int, end: int) -> str:
        latent_map, rows = fig.axes
        _draw_latent_map(latent_map, means, labels)
        a, b = torch.from_numpy(means[start]), torch.from_numpy(means[end])
        path = (1 - fractions) * a + fractions * b  # (steps, 2)
        latent_map.plot(path[:, 0].numpy(), path[:, 1].numpy(), "-o", ms=4, color="k", lw=1.2)
        decoded = _decode(vae, path)  # (steps, 64)
        blended = (1 - fractions) * digits.x_test[start] + fractions * digits.x_test[end]  # (steps, 64)
        plot_image_grid(rows, torch.cat([decoded, blended]), (8, 8), ncols=steps,
                        title="top: decoded along the latent line · bottom: pixels blended")
        return (f"from test digit {start} (a {labels[start]}) to test digit {end} (a {labels[end]}): latent "
                f"distance {float((a - b).norm()):.2f}, {steps} steps")

    controls = {"start": slider("from test digit", 0, 0, 49, 1), "end": slider("to test digit", 1, 0, 49, 1)}
    return LiveFigure(controls, draw, ncols=2, width=3.8, height=3.2)


def beta_explorer(sweep: BetaSweep) -> LiveFigure:
    """Slide over the β of the trained runs: the rate–distortion points with this run's marked, the KL of each
    latent dimension (collapsed dimensions sit at zero), and samples decoded from the prior."""
    per_dimension = [kl_per_dimension(model, sweep.digits.x_test).numpy() for model in sweep.models]
    top = max(float(np.max(kl)) for kl in per_dimension)
    samples = [model.sample(16, generator=torch.Generator().manual_seed(0)).float() for model in sweep.models]
    rate_limit, distortion_top = 1.1 * max(sweep.rates) + 0.1, 1.05 * max(sweep.distortions)
    distortion_bottom = 0.95 * min(sweep.distortions)

    def draw(fig: Figure, beta: float) -> str:
        curve, bars, grid = fig.axes
        i = sweep.index(beta)
        curve.plot(sweep.rates, sweep.distortions, "-o", color=DATA_COLOR, ms=4)
        curve.plot([sweep.rates[i]], [sweep.distortions[i]], "o", ms=10, color=MODEL_COLOR)
        curve.set(xlim=(0, rate_limit), ylim=(distortion_bottom, distortion_top), xlabel="rate: KL (nats)",
                  ylabel="distortion: −log p(x | z) (nats)", title="held-out digits, one point per β")
        kl = per_dimension[i]
        bars.bar(np.arange(len(kl)), kl, color=ACCENT_COLOR)
        bars.set(ylim=(0, 1.05 * top), xlabel="latent dimension", ylabel="KL (nats)", title="KL per dimension")
        plot_image_grid(grid, samples[i], (8, 8), ncols=4, title="decoded prior samples")
        return (f"β = {beta:g}: rate {sweep.rates[i]:.2f} nats, distortion {sweep.distortions[i]:.2f} nats, "
                f"−ELBO {sweep.rates[i] + sweep.distortions[i]:.2f} · active dimensions {sweep.active[i]} of "
                f"{len(kl)}")

    start = 1.0 if 1.0 in sweep.betas else sweep.betas[0]
    return LiveFigure({"beta": selection_slider("β", sweep.betas, start)}, draw, ncols=3, width=3.3, height=3.2)
