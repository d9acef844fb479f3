"""Training on several processes with ``torchrun``: which process am I, and the few collective steps the trainers need.

``torchrun --nproc_per_node=N -m fashionlib train-detector ...`` starts N copies of the
command and tells each its place through environment variables (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``). The CLI calls :func:`init_from_env` once;
the trainers then ask :func:`context` where they stand. Without torchrun nothing here does
anything: one process is a world of size 1.

Rules both trainers follow:

* a step's global batch is split into parts, one slice per process (and optionally per
  micro-batch); gradients are averaged across processes by DistributedDataParallel;
* part ``p`` of iteration ``i`` draws its random numbers from its own seed, so the result
  does not depend on how the batch was split (2 processes == 1 process with 2 micro-batches);
* only rank 0 writes files (config, metrics, checkpoints, figures, evaluation); the others
  read the checkpoint on ``--resume`` and wait for rank 0 where it writes or evaluates;
* stopping (iteration or time budget) is decided by rank 0 and broadcast, so every process
  stops at the same iteration.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes and its GPU index on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Return True for the process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Return True when more than one process trains together."""
        return self.world_size > 1


def context() -> DistContext:
    """Return this process's place (a world of size 1 when no process group is initialised)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistContext()
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def launched_by_torchrun() -> bool:
    """Return True when the environment says this process is one of several started by torchrun."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(device: str | None = None) -> tuple[DistContext, str | None]:
    """Join the process group torchrun set up (gloo on CPU, nccl on GPUs); return (context, this process's device).

    A no-op returning ``(DistContext(), device)`` outside torchrun. Called by the CLI, never at import.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return context(), device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = (device or ("cuda" if torch.cuda.is_available() else "cpu")).startswith("cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    else:
        device = "cpu"
    # Rank 0 may evaluate for a long time while the others wait at a barrier: a generous timeout.
    dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=2))
    return context(), device


def shutdown() -> None:
    """Leave the process group (end of a torchrun command)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in a world of one)."""
    if context().active:
        dist.barrier()


def broadcast_object(obj: Any) -> Any:
    """Return rank 0's ``obj`` on every process."""
    if not context().active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def rank0_decides(flag: bool, device: str | torch.device = "cpu") -> bool:
    """Return rank 0's ``flag`` on every process (e.g. "the time budget is spent": all stop at the same iteration).

    ``device``: this process's device; the one-number message travels on it under nccl, on the CPU otherwise.
    """
    if not context().active:
        return flag
    device = device if str(device).startswith("cuda") else "cpu"
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def mean_across(values: torch.Tensor) -> torch.Tensor:
    """Return the element-wise mean of ``values`` over the processes (for logging losses of the global batch)."""
    if not context().active:
        return values
    out = values.detach().clone()
    dist.all_reduce(out)
    return out / context().world_size


def part_seed(seed: int, iteration: int, part: int) -> int:
    """Return the seed of part ``part`` of iteration ``iteration``: independent of how many processes share a step."""
    return (seed * 1_000_003 + iteration) * 4096 + part


def split_batch(batch_size: int, micro_batches: int = 1, what: str = "the batch size") -> tuple[int, int]:
    """Return (images per process, images per forward pass); a clear error when they do not divide."""
    ctx = context()
    parts = ctx.world_size * micro_batches
    if batch_size % parts:
        raise ValueError(f"{what} {batch_size} does not split into {ctx.world_size} processes x {micro_batches} "
                         f"micro-batches; use a multiple of {parts} (the linear rule scales the learning rate with it)")
    return batch_size // ctx.world_size, batch_size // parts


def wrap(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """Return ``model`` in DistributedDataParallel when several processes train (the model itself otherwise)."""
    if not context().active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(device).index] if str(device).startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """Return the model inside a DistributedDataParallel wrapper (what checkpoints store)."""
    return getattr(model, "module", model)
