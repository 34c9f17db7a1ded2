"""Scores of a set of predictions: top-1, top-3, balanced accuracy, per-class precision, recall
and F1, the confusion matrix; and their text for the terminal."""

from __future__ import annotations

from typing import Any

import numpy as np

from artgenre.evaluation.predictions import Predictions


TOP_K = 3


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def summarize(p: Predictions, classes: list[str]) -> dict[str, Any]:
    """Top-1, top-3, balanced accuracy, loss, per-class precision/recall/F1 and the confusion matrix."""
    c = len(classes)
    n = len(p.labels)
    cm = confusion_matrix(p.labels, p.predicted, c)
    correct = int(np.trace(cm))
    k = min(TOP_K, c)  # with fewer than three classes top-3 is every class
    top_k = np.argsort(-p.logits, axis=1, kind="stable")[:, :k]
    support, predicted_count, hits = cm.sum(1), cm.sum(0), np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        precision = np.where(predicted_count > 0, hits / predicted_count, np.nan)
        f1 = np.where(hits > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(support + predicted_count > 0, f1, np.nan)  # a class absent everywhere has no F1
    probs = softmax(p.logits)
    loss = float(-np.log(np.clip(probs[np.arange(n), p.labels], 1e-300, None)).mean()) if n else float("nan")
    present = support > 0
    return {
        "n_images": n,
        "top1": 100.0 * correct / max(n, 1),  # the same float expression as engine.evaluate's
        "top3": 100.0 * float((top_k == p.labels[:, None]).any(1).sum()) / max(n, 1),
        "balanced_acc": 100.0 * float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": 100.0 * float(np.nanmean(f1[present])) if present.any() else 0.0,
        "loss": loss,
        "per_class": [
            {"class": name, "support": int(support[i]), "precision": 100.0 * precision[i],
             "recall": 100.0 * recall[i], "f1": 100.0 * f1[i]}
            for i, name in enumerate(classes)
        ],
        "confusion": cm,
    }


def format_result(result: dict[str, Any], meta: dict[str, Any]) -> str:
    width = max(len(r["class"]) for r in result["per_class"])
    lines = [
        f"{meta['checkpoint']} (epoch {meta['epoch']}), split={meta['split']}: {result['n_images']} images",
        f"top-1 {result['top1']:.2f}%   top-3 {result['top3']:.2f}%   balanced {result['balanced_acc']:.2f}%   "
        f"macro F1 {result['macro_f1']:.2f}%   loss {result['loss']:.4f}",
    ]
    if meta["split"] == "val" and meta.get("recorded_val_acc") is not None:
        weights = "" if meta.get("weights", "raw") == "raw" else f" with its {meta['weights']} weights"
        lines.append(f"(training logged val acc {meta['recorded_val_acc']:.2f}% for this epoch{weights})")
    lines += [
        "",
        f"{'class':<{width}}  {'support':>7}  {'precision':>9}  {'recall':>7}  {'F1':>6}   (%)",
    ]
    for r in result["per_class"]:
        cells = [f"{v:.1f}" if v == v else "-" for v in (r["precision"], r["recall"], r["f1"])]
        lines.append(f"{r['class']:<{width}}  {r['support']:>7}  {cells[0]:>9}  {cells[1]:>7}  {cells[2]:>6}")
    return "\n".join(lines)
