"""What a benchmark runs with: defaults, the --gpu preset, the plan, its checks, and the training configuration."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import torch
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

import artgenre
from artgenre.benchmark.paintings import CLASSES
from artgenre.config import validate
from artgenre.errors import ConfigError
from artgenre.models import available_models, model_schema

DEFAULTS: dict[str, Any] = {
    "model": "resnet50", "model_opt": [], "image_size": 128, "batch_size": 32, "steps": 10, "rounds": 3,
    "images": 256, "source_size": 1000, "epochs": 3, "workers": 2, "precision": "auto", "channels_last": None,
    "compile": False, "compile_backend": "inductor", "device": "auto", "json": None, "threads": None,
}
GPU_BATCH = {"resnet50": 128, "vit_timm": 64, "iformer_small": 64}  # --gpu: the models and their batch sizes
GPU_PRESET: dict[str, Any] = {
    "image_size": 384, "precision": "bf16", "channels_last": True, "compile": True, "images": 1024,
    "epochs": 3, "workers": min(8, max(0, (os.cpu_count() or 1) - 2)), "device": "cuda", "json": "bench-gpu.json",
}


@dataclass(frozen=True)
class RunSettings:
    """What one model's benchmark runs with."""

    model: str
    model_opts: tuple[str, ...]  # KEY=VALUE, each becomes the override model.KEY=VALUE
    image_size: int
    batch_size: int
    precision: str  # as given (auto, 32, bf16, ...); resolved per device in the report
    channels_last: Optional[bool]  # None: the training's default (on for CUDA only)
    compile: bool
    compile_backend: str
    workers: int
    epochs: int
    steps: int
    rounds: int
    cache: bool
    study: bool


@dataclass(frozen=True)
class Plan:
    """The whole command: the models to run and what they share."""

    runs: list[RunSettings]
    images: int
    source_size: int
    device: str
    threads: Optional[int]
    json: Optional[Path]
    preset: bool


def resolve(given: dict[str, Any], preset: bool, cache: bool, study: bool) -> Plan:
    """Defaults, then --gpu's preset (when ``preset``), then the options ``given``."""
    s = {**DEFAULTS, **(GPU_PRESET if preset else {}), **given}
    models = [s["model"]] if "model" in given or not preset else list(GPU_BATCH)

    def batch(model: str) -> int:
        return s["batch_size"] if "batch_size" in given or not preset else GPU_BATCH.get(model, s["batch_size"])

    runs = [RunSettings(model=m, model_opts=tuple(s["model_opt"]), image_size=s["image_size"], batch_size=batch(m),
                        precision=str(s["precision"]), channels_last=s["channels_last"], compile=s["compile"],
                        compile_backend=s["compile_backend"], workers=s["workers"], epochs=s["epochs"],
                        steps=s["steps"], rounds=s["rounds"], cache=cache, study=study) for m in models]
    return Plan(runs=runs, images=s["images"], source_size=s["source_size"], device=s["device"],
                threads=s["threads"], json=Path(s["json"]) if s["json"] else None, preset=preset)


def check_counts(p: Plan) -> None:
    r = p.runs[0]
    counts = {"--images": p.images, "--source-size": p.source_size, "--batch-size": r.batch_size,
              "--steps": r.steps, "--rounds": r.rounds, "--epochs": r.epochs, "--image-size": r.image_size}
    for flag, value in counts.items():
        if value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    if p.images < 2 * CLASSES:
        raise ConfigError(f"--images must be at least {2 * CLASSES} (two per class folder), got {p.images}")
    if r.workers < 0:
        raise ConfigError(f"--workers must be 0 or more, got {r.workers}")


def compose(run: RunSettings, root: Path, cache_dir: Path, device: torch.device) -> DictConfig:
    """The training configuration artgenre-train would compose for these settings, validated."""
    from hydra import compose as hydra_compose, initialize_config_dir
    from hydra.errors import HydraException

    check_model(run.model, run.model_opts)
    overrides = [
        "data=folder", f"data.root={root}", f"data.cache_dir={cache_dir}", f"data.image_size={run.image_size}",
        f"data.cache={str(run.cache).lower()}", f"trainer.num_workers={run.workers}",
        f"trainer.batch_size={run.batch_size}",
        f"trainer.channels_last={'null' if run.channels_last is None else str(run.channels_last).lower()}",
        f"trainer.precision={run.precision}", f"trainer.compile={str(run.compile).lower()}",
        f"trainer.compile_backend={run.compile_backend}", f"trainer.device={device.type}", "trainer.progress=false",
        f"model={run.model}", *(f"model.{kv}" for kv in run.model_opts),
    ]
    conf = Path(artgenre.__file__).parent / "conf"
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            raw = hydra_compose(config_name="train", overrides=overrides)
    except (HydraException, OmegaConfBaseException) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ConfigError(f"model={run.model} {' '.join(run.model_opts)}: {first}") from None
    return validate(raw)


def check_model(name: str, options: Sequence[str]) -> None:
    """A registered model, and options it has, before Hydra gives a vaguer message."""
    if name not in available_models():
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    known = [f.name for f in dataclasses.fields(model_schema(name))]
    for option in options:
        if option.split("=", 1)[0] not in known:
            raise ConfigError(f"--model-opt {option}: model {name} has no such option; its options: "
                              f"{', '.join(known)}")
