"""The device a benchmark runs on: which one, its name, syncs, peak memory, and releasing it between models."""

from __future__ import annotations

import gc
import os
import platform
import resource
from pathlib import Path

import torch

from artgenre.errors import ConfigError
from artgenre.runtime.device import resolve_device


def pick_device(name: str) -> torch.device:
    """``--device`` (auto, cpu or cuda) as a device, with the error message in the benchmark's own flags."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda (also --gpu's default) but no CUDA device is visible; "
                          "pass --device cpu or --device auto")
    return resolve_device(name, setting="--device")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def memory_kind(device: torch.device) -> str:
    if device.type == "cuda":
        return "CUDA max_memory_allocated, reset per phase"
    return "process peak RSS (ru_maxrss of this process; never resets: later phases include earlier ones)"


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def release(device: torch.device, compiled: bool) -> None:
    """Free what the last model left: its memory, and the compiler's caches."""
    gc.collect()
    if compiled:
        torch._dynamo.reset()
    if device.type == "cuda":
        torch.cuda.empty_cache()
