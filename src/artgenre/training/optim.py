"""Optimizers and learning-rate schedules by config name.

``adamw`` and ``sgd`` are torch's; the others are timm's (``timm.optim.create_optimizer_v2``).
``optim.layer_decay`` groups the parameters by depth with timm's ``param_groups_layer_decay``
(the model's ``group_matcher``: embeddings first, then each block, the final norm, the head);
group i of n trains at lr * layer_decay ** (n - 1 - i), the head at lr. Groups are ordered
head first, so ``param_groups[0]["lr"]`` (logged as ``lr``) is the base rate.
"""

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


def layer_decay_groups(model: nn.Module, weight_decay: float, layer_decay: float) -> list[dict]:
    """timm's layer-wise groups, each with its ``lr_scale``, the head's (scale 1) first."""
    from timm.optim import param_groups_layer_decay

    skip = list(model.no_weight_decay()) if hasattr(model, "no_weight_decay") else []
    groups = param_groups_layer_decay(model, weight_decay, no_weight_decay_list=skip, layer_decay=layer_decay)
    return sorted(groups, key=lambda g: -g["lr_scale"])


def _timm(name: str, **options: Callable[[DictConfig], object]) -> Callable[[list[dict], DictConfig], torch.optim.Optimizer]:
    def build(groups: list[dict], o: DictConfig) -> torch.optim.Optimizer:
        from timm.optim import create_optimizer_v2

        return create_optimizer_v2(groups, opt=name, lr=o.lr, weight_decay=o.weight_decay,
                                   **{k: f(o) for k, f in options.items()})
    return build


def _betas(o: DictConfig) -> tuple[float, float]:
    return tuple(o.betas)


OPTIMIZERS: dict[str, Callable[[list[dict], DictConfig], torch.optim.Optimizer]] = {
    "adamw": lambda groups, o: torch.optim.AdamW(groups, lr=o.lr, betas=tuple(o.betas), eps=o.eps),
    "sgd": lambda groups, o: torch.optim.SGD(groups, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov),
    "nadamw": _timm("nadamw", betas=_betas, eps=lambda o: o.eps),
    "radam": _timm("radam", betas=_betas, eps=lambda o: o.eps),
    "lamb": _timm("lamb", betas=_betas, eps=lambda o: o.eps),
    "lion": _timm("lion", betas=_betas),
    "rmsprop": _timm("rmsproptf", momentum=lambda o: o.momentum, eps=lambda o: o.eps),
}


def build_optimizer(model: nn.Module, cfg: DictConfig) -> torch.optim.Optimizer:
    layer_decay = getattr(cfg, "layer_decay", None)
    decay_all = bool(getattr(cfg, "decay_all", False))
    if layer_decay is None:
        return OPTIMIZERS[cfg.name](param_groups(model, cfg.weight_decay, decay_all), cfg)
    groups = layer_decay_groups(model, cfg.weight_decay, layer_decay)
    if decay_all:  # the study's decay on every parameter, with each layer's learning rate
        for group in groups:
            group["weight_decay"] = cfg.weight_decay
    optimizer = OPTIMIZERS[cfg.name](groups, cfg)
    for group in optimizer.param_groups:  # torch's schedulers do not read lr_scale: scale the rates once here
        group["lr"] = cfg.lr * group["lr_scale"]
    return optimizer


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
