"""Everything a training run is built from, before its first step: loaders, model, optimizer.

``set_up`` runs the sequence ``fit`` and ``artgenre-bench`` share: index and split the data,
seed, build the model, its loaders, place it on the device, its optimizer, schedule and
numeric precision. The pieces stay public for evaluation and tests.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from artgenre.data.loading.balance import loss_weights, train_sampler
from artgenre.data.listing import ImageSet
from artgenre.data.loading.pipeline import DeviceBatches, collate
from artgenre.data.loading.sampler import EvalShardSampler, TrainShardSampler
from artgenre.errors import ConfigError
from artgenre.models import build_model, normalization
from artgenre.rundir.split import split_digest
from artgenre.runtime import distributed, precision, preemption
from artgenre.runtime.compilation import CompileFallback
from artgenre.runtime.device import seed_everything, use_channels_last
from artgenre.training.data import index_data, open_datasets
from artgenre.training.engine import optimizer_steps
from artgenre.training.optim import build_optimizer, build_scheduler

log = logging.getLogger("artgenre")


@dataclass
class Data:
    train: DeviceBatches  # iterates a DataLoader, yields normalised float batches on the device
    val: DeviceBatches
    train_sampler: TrainShardSampler
    classes: list[str]
    n_train: int
    n_val: int
    train_labels: list[int]


@dataclass
class Training:
    """A training run as set up: what the epoch loop, resume and saving work on."""

    info: distributed.DistInfo
    device: torch.device
    image_set: ImageSet
    split: list[str]
    split_id: str  # rundir.split.split_digest of (image_set, split)
    model: nn.Module  # the plain module (its state_dict is what checkpoints hold)
    data: Data
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    numerics: precision.Precision
    scaler: Optional[torch.amp.GradScaler]
    steps_per_epoch: int
    # what the training step calls (DDP- and compile-wrapped) and DDP's no_sync: set by wrap_for_training
    train_model: Optional[nn.Module] = None
    no_sync: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext
    recipes: Any = None  # training.recipes.Recipes: set by fit


def class_weight(cfg: DictConfig, data: Data, device: torch.device) -> Optional[torch.Tensor]:
    weights = loss_weights(cfg.trainer.class_balance, data.train_labels, len(data.classes))
    return None if weights is None else weights.to(device)


def build_loaders(
    cfg: DictConfig, info: distributed.DistInfo, image_set: ImageSet, split: list[str], mean, std, device: torch.device
) -> Data:
    workers, bs = cfg.trainer.num_workers, cfg.trainer.batch_size
    train_ds, val_ds = open_datasets(cfg.data, image_set, split, workers, cfg.trainer.progress)
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


def new_model(cfg: DictConfig, num_classes: int) -> nn.Module:
    """The configured model with the run's seeded initial weights (the same on every rank; DDP also
    broadcasts rank 0's), not yet placed on a device."""
    seed_everything(cfg.trainer.seed)
    return build_model(cfg.model.name, num_classes, cfg.data.image_size, **model_options(cfg))


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


def wrap_for_training(
    model: nn.Module, cfg: DictConfig, info: distributed.DistInfo, device: torch.device
) -> tuple[nn.Module, Callable[[], contextlib.AbstractContextManager]]:
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


def set_up(cfg: DictConfig, info: distributed.DistInfo, device: torch.device) -> Training:
    """Data, model, loaders, optimizer, schedule and precision, as every training run builds them."""
    image_set, split = index_data(cfg)
    model = new_model(cfg, len(image_set.classes))
    mean, std = normalization(model)
    data = build_loaders(cfg, info, image_set, split, mean, std, device)
    model = place_model(model, cfg, info, device)
    steps_per_epoch = optimizer_steps(len(data.train), cfg.trainer.accum_steps)
    optimizer = build_optimizer(model, cfg.optim)
    numerics = precision.resolve(cfg.trainer.precision, device)
    return Training(
        info=info, device=device, image_set=image_set, split=split, split_id=split_digest(image_set.records, split),
        model=model, data=data, optimizer=optimizer,
        scheduler=build_scheduler(optimizer, cfg.sched, cfg.trainer.epochs, steps_per_epoch),
        numerics=numerics, scaler=numerics.scaler(), steps_per_epoch=steps_per_epoch,
    )
