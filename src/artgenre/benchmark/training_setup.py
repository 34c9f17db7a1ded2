"""Model, optimizer and data exactly as artgenre-train builds them for one process, and how long that takes.

The set-up sequence is artgenre-train's own, step by step: index the data, seed and build the
model, build the loaders, place the model, wrap it for training, build the optimizer, resolve
the precision. Each step is a function of :mod:`artgenre.training`; only the timing is added here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from artgenre.data.loading.transforms import AUGMENTATIONS
from artgenre.data.prepare import pixels
from artgenre.models import normalization
from artgenre.runtime import precision
from artgenre.runtime.distributed import DistInfo
from artgenre.training.data import index_data
from artgenre.training.engine import StepContext
from artgenre.training.optim import build_optimizer
from artgenre.training.setup import Data, build_loaders, new_model, place_model, wrap_for_training


@dataclass
class Training:
    """Model, optimizer and data exactly as artgenre-train builds them for one process."""

    cfg: DictConfig
    device: torch.device
    train_model: nn.Module  # compiled when asked; parameters shared with the placed model
    optimizer: torch.optim.Optimizer
    ctx: StepContext
    data: Data
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
    model = new_model(cfg, len(image_set.classes))
    mean, std = normalization(model)
    layout = AUGMENTATIONS[cfg.data.augment].cache_layout
    cache_built = bool(cfg.data.cache and pixels.missing(image_set, cfg.data.image_size, layout, cfg.data.cache_format))
    tic = time.perf_counter()
    data = build_loaders(cfg, info, image_set, split, mean, std, device)
    loaders_seconds = time.perf_counter() - tic
    model = place_model(model, cfg, info, device)
    train_model, _ = wrap_for_training(model, cfg, info, device)
    optimizer = build_optimizer(model, cfg.optim)
    numerics = precision.resolve(cfg.trainer.precision, device)
    ctx = StepContext(device=device, autocast=numerics.autocast_factory, scaler=numerics.scaler(),
                      accum_steps=1, log_every=50, params=list(model.parameters()))
    return Training(cfg, device, train_model, optimizer, ctx, data, image_set, split, mean, std,
                    index_seconds, loaders_seconds, cache_built)
