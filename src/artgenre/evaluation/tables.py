"""The report's tables: runs labelled, the study's per-epoch tables, one summary row per run,
as Markdown and CSV."""

from __future__ import annotations

import csv
import html
import math
import os
import re
from pathlib import Path
from typing import Any, Optional

import numpy as np

from artgenre.rundir.runs import Run


# (metrics.csv column, file stem, title, decimals in Markdown)
STUDY_TABLES = [
    ("train_acc", "train_acc", "Training accuracy (%) — the study's Figure 7", 2),
    ("val_acc", "val_acc", "Validation accuracy (%) — the study's Figure 8", 2),
    # the training loop alone, as the study timed it (epoch_time_s adds validation and saving)
    ("train_time_s", "epoch_time", "Epoch time (s), the training loop — the study's Figure 9", 1),
]


SUMMARY_COLUMNS = [
    # (key, header, decimals in Markdown; None: as is)
    ("label", "run", None), ("model", "model", None), ("epochs", "epochs", None),
    ("best_val_acc", "best val acc (%)", 2), ("best_epoch", "best epoch", None),
    ("best_val_acc_balanced", "balanced val acc at best (%)", 2),
    ("final_train_acc", "final train acc (%)", 2), ("final_val_acc", "final val acc (%)", 2),
    ("mean_epoch_time_s", "mean epoch time (s)", 1), ("train_images_per_s", "train images/s", 1),
    ("parameters", "parameters", None),
]


def count_parameters(config: Optional[dict[str, Any]], num_classes: Optional[int]) -> Optional[int]:
    """Trainable-parameter count of the run's model, built (without weights) from its config."""
    if not config or not num_classes or "model" not in config:
        return None
    import torch

    from artgenre.models import build_model

    # the architecture alone: loading the run's pretrained file would only cost time (or fail elsewhere)
    options = {k: v for k, v in config["model"].items() if k not in ("name", "pretrained")}
    image_size = int(config.get("data", {}).get("image_size", 224))
    try:
        with torch.device("meta"):  # no memory and no initialisation, where the model allows it
            model = build_model(config["model"]["name"], num_classes, image_size, **options)
    except Exception:
        try:
            model = build_model(config["model"]["name"], num_classes, image_size, **options)
        except Exception:  # a model no longer registered, or options it no longer takes
            return None
    return sum(p.numel() for p in model.parameters())


def plain_text(text: str, limit: int = 120) -> str:
    """One line of text: control characters (newlines) and '$' (matplotlib's math mode) removed, cut to ``limit``."""
    text = re.sub(r"[\x00-\x1f\x7f$]+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def md_text(text: Any) -> str:
    """``text`` shown literally in Markdown: HTML escaped, Markdown's special characters backslashed
    (an underscore only where it could open or close emphasis: inside a word, as in vit_scratch, it cannot)."""
    escaped = re.sub(r"([\\`*\[\]|!#~])", r"\\\1", html.escape(plain_text(str(text), 10_000), quote=False))
    return re.sub(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])", r"\\_", escaped)


def csv_text(text: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def assign_labels(runs: list[Run]) -> None:
    """Each run is labelled by its model; runs of the same model add their folder, then its path."""
    for run in runs:
        run.label = plain_text(run.model)
    for make in (lambda r: plain_text(f"{r.model} ({r.path.name})"),
                 lambda r: plain_text(f"{r.model} ({_relative(r.path, runs)})", 400)):
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.label] = counts.get(run.label, 0) + 1
        for run in runs:
            if counts[run.label] > 1:
                run.label = make(run)
    seen: dict[str, int] = {}
    for run in runs:  # a last resort: two runs whose paths still read the same
        seen[run.label] = seen.get(run.label, 0) + 1
        if seen[run.label] > 1:
            run.label = f"{run.label} #{seen[run.label]}"


def _relative(path: Path, runs: list[Run]) -> str:
    common = Path(os.path.commonpath([str(r.path.resolve()) for r in runs]))
    return str(path.resolve().relative_to(common)) if len(runs) > 1 else path.name


def report_epochs(runs: list[Run], every: int) -> list[int]:
    """every, 2*every, ... up to the longest run; the last epoch if no run reached ``every``."""
    last = max((int(r.rows[-1]["epoch"]) for r in runs if r.rows), default=0)
    epochs = list(range(every, last + 1, every))
    return epochs or ([last] if last else [])


def study_table(runs: list[Run], key: str, epochs: list[int]) -> list[list[Optional[float]]]:
    """Rows: epochs; columns: runs; None where a run has no such epoch (yet)."""
    columns = [r.column(key) for r in runs]
    return [[col.get(e) for col in columns] for e in epochs]


def summarize_run(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {"label": run.label, "model": run.model, "epochs": len(run.rows),
                           "parameters": run.parameters, "run_dir": str(run.path)}
    val = run.column("val_acc")
    if val:
        best_epoch = max(val, key=lambda e: (val[e], -e))  # the first epoch with the best value, as training keeps
        out.update(best_val_acc=val[best_epoch], best_epoch=best_epoch,
                   best_val_acc_balanced=run.column("val_acc_balanced").get(best_epoch))
    if run.rows:
        last = run.rows[-1]
        out.update(final_train_acc=last.get("train_acc"), final_val_acc=last.get("val_acc"))
        times = list(run.column("epoch_time_s").values())
        out["mean_epoch_time_s"] = float(np.mean(times)) if times else None
        speeds = list(run.column("train_images_per_s").values())
        out["train_images_per_s"] = float(np.mean(speeds)) if speeds else None
    return out


def _md_cell(value: Any, decimals: Optional[int]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if decimals is not None and isinstance(value, (int, float)):
        return f"{value:.{decimals}f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value:,}"
    return md_text(value)


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else csv_text(str(value))


def markdown_table(header: list[str], rows: list[list[Any]], decimals: list[Optional[int]]) -> str:
    def numeric(i: int) -> bool:
        return all(isinstance(row[i], (int, float)) for row in rows if row[i] is not None)

    align = ["---:" if numeric(i) else "---" for i in range(len(header))]  # numbers right, names left
    lines = ["| " + " | ".join(md_text(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(v, d) for v, d in zip(row, decimals)) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow([csv_text(h) for h in header])
        w.writerows([[_csv_cell(v) for v in row] for row in rows])


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def verdict(summaries: list[dict[str, Any]]) -> list[str]:
    scored = [s for s in summaries if s.get("best_val_acc") is not None]
    if not scored:
        return ["No run has finished an epoch yet."]
    best = max(scored, key=lambda s: s["best_val_acc"])
    return [f"Highest validation accuracy: **{md_text(best['label'])}**, {best['best_val_acc']:.2f}% "
            f"at epoch {best['best_epoch']}."]
