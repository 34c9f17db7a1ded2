"""The small-data recipes of a run, built from its config in one place (docs/recipes.md).

* :class:`BatchRecipe`, what the training step does to a batch and its loss: random erasing
  and mixup/CutMix of the inputs (training.mixing) and distillation from a teacher
  (training.distill). None when all are off: the step is then the plain cross-entropy one.
* an average of the weights (training.ema), evaluated every epoch beside the raw weights;
* early stopping (training.early_stopping) on the accuracy that chooses best.pt.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import Tensor

from artgenre.models import normalization
from artgenre.rundir.metrics import EMA_COLUMNS, MIX_COLUMNS
from artgenre.runtime import distributed
from artgenre.training import early_stopping
from artgenre.training.distill import Teacher, distillation_loss, load_teacher
from artgenre.training.ema import WeightAverage
from artgenre.training.mixing import Mixer, random_erasing

log = logging.getLogger("artgenre")


@dataclass
class BatchRecipe:
    mixer: Optional[Mixer] = None
    eraser: Optional[Any] = None  # timm RandomErasing
    teacher: Optional[Teacher] = None
    distill: Optional[DictConfig] = None  # trainer.distill

    def prepare(self, images: Tensor, labels: Tensor) -> tuple[Tensor, Optional[Tensor]]:
        """(the images the model sees, soft targets or None for the plain labels)."""
        if self.eraser is not None:
            images = self.eraser(images)
        if self.mixer is None:
            return images, None
        images, targets, _ = self.mixer(images, labels)
        return images, targets

    def losses(self, logits: Tensor, images: Tensor, labels: Tensor, targets: Optional[Tensor],
               class_weight: Optional[Tensor], label_smoothing: float) -> Tensor:
        """Per-image loss: cross-entropy against the (mixed) targets, blended with the teacher's."""
        loss = F.cross_entropy(logits.float(), labels if targets is None else targets, weight=class_weight,
                               label_smoothing=label_smoothing, reduction="none")
        if self.teacher is None:
            return loss
        d = self.distill
        return distillation_loss(loss, logits.float(), self.teacher(images).float(), d.kind, float(d.alpha),
                                 float(d.temperature))

    @staticmethod
    def scored_labels(labels: Tensor, targets: Optional[Tensor]) -> Tensor:
        """What train accuracy counts a prediction against: the label, or a mix's dominant label."""
        return labels if targets is None else targets.argmax(1)


@dataclass
class Recipes:
    batch: Optional[BatchRecipe] = None
    ema: Optional[WeightAverage] = None
    monitor: str = "val_acc"  # what chooses best.pt and early stopping watches
    patience: int = 0
    min_delta: float = 0.0

    @property
    def mixes(self) -> bool:
        return self.batch is not None and self.batch.mixer is not None

    @property
    def columns(self) -> list[str]:
        """The metrics.csv columns these recipes add."""
        return (MIX_COLUMNS if self.mixes else []) + (EMA_COLUMNS if self.ema is not None else [])

    def train_columns(self) -> dict[str, str]:
        """Under mixing, train_acc counts a prediction against the mixed image's dominant label."""
        return {"train_acc_of": "dominant_label"} if self.mixes else {}

    def evaluate_ema(self, evaluate, loader, device: torch.device, num_classes: int, autocast, progress: bool,
                     keep_logits: bool = False) -> dict[str, Any]:
        """The averaged weights' validation columns (empty without trainer.ema); ``keep_logits``: also
        this rank's logits as ``_logits`` (for val_predictions.csv when best.pt holds these weights)."""
        if self.ema is None:
            return {}
        distributed.broadcast_buffers(self.ema.module)
        val = evaluate(self.ema.module, loader, device, num_classes, autocast, progress, keep_logits=keep_logits)
        out = {"val_loss_ema": val["loss"], "val_acc_ema": val["acc"], "val_acc_balanced_ema": val["acc_balanced"]}
        if keep_logits:
            out["_logits"] = val["logits"]
        return out

    def state_dict(self) -> dict[str, Any]:
        return self.ema.state_dict() if self.ema is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.ema is not None and not self.ema.load_state_dict(state) and distributed.env_info().is_main:
            log.warning("trainer.ema: the checkpoint holds no averaged weights; the average starts from its weights")

    def early_stop(self, history: list[dict[str, Any]], run_dir: Path, is_main: bool) -> bool:
        stop = early_stopping.check(history, self.monitor, self.patience, self.min_delta)
        if stop is not None and is_main:
            early_stopping.record(run_dir, stop)
            log.info(f"early stopping after epoch {stop.stopped_after_epoch}: {stop.reason}")
        return stop is not None


def build_recipes(cfg: DictConfig, model: torch.nn.Module, classes: list[str], device: torch.device) -> Recipes:
    """The recipes ``cfg`` turns on, for ``model`` (placed on ``device``) and its ``classes``."""
    t = cfg.trainer
    batch = BatchRecipe(
        mixer=Mixer(t.mix, len(classes)) if t.mix.mixup_alpha > 0 or t.mix.cutmix_alpha > 0 else None,
        eraser=random_erasing(cfg.data.random_erasing, device),
        teacher=load_teacher(t.distill.teacher, cfg, classes, normalization(model), device)
        if t.distill.teacher else None,
        distill=t.distill,
    )
    use_ema = bool(t.ema.enabled)
    return Recipes(
        batch=batch if any(x is not None for x in (batch.mixer, batch.eraser, batch.teacher)) else None,
        ema=WeightAverage(model, t.ema) if use_ema else None,
        monitor="val_acc_ema" if use_ema and t.ema.select == "ema" else "val_acc",
        patience=int(t.early_stopping.patience), min_delta=float(t.early_stopping.min_delta),
    )
