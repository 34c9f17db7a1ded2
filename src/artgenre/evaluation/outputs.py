"""The files of an evaluation folder (``<run dir>/eval_<split>/``): summary.json, per_class.csv,
confusion.csv and .png, predictions.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from artgenre.evaluation.predictions import Predictions
from artgenre.evaluation.scores import softmax
from artgenre.rundir.confusion import write_confusion_csv


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:.4f}"  # NaN (a class with no images or no predictions) -> blank


def write_outputs(out: Path, result: dict[str, Any], p: Predictions, classes: list[str], meta: dict[str, Any]) -> None:
    from artgenre.evaluation.plots import plot_confusion  # matplotlib only when there is something to draw

    out.mkdir(parents=True, exist_ok=True)
    summary = {**meta, **{k: v for k, v in result.items() if k not in ("per_class", "confusion")}, "classes": classes}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (out / "per_class.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["class", "support", "precision", "recall", "f1"])
        for row in result["per_class"]:
            w.writerow([row["class"], row["support"], _fmt(row["precision"]), _fmt(row["recall"]), _fmt(row["f1"])])
    write_confusion_csv(out / "confusion.csv", result["confusion"], classes)
    plot_confusion(result["confusion"], classes, out / "confusion.png",
                   title=f"{meta.get('model', '')} {meta['split']}: top-1 {result['top1']:.2f}%")
    probs = softmax(p.logits) if len(p.labels) else np.zeros((0, len(classes)))
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["path", "true_class", "predicted_class", "probability", "correct"])
        for i, path in enumerate(p.paths):
            y, y_hat = int(p.labels[i]), int(p.predicted[i])
            w.writerow([path, classes[y], classes[y_hat], f"{probs[i, y_hat]:.6f}", int(y == y_hat)])
