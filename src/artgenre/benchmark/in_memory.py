"""(a) the ceiling and (a') our loop: rounds taking turns over the same batches, already on the device."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from artgenre.benchmark.device import sync
from artgenre.benchmark.settings import RunSettings
from artgenre.benchmark.timing import Clock, Pass, best, median_rate, timed
from artgenre.benchmark.training_setup import Training
from artgenre.data.loading.pipeline import DeviceInput
from artgenre.runtime.device import use_channels_last
from artgenre.training.engine import StepContext, train_one_epoch

WARMUP_STEPS = 2  # untimed steps before the in-memory rounds (the first one compiles, with --compile)

Batches = list[tuple[Tensor, Tensor]]


def random_batches(count: int, batch: int, size: int, classes: int, device: torch.device,
                   to_input: Callable[[Tensor], Tensor]) -> Batches:
    """``count`` batches on ``device``: random uint8 pixels made into model inputs by ``to_input``, and labels."""
    return [(to_input(torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, device=device)),
             torch.randint(0, classes, (batch,), device=device)) for _ in range(count)]


def plain_steps(model: nn.Module, batches: Batches, optimizer: torch.optim.Optimizer, ctx: StepContext) -> None:
    """The ceiling: the least a training step can do, with the same precision (and float16's scaler)."""
    scaler = ctx.scaler
    for images, labels in batches:
        optimizer.zero_grad(set_to_none=True)
        with ctx.autocast():
            logits = model(images)
            loss = F.cross_entropy(logits.float(), labels)
        if scaler is None:
            loss.backward()
            optimizer.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()


@dataclass
class InMemory:
    """(a) and (a'): rounds taking turns over the same in-memory batches."""

    ceiling: list[Pass]
    ours: list[Pass]
    warmup_seconds: float  # includes compiling

    @property
    def overhead_pct(self) -> float:
        """How much longer our loop takes than the ceiling, best round against best round."""
        return 100.0 * (best(self.ceiling).rate / best(self.ours).rate - 1.0)

    def to_json(self) -> dict[str, Any]:
        def section(passes: list[Pass]) -> dict[str, Any]:
            top = best(passes)
            return {"images_per_s": top.rate, "median_images_per_s": median_rate(passes), "step_ms": top.step_ms,
                    "rounds": [p.to_json() for p in passes]}

        return {"ceiling": section(self.ceiling), "our_loop": {**section(self.ours), "overhead_pct": self.overhead_pct},
                "warmup_seconds": self.warmup_seconds}


def in_memory(t: Training, run: RunSettings, clock: Clock) -> InMemory:
    to_input = DeviceInput(t.device, t.mean, t.std, t.cfg.data.normalize,
                           use_channels_last(t.cfg.trainer.channels_last, t.device))
    batches = random_batches(run.steps, run.batch_size, run.image_size, len(t.image_set.classes), t.device, to_input)
    images = run.steps * run.batch_size

    def ceiling(some: Batches) -> None:
        plain_steps(t.train_model, some, t.optimizer, t.ctx)

    def ours(some: Batches) -> None:
        train_one_epoch(t.train_model, some, t.optimizer, t.ctx, num_real=sum(len(y) for _, y in some))

    t.train_model.train()
    tic = time.perf_counter()
    ceiling(batches[:WARMUP_STEPS])
    ours(batches[:WARMUP_STEPS])
    sync(t.device)
    warmup = time.perf_counter() - tic
    clock.say(f"{run.model}: warm-up {warmup:.1f} s{' (compiling)' if run.compile else ''}")
    result = InMemory([], [], warmup)
    for r in range(run.rounds):
        result.ceiling.append(timed(t.device, lambda: ceiling(batches), images, run.steps))
        result.ours.append(timed(t.device, lambda: ours(batches), images, run.steps))
        clock.say(f"{run.model}: round {r + 1}/{run.rounds}: ceiling {result.ceiling[-1].rate:.1f} img/s, "
                  f"our loop {result.ours[-1].rate:.1f} img/s")
    return result
