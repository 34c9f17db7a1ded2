"""Timing: the progress clock, one timed pass of training steps, and how passes are summarised."""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from artgenre.benchmark.device import sync


class Clock:
    """Progress lines stamped with the seconds since the benchmark started."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def say(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", flush=True)


@dataclass
class Pass:
    """One timed pass of training steps: an in-memory round or an epoch."""

    images: int
    steps: int
    seconds: float
    data_seconds: float = 0.0  # waiting for the next batch

    @property
    def rate(self) -> float:
        return self.images / self.seconds

    @property
    def step_ms(self) -> float:
        return 1000 * self.seconds / self.steps

    @property
    def compute_seconds(self) -> float:
        return self.seconds - self.data_seconds

    @property
    def data_share(self) -> float:
        return self.data_seconds / self.seconds

    def to_json(self) -> dict[str, float]:
        return {**dataclasses.asdict(self), "images_per_s": self.rate, "step_ms": self.step_ms,
                "compute_seconds": self.compute_seconds, "data_share": self.data_share}


def best(passes: Sequence[Pass]) -> Pass:
    return max(passes, key=lambda p: p.rate)


def median_rate(passes: Sequence[Pass]) -> float:
    return statistics.median(p.rate for p in passes)


def steady(epochs: Sequence[Pass]) -> tuple[int, Pass]:
    """(index, epoch): the best epoch after the first (which starts workers and compiles), if there is one."""
    candidates = list(enumerate(epochs))[1:] or list(enumerate(epochs))
    return max(candidates, key=lambda ip: ip[1].rate)


def timed(device: torch.device, run: Callable[[], object], images: int, steps: int) -> Pass:
    """Wall time of ``run()`` from a drained device to a drained device."""
    sync(device)
    tic = time.perf_counter()
    run()
    sync(device)
    return Pass(images, steps, time.perf_counter() - tic)
