"""The process group, read from torchrun's environment, and exact reductions across ranks.

Every rank computes; only rank 0 writes files and prints. Sums (of losses, correct
predictions, counts) are all-reduced in float64, so a metric computed on several
processes equals the one computed on one.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Callable, TypeVar

import torch
import torch.distributed as dist

from artgenre.errors import ArtgenreError

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def env_info() -> DistInfo:
    """Rank and world size from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK)."""
    env = os.environ
    return DistInfo(
        rank=int(env.get("RANK", 0)),
        world_size=int(env.get("WORLD_SIZE", 1)),
        local_rank=int(env.get("LOCAL_RANK", 0)),
    )


def init() -> DistInfo:
    """Join the process group if launched by torchrun; idempotent; a no-op for one process.

    CPU tensors travel over gloo; CUDA tensors over NCCL on the local rank's GPU, so the same
    group serves both the CPU-side bookkeeping and the GPU-side gradients.
    """
    info = env_info()
    if not info.distributed or dist.is_initialized():
        return info
    backend = "gloo"
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    # more processes than GPUs (the demo's 2 CPU ranks on a 1-GPU machine): gloo alone, no GPU is
    # claimed; a run that asks for CUDA is then refused by runtime.device with one message
    if torch.cuda.is_available() and local <= torch.cuda.device_count():
        torch.cuda.set_device(info.local_rank % torch.cuda.device_count())
        backend = "cpu:gloo,cuda:nccl"
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
    return info


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over all ranks (in place; returns it)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def broadcast_object(obj: object, src: int = 0) -> object:
    """Rank ``src``'s value of a picklable object, on every rank."""
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather_object(obj: object) -> list[object]:
    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return [obj]
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_buffers(module: torch.nn.Module, src: int = 0) -> None:
    """Give every rank rank ``src``'s buffers (BatchNorm running statistics).

    DDP syncs buffers at the start of each forward pass, so after the last training step every
    rank holds statistics updated by its own last batch. Evaluating with those would mix models;
    rank 0's are the ones the checkpoint saves.
    """
    if dist.is_initialized() and dist.get_world_size() > 1:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=src)


def any_rank(flag: bool) -> bool:
    """True on every rank when the flag is set on at least one (for agreeing to stop)."""
    t = torch.tensor([1.0 if flag else 0.0], dtype=torch.float64)
    return bool(all_reduce_sum(t).item() > 0)


def from_main(fn: Callable[[], T]) -> T:
    """``fn()`` run on rank 0 alone; every rank gets its result, or raises its ArtgenreError, so
    all ranks use the very same value (even if a file it read is rewritten meanwhile)."""
    outcome: tuple[str, object] = ("", None)
    if env_info().is_main:
        try:
            outcome = ("ok", fn())
        except ArtgenreError as e:
            outcome = ("error", e)
    outcome = broadcast_object(outcome)
    if outcome[0] == "error":
        raise outcome[1]
    return outcome[1]
