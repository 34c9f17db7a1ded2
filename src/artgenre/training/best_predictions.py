"""The best epoch's validation predictions, per image, into the run directory (val_predictions.csv).

The logits come from the epoch's own validation pass (no second pass); each rank holds those of
its shard, and the gather artgenre-eval uses puts them in data-set order, every image once.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from artgenre.evaluation.predictions import gather_predictions
from artgenre.evaluation.scores import softmax
from artgenre.rundir.predictions import FILE_NAME, write_val_predictions

if TYPE_CHECKING:
    from artgenre.training.setup import Training


def save_best_predictions(t: "Training", logits: torch.Tensor, epoch: int, run_dir: Path) -> None:
    """Gather ``logits`` (this rank's validation shard) on every rank; rank 0 writes the file."""
    rows = [i for i, s in enumerate(t.split) if s == "val"]
    records = [t.image_set.records[i] for i in rows]
    shard = t.data.val.loader.sampler.indices
    local = logits.numpy()
    p = gather_predictions(shard, local, local.argmax(1),
                           [r.path for r in records], [r.label for r in records])
    if t.info.is_main:
        write_val_predictions(run_dir / FILE_NAME, p.paths, p.labels, p.predicted, softmax(p.logits),
                              t.data.classes, epoch)
