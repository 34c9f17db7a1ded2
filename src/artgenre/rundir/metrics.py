"""Per-epoch metrics: metrics.csv and val_acc_per_class.csv (one row per epoch, flushed at once)
and one console table row."""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any, Iterable, Optional

COLUMNS = [
    "epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_acc_balanced",
    "epoch_time_s", "train_time_s", "val_time_s", "train_data_wait_s", "lr", "train_images_per_s", "n_train", "n_val",
]
# columns a run has only with the recipe that fills them (training.recipes): under mixup/CutMix
# what train_acc counts against (dominant_label); with trainer.ema the averaged weights' validation
MIX_COLUMNS = ["train_acc_of"]
EMA_COLUMNS = ["val_loss_ema", "val_acc_ema", "val_acc_balanced_ema"]
TEXT_COLUMNS = {"train_acc_of"}  # the columns that hold words, not numbers

# (column, header, width, format) of the console table
TABLE = [
    ("epoch", "epoch", 6, "{:d}"), ("train_loss", "train loss", 10, "{:.4f}"), ("train_acc", "train acc", 9, "{:.2f}"),
    ("val_loss", "val loss", 9, "{:.4f}"), ("val_acc", "val acc", 8, "{:.2f}"),
    ("val_acc_balanced", "val bal", 8, "{:.2f}"), ("lr", "lr", 9, "{:.2e}"),
    ("epoch_time_s", "time s", 7, "{:.1f}"), ("train_images_per_s", "img/s", 7, "{:.1f}"),
]


class MetricsCSV:
    """metrics.csv in the run folder; each row reaches the disk before the next epoch starts."""

    def __init__(self, path: Path, columns: Optional[list[str]] = None) -> None:
        self.path, self.columns = path, columns or COLUMNS

    def rewrite(self, rows: Iterable[dict[str, Any]]) -> None:
        """Write the header and ``rows`` (the history a resumed run carries in its checkpoint)."""
        tmp = self.path.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def append(self, row: dict[str, Any]) -> None:
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore", lineterminator="\n").writerow(row)
            f.flush()
            os.fsync(f.fileno())


def table_header() -> str:
    return " ".join(f"{title:>{w}}" for _, title, w, _ in TABLE)


def table_row(row: dict[str, Any]) -> str:
    return " ".join(f"{fmt.format(row[key]):>{w}}" for key, _, w, fmt in TABLE)


class PerClassCSV:
    """val_acc_per_class.csv: one row per epoch, one column of validation accuracy (%) per class."""

    def __init__(self, path: Path, classes: list[str]) -> None:
        self.path, self.classes = path, classes

    def start(self, done_epochs: int) -> None:
        """Keep the rows of the epochs a resumed run already has; drop any a killed run wrote after its checkpoint."""
        rows = []
        if done_epochs and self.path.is_file():
            with self.path.open(newline="", encoding="utf-8") as f:
                rows = [r for r in list(csv.reader(f))[1:] if r and int(r[0]) <= done_epochs]
        with self.path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerows([["epoch", *self.classes], *rows])

    def append(self, epoch: int, accs: list[float]) -> None:
        with self.path.open("a", newline="", encoding="utf-8") as f:
            csv.writer(f, lineterminator="\n").writerow([epoch, *(f"{a:.4f}" for a in accs)])
