"""Training throughput: steps/s of the grid WGAN-GP and the digits VAE, eager against faster paths, in one run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from course_utils.bench.common import synchronize, table

Tensor = torch.Tensor


THROUGHPUT_MODELS = ("wgan-gp grid", "vae digits")


class _EagerExceptDoubleBackward(nn.Module):
    """A compiled critic whose gradient-penalty call runs eagerly: ``torch.compile`` has no double
    backward (``create_graph=True``), which the penalty needs. That call is the one whose input
    requires grad while the critic's own parameters do too; every other call is compiled."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module
        self.compiled = torch.compile(module)

    def forward(self, x: Tensor) -> Tensor:
        if x.requires_grad and torch.is_grad_enabled() and next(self.module.parameters()).requires_grad:
            return self.module(x)
        return self.compiled(x)


def _adam(params, config, variant: str) -> torch.optim.Optimizer:
    kwargs: dict[str, Any] = {"lr": config.lr, "betas": config.betas}
    if variant == "cuda-graph":
        kwargs["capturable"] = True  # Adam's step count lives on the GPU, so step() can be captured
    elif variant != "eager":
        kwargs["fused"] = True  # one kernel for every parameter's update instead of a few per tensor
    return torch.optim.Adam(params, **kwargs)


def _gan_step_fn(variant: str, device: torch.device, quick: bool) -> Callable[[], object]:
    """One WGAN-GP generator update on the grid (5 critic updates, then one of G), as ``variant`` runs it."""
    from course_utils import training as T
    from course_utils.device import seed_everything

    config = T.GANConfig.preset("wgan-gp", "grid", n_data=2_000 if quick else 50_000)
    seed_everything(0)
    data = T.load_training_data("grid", config.n_data, 0)[0].to(device)
    generator, critic = (m.to(device) for m in T.build_gan(config, 2))
    opt_g, opt_d = _adam(generator.parameters(), config, variant), _adam(critic.parameters(), config, variant)
    if variant == "compile":
        generator, critic = torch.compile(generator), _EagerExceptDoubleBackward(critic)
    # CUDA graphs replay the default generator's Philox stream; other variants use a seeded one like train.py
    rng = None if variant == "cuda-graph" else torch.Generator(device).manual_seed(0)

    critic_step = _one_call_critic_step if variant == "one-call-critic" else T.gan_critic_step

    def step() -> Tensor:
        for _ in range(config.n_critic):
            index = torch.randint(len(data), (config.batch_size,), generator=rng, device=device)  # (B,)
            out = critic_step(generator, critic, opt_d, data[index], config, rng)
        return T.gan_generator_step(generator, critic, opt_g, config.batch_size, config, rng)["loss_g"] + out["loss_d"]

    return _cuda_graphed(step, device) if variant == "cuda-graph" else step


def _one_call_critic_step(generator: nn.Module, critic: nn.Module, optimizer: torch.optim.Optimizer, real: Tensor,
                          config, rng: torch.Generator | None) -> dict[str, Tensor]:
    """train.py's WGAN-GP critic step with one critic call instead of three: real, fake and the
    interpolates x̂ go through the critic as one batch of 3B rows (no batch norm, so each row's score
    is its own), and the penalty differentiates the x̂ rows' scores. The same loss,
    E f(fake) − E f(real) + λ E (‖∇f(x̂)‖ − 1)² (Gulrajani et al. 2017, Alg. 1), in a third of the calls."""
    batch = len(real)
    z = torch.randn(batch, config.latent_dim, generator=rng, device=real.device)  # (B, latent_dim)
    with torch.no_grad():  # no gradient into G on the critic step
        fake = generator(z).flatten(1).float()  # (B, D)
    eps = torch.rand(batch, 1, generator=rng, device=real.device)  # (B, 1): one ε per example
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)  # (B, D)
    real_scores, fake_scores, hat_scores = critic(torch.cat([real, fake, x_hat])).split(batch)  # (B,) each
    (grad,) = torch.autograd.grad(hat_scores.sum(), x_hat, create_graph=True)  # (B, D)
    gp = config.gp_lambda * ((grad.norm(dim=1) - 1) ** 2).mean()
    loss = fake_scores.mean() - real_scores.mean() + gp
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return {"loss_d": loss.detach()}


def _vae_step_fn(variant: str, device: torch.device, quick: bool) -> Callable[[], object]:
    """One Adam step of the course's digits VAE on a batch of 128, as ``variant`` runs it."""
    from course_utils import losses
    from course_utils import training as T
    from course_utils.device import seed_everything

    config = T.VAEConfig.preset("digits", amp=variant == "amp")
    seed_everything(0)
    data = T.load_training_data("digits", 1, 0)[0].to(device)
    model = T.build_vae(config, 64).to(device)
    optimizer = _adam(model.parameters(), config, variant)
    rng = None if variant == "cuda-graph" else torch.Generator(device).manual_seed(0)
    autocast = T.autocast_for(config, device)

    def loss_fn(x: Tensor, eps: Tensor) -> Tensor:
        mu, logvar = model.encode(x)  # (B, L) each
        recon = model.decode(mu + torch.exp(0.5 * logvar) * eps)  # reparameterised z (B, L) → logits (B, 64)
        return losses.negative_elbo(x, recon, mu, logvar, likelihood=model.likelihood).mean()

    if variant == "compile":
        # the random draws stay outside: dynamo cannot trace a torch.Generator argument
        compiled = torch.compile(loss_fn)

        def step() -> Tensor:
            x = data[torch.randint(len(data), (config.batch_size,), generator=rng, device=device)]  # (B, 64)
            eps = torch.randn(len(x), config.latent_dim, generator=rng, device=device)  # (B, L)
            loss = compiled(x, eps)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            return loss.detach()

        return step

    def step() -> Tensor:  # train.py's own step
        x = data[torch.randint(len(data), (config.batch_size,), generator=rng, device=device)]  # (B, 64)
        return T.vae_step(model, optimizer, x, rng, autocast)["neg_elbo"]

    return _cuda_graphed(step, device) if variant == "cuda-graph" else step


def _cuda_graphed(step: Callable[[], Tensor], device: torch.device) -> Callable[[], Tensor]:
    """``step`` (forward, backward and optimizer steps, no host sync) captured once as a CUDA graph and
    replayed: one launch per step instead of hundreds (the "whole network capture" of PyTorch's CUDA
    graphs notes). The batch indices and the noise are drawn inside the graph from the default CUDA
    generator, whose Philox offset advances at each replay."""
    if device.type != "cuda":
        raise ValueError("CUDA graphs need a CUDA device")
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up on a side stream, as capture requires
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        out = step()

    def replay() -> Tensor:
        graph.replay()
        return out

    return replay


def throughput_variants(device: torch.device, quick: bool = False) -> tuple[str, ...]:
    """The ways of running a training step compared on ``device``, "eager" (train.py's loop) first;
    ``quick`` leaves out "compile" (a cold compile takes tens of seconds)."""
    if device.type == "cuda":
        variants = ("eager", "fused-adam", "one-call-critic", "amp", "compile", "cuda-graph")
    else:
        variants = ("eager", "fused-adam", "one-call-critic", "compile")
    return tuple(v for v in variants if not (quick and v == "compile"))


def _not_applicable(model: str, variant: str) -> str | None:
    if variant == "amp" and model.startswith("wgan"):
        return "not used: 2-D toy models stay in fp32"
    if variant == "one-call-critic" and not model.startswith("wgan"):
        return "not applicable: a VAE has no critic"
    return None


def _build(model: str, variant: str, device: torch.device, quick: bool, row: dict[str, Any]):
    """The variant's step function, warmed up (its build and warm-up time in ``row["setup_s"]``), or None
    with the reason in ``row["error"]``: a variant that cannot run here is reported, not fatal."""
    row["error"] = _not_applicable(model, variant)
    if row["error"]:
        return None
    make = _gan_step_fn if model.startswith("wgan") else _vae_step_fn
    start = time.perf_counter()
    try:
        step = make(variant, device, quick)
        for _ in range(2 if quick else 10):  # warm-up: compilation, allocator, caches
            step()
        synchronize(device)
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]
        row["error"] = f"{type(error).__name__}: {first_line}"[:200]
        return None
    row["setup_s"] = time.perf_counter() - start
    return step


def _median_rates(built: dict[str, Callable[[], object]], device: torch.device, repeats: int,
                  steps: int) -> dict[str, float]:
    """Steps/s of each variant: the median of ``repeats`` rounds, each timing every variant in turn (a busy
    machine then slows all of them alike)."""
    rates: dict[str, list[float]] = {v: [] for v in built}
    for _ in range(repeats):
        for variant, step in built.items():
            synchronize(device)
            start = time.perf_counter()
            for _ in range(steps):
                step()
            synchronize(device)
            rates[variant].append(steps / (time.perf_counter() - start))
    return {variant: statistics.median(values) for variant, values in rates.items()}


def run_throughput(*, device: str = "cpu", quick: bool = False, repeats: int | None = None,
                   steps: int | None = None, variants: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Training steps/s of each model under each variant, measured in one run.

    Every variant is built and warmed up first (its compile time recorded as ``setup_s``); then
    ``repeats`` rounds time ``steps`` steps of each variant in turn, and the median round gives
    ``steps_per_s``; ``ratio`` is that over eager's. A variant that fails to build (e.g. no compiler)
    gets ``error`` (one line) and no rate. "amp" is bf16 autocast (only the VAE: the 2-D toy GANs stay
    in fp32, as in course_utils.training).
    """
    from course_utils.device import get_device

    device = get_device(device)
    repeats = repeats or (1 if quick else 5)
    steps = steps or (3 if quick else 50)
    variants = tuple(variants or throughput_variants(device, quick))
    records = []
    for model in THROUGHPUT_MODELS:
        rows = {v: {"model": model, "variant": v, "device": device.type, "steps_per_s": None, "ratio": None,
                    "setup_s": None, "error": None} for v in variants}
        built = {v: step for v in variants if (step := _build(model, v, device, quick, rows[v])) is not None}
        for variant, rate in _median_rates(built, device, repeats, steps).items():
            rows[variant]["steps_per_s"] = rate
        eager = rows.get("eager", {}).get("steps_per_s")
        for row in rows.values():
            if eager and row["steps_per_s"]:
                row["ratio"] = row["steps_per_s"] / eager
        records += rows.values()
    return records


def format_throughput(records: Sequence[dict[str, Any]], *, device: str) -> str:
    """The throughput table: steps/s per model and variant, and the ratio to eager."""
    lines = [f"Training throughput on {device} ({torch.get_num_threads()} thread(s)); one step = one generator "
             "update with its 5 critic updates (WGAN-GP), one Adam step on 128 images (VAE). Median of rounds "
             "alternating the variants; ratio = steps/s over eager's in the same run."]
    header = ("model", "variant", "steps/s", "ratio", "setup s", "note")
    rows = []
    for r in records:
        rows.append([r["model"], r["variant"], "—" if r["steps_per_s"] is None else f"{r['steps_per_s']:.1f}",
                     "—" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                     "—" if r["setup_s"] is None else f"{r['setup_s']:.1f}", r["error"] or ""])
    lines += table(header, rows, (False, False, True, True, True, False))
    for model in THROUGHPUT_MODELS:
        ok = [r for r in records if r["model"] == model and r["steps_per_s"]]
        if ok:
            best = max(ok, key=lambda r: r["steps_per_s"])
            lines.append(f"fastest for {model}: {best['variant']} ({best['ratio']:.2f}x eager)")
    return "\n".join(lines)
