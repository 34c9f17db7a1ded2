"""Which device a process computes on, its memory layout, and its random seeds.

Every command resolves ``auto | cpu | cuda`` here, so a training run, an evaluation, a
prediction and a benchmark on the same machine pick the same device.
"""

from __future__ import annotations

import os
import random
from typing import Optional

import numpy as np
import torch

from artgenre.errors import ConfigError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def local_processes() -> int:
    """The processes on this node: torchrun's LOCAL_WORLD_SIZE, 1 without torchrun."""
    return int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)


def resolve_device(name: str, local_rank: int = 0, setting: str = "trainer.device",
                   processes: Optional[int] = None) -> torch.device:
    """``name`` (one of DEVICE_CHOICES) as a device; with several GPUs, the one of this process's
    ``local_rank``. ``setting`` is how the user spelled the option, for the error message.

    More processes on a node (``processes``, default: torchrun's LOCAL_WORLD_SIZE) than GPUs is
    refused: two ranks on one GPU would share it under NCCL, which NCCL refuses with a long traceback."""
    if name not in DEVICE_CHOICES:
        raise ConfigError(f"{setting}={name} is not one of: {', '.join(DEVICE_CHOICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{setting}=cuda but no CUDA device is visible; use {setting}=cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        gpus, procs = torch.cuda.device_count(), processes if processes is not None else local_processes()
        if procs > gpus:
            raise ConfigError(
                f"{procs} processes on this node but {gpus} GPU(s) visible: each process needs a GPU of its own. "
                f"Start at most {gpus} (torchrun --nproc_per_node={gpus}), or train on the CPU with "
                f"{setting}=cpu (gloo).")
        return torch.device("cuda", local_rank % gpus)
    return torch.device("cpu")


def use_channels_last(setting: Optional[bool], device: torch.device) -> bool:
    """``trainer.channels_last``; unset: on for CUDA, where convolutions (tensor cores) run faster in
    NHWC, off on the CPU, where it measured no faster for ResNet-50 or the ViTs."""
    return device.type == "cuda" if setting is None else bool(setting)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
