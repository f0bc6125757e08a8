"""Data-parallel training under ``torchrun``: PyTorch's DistributedDataParallel (DDP), NCCL on GPUs,
gloo on the CPU.

    torchrun --standalone --nproc-per-node 2 --no-python course train gan --data ring --out runs/gan

``torchrun`` starts one process (a *rank*) per GPU, or per CPU worker, and tells each who it is through
the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``). The
``train_*`` loops of :mod:`course_utils.training` then:

- hold a full copy of the models on every rank; the same seed makes the weights identical, and DDP
  broadcasts rank 0's at the start anyway;
- treat ``config.batch_size`` as the *global* batch: every rank draws the same global batch of indices
  from one shared stream (the single-process run's batches) and trains on its slice of
  ``batch_size // world_size`` examples (an uneven split is refused);
- draw the noise inside a step (z, the penalty's ε, the VAE's reparameterisation) from a stream of its
  own per rank: shared noise would make every rank's fakes the same;
- let DDP average the gradients over the ranks during ``backward()``: the mean of the ranks' mean
  gradients is the mean gradient of the global batch, so one step is a single-process step on the whole
  batch, up to the noise (Li et al. 2020, "PyTorch Distributed: Experiences on Accelerating Data
  Parallel Training");
- log in the History the mean of the ranks' losses (one all-reduce per row): the global batch's loss,
  the same on every rank, so that a NaN on one rank stops them all at the same row;
- write files, show progress bars and print on rank 0 only; evaluate on every rank with the plain
  modules (no collective, identical results), so every rank's History is the same.

With a single process the same seed gives the same numbers as before; with W processes the numbers
depend on W (the noise streams), so a run is reproduced with the same seed and as many processes.

Outside ``torchrun`` (no ``WORLD_SIZE``, or ``WORLD_SIZE=1``) nothing here does anything: there is no
process group and no wrapper, and training is exactly the single-process code.
"""

from __future__ import annotations

import atexit
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

T = TypeVar("T")


@dataclass(frozen=True)
class Context:
    """Where this process stands among those training together."""

    rank: int = 0  # this process, 0 .. world_size - 1; rank 0 writes the files
    world_size: int = 1  # processes training together; 1: no process group, no DDP wrapper
    local_rank: int = 0  # this process among those on its machine: it picks the GPU cuda:local_rank

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files, prints and shows progress."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


SINGLE = Context()  # a plain `python` run


def _available() -> bool:
    return torch.distributed.is_available()


def from_env(environ: Mapping[str, str] | None = None) -> Context:
    """The :class:`Context` that ``torchrun`` describes in ``environ`` (default ``os.environ``);
    :data:`SINGLE` when ``WORLD_SIZE`` is not set."""
    env = os.environ if environ is None else environ
    if "WORLD_SIZE" not in env:
        return SINGLE
    try:
        world_size, rank = int(env["WORLD_SIZE"]), int(env["RANK"])
        local_rank = int(env.get("LOCAL_RANK", rank))
    except (KeyError, ValueError):
        raise ValueError(f"WORLD_SIZE={env['WORLD_SIZE']!r} is set but RANK={env.get('RANK')!r} is not a rank; "
                         "start several processes with torchrun, or unset WORLD_SIZE") from None
    if not (world_size >= 1 and 0 <= rank < world_size and local_rank >= 0):
        raise ValueError(f"RANK={rank} must be in 0..WORLD_SIZE-1={world_size - 1}; start the processes with torchrun")
    return Context(rank=rank, world_size=world_size, local_rank=local_rank)


def current() -> Context:
    """The :class:`Context` of the initialised process group, or :data:`SINGLE` when there is none."""
    if _available() and torch.distributed.is_initialized():
        return Context(rank=torch.distributed.get_rank(), world_size=torch.distributed.get_world_size(),
                       local_rank=from_env().local_rank)
    return SINGLE


def local_device(device: torch.device, ctx: Context) -> torch.device:
    """``cuda:LOCAL_RANK`` for a distributed CUDA run (one GPU per process), else ``device``."""
    if ctx.is_distributed and device.type == "cuda":
        return torch.device("cuda", ctx.local_rank)
    return device


def join(device: torch.device) -> tuple[Context, torch.device]:
    """Join the process group that ``torchrun`` set up; return ``(context, device)``.

    Under ``torchrun`` with more than one process, the first call initialises the default process
    group (backend ``"nccl"`` when ``device`` is CUDA, ``"gloo"`` otherwise; addresses from the
    environment) and the device becomes ``cuda:LOCAL_RANK``, one GPU per process; later calls, and a
    group that a script initialised itself, reuse it. Elsewhere this returns ``(SINGLE, device)`` and
    does nothing.

    The group lives until the process exits, where :func:`leave` destroys it (``atexit``), not at the
    end of each training: a script may train several models, and initialising the group again after
    destroying it failed at random on gloo (torch 2.13, measured: "Gloo connectFullMesh failed ...
    Connection refused" on the second or third initialisation in one process).
    """
    if _available() and torch.distributed.is_initialized():  # joined already, or the script's own group
        ctx = current()
        return ctx, local_device(device, ctx)
    ctx = from_env()
    if not ctx.is_distributed:
        return ctx, device
    if not _available():
        raise RuntimeError("this torch was built without torch.distributed; run a single process (plain python)")
    if device.type not in ("cuda", "cpu"):
        raise ValueError(f"data-parallel training runs on CUDA (NCCL) or the CPU (gloo), not {device.type}; "
                         "pass --device cpu (device='cpu') or run a single process")
    device = local_device(device, ctx)
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK={ctx.local_rank} but this machine has {torch.cuda.device_count()} "
                             "GPU(s); start at most one process per GPU (--nproc-per-node)")
        torch.cuda.set_device(device)  # NCCL and the object collectives use the current device
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend)  # rendezvous at MASTER_ADDR:MASTER_PORT, set by torchrun
    atexit.register(leave)
    torch.distributed.barrier()  # every rank connected before any goes on (and perhaps raises and exits)
    return ctx, device


def leave() -> None:
    """Destroy the default process group, if there is one (run at exit after :func:`join`)."""
    if _available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def shard_size(batch_size: int, ctx: Context, multiple_of: int = 1) -> int:
    """Examples per rank: ``batch_size`` is the global batch and must split evenly over the ranks
    (into shards that are whole multiples of ``multiple_of``, e.g. PacGAN's pack size)."""
    shard, rest = divmod(batch_size, ctx.world_size)
    if rest:
        raise ValueError(f"batch_size={batch_size} is the global batch and must split evenly over "
                         f"{ctx.world_size} processes; use a number of processes that divides {batch_size}")
    if shard % multiple_of:
        raise ValueError(f"each of the {ctx.world_size} processes gets {shard} examples, not a multiple of "
                         f"pack={multiple_of}; use a batch_size that is a multiple of {ctx.world_size * multiple_of}")
    return shard


_DDP_RENAMED_BUFFERS = "forward_sync_buffers" in inspect.signature(DistributedDataParallel.__init__).parameters


class _DDP(DistributedDataParallel):
    """DDP that reads unknown attributes from the wrapped module, so that code written for the plain
    model (``model.likelihood``, ``generator.latent_dim``) runs unchanged on the wrapper."""

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self.module, name)


def wrap(module: nn.Module, ctx: Context) -> nn.Module:
    """``module`` in DistributedDataParallel when ``ctx`` is distributed, else ``module`` itself.

    Train through the wrapper (its ``backward()`` averages the gradients over the ranks); evaluate,
    sample and save through the plain module: a forward of the wrapper on one rank alone could wait
    for the others, and the plain ``state_dict`` has no ``module.`` prefix, so a checkpoint loads
    into a single process.
    """
    if not ctx.is_distributed:
        return module
    device = next(module.parameters()).device
    # broadcast_buffers=False: no collective in forward. The buffers here are batch-norm statistics
    # (used only in eval mode, saved from rank 0), spectral-norm vectors (a function of the weights,
    # identical on every rank) and constants; broadcasting them would also rewrite in place tensors
    # that a second forward before backward (the critic's real, fake and gradient-penalty passes)
    # still needs.
    # (torch >= 2.13 renames the switch forward_sync_buffers; it still syncs once at init, which is harmless)
    no_sync = {"forward_sync_buffers": False} if _DDP_RENAMED_BUFFERS else {"broadcast_buffers": False}
    return _DDP(module, device_ids=[device.index] if device.type == "cuda" else None, **no_sync)


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside a DDP wrapper (or ``module`` itself)."""
    return module.module if isinstance(module, DistributedDataParallel) else module


def mean_over_ranks(values: Mapping[str, torch.Tensor], ctx: Context) -> dict[str, float]:
    """Each scalar averaged over the ranks, as floats: one all-reduce for the whole dict.

    With equal shards the mean of the ranks' batch means is the global batch's mean, so a History row
    reads as in a single-process run. Every rank gets the same numbers, so a NaN on any rank is a NaN
    on all and they stop together. Every rank must call this at the same steps (it is a collective).
    """
    if not ctx.is_distributed:
        return {name: float(value) for name, value in values.items()}
    if not values:
        return {}
    stacked = torch.stack([v.detach().reshape(()).double() for v in values.values()])  # (n_values,)
    torch.distributed.all_reduce(stacked)  # sum over the ranks
    return dict(zip(values, (stacked / ctx.world_size).tolist(), strict=True))


def gather(obj: T, ctx: Context) -> list[T]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank (picklable objects; a collective)."""
    if not ctx.is_distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    torch.distributed.all_gather_object(out, obj)
    return out


def barrier(ctx: Context) -> None:
    """Wait until every rank gets here (nothing to do in a single process)."""
    if ctx.is_distributed:
        torch.distributed.barrier()


def on_main(fn: Callable[[], T], ctx: Context) -> T:
    """``fn()`` on rank 0 only; its result on every rank, or the exception it raised raised on every rank,
    so that no rank goes on to wait for one that stopped. A collective: every rank must call it."""
    if not ctx.is_distributed:
        return fn()
    box: list[Any] = [None]
    if ctx.is_main:
        try:
            box = [(True, fn())]
        except Exception as error:  # sent to the other ranks, then raised everywhere
            box = [(False, error)]
    torch.distributed.broadcast_object_list(box, src=0)
    ok, value = box[0]
    if not ok:
        raise value
    return value
