"""Optimizers and learning-rate schedules by config name."""

from __future__ import annotations

import math
from typing import Callable

import torch
from omegaconf import DictConfig
from torch import nn


def param_groups(model: nn.Module, weight_decay: float, decay_all: bool = False) -> list[dict]:
    """Decay weight matrices only: biases, norm scales, class token and position embeddings are exempt.

    ``decay_all``: every parameter is decayed (the study's code); the exempt group stays, empty,
    so the optimizer's state has the same two groups either way.
    """
    skip = set(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else set()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.ndim <= 1 or name in skip or name.endswith(("cls_token", "pos_embed")) or "pos_embed" in name
        (no_decay if exempt and not decay_all else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


OPTIMIZERS: dict[str, Callable[[list[dict], DictConfig], torch.optim.Optimizer]] = {
    "adamw": lambda groups, o: torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps),
    "sgd": lambda groups, o: torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov),
}


def build_optimizer(model: nn.Module, cfg: DictConfig) -> torch.optim.Optimizer:
    return OPTIMIZERS[cfg.name](param_groups(model, cfg.weight_decay, cfg.decay_all), cfg)


def _constant(progress: float) -> float:
    return 1.0


def _cosine(progress: float) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


SHAPES: dict[str, Callable[[float], float]] = {"constant": _constant, "cosine": _cosine}


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: DictConfig, epochs: int, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup, then the named shape down to ``min_lr``; stepped per step or per epoch."""
    per_step = cfg.interval == "step"
    units = steps_per_epoch if per_step else 1
    total, warmup = epochs * units, cfg.warmup_epochs * units
    base_lr = optimizer.param_groups[0]["lr"]
    floor = cfg.min_lr / base_lr if base_lr > 0 else 0.0
    shape = SHAPES[cfg.name]

    def factor(t: int) -> float:
        if t < warmup:
            return (t + 1) / (warmup + 1)
        progress = (t - warmup) / max(1.0, total - warmup)
        return floor + (1.0 - floor) * shape(progress)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
