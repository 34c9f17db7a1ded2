"""Knowledge distillation: a trained artgenre checkpoint teaches the model being trained.

The teacher is rebuilt from its checkpoint as artgenre-eval rebuilds it (its weights as
``trainer.ema.select`` chose them), kept in eval mode with no gradients, and fed the student's
own batch (after mixing and erasing) in the student's precision (it runs inside the same
autocast). Only the normalisation is translated when the two were trained with different
mean/std, and the size when their image sizes differ. Its classes must be the student's,
in the same order.

Per image, loss = (1 - alpha) * label loss + alpha * distillation loss, with
  soft: T^2 * KL(softmax(teacher / T) || softmax(student / T))   (Hinton et al. 2015)
  hard: cross-entropy against the teacher's top class          (DeiT's hard distillation)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from torch import Tensor, nn

from artgenre.errors import CheckpointError


def soft_distillation(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """Per image: T^2 * KL(p_teacher || p_student), both softened by T."""
    log_p_student = F.log_softmax(student / temperature, dim=1)
    log_p_teacher = F.log_softmax(teacher / temperature, dim=1)
    kl = (log_p_teacher.exp() * (log_p_teacher - log_p_student)).sum(1)
    return kl * temperature**2


def hard_distillation(student: Tensor, teacher: Tensor, temperature: float) -> Tensor:
    """Per image: cross-entropy of the student against the teacher's top class (T unused)."""
    return F.cross_entropy(student, teacher.argmax(1), reduction="none")


DISTILL_KINDS: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {
    "soft": soft_distillation,
    "hard": hard_distillation,
}


def distillation_loss(label_loss: Tensor, student: Tensor, teacher: Tensor, kind: str, alpha: float,
                      temperature: float) -> Tensor:
    """Per image: (1 - alpha) * label_loss + alpha * the ``kind`` distillation loss."""
    return (1.0 - alpha) * label_loss + alpha * DISTILL_KINDS[kind](student, teacher, temperature)


class Teacher(nn.Module):
    """A frozen network that takes the student's inputs (its normalisation and size translated)."""

    def __init__(self, model: nn.Module, scale: Tensor, shift: Tensor, image_size: int, student_size: int) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.register_buffer("scale", scale, persistent=False)
        self.register_buffer("shift", shift, persistent=False)
        self.translate = not (torch.all(scale == 1) and torch.all(shift == 0))
        self.resize = image_size != student_size
        self.image_size = image_size

    def train(self, mode: bool = True) -> "Teacher":
        return super().train(False)  # always in eval mode: BatchNorm statistics and dropout as at its end

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        if self.translate:
            images = images * self.scale + self.shift
        if self.resize:
            images = F.interpolate(images, size=(self.image_size, self.image_size), mode="bilinear",
                                   antialias=True, align_corners=False)
        return self.model(images)


def _affine(normalize: bool, mean: Sequence[float], std: Sequence[float]) -> tuple[Tensor, Tensor]:
    """(a, b) with model input = a * pixel + b, pixel in [0, 1]."""
    mean_t = torch.tensor(mean if normalize else (0.0, 0.0, 0.0), dtype=torch.float64).view(1, 3, 1, 1)
    std_t = torch.tensor(std if normalize else (1.0, 1.0, 1.0), dtype=torch.float64).view(1, 3, 1, 1)
    return 1.0 / std_t, -mean_t / std_t


def load_teacher(path: str, student_cfg: DictConfig, classes: list[str], student_norm: tuple, device: torch.device
                 ) -> Teacher:
    """The teacher of ``trainer.distill.teacher``, on ``device``; refused when its classes differ."""
    from artgenre.evaluation.restore import model_from_checkpoint, training_config
    from artgenre.models import normalization
    from artgenre.rundir import checkpoint

    state = checkpoint.load(Path(path).expanduser())
    if list(state["classes"]) != list(classes):
        raise CheckpointError(
            f"trainer.distill.teacher={path} was trained on the classes {list(state['classes'])}, this run has "
            f"{list(classes)}: a teacher must know the student's classes in the same order. Train the teacher "
            "on the same data and data.label (or pass another checkpoint)")
    cfg = training_config(state)
    model = model_from_checkpoint(state, cfg, device)
    a_t, b_t = _affine(bool(cfg.data.normalize), *normalization(model))
    a_s, b_s = _affine(bool(student_cfg.data.normalize), *student_norm)
    # student input x = a_s p + b_s  ->  teacher input a_t p + b_t = (a_t / a_s) x + (b_t - a_t b_s / a_s)
    scale, shift = a_t / a_s, b_t - a_t * b_s / a_s
    return Teacher(model, scale.float(), shift.float(), int(cfg.data.image_size),
                   int(student_cfg.data.image_size)).to(device)


def teacher_path(cfg: DictConfig) -> str | None:
    return OmegaConf.select(cfg, "trainer.distill.teacher", default=None)
