"""The training loop and its entry points: :func:`train_gan` (GAN, WGAN, WGAN-GP), :func:`train_vae` and
:func:`train_classifier`, each over a frozen, typed config.

Each returns a :class:`History` (losses every ``log_every`` steps, metrics every ``eval_every``) and
shares the same machinery:

- the device is decided in one place, :func:`course_utils.device.get_device`; the training set is
  moved there once and batches are drawn there, so no step copies data from the CPU;
- one ``seed`` makes a run reproducible: on the CPU the same config gives the same numbers twice;
- a ``tqdm.auto`` progress bar (``progress=False`` turns it off);
- ``callback(step, history, models)`` every ``callback_every`` steps, for live plots;
- ``out_dir``: a checkpoint ``out_dir/checkpoint.pt`` at the end, written atomically (a temporary
  file in the same folder, then ``os.replace``), holding the config, the weights, the optimizers,
  the step, every random state and the history; ``resume=path`` continues from it and gives the
  same numbers as a run that was never interrupted;
- Ctrl-C (``KeyboardInterrupt``) inside the loop saves a checkpoint (when ``out_dir`` is given) and
  returns the History so far, with ``history.interrupted = True``;
- a loss that is NaN or infinite raises :class:`TrainingDiverged`, naming the step, the loss and
  a likely cause;
- on CUDA, image models run their forward passes under bf16 autocast (``amp=True``); bf16 keeps
  fp32's exponent range, so no GradScaler is needed. The gradient penalty (a double backward) and
  the 2-D toy models always run in fp32.

Reading order: the ``train_*`` functions, then :func:`_train` (what every run does before and after
its loop), then one ``_*_run`` per kind of model (its models, its step, its evaluation), then
:func:`_loop` itself.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict, Unpack

import torch
from torch import nn

from course_utils.device import get_device, seed_everything
from course_utils.training import distributed
from course_utils.training.batches import batch_indices, batch_stream, labelled_set, rank_stream, training_set
from course_utils.training.checkpoint import CHECKPOINT_NAME, TrainingState, resume_from, write_checkpoint
from course_utils.training.config import ClassifierConfig, GANConfig, VAEConfig, check_int
from course_utils.training.evaluation import Evaluation, accuracy_fn, coverage_fn, elbo_fn
from course_utils.training.history import Callback, History, check_finite
from course_utils.training.sampling import sample_gan
from course_utils.training.steps import (
    autocast_for,
    build_classifier,
    build_gan,
    build_optimizer,
    build_vae,
    classifier_step,
    gan_critic_step,
    gan_generator_step,
    update_ema,
    vae_step,
)

Tensor = torch.Tensor

class TrainOptions(TypedDict, total=False):
    """The keyword arguments every ``train_*`` function takes, all optional (see :func:`train_gan`)."""

    device: str | torch.device  # "auto" (the default), "cuda", "mps" or "cpu": course_utils.device.get_device
    callback: Callback | None  # callback(step, history, models) every callback_every steps and after the last
    callback_every: int  # 100 by default
    resume: str | os.PathLike | None  # a checkpoint of an earlier run of the same config, to continue from
    out_dir: str | os.PathLike | None  # where checkpoint.pt goes, at the end or on Ctrl-C
    progress: bool  # a tqdm progress bar (True by default)


# ============================================================================ entry points
def train_gan(config: GANConfig, data: Tensor | None = None, **options: Unpack[TrainOptions]) -> History:
    """Train a GAN, WGAN or WGAN-GP (``config.loss``) and return its :class:`History`.

    Parameters
    ----------
    config : GANConfig
    data : Tensor, shape (N, D), optional
        The training set; by default ``config.n_data`` points of ``config.data`` drawn with
        ``config.seed`` (digits: the 1,500 training images). Moved to the device once.
    device : {"auto", "cuda", "mps", "cpu"} or torch.device, default "auto"
        Resolved by :func:`course_utils.device.get_device`.
    callback : callable(step, history, models), optional
        Called every ``callback_every`` (default 100) steps and after the last, with
        ``models = {"generator": G, "critic": D}``; raise ``KeyboardInterrupt`` in it to stop early.
    resume : path, optional
        A checkpoint of an earlier run with the same config (``steps`` may grow): training continues
        from its step, with the numbers an uninterrupted run would give.
    out_dir : path, optional
        Where ``checkpoint.pt`` goes, at the end or on Ctrl-C.
    progress : bool, default True
        Show a ``tqdm`` progress bar.

    Returns
    -------
    History
        Losses ``loss_d``, ``loss_g`` (and ``wasserstein``, ``gp`` for WGANs); metrics ``modes``,
        ``high_quality``, ``reverse_kl`` on the ring and the grid. :func:`train_gan_models` also
        returns the trained networks.
    """
    return train_gan_models(config, data, **options)[0]


def train_gan_models(config: GANConfig, data: Tensor | None = None,
                     **options: Unpack[TrainOptions]) -> tuple[History, dict[str, nn.Module]]:
    """:func:`train_gan`, returning ``(history, {"generator": G, "critic": D})``; with ``config.ema > 0``, G is
    the moving average of the generator's weights, and the generator the optimizer trained is added as
    ``"raw_generator"``."""
    return _train("train_gan_models", _gan_run, GANConfig, config, data, options)


def train_vae(config: VAEConfig, data: Tensor | None = None, **options: Unpack[TrainOptions]) -> History:
    """Train a VAE on the negative ELBO and return its :class:`History`.

    Same arguments as :func:`train_gan`; ``models = {"vae": model}``. Losses: ``neg_elbo`` (nats per
    example, the training batch; the true −ELBO even when ``config.beta`` ≠ 1) and its KL term ``kl``;
    metrics: ``test_elbo`` on the held-out digits, and mode coverage of decoded prior samples on the ring
    and the grid.
    """
    return train_vae_models(config, data, **options)[0]


def train_vae_models(config: VAEConfig, data: Tensor | None = None,
                     **options: Unpack[TrainOptions]) -> tuple[History, dict[str, nn.Module]]:
    """:func:`train_vae`, returning ``(history, {"vae": model})``."""
    return _train("train_vae_models", _vae_run, VAEConfig, config, data, options)


def train_classifier(config: ClassifierConfig, data: tuple[Tensor, Tensor] | None = None,
                     **options: Unpack[TrainOptions]) -> History:
    """Train an MLP classifier on the cross-entropy; same arguments as :func:`train_gan`, ``data`` an
    ``(x (N, D), y (N,))`` pair (default: the 1,500 training digits). Losses: ``cross_entropy``;
    metrics: ``test_accuracy`` on the 297 held-out digits (default data only)."""
    return train_classifier_models(config, data, **options)[0]


def train_classifier_models(config: ClassifierConfig, data: tuple[Tensor, Tensor] | None = None,
                            **options: Unpack[TrainOptions]) -> tuple[History, dict[str, nn.Module]]:
    """:func:`train_classifier`, returning ``(history, {"classifier": model})``."""
    return _train("train_classifier_models", _classifier_run, ClassifierConfig, config, data, options)


# ============================================================================ a run, step by step
class Session:
    """A run that trains when asked, a few steps at a time: the engine of the live lab.

    It builds what ``train_gan`` / ``train_vae`` / ``train_classifier`` build for ``config`` (the same seed,
    weights, batches and noise), and :meth:`advance` takes the same steps, with the same History rows and
    evaluations: a session advanced to ``config.steps`` in any chunks ends where the ``train_*`` function
    ends (tested). It never trains past ``config.steps`` (a learning-rate decay is scheduled over them).
    One process only: a session is for a notebook, torchrun is for ``course train``.

    Parameters
    ----------
    config : GANConfig, VAEConfig or ClassifierConfig
    data : tensor, optional
        As for the ``train_*`` function; by default the data set ``config.data`` names.
    device : str or torch.device
        ``"auto"`` (CUDA, then MPS, then the CPU), or a device.
    resume : path-like, optional
        A checkpoint of this config (:meth:`save`, or ``out_dir`` of a ``train_*`` run) to continue from.
    """

    def __init__(self, config: Any, data: Any = None, *, device: str | torch.device = "auto",
                 resume: str | os.PathLike | None = None):
        build = _RUN_BUILDERS.get(type(config))
        if build is None:
            raise TypeError(f"config must be a GANConfig, VAEConfig or ClassifierConfig; got {type(config).__name__}")
        self.config = config
        self.device = get_device(device)
        seed_everything(config.seed)
        self._run = build(config, data, self.device, distributed.SINGLE)
        self.history, self.step = resume_from(resume, self._run.state, self.device) if resume else (History(), 0)

    @property
    def models(self) -> dict[str, nn.Module]:
        """The models being trained, by name (``generator`` and ``critic`` for a GAN)."""
        return self._run.state.models

    @property
    def finished(self) -> bool:
        """Has the session taken all ``config.steps`` steps?"""
        return self.step >= self.config.steps

    def advance(self, n: int = 1) -> int:
        """Train up to ``n`` more steps, never past ``config.steps``; return how many were taken."""
        check_int("n", n, 0)
        taken = 0
        while taken < n and not self.finished:
            self.step += 1
            _train_step(self._run, self.history, self.step)
            taken += 1
        return taken

    def save(self, out_dir: str | os.PathLike) -> Path:
        """Write ``out_dir/checkpoint.pt`` (config, weights, optimizers, random streams, History); its path."""
        write_checkpoint(out_dir, self._run.state, self.step, self.history)
        return Path(out_dir) / CHECKPOINT_NAME


# ============================================================================ every run
@dataclass
class _Run:
    """A GAN, VAE or classifier run as the loop sees it."""

    state: TrainingState  # models, optimizers, random streams: what a checkpoint saves
    step: Callable[[], dict[str, Tensor]]  # one training step; its losses, detached
    evaluate: Evaluation | None  # the metrics of the History, if this data has any


def _train(name: str, build: Callable[[Any, Any, torch.device, distributed.Context], _Run], config_type: type,
           config: Any, data: Any, options: dict[str, Any]) -> tuple[History, dict[str, nn.Module]]:
    """Set up the process and the global random state, ``build`` the run, train it; ``(history, models)``.

    ``name`` is the public function's, for the error a misspelt option gets.
    """
    unknown = sorted(set(options) - set(TrainOptions.__annotations__))
    if unknown:
        raise TypeError(f"{name}() got unexpected keyword argument(s) {', '.join(map(repr, unknown))}; "
                        f"its options are {', '.join(TrainOptions.__annotations__)}")
    options = {"device": "auto", "callback": None, "callback_every": 100, "resume": None, "out_dir": None,
               "progress": True} | options
    if not isinstance(config, config_type):
        raise TypeError(f"config must be a {config_type.__name__}; got {type(config).__name__}")
    ctx, device = distributed.join(get_device(options.pop("device")))  # under torchrun: this rank, and its GPU
    distributed.shard_size(config.batch_size, ctx, getattr(config, "pack", 1))  # refuse an uneven split first
    seed_everything(config.seed)  # weights are initialised from the global RNG: the same on every rank
    run = build(config, data, device, ctx)
    history = _loop(run, device=device, **options)
    return history, run.state.models


# ============================================================================ one run per kind of model
def _gan_run(config: GANConfig, data: Tensor | None, device: torch.device, ctx: distributed.Context) -> _Run:
    """G and D with their optimizers; a step is ``n_critic`` critic updates, then one generator update."""
    data, _ = training_set(config, data, device)
    generator, critic = (m.to(device) for m in build_gan(config, data.shape[1]))
    opt_g, opt_d = build_optimizer(config, generator.parameters()), build_optimizer(config, critic.parameters())
    rng, rank_rng = batch_stream(config, device), rank_stream(config, device, ctx)
    noise_rng = rng if rank_rng is None else rank_rng  # z and ε
    next_index = batch_indices(len(data), config.batch_size, rng, device, ctx)
    shard = config.batch_size // ctx.world_size  # this rank's share of the G batch (checked in _train)
    autocast = autocast_for(config, device)
    # Under torchrun each step trains through the DDP wrapper of the network it updates (its backward
    # averages that network's gradients over the ranks) and reads the other as a plain module: G runs under
    # no_grad on the critic step, D's weights are constants on the generator step. DDP handles the gradient
    # penalty's double backward: it reduces when .grad is accumulated, which autograd.grad(x̂) does not do
    # (tests/test_distributed.py checks the gradients against the whole batch's). It reduces only once every
    # parameter has its gradient: the Wasserstein term reaches all of D's (the penalty alone misses the
    # last bias, and would then reduce nothing). step holds the wrappers: a collected one reduces nothing.
    ddp_generator, ddp_critic = distributed.wrap(generator, ctx), distributed.wrap(critic, ctx)
    # config.ema > 0: an average of G's weights (starting at its initial ones) follows G after every update of
    # the plain module (under torchrun the same on every rank); it is the "generator" that samples, is
    # evaluated, saved and returned, and the trained one is "raw_generator" (the optimizer "generator" is its)
    average = copy.deepcopy(generator) if config.ema > 0 else None

    def step() -> dict[str, Tensor]:
        for _ in range(config.n_critic):
            out = gan_critic_step(generator, ddp_critic, opt_d, data[next_index()], config, noise_rng, autocast)
        out.update(gan_generator_step(ddp_generator, critic, opt_g, shard, config, noise_rng, autocast))
        if average is not None:
            update_ema(average, generator, config.ema)
        return out

    models = {"generator": generator, "critic": critic}  # the plain modules: evaluated, saved, returned
    if average is not None:
        models = {"generator": average, "critic": critic, "raw_generator": generator}
    state = TrainingState(config.loss, config, models, {"generator": opt_g, "critic": opt_d}, rng, ctx, rank_rng)
    return _Run(state, step, coverage_fn(config, lambda n, r: sample_gan(models, config, n, rng=r), device))


def _vae_run(config: VAEConfig, data: Tensor | None, device: torch.device, ctx: distributed.Context) -> _Run:
    """The VAE and its optimizer; a step is one update on the negative ELBO of a batch."""
    data, test = training_set(config, data, device)
    model = build_vae(config, data.shape[1]).to(device)
    optimizer = build_optimizer(config, model.parameters())
    rng, rank_rng = batch_stream(config, device), rank_stream(config, device, ctx)
    noise_rng = rng if rank_rng is None else rank_rng  # the reparameterisation's ε
    next_index = batch_indices(len(data), config.batch_size, rng, device, ctx)
    autocast = autocast_for(config, device)
    ddp_model = distributed.wrap(model, ctx)  # train through DDP (under torchrun); evaluate the plain model

    def step() -> dict[str, Tensor]:
        return vae_step(ddp_model, optimizer, data[next_index()], noise_rng, autocast, beta=config.beta,
                        free_bits=config.free_bits)

    if test is not None:
        evaluate = elbo_fn(model, test, config.seed, device)
    else:
        evaluate = coverage_fn(config, lambda n, r: model.sample(n, generator=r).flatten(1).float(), device)
    state = TrainingState("vae", config, {"vae": model}, {"vae": optimizer}, rng, ctx, rank_rng)
    return _Run(state, step, evaluate)


def _classifier_run(config: ClassifierConfig, data: tuple[Tensor, Tensor] | None, device: torch.device,
                    ctx: distributed.Context) -> _Run:
    """The classifier and its optimizer; a step is one update on the cross-entropy of a batch."""
    x, y, test = labelled_set(data, device)
    model = build_classifier(config, x.shape[1], int(y.max()) + 1 if test is None else 10).to(device)
    optimizer = build_optimizer(config, model.parameters())
    rng = batch_stream(config, device)  # no noise inside a step: the batches are all its randomness
    next_index = batch_indices(len(x), config.batch_size, rng, device, ctx)
    ddp_model = distributed.wrap(model, ctx)  # train through DDP (under torchrun); evaluate the plain model

    def step() -> dict[str, Tensor]:
        index = next_index()  # (B / world_size,): this rank's slice of the global batch
        return classifier_step(ddp_model, optimizer, x[index], y[index])

    state = TrainingState("classifier", config, {"classifier": model}, {"classifier": optimizer}, rng, ctx)
    return _Run(state, step, None if test is None else accuracy_fn(model, test))


_RUN_BUILDERS: dict[type, Callable[[Any, Any, torch.device, distributed.Context], _Run]] = {
    GANConfig: _gan_run, VAEConfig: _vae_run, ClassifierConfig: _classifier_run,
}


# ============================================================================ the loop
def _loop(run: _Run, *, device: torch.device, callback: Callback | None, callback_every: int,
          resume: str | os.PathLike | None, out_dir: str | os.PathLike | None, progress: bool) -> History:
    """Train ``run`` from step 0 (or the step of the ``resume`` checkpoint) to ``config.steps``: a step, a
    History row every ``log_every`` steps, an evaluation every ``eval_every``, the callback every
    ``callback_every`` (each also after the last step). Ctrl-C stops it early; ``out_dir`` gets a checkpoint
    of the last completed step either way.

    Under torchrun every rank runs this same loop in lockstep (the DDP backward and the History rows are
    collectives); only rank 0 shows a bar and writes the checkpoint.
    """
    state, config = run.state, run.state.config
    _check_callback(callback, callback_every)
    history, start = resume_from(resume, state, device) if resume is not None else (History(), 0)
    done = start
    bar = _progress_bar(state, start, progress)
    try:
        for step in range(start + 1, config.steps + 1):
            _train_step(run, history, step, bar)
            last = step == config.steps
            done = step
            bar.update(1)
            if callback is not None and _due(step, callback_every, last):
                callback(step, history, state.models)
    except KeyboardInterrupt:  # Ctrl-C: keep what was learnt
        # the checkpoint says `done`, the last completed step; a Ctrl-C inside a step may have updated the
        # critic already, so only an interrupt between steps (e.g. from the callback) resumes bit-for-bit.
        # Under torchrun a callback must stop every rank at the same step (the checkpoint is a collective);
        # a Ctrl-C in the terminal is torchrun's to handle: it stops all the processes
        history.interrupted = True
    finally:
        bar.close()
    if out_dir is not None:
        write_checkpoint(out_dir, state, done, history)  # on every rank: it gathers the ranks' random streams
    return history


def _train_step(run: _Run, history: History, step: int, bar=None) -> None:
    """Step ``step`` of ``run``: one training step, then a History row and an evaluation when they are due."""
    config = run.state.config
    values = run.step()
    last = step == config.steps
    if _due(step, config.log_every, last):
        _log_row(history, step, values, run.state, bar)
    if run.evaluate is not None and _due(step, config.eval_every, last):
        # every rank evaluates its (identical) plain models, with no collective: the Histories agree
        # on all ranks, and the others would only wait for rank 0 at the next all-reduce anyway
        history.log_metrics(step, run.evaluate())


def _check_callback(callback: Callback | None, callback_every: int) -> None:
    check_int("callback_every", callback_every, 1)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable(step, history, models); got {type(callback).__name__}")


def _progress_bar(state: TrainingState, start: int, progress: bool):
    """A tqdm bar from ``start`` to ``config.steps``, shown on rank 0 only and only if ``progress``."""
    from tqdm.auto import tqdm

    return tqdm(total=state.config.steps, initial=start, disable=not (progress and state.ctx.is_main),
                desc=state.kind, dynamic_ncols=True)


def _due(step: int, every: int, last: bool) -> bool:
    """Whether what happens every ``every`` steps, and after the last, happens at ``step``."""
    return step % every == 0 or last


def _log_row(history: History, step: int, values: dict[str, Tensor], state: TrainingState, bar=None) -> None:
    """Add the losses of ``step`` to the History (and the bar), or raise TrainingDiverged if one is not finite.

    One host sync per row; under torchrun, the mean over the ranks (one all-reduce): the global batch's
    loss, the same on every rank, so a NaN anywhere stops every rank at this row.
    """
    row = distributed.mean_over_ranks(values, state.ctx)
    check_finite(step, row, state.kind)
    history.log(step, row)
    if bar is not None:
        bar.set_postfix({k: f"{v:.3g}" for k, v in row.items()}, refresh=False)
