"""Noticing a run that diverged, at the end of each epoch, before anything is saved.

The loss sums are all-reduced at the end of the epoch anyway (engine._finish), so a NaN or
infinite loss costs no extra device sync to see, and every rank sees the same value and stops
together. With float16's gradient scaler a diverging run shows as steps skipped again and
again: the scale halves on each one, and a scale below ``MIN_SCALE`` means the gradients
overflow even unscaled. The epoch's row and checkpoints are then never written, so
``last.pt`` and ``best.pt`` keep the last good epoch, and NaN never becomes a best accuracy.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Optional

import torch

from artgenre.errors import ArtgenreError

MIN_SCALE = 1.0  # float16 loss scale below which the steps are being skipped for good


class TrainingDiverged(ArtgenreError):
    """The loss became NaN or infinite (or float16 skipped step after step)."""


def check_epoch(row: Mapping[str, Any], scaler: Optional[torch.amp.GradScaler], lr: float, precision: str) -> None:
    """Raise TrainingDiverged when epoch ``row`` (a metrics row) shows a non-finite loss or a
    float16 loss scale that collapsed; the message names the epoch and the likely causes."""
    epoch = row["epoch"]
    bad = [k for k in ("train_loss", "val_loss") if not math.isfinite(float(row[k]))]
    if scaler is not None and scaler.is_enabled() and scaler.get_scale() < MIN_SCALE:
        bad.append(f"float16 loss scale {scaler.get_scale():.3g} (steps skipped on overflowing gradients)")
    if not bad:
        return
    raise TrainingDiverged(
        f"training diverged in epoch {epoch}: non-finite {', '.join(bad)}. Likely causes: the learning rate "
        f"(optim.lr={lr:g}) is too high, or the precision ({precision}) overflows (try trainer.precision=32 or bf16, "
        f"trainer.grad_clip=1.0). Nothing of epoch {epoch} was saved: checkpoints/last.pt and best.pt hold "
        f"the last good epoch"
    )


def non_finite_weights(state_dict: Mapping[str, Any]) -> list[str]:
    """Names of the floating-point tensors in ``state_dict`` holding NaN or infinity."""
    return [name for name, t in state_dict.items()
            if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all())]


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None, so json.dumps writes valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(v) for v in value]
    return value


def describe_names(names: Iterable[str], limit: int = 3) -> str:
    names = list(names)
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")
