"""fit(): wire data, model, optimizer, checkpoints and metrics together, then run the epochs.

Read top to bottom: set up the processes and the device, index and split the data,
build the model and its optimizer, resume if a checkpoint says so, then per epoch train,
evaluate every validation image once, log one exact row and save the checkpoints.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import functools
import hashlib
import logging
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from artgenre.rundir import checkpoint
from artgenre.runtime import distributed
from artgenre.runtime import precision
from artgenre.runtime import preemption
from artgenre.runtime.compilation import CompileFallback
from artgenre.runtime.cpu_memory import keep_freed_memory
from artgenre.data.balance import loss_weights, train_sampler
from artgenre.data.listing import ImageSet
from artgenre.training.data import index_data
from artgenre.data.pipeline import DeviceBatches, build_datasets, collate
from artgenre.data.sampler import EvalShardSampler, TrainShardSampler
from artgenre.training.engine import StepContext, evaluate, optimizer_steps, train_one_epoch
from artgenre.errors import CheckpointError, ConfigError
from artgenre.rundir.metrics import MetricsCSV, table_header, table_row
from artgenre.models import build_model, model_schema, model_summary, normalization
from artgenre.training.optim import build_optimizer, build_scheduler
from artgenre.rundir.tensorboard import TensorBoardLog, require_tensorboard

log = logging.getLogger("artgenre")

# checkpoint entries that must agree with the run that resumes from it
COMPATIBILITY_KEYS = ("model", "data.name", "data.image_size", "data.artists", "data.val_fraction", "trainer.seed",
                      "data.source", "data.label", "data.min_images", "data.test_fraction")


@dataclass
class Data:
    train: DeviceBatches  # iterates a DataLoader, yields normalised float batches on the device
    val: DeviceBatches
    train_sampler: TrainShardSampler
    classes: list[str]
    n_train: int
    n_val: int
    train_labels: list[int]


def select_device(name: str, info: distributed.DistInfo) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("trainer.device=cuda but no CUDA device is visible; use trainer.device=cpu")
    if name == "cuda" or (name == "auto" and torch.cuda.is_available()):
        return torch.device("cuda", info.local_rank % torch.cuda.device_count())
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def autocast_for(device: torch.device, setting: str):
    """The autocast context factory ``trainer.precision`` means on ``device``."""
    return precision.resolve(setting, device).autocast_factory


def use_channels_last(setting: Optional[bool], device: torch.device) -> bool:
    """``trainer.channels_last``; unset: on for CUDA, where convolutions (tensor cores) run faster in
    NHWC, off on the CPU, where it measured no faster for ResNet-50 or the ViTs."""
    return device.type == "cuda" if setting is None else bool(setting)


def write_split_csv(path: Path, records, split: list[str]) -> None:
    # surrogateescape: a folder name that is not UTF-8 is written back as its raw bytes
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f)
        w.writerow(["path", "artist", "label", "class_name", "split"])
        for r, s in zip(records, split):
            w.writerow([r.path, r.artist, r.label, r.class_name, s])


class PerClassCSV:
    """val_acc_per_class.csv: one row per epoch, one column of validation accuracy (%) per class."""

    def __init__(self, path: Path, classes: list[str]) -> None:
        self.path, self.classes = path, classes

    def start(self, done_epochs: int) -> None:
        """Keep the rows of the epochs a resumed run already has; drop any a killed run wrote after its checkpoint."""
        rows = []
        if done_epochs and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in list(csv.reader(f))[1:] if r and int(r[0]) <= done_epochs]
        with self.path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([["epoch", *self.classes], *rows])

    def append(self, epoch: int, accs: list[float]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow([epoch, *(f"{a:.4f}" for a in accs)])


def class_weight(cfg: DictConfig, data: Data, device: torch.device) -> Optional[torch.Tensor]:
    weights = loss_weights(cfg.trainer.class_balance, data.train_labels, len(data.classes))
    return None if weights is None else weights.to(device)


def build_loaders(
    cfg: DictConfig, info: distributed.DistInfo, image_set: ImageSet, split: list[str], mean, std, device: torch.device
) -> Data:
    workers, bs = cfg.trainer.num_workers, cfg.trainer.batch_size
    train_ds, val_ds = build_datasets(cfg.data, image_set, split, workers, cfg.trainer.progress)
    sampler = train_sampler(cfg.trainer.class_balance, train_ds.labels, info.rank, info.world_size,
                            cfg.trainer.seed, bs)
    # Persistent workers save their start-up every epoch, but are seeded only once: with random
    # augmentation, workers restarted per epoch draw their seeds from (seed, epoch, rank), which a
    # resumed run repeats exactly. Batches travel as uint8 and become normalised floats on the device.
    persistent = workers > 0 and cfg.data.augment == "none"
    loader = functools.partial(DataLoader, batch_size=bs, num_workers=workers, pin_memory=device.type == "cuda",
                               persistent_workers=persistent, worker_init_fn=preemption.ignore_stop_signals,
                               collate_fn=collate)
    on_device = functools.partial(DeviceBatches, device=device, mean=mean, std=std, normalize=cfg.data.normalize,
                                  channels_last=use_channels_last(cfg.trainer.channels_last, device))
    return Data(
        train=on_device(loader(train_ds, sampler=sampler)),
        val=on_device(loader(val_ds, sampler=EvalShardSampler(len(val_ds), info.rank, info.world_size))),
        train_sampler=sampler,
        classes=image_set.classes,
        n_train=len(train_ds),
        n_val=len(val_ds),
        train_labels=train_ds.labels,
    )


def model_options(cfg: DictConfig) -> dict[str, Any]:
    options = OmegaConf.to_container(cfg.model, resolve=True)
    options.pop("name")
    return options


def resume_path(cfg: DictConfig, run_dir: Path) -> Optional[Path]:
    setting = cfg.trainer.resume
    if setting in (None, "", "none", "null", "false"):
        return None
    if setting == "auto":
        last = run_dir / "checkpoints" / "last.pt"
        return last if last.is_file() else None
    path = Path(setting).expanduser()
    if not path.is_file():
        raise CheckpointError(f"trainer.resume={setting}: no such checkpoint file")
    return path


def split_digest(records, split: list[str]) -> str:
    """A fingerprint of which image is in which split, kept in checkpoints and checked on resume."""
    h = hashlib.sha1()
    for r, s in zip(records, split):
        h.update(f"{r.path}\t{r.label}\t{s}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def warn_changed(saved: DictConfig, cfg: DictConfig) -> None:
    """The optimizer and schedule continue from the checkpoint: say so when the overrides differ."""
    for section in ("optim", "sched"):
        if OmegaConf.select(saved, section) != OmegaConf.select(cfg, section) and distributed.env_info().is_main:
            log.warning(f"resuming: optimizer and schedule state come from the checkpoint, so the changed "
                        f"'{section}' settings of this command may not take effect")


def _model_with_defaults(section: Any) -> Any:
    """A model section with the options added since it was saved set to their defaults."""
    try:
        defaults = dataclasses.asdict(model_schema(section["name"]))
    except (KeyError, TypeError):
        return section
    return OmegaConf.merge(defaults, section)


def check_compatible(saved: DictConfig, cfg: DictConfig, path: Path) -> None:
    for key in COMPATIBILITY_KEYS:
        old, new = OmegaConf.select(saved, key), OmegaConf.select(cfg, key)
        if key == "model":  # a checkpoint from before a model option existed ran with its default
            old, new = _model_with_defaults(old), _model_with_defaults(new)
        if old != new:
            raise CheckpointError(
                f"cannot resume from {path}: it was trained with {key}={old}, this run has {key}={new}. "
                "Start a new run directory (hydra.run.dir=...) or pass trainer.resume=null to start afresh."
            )


def to_sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm as a SyncBatchNorm with the same parameters and state_dict keys, and the same
    forward hooks (ResNet-50's drop path hangs on its bn3 layers; the conversion would drop it)."""
    hooks = {name: dict(m._forward_hooks) for name, m in model.named_modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m._forward_hooks}
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, m in model.named_modules():
        if name in hooks:
            m._forward_hooks.update(hooks[name])
    return model


def place_model(model: nn.Module, cfg: DictConfig, info: distributed.DistInfo, device: torch.device) -> nn.Module:
    """SyncBatchNorm when asked for with several processes; then onto the device, channels-last if asked."""
    if cfg.trainer.sync_bn and info.distributed:
        if device.type != "cuda":
            raise ConfigError("trainer.sync_bn=true needs CUDA devices: PyTorch's SyncBatchNorm does not run on "
                              "the CPU. Pass trainer.sync_bn=false")
        if not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            if info.is_main:
                log.warning(f"trainer.sync_bn=true: model={cfg.model.name} has no BatchNorm layers; nothing to sync")
        else:
            model = to_sync_batchnorm(model)
    model.to(device)
    if use_channels_last(cfg.trainer.channels_last, device):
        model.to(memory_format=torch.channels_last)  # 4-D weights only; the rest is unchanged
    return model


def wrap_for_training(model: nn.Module, cfg: DictConfig, info: distributed.DistInfo, device: torch.device):
    """(the module the training step calls, DDP's no_sync for gradient accumulation).

    Several processes: DDP with gradients as views of its communication buckets (no copy, less
    memory) and a static graph where it is known to hold up: the same parameters are used in
    every step, which lets DDP skip its per-step search for unused ones. Not with accumulation
    (``no_sync`` in the first step fails an internal assertion in torch 2.14) and not with
    torch.compile (the compiler's DDP graph splitting has had open issues with it).
    ``trainer.compile``: torch.compile around that, which falls back to the plain module if
    compiling fails.
    """
    train_model, no_sync = model, contextlib.nullcontext
    if info.distributed:
        ddp = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None, gradient_as_bucket_view=True,
            static_graph=cfg.trainer.accum_steps == 1 and not cfg.trainer.compile,
        )
        train_model, no_sync = ddp, ddp.no_sync
    if cfg.trainer.compile:
        train_model = CompileFallback(train_model, cfg.trainer.compile_mode, cfg.trainer.compile_backend, info.is_main)
    return train_model, no_sync


def accumulation(cfg: DictConfig, info: distributed.DistInfo) -> str:
    k = cfg.trainer.accum_steps
    if k == 1:
        return ""
    return f" x {k} accumulated (effective batch {cfg.trainer.batch_size * k * info.world_size})"


def fit(cfg: DictConfig, run_dir: Path) -> float:
    """Train as configured; return the best validation accuracy (percent)."""
    info = distributed.init()
    device = select_device(cfg.trainer.device, info)
    if device.type == "cpu":
        keep_freed_memory()  # every step's large blocks are reused instead of page-faulted anew
    if cfg.trainer.tensorboard:
        require_tensorboard()  # before any work, on every rank
    if cfg.trainer.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if info.is_main:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)

    image_set, split = index_data(cfg)
    split_id = split_digest(image_set.records, split)
    seed_everything(cfg.trainer.seed)  # same initial weights on every rank (DDP also broadcasts rank 0's)
    model = build_model(cfg.model.name, len(image_set.classes), cfg.data.image_size, **model_options(cfg))
    mean, std = normalization(model)
    data = build_loaders(cfg, info, image_set, split, mean, std, device)
    model = place_model(model, cfg, info, device)
    steps_per_epoch = optimizer_steps(len(data.train), cfg.trainer.accum_steps)

    optimizer = build_optimizer(model, cfg.optim)
    scheduler = build_scheduler(optimizer, cfg.sched, cfg.trainer.epochs, steps_per_epoch)
    numerics = precision.resolve(cfg.trainer.precision, device)
    scaler = numerics.scaler()

    start_epoch, best_acc, best_epoch, history = 0, -1.0, 0, []
    metrics_csv = MetricsCSV(run_dir / "metrics.csv")
    resume = resume_path(cfg, run_dir)
    if resume is not None:
        state = checkpoint.load(resume)
        check_compatible(OmegaConf.create(state["config"]), cfg, resume)
        if state.get("split_digest", split_id) != split_id:
            raise CheckpointError(
                f"cannot resume from {resume}: the images under data.root or their train/val split changed "
                "since it was written, so validation could include images it trained on. Restore the data, "
                "or start a new run directory."
            )
        warn_changed(OmegaConf.create(state["config"]), cfg)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch, best_acc, best_epoch = state["epoch"], state["best_val_acc"], state["best_epoch"]
        # a new process count or batch size changes the steps per epoch: place the schedule at
        # the start of the epoch being resumed, counted in the new steps
        scheduler.last_epoch = start_epoch * (steps_per_epoch if cfg.sched.interval == "step" else 1) - 1
        scheduler.step()
        history = state["history"]
        rngs = state.get("rng", [])
        if len(rngs) == info.world_size:
            checkpoint.set_rng_state(rngs[info.rank])
    per_class_csv = PerClassCSV(run_dir / "val_acc_per_class.csv", data.classes)
    if info.is_main:
        write_split_csv(run_dir / "split.csv", image_set.records, split)
        metrics_csv.rewrite(history)  # a resumed run continues its rows; nothing is repeated
        per_class_csv.start(start_epoch)

    if info.is_main:
        log.info(
            f"{model_summary(model, cfg.model.name, cfg.data.image_size)} | "
            f"{len(data.classes)} classes | device {device} x {info.world_size} process(es), "
            f"batch {cfg.trainer.batch_size} per process{accumulation(cfg, info)} | precision {numerics.name}"
            f"{' | compiled' if cfg.trainer.compile else ''} | train {data.n_train} / val {data.n_val} images | "
            f"run dir {run_dir}"
        )
        if resume is not None:
            log.info(f"resumed from {resume} after epoch {start_epoch}")
    if start_epoch >= cfg.trainer.epochs:
        if info.is_main:
            log.info(f"nothing to do: {start_epoch} of {cfg.trainer.epochs} epochs already finished")
        return best_acc

    train_model, no_sync = wrap_for_training(model, cfg, info, device)
    autocast = numerics.autocast_factory
    ctx = StepContext(
        device=device, autocast=autocast, scaler=scaler, label_smoothing=cfg.trainer.label_smoothing,
        grad_clip=cfg.trainer.grad_clip, step_scheduler=scheduler if cfg.sched.interval == "step" else None,
        stop=preemption.StopCheck(info.world_size, cfg.trainer.stop_check_every),
        class_weight=class_weight(cfg, data, device), accum_steps=cfg.trainer.accum_steps,
        log_every=cfg.trainer.log_every, no_sync=no_sync, params=list(model.parameters()),
    )
    progress = info.is_main and cfg.trainer.progress
    tb = None
    if info.is_main and cfg.trainer.tensorboard:
        tb = TensorBoardLog(run_dir / "tensorboard", first_step=start_epoch * steps_per_epoch,
                            flush_every=cfg.trainer.log_every)
        ctx.on_step = tb.log_step
    if info.is_main:
        log.info(table_header())

    try:
        for epoch in range(start_epoch, cfg.trainer.epochs):
            # each epoch's randomness follows from (seed, epoch, rank) alone, so a resumed run repeats it
            seed_everything(cfg.trainer.seed + 1000 * (epoch + 1) + info.rank)
            data.train_sampler.set_epoch(epoch)
            lr = optimizer.param_groups[0]["lr"]
            tic = time.perf_counter()
            if tb:
                tb.start_epoch(epoch, steps_per_epoch)
            train = train_one_epoch(train_model, data.train, optimizer, ctx, data.train_sampler.num_real, progress,
                                    desc=f"epoch {epoch + 1}/{cfg.trainer.epochs}")
            distributed.broadcast_buffers(model)  # evaluate (and save) rank 0's model on every rank
            val = evaluate(model, data.val, device, len(data.classes), autocast, progress)
            if cfg.sched.interval == "epoch":
                scheduler.step()
            row = {
                "epoch": epoch + 1, "train_loss": train["loss"], "train_acc": train["acc"],
                "val_loss": val["loss"], "val_acc": val["acc"], "val_acc_balanced": val["acc_balanced"],
                "epoch_time_s": time.perf_counter() - tic, "train_time_s": train["seconds"],
                "val_time_s": val["seconds"], "train_data_wait_s": train["data_seconds"], "lr": lr,
                "train_images_per_s": train["n"] / max(train["seconds"], 1e-9),
                "n_train": train["n"], "n_val": val["n"],
            }
            history.append(row)
            improved = val["acc"] > best_acc
            if improved:
                best_acc, best_epoch = val["acc"], epoch + 1
            rngs = distributed.all_gather_object(checkpoint.rng_state())
            if info.is_main:
                state = {
                    "format": checkpoint.FORMAT_VERSION, "epoch": epoch + 1, "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "scaler": scaler.state_dict() if scaler is not None else None,
                    "best_val_acc": best_acc, "best_epoch": best_epoch, "history": history, "rng": rngs,
                    "classes": data.classes, "config": OmegaConf.to_container(cfg, resolve=True),
                "split_digest": split_id,
                }
                last = run_dir / "checkpoints" / "last.pt"
                checkpoint.atomic_save(state, last)
                if improved:
                    checkpoint.atomic_copy(last, run_dir / "checkpoints" / "best.pt")
                metrics_csv.append(row)
                per_class_csv.append(epoch + 1, val["per_class_acc"])
                log.info(table_row(row))
                if tb:
                    tb.log_epoch(row)
            if epoch + 1 < cfg.trainer.epochs and ctx.stop.now():
                raise preemption.StopRequested()  # last.pt already holds this epoch
    finally:  # a stopped run keeps the steps it logged
        if tb:
            tb.close()
    if info.is_main:
        log.info(f"best val acc {best_acc:.2f}% at epoch {best_epoch}; metrics in {run_dir / 'metrics.csv'}")
    return best_acc
