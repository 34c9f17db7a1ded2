"""(c) the study's way: whole JPEGs decoded by PIL, Resize + ToTensor in the workers, a fresh float32,
contiguous, uncompiled model, and a read of the loss plus a device sync after every step."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from artgenre.benchmark.device import sync
from artgenre.benchmark.in_memory import WARMUP_STEPS, random_batches
from artgenre.benchmark.settings import RunSettings
from artgenre.benchmark.timing import Clock, Pass, best, steady
from artgenre.training.setup import new_model
from artgenre.training.optim import build_optimizer


class StudyDataset(Dataset):
    """The study's loader: PIL decode of the whole file, squash to a square, ToTensor (floats, not normalised)."""

    def __init__(self, paths: list[Path], labels: list[int], size: int) -> None:
        from torchvision import transforms as T

        self.paths, self.labels = paths, labels
        self.tf = T.Compose([T.Resize((size, size)), T.ToTensor()])

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> tuple[Tensor, int]:
        with Image.open(self.paths[i]) as im:
            return self.tf(im.convert("RGB")), self.labels[i]


def study_pass(model: nn.Module, batches: Iterable, optimizer: torch.optim.Optimizer, device: torch.device) -> Pass:
    """The study's loop: float32, and a read of the loss plus a device sync after every step.

    Starting the loader's workers (``iter``, every epoch: they are not persistent) counts as data wait."""
    model.train()
    images = steps = 0
    start = time.perf_counter()
    it = iter(batches)
    data_seconds = time.perf_counter() - start
    while True:
        tic = time.perf_counter()
        batch = next(it, None)
        if batch is None:
            break
        data_seconds += time.perf_counter() - tic
        x, y = batch[0].to(device), batch[1].to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()
        sync(device)
        images, steps = images + len(y), steps + 1
    return Pass(images, steps, time.perf_counter() - start, data_seconds)


@dataclass
class Study:
    """(c): the study's loop, on its own input pipeline and on in-memory tensors."""

    epochs: list[Pass]
    compute: list[Pass]  # rounds on in-memory float batches: the study's step without its input pipeline

    def to_json(self, ours_epoch: Pass, ours_step: Pass) -> dict[str, Any]:
        i, top = steady(self.epochs)
        compute = best(self.compute)
        return {"epochs": [e.to_json() for e in self.epochs], "steady_epoch": i + 1, "images_per_s": top.rate,
                "epoch_seconds": top.seconds, "step_ms": top.step_ms, "data_wait_seconds": top.data_seconds,
                "compute_rounds": [p.to_json() for p in self.compute], "compute_images_per_s": compute.rate,
                "compute_step_ms": compute.step_ms, "ours_step_ms": ours_step.step_ms,
                "speedup": ours_epoch.rate / top.rate}


def study(cfg: DictConfig, image_set: Any, split: list[str], device: torch.device, run: RunSettings,
          clock: Clock) -> Study:
    train = [r for r, s in zip(image_set.records, split) if s == "train"]
    model = new_model(cfg, len(image_set.classes))
    model.to(device)  # float32, contiguous, not compiled
    optimizer = build_optimizer(model, cfg.optim)
    batches = random_batches(run.steps, run.batch_size, run.image_size, len(image_set.classes), device,
                             lambda pixels: pixels.float().div_(255))  # ToTensor's floats, contiguous
    study_pass(model, batches[:WARMUP_STEPS], optimizer, device)
    compute = [study_pass(model, batches, optimizer, device) for _ in range(run.rounds)]
    clock.say(f"{run.model}: study's step on in-memory tensors: {best(compute).step_ms:.1f} ms")
    del batches
    dataset = StudyDataset([image_set.root / r.path for r in train], [r.label for r in train], run.image_size)
    loader = DataLoader(dataset, batch_size=run.batch_size, num_workers=run.workers, shuffle=True)
    epochs = []
    for e in range(run.epochs):
        epochs.append(study_pass(model, loader, optimizer, device))
        clock.say(f"{run.model}: study epoch {e + 1}/{run.epochs}: {epochs[-1].rate:.1f} img/s, "
                  f"{epochs[-1].seconds:.1f} s (data wait {epochs[-1].data_seconds:.1f} s)")
    return Study(epochs, compute)
