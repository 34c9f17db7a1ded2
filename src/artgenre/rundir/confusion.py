"""confusion.csv: rows are true classes, columns predicted ones (artgenre-eval writes it, the report reads it)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def write_confusion_csv(path: Path, cm: np.ndarray, classes: list[str]) -> None:
    """Rows: true class, columns: predicted class (artgenre-eval writes it, the report reads it)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, cm.tolist()):
            w.writerow([name, *row])


def read_confusion_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    classes = rows[0][1:]
    return np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64), classes
