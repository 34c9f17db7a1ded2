"""Measuring: every phase of one model, with its peak memory; then every model of a plan on shared paintings."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
from omegaconf import DictConfig

from artgenre.benchmark.device import device_name, memory_kind, peak_mib, release, reset_peak
from artgenre.benchmark.epochs import FullEpochs, full_epochs
from artgenre.benchmark.in_memory import InMemory, in_memory
from artgenre.benchmark.paintings import Generated, make_images
from artgenre.benchmark.report import describe
from artgenre.benchmark.settings import Plan, RunSettings, compose
from artgenre.benchmark.study import Study, study
from artgenre.benchmark.timing import Clock, best, steady
from artgenre.benchmark.training_setup import build_training
from artgenre.runtime import precision
from artgenre.runtime.device import use_channels_last
from artgenre.training.setup import model_options


@dataclass
class ModelReport:
    """Everything measured for one model."""

    settings: dict[str, Any]
    in_memory: InMemory
    full: FullEpochs
    study: Optional[Study]
    memory: dict[str, float]  # phase -> peak MiB
    memory_kind: str

    def to_json(self) -> dict[str, Any]:
        ceiling, ours_step = best(self.in_memory.ceiling), best(self.in_memory.ours)
        ours_epoch = steady(self.full.epochs)[1]
        return {"settings": self.settings, **self.in_memory.to_json(), "full_epochs": self.full.to_json(ceiling),
                "study": self.study.to_json(ours_epoch, ours_step) if self.study else None,
                "peak_memory": {"kind": self.memory_kind, "unit": "MiB", **self.memory}}


def settings_record(run: RunSettings, plan_: Plan, cfg: DictConfig, device: torch.device,
                    train_images: int) -> dict[str, Any]:
    return {"torch": torch.__version__, "device": str(device), "device_name": device_name(device),
            "model": run.model, "model_options": model_options(cfg), "image_size": run.image_size,
            "batch_size": run.batch_size, "precision": precision.resolve(run.precision, device).name,
            "channels_last": use_channels_last(run.channels_last, device), "compile": run.compile,
            "compile_backend": run.compile_backend,
            "workers": run.workers, "images": plan_.images, "source_size": plan_.source_size,
            "epochs": run.epochs, "steps": run.steps, "rounds": run.rounds, "cache": run.cache,
            "train_images": train_images, "threads": torch.get_num_threads()}


def bench_model(run: RunSettings, plan_: Plan, cfg: DictConfig, device: torch.device, clock: Clock) -> ModelReport:
    """(a), (a') and (b) on one model built as training builds it; then (c) on a fresh one."""
    memory: dict[str, float] = {}
    clock.say(f"{run.model}: indexing the images and building the loaders")
    t = build_training(cfg, device)
    cache_note = (f", pixel cache {'built' if t.cache_built else 'reused'} in {t.loaders_seconds:.1f} s" if run.cache
                  else "")
    clock.say(f"{run.model}: index {t.index_seconds:.1f} s{cache_note}; {t.data.n_train} training images")
    settings = settings_record(run, plan_, cfg, device, t.data.n_train)
    reset_peak(device)
    fast = in_memory(t, run, clock)
    memory["in_memory"] = peak_mib(device)
    reset_peak(device)
    full = full_epochs(t, run, clock)
    memory["full_epochs"] = peak_mib(device)
    image_set, split = t.image_set, t.split
    del t
    release(device, run.compile)
    slow = None
    if run.study:
        reset_peak(device)
        slow = study(cfg, image_set, split, device, run, clock)
        memory["study"] = peak_mib(device)
        release(device, compiled=False)
    return ModelReport(settings, fast, full, slow, memory, memory_kind(device))


def measure(p: Plan, device: torch.device) -> tuple[Generated, dict[str, dict[str, Any]]]:
    """Every model of the plan on the same generated paintings (and pixel cache), in a temporary folder:
    (the paintings, each model's figures). Every configuration is composed before any work."""
    figures: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="artgenre-bench-") as tmp:
        root, cache_dir = Path(tmp) / "paintings", Path(tmp) / "cache"
        configs = [compose(r, root, cache_dir, device) for r in p.runs]  # every mistake before any work
        clock = Clock()
        clock.say(describe(p, device))
        generated = make_images(root, p.images, p.source_size)
        clock.say(f"generated {generated.count} JPEGs of {p.source_size}x{p.source_size} px "
                  f"({generated.megabytes:.0f} MB, {1024 * generated.megabytes / generated.count:.0f} KB each) "
                  f"in {generated.seconds:.1f} s")
        for r, cfg in zip(p.runs, configs):
            figures[r.model] = bench_model(r, p, cfg, device, clock).to_json()
            clock.say(f"{r.model}: done")
    return generated, figures
