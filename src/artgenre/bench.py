"""Entry point: ``artgenre-bench`` / ``python -m artgenre.bench``: where a training step's time goes.

    artgenre-bench                                   # resnet50, 128 px, batch 32, 256 generated JPEGs
    artgenre-bench --model vit_scratch --model-opt embed_dim=96 --model-opt depth=2 --model-opt num_heads=3
    artgenre-bench --gpu                             # ResNet-50, ViT-B/16, iFormer-S at 384 px on one GPU
    artgenre-bench --gpu --image-size 224 --epochs 2 # the preset, with some values of your own

For one model and image size it measures, in images per second of training:

(a)  ceiling: a plain PyTorch loop (zero_grad, forward under autocast, cross-entropy, backward,
     step; no reads of the device) over batches already on the device, already normalised
     floats in the model's memory format.
(a') our loop: artgenre.training.engine.train_one_epoch over the very same batches; its overhead over
     (a) in percent. (a) and (a') take turns for --rounds rounds and the best round of each
     counts (the medians are in the JSON), so a burst of load from other processes hits both.
(b)  full epochs: generated paintings (--images JPEGs of --source-size px, written once) read
     exactly as artgenre-train reads them (Hydra config, manifest, pixel cache unless
     --no-cache, DataLoader workers, floats made on the device), --epochs epochs; the best
     epoch after the first counts. Its rate over (a), and its time split into waiting for
     data and computing. Indexing the images and building the pixel cache are one-off costs,
     reported apart.
(c)  the study's way (unless --no-study): the same JPEGs decoded whole by PIL, Resize + ToTensor
     in the workers, a fresh float32, contiguous, uncompiled model, and a ``loss.item()`` plus
     a device sync after every step. Its epochs, its step time on in-memory tensors, and how
     much faster (b) is.

Peak memory per phase: on CUDA the allocator's peak (reset between phases); on the CPU the
process's peak resident set size, which never goes down. Models get random weights: nothing
is downloaded. ``--json PATH`` writes every figure and the settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import logging
import multiprocessing
import os
import platform
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException
from PIL import Image
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

import artgenre
from artgenre import launch
from artgenre.runtime import precision
from artgenre.training import fit as trainer
from artgenre.config import validate
from artgenre.runtime.cpu_memory import keep_freed_memory
from artgenre.data import cache as pixel_cache
from artgenre.data.pipeline import DeviceInput
from artgenre.data.transforms import AUGMENTATIONS
from artgenre.runtime.distributed import DistInfo
from artgenre.training.data import index_data
from artgenre.training.engine import StepContext, train_one_epoch
from artgenre.errors import ConfigError
from artgenre.models import available_models, build_model, model_schema, normalization
from artgenre.training.optim import build_optimizer

CLASSES = 4  # class folders of the generated paintings
JPEG_QUALITY = 94  # ~270 KB at 1000 x 1000 px
WARMUP_STEPS = 2  # untimed steps before the in-memory rounds (the first one compiles, with --compile)

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


# ----------------------------------------------------------------------------- settings


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


def _key_value(text: str) -> str:
    if "=" not in text or text.startswith("="):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return text


def parser() -> argparse.ArgumentParser:
    """Options default to SUPPRESS so that :func:`plan` knows which ones were given (they beat --gpu's)."""
    ap = argparse.ArgumentParser(prog="artgenre-bench", description=__doc__, argument_default=argparse.SUPPRESS,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", default=False,
                    help=f"preset for one CUDA GPU: {', '.join(f'{m} (batch {b})' for m, b in GPU_BATCH.items())}, "
                         + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in GPU_PRESET.items())
                         + "; flags given with it override its values")
    ap.add_argument("--model", help="registered model name (default resnet50; with --gpu: only this one)")
    ap.add_argument("--model-opt", dest="model_opt", action="append", type=_key_value, metavar="KEY=VALUE",
                    help="model option, as model.KEY=VALUE of artgenre-train (repeatable)")
    ap.add_argument("--image-size", type=int, help="data.image_size (default 128)")
    ap.add_argument("--batch-size", type=int, help="batch per step (default 32)")
    ap.add_argument("--steps", type=int, help="in-memory steps per round (default 10)")
    ap.add_argument("--rounds", type=int, help="rounds of (a) and (a') taking turns (default 3)")
    ap.add_argument("--images", type=int, help="JPEGs to generate (default 256)")
    ap.add_argument("--source-size", type=int, help="side of the generated JPEGs in px (default 1000)")
    ap.add_argument("--epochs", type=int, help="full epochs of (b) and of (c) (default 3)")
    ap.add_argument("--workers", type=int, help="DataLoader workers (default 2)")
    ap.add_argument("--precision", choices=precision.CHOICES, help="trainer.precision (default auto)")
    ap.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                    help="NHWC layout (default: on for CUDA only, as in training)")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, help="torch.compile (default off)")
    ap.add_argument("--compile-backend", help="torch.compile backend (default inductor)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default auto (cuda when visible)")
    ap.add_argument("--no-study", dest="study", action="store_false", default=True, help="skip (c)")
    ap.add_argument("--no-cache", dest="cache", action="store_false", default=True,
                    help="(b) decodes the JPEGs every epoch instead of reading the pixel cache")
    ap.add_argument("--json", help="write every figure and the settings here (with --gpu: bench-gpu.json)")
    ap.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's own)")
    return ap


def plan(argv: Optional[Sequence[str]] = None) -> Plan:
    """The command line resolved: defaults, then --gpu's preset, then the flags given."""
    args = vars(parser().parse_args(argv))
    preset = args.pop("gpu")
    cache, study = args.pop("cache"), args.pop("study")
    s = {**DEFAULTS, **(GPU_PRESET if preset else {}), **args}
    models = [s["model"]] if "model" in args or not preset else list(GPU_BATCH)

    def batch(model: str) -> int:
        return s["batch_size"] if "batch_size" in args or not preset else GPU_BATCH.get(model, s["batch_size"])

    runs = [RunSettings(model=m, model_opts=tuple(s["model_opt"]), image_size=s["image_size"], batch_size=batch(m),
                        precision=str(s["precision"]), channels_last=s["channels_last"], compile=s["compile"],
                        compile_backend=s["compile_backend"], workers=s["workers"], epochs=s["epochs"],
                        steps=s["steps"], rounds=s["rounds"], cache=cache, study=study) for m in models]
    return Plan(runs=runs, images=s["images"], source_size=s["source_size"], device=s["device"],
                threads=s["threads"], json=Path(s["json"]) if s["json"] else None, preset=preset)


def _check_counts(p: Plan) -> None:
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


# ----------------------------------------------------------------------------- the device


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda (also --gpu's default) but no CUDA device is visible; "
                          "pass --device cpu or --device auto")
    return trainer.select_device(name, DistInfo())


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


class Clock:
    """Progress lines stamped with the seconds since the benchmark started."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def say(self, message: str) -> None:
        print(f"[{time.perf_counter() - self.start:7.1f}s] {message}", flush=True)


# ----------------------------------------------------------------------------- generated paintings


@dataclass
class Generated:
    root: Path
    count: int
    megabytes: float
    seconds: float

    def to_json(self, source_size: int) -> dict[str, Any]:
        return {"images": self.count, "source_size": source_size, "megabytes": self.megabytes,
                "kb_per_image": 1024 * self.megabytes / self.count, "seconds": self.seconds}


def painting(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Smooth colour fields under a fine texture: compresses like a photographed painting."""
    base = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    texture = rng.integers(0, 256, (max(1, h // 3), max(1, w // 3), 3), dtype=np.uint8)
    return Image.blend(base, Image.fromarray(texture).resize((w, h), Image.Resampling.BILINEAR), 0.15)


def _write_painting(job: tuple[Path, int, int]) -> int:
    """Pool task: write painting number ``i`` of ``side`` x ``side`` px; return its size in bytes."""
    root, i, side = job
    path = root / f"class_{i % CLASSES}" / f"{i:05d}.jpg"
    painting(np.random.default_rng([0, i]), side, side).save(path, quality=JPEG_QUALITY)
    return path.stat().st_size


def make_images(root: Path, count: int, side: int) -> Generated:
    """``count`` JPEG paintings in CLASSES class folders under ``root``, written by one process per core."""
    tic = time.perf_counter()
    for c in range(CLASSES):
        (root / f"class_{c}").mkdir(parents=True, exist_ok=True)
    with multiprocessing.Pool(min(count, os.cpu_count() or 1)) as pool:
        sizes = pool.map(_write_painting, [(root, i, side) for i in range(count)])
    return Generated(root, count, sum(sizes) / 2**20, time.perf_counter() - tic)


# ----------------------------------------------------------------------------- timed passes


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
        try:
            x, y = next(it)
        except StopIteration:
            break
        data_seconds += time.perf_counter() - tic
        x, y = x.to(device), y.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        loss.item()
        sync(device)
        images, steps = images + len(y), steps + 1
    return Pass(images, steps, time.perf_counter() - start, data_seconds)


# ----------------------------------------------------------------------------- (a), (a'), (b): our path


@dataclass
class Training:
    """Model, optimizer and data exactly as artgenre-train builds them for one process."""

    cfg: DictConfig
    device: torch.device
    train_model: nn.Module  # compiled when asked; parameters shared with the placed model
    optimizer: torch.optim.Optimizer
    ctx: StepContext
    data: trainer.Data
    image_set: Any  # artgenre.data.listing.ImageSet
    split: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    index_seconds: float  # the manifest: every file decode-checked on first use
    loaders_seconds: float  # building the loaders, which builds the pixel cache with data.cache=true
    cache_built: bool  # this run wrote the pixel cache (False: off, or reused from an earlier model)


def build_training(cfg: DictConfig, device: torch.device) -> Training:
    info = DistInfo()
    tic = time.perf_counter()
    image_set, split = index_data(cfg)
    index_seconds = time.perf_counter() - tic
    trainer.seed_everything(cfg.trainer.seed)
    model = build_model(cfg.model.name, len(image_set.classes), cfg.data.image_size, **trainer.model_options(cfg))
    mean, std = normalization(model)
    layout = AUGMENTATIONS[cfg.data.augment].cache_layout
    cache_built = bool(cfg.data.cache and pixel_cache.missing(image_set, cfg.data.image_size, layout))
    tic = time.perf_counter()
    data = trainer.build_loaders(cfg, info, image_set, split, mean, std, device)
    loaders_seconds = time.perf_counter() - tic
    model = trainer.place_model(model, cfg, info, device)
    train_model, _ = trainer.wrap_for_training(model, cfg, info, device)
    optimizer = build_optimizer(model, cfg.optim)
    numerics = precision.resolve(cfg.trainer.precision, device)
    ctx = StepContext(device=device, autocast=numerics.autocast_factory, scaler=numerics.scaler(),
                      accum_steps=1, log_every=50, params=list(model.parameters()))
    return Training(cfg, device, train_model, optimizer, ctx, data, image_set, split, mean, std,
                    index_seconds, loaders_seconds, cache_built)


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
                           trainer.use_channels_last(t.cfg.trainer.channels_last, t.device))
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


@dataclass
class FullEpochs:
    """(b): epochs through the real data path."""

    epochs: list[Pass]
    cache: bool
    index_seconds: float
    cache_seconds: Optional[float]  # None without the cache
    cache_built: bool

    def to_json(self, ceiling: Pass) -> dict[str, Any]:
        i, top = steady(self.epochs)
        return {"cache": self.cache, "index_seconds": self.index_seconds, "cache_seconds": self.cache_seconds,
                "cache_built": self.cache_built, "epochs": [e.to_json() for e in self.epochs], "steady_epoch": i + 1,
                "images_per_s": top.rate, "epoch_seconds": top.seconds, "ratio_to_ceiling": top.rate / ceiling.rate,
                "data_wait_seconds": top.data_seconds, "compute_seconds": top.compute_seconds,
                "data_wait_share": top.data_share, "compute_share": 1.0 - top.data_share}


def full_epochs(t: Training, run: RunSettings, clock: Clock) -> FullEpochs:
    epochs = []
    for e in range(run.epochs):
        t.data.train_sampler.set_epoch(e)
        r = train_one_epoch(t.train_model, t.data.train, t.optimizer, t.ctx, t.data.train_sampler.num_real)
        epochs.append(Pass(r["n"], len(t.data.train), r["seconds"], r["data_seconds"]))
        clock.say(f"{run.model}: epoch {e + 1}/{run.epochs}: {epochs[-1].rate:.1f} img/s, {r['seconds']:.1f} s "
                  f"(data wait {r['data_seconds']:.1f} s)")
    return FullEpochs(epochs, run.cache, t.index_seconds, t.loaders_seconds if run.cache else None, t.cache_built)


# ----------------------------------------------------------------------------- (c): the study's way


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
    trainer.seed_everything(cfg.trainer.seed)
    model = build_model(cfg.model.name, len(image_set.classes), cfg.data.image_size, **trainer.model_options(cfg))
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


# ----------------------------------------------------------------------------- one model


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
            "model": run.model, "model_options": trainer.model_options(cfg), "image_size": run.image_size,
            "batch_size": run.batch_size, "precision": precision.resolve(run.precision, device).name,
            "channels_last": trainer.use_channels_last(run.channels_last, device), "compile": run.compile,
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


# ----------------------------------------------------------------------------- the report


def _split(seconds: float, share: float) -> str:
    return f"{seconds:.2f} ({100 * share:.0f}%)"


def _study(fn: Callable[[dict[str, Any]], str]) -> Callable[[dict[str, Any]], str]:
    return lambda fig: fn(fig["study"]) if fig["study"] else "-"


ROWS: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
    ("(a)  ceiling, img/s", lambda f: f"{f['ceiling']['images_per_s']:.1f}"),
    ("     step, ms", lambda f: f"{f['ceiling']['step_ms']:.1f}"),
    ("(a') our loop, img/s", lambda f: f"{f['our_loop']['images_per_s']:.1f}"),
    ("     step, ms", lambda f: f"{f['our_loop']['step_ms']:.1f}"),
    ("     overhead vs (a)", lambda f: f"{f['our_loop']['overhead_pct']:+.1f}%"),
    ("(b)  full epochs, img/s", lambda f: f"{f['full_epochs']['images_per_s']:.1f}"),
    ("     input", lambda f: "pixel cache" if f["full_epochs"]["cache"] else "JPEG decode"),
    ("     epoch, s", lambda f: f"{f['full_epochs']['epoch_seconds']:.2f}"),
    ("     (b)/(a)", lambda f: f"{f['full_epochs']['ratio_to_ceiling']:.2f}"),
    ("     data wait, s (%)", lambda f: _split(f["full_epochs"]["data_wait_seconds"],
                                            f["full_epochs"]["data_wait_share"])),
    ("     compute, s (%)", lambda f: _split(f["full_epochs"]["compute_seconds"], f["full_epochs"]["compute_share"])),
    ("     one-off: index, s", lambda f: f"{f['full_epochs']['index_seconds']:.1f}"),
    ("     one-off: cache, s", lambda f: "-" if f["full_epochs"]["cache_seconds"] is None else
     f"{f['full_epochs']['cache_seconds']:.1f}" + ("" if f["full_epochs"]["cache_built"] else " (reused)")),
    ("(c)  study's way, img/s", _study(lambda s: f"{s['images_per_s']:.1f}")),
    ("     epoch, s", _study(lambda s: f"{s['epoch_seconds']:.2f}")),
    ("     step, ms", _study(lambda s: f"{s['step_ms']:.1f}")),
    ("     data wait, s", _study(lambda s: f"{s['data_wait_seconds']:.2f}")),
    ("step, in-memory: study / ours, ms", _study(lambda s: f"{s['compute_step_ms']:.1f} / {s['ours_step_ms']:.1f}")),
    ("epoch speed-up of (b) over (c)", _study(lambda s: f"{s['speedup']:.2f}x")),
    ("peak memory (a)/(b), MiB", lambda f: f"{f['peak_memory']['in_memory']:.0f} / "
                                          f"{f['peak_memory']['full_epochs']:.0f}"),
    ("peak memory (c), MiB", lambda f: f"{f['peak_memory']['study']:.0f}" if "study" in f["peak_memory"] else "-"),
]


PRECISION_LABELS = {"32": "fp32", "bf16": "bf16", "16": "fp16"}


def table(figures: dict[str, dict[str, Any]]) -> str:
    """Rows of figures, one column per model."""
    heads = [f"{name} {f['settings']['image_size']}px b{f['settings']['batch_size']} "
             f"{PRECISION_LABELS[f['settings']['precision']]}" for name, f in figures.items()]
    cells = [[fn(f) for f in figures.values()] for _, fn in ROWS]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
    label = max(len(name) for name, _ in ROWS)
    lines = [" " * label + "".join(f"  {h:>{w}}" for h, w in zip(heads, widths))]
    for (name, _), row in zip(ROWS, cells):
        lines.append(f"{name:<{label}}" + "".join(f"  {c:>{w}}" for c, w in zip(row, widths)))
    kind = next(iter(figures.values()))["peak_memory"]["kind"]
    lines.append(f"peak memory: {kind}")
    return "\n".join(lines)


def describe(p: Plan, device: torch.device) -> str:
    r = p.runs[0]
    models = ", ".join(f"{run.model} (batch {run.batch_size})" for run in p.runs)
    opts = f" with {' '.join(r.model_opts)}" if r.model_opts else ""
    compiled = f"compiled ({r.compile_backend})" if r.compile else "eager"
    layout = "channels_last" if trainer.use_channels_last(r.channels_last, device) else "contiguous"
    return (f"{'GPU preset: ' if p.preset else ''}{models}{opts} | {r.image_size} px, precision {r.precision}, "
            f"{layout}, {compiled} | {p.images} JPEGs of "
            f"{p.source_size} px, {r.epochs} epochs, {r.workers} workers, {'cache' if r.cache else 'no cache'}"
            f"{'' if r.study else ', no study'} | {r.rounds} rounds of {r.steps} steps | "
            f"{device}: {device_name(device)}")


# ----------------------------------------------------------------------------- entry point


def run(p: Plan) -> dict[str, Any]:
    """Benchmark every model of the plan; print the table; write the JSON if asked. Returns the figures."""
    _check_counts(p)
    device = pick_device(p.device)
    if p.threads:
        torch.set_num_threads(p.threads)
    if device.type == "cpu":
        keep_freed_memory()  # as training does on the CPU; for the study's loop too (same process)
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
    print("\n" + table(figures), flush=True)
    if p.json:
        env = {"torch": torch.__version__, "device": str(device), "device_name": device_name(device)}
        out = {"environment": env, "generated": generated.to_json(p.source_size), "models": figures}
        p.json.parent.mkdir(parents=True, exist_ok=True)
        p.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"figures written to {p.json}", flush=True)
    return figures


def main(argv: Optional[Sequence[str]] = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    p = plan(argv)
    launch.guarded(lambda: run(p))()


if __name__ == "__main__":
    main()
