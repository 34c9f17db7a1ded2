"""val_predictions.csv: the validation predictions of a run's best epoch, one row per image.

Columns: ``path, label, class_name, predicted, predicted_class, correct, epoch`` and one
``p_<k>`` column per class k (softmax probabilities, fractions). Rank 0 writes it, atomically,
whenever an epoch improves on the best validation accuracy, from every rank's predictions
gathered in data-set order, so it holds each validation image exactly once whatever the number
of processes. ``artgenre-report`` reads it to compare runs image by image.
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

FILE_NAME = "val_predictions.csv"
FIXED_COLUMNS = ["path", "label", "class_name", "predicted", "predicted_class", "correct", "epoch"]
_TEXT = dict(encoding="utf-8", errors="surrogateescape")


@dataclass
class ValPredictions:
    paths: list[str]
    labels: np.ndarray  # (N,) int
    predicted: np.ndarray  # (N,) int
    probabilities: np.ndarray  # (N, C) float
    epoch: int
    classes: list[str]

    @property
    def correct(self) -> np.ndarray:
        return (self.labels == self.predicted).astype(np.int64)


def write_val_predictions(path: Path, paths: Sequence[str], labels: np.ndarray, predicted: np.ndarray,
                          probabilities: np.ndarray, classes: Sequence[str], epoch: int) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(FIXED_COLUMNS + [f"p_{k}" for k in range(len(classes))])
    for i, p in enumerate(paths):
        y, y_hat = int(labels[i]), int(predicted[i])
        w.writerow([p, y, classes[y], y_hat, classes[y_hat], int(y == y_hat), epoch,
                    *(f"{v:.6f}" for v in probabilities[i])])
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="", **_TEXT) as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_val_predictions(path: Path) -> ValPredictions:
    with open(path, newline="", **_TEXT) as f:
        rows = list(csv.DictReader(f))
    n_classes = sum(1 for k in (rows[0] if rows else {}) if k.startswith("p_"))
    classes = [""] * n_classes
    for r in rows:
        classes[int(r["label"])] = r["class_name"]
        classes[int(r["predicted"])] = r["predicted_class"]
    return ValPredictions(
        paths=[r["path"] for r in rows],
        labels=np.array([int(r["label"]) for r in rows], dtype=np.int64),
        predicted=np.array([int(r["predicted"]) for r in rows], dtype=np.int64),
        probabilities=np.array([[float(r[f"p_{k}"]) for k in range(n_classes)] for r in rows], dtype=np.float64),
        epoch=int(rows[0]["epoch"]) if rows else 0,
        classes=classes,
    )
