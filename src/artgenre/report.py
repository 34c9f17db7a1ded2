"""Entry point ``artgenre-report RUN_OR_SWEEP_DIR... [-o OUT] [--every 10]``: the study's tables and plots.

Finds every run below the given folders (a run = a folder with a metrics.csv) and writes
into OUT:

- ``train_acc``, ``val_acc``, ``epoch_time`` (.md and .csv): the study's Figures 7, 8 and 9,
  the value at epochs 10, 20, ... (``--every``), one column per run labelled by its model;
- ``summary`` (.md and .csv): per run best val accuracy and its epoch, final accuracies,
  mean epoch time, training images per second, parameter count;
- ``accuracy.png``, ``loss.png``, ``epoch_time.png`` and ``confusion_<run>.png`` for each run
  that ``artgenre-eval`` has evaluated;
- ``report.md``, which embeds all of them (relative links, so it renders on GitHub).

Runs of different lengths, or still running, leave the epochs they lack blank.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from artgenre import launch
from artgenre.rundir import checkpoint
from artgenre.errors import ArtgenreError, DataError

# (metrics.csv column, file stem, title, decimals in Markdown)
STUDY_TABLES = [
    ("train_acc", "train_acc", "Training accuracy (%) — the study's Figure 7", 2),
    ("val_acc", "val_acc", "Validation accuracy (%) — the study's Figure 8", 2),
    ("epoch_time_s", "epoch_time", "Epoch time (s) — the study's Figure 9", 1),
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


@dataclass
class Run:
    path: Path
    rows: list[dict[str, float]]  # metrics.csv, one dict per epoch, numbers only
    config: Optional[dict[str, Any]] = None
    num_classes: Optional[int] = None
    label: str = ""
    parameters: Optional[int] = None
    confusion: Optional[Path] = None  # an artgenre-eval confusion.csv

    @property
    def model(self) -> str:
        model = (self.config or {}).get("model") or {}
        name = model.get("name", "?")
        return f"timm:{model['arch']}" if name == "timm" and model.get("arch") else name

    def column(self, key: str) -> dict[int, float]:
        return {int(r["epoch"]): r[key] for r in self.rows if key in r and not math.isnan(r[key])}


# ---------------------------------------------------------------- finding and reading runs


def find_runs(dirs: Sequence[str | Path]) -> list[Path]:
    """Run folders: each given folder that holds metrics.csv, else every such folder below it."""
    found: list[Path] = []
    for d in dirs:
        d = Path(d).expanduser()
        if not d.is_dir():
            raise DataError(f"{d} is not a folder; pass run folders or sweep folders (that hold run folders)")
        runs = [d] if (d / "metrics.csv").is_file() else sorted(p.parent for p in d.rglob("metrics.csv"))
        if not runs:
            raise DataError(f"no run below {d}: no metrics.csv found (is this a training output folder?)")
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    return found


def read_metrics(path: Path) -> list[dict[str, float]]:
    """metrics.csv as numbers; a row a still-running training is writing (cut short) is skipped."""
    rows: list[dict[str, float]] = []
    with path.open(newline="") as f:
        for raw in csv.DictReader(f):
            if None in raw.values() or None in raw:  # fewer or more fields than the header: a torn row
                continue
            try:
                row = {k: float(v) if v != "" else math.nan for k, v in raw.items()}
                row["epoch"] = int(row["epoch"])
            except (TypeError, ValueError, KeyError):
                continue
            rows.append(row)
    by_epoch = {r["epoch"]: r for r in rows}  # a resumed run may repeat an epoch: the later row counts
    return [by_epoch[e] for e in sorted(by_epoch)]


def _load_checkpoint(run_dir: Path) -> Optional[dict[str, Any]]:
    import torch

    for name in ("best.pt", "last.pt"):
        path = run_dir / "checkpoints" / name
        if path.is_file():
            try:  # mmap: only the parts read (config, class names) come off the disk
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except Exception:  # a checkpoint being replaced or damaged: the run is still reported
                continue
    return None


def read_run(run_dir: Path) -> Run:
    from omegaconf import OmegaConf

    run = Run(path=run_dir, rows=read_metrics(run_dir / "metrics.csv"))
    state = _load_checkpoint(run_dir)
    hydra_config = run_dir / ".hydra" / "config.yaml"
    if hydra_config.is_file():
        run.config = OmegaConf.to_container(OmegaConf.load(hydra_config), resolve=False)
    elif state is not None:
        run.config = state.get("config")
    if isinstance(run.config, dict):
        checkpoint.upgrade_config(run.config)  # options renamed since the run, e.g. model.drop_path_rate
    if state is not None and state.get("classes"):
        run.num_classes = len(state["classes"])
    else:
        run.num_classes = _classes_from_split_csv(run_dir / "split.csv")
    run.parameters = count_parameters(run.config, run.num_classes)
    run.confusion = _eval_confusion(run_dir)
    return run


def _classes_from_split_csv(path: Path) -> Optional[int]:
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        labels = {int(row["label"]) for row in csv.DictReader(f) if row.get("label", "").isdigit()}
    return max(labels) + 1 if labels else None


def _eval_confusion(run_dir: Path) -> Optional[Path]:
    """The run's artgenre-eval confusion matrix: of the val split if there is one, else any."""
    found = sorted(run_dir.glob("eval_*/confusion.csv"))
    preferred = [p for p in found if p.parent.name == "eval_val"]
    return (preferred or found or [None])[0]


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


def assign_labels(runs: list[Run]) -> None:
    """Each run is labelled by its model; runs of the same model add their folder, then its path."""
    for run in runs:
        run.label = run.model
    for make in (lambda r: f"{r.model} ({r.path.name})", lambda r: f"{r.model} ({_relative(r.path, runs)})"):
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


# ---------------------------------------------------------------- tables


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
    return str(value).replace("|", "\\|")


def _csv_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def markdown_table(header: list[str], rows: list[list[Any]], decimals: list[Optional[int]]) -> str:
    def numeric(i: int) -> bool:
        return all(isinstance(row[i], (int, float)) for row in rows if row[i] is not None)

    align = ["---:" if numeric(i) else "---" for i in range(len(header))]  # numbers right, names left
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(v, d) for v, d in zip(row, decimals)) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows([[_csv_cell(v) for v in row] for row in rows])


# ---------------------------------------------------------------- plots


def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # the object API: no pyplot state, no display needed

    return Figure(figsize=(width, height), layout="constrained")


def _colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def plot_curves(runs: list[Run], keys: tuple[str, str], ylabel: str, path: Path) -> None:
    """Two panels (train, val), one line per run, same colour for a run in both."""
    fig = _figure(11, 4.2)
    axes = fig.subplots(1, 2, sharey=True)
    for run, color in zip(runs, _colors(len(runs))):
        for ax, key in zip(axes, keys):
            col = run.column(key)
            if col:
                ax.plot(list(col), list(col.values()), color=color, label=run.label,
                        marker="o" if len(col) < 15 else None, markersize=3)
    from matplotlib.ticker import MaxNLocator

    for ax, key in zip(axes, keys):
        ax.set_title(key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    axes[1].legend(fontsize="small", loc="best")
    fig.savefig(path, dpi=110)


def plot_epoch_times(runs: list[Run], path: Path) -> None:
    """Mean epoch time per run, with the spread over epochs (min to max)."""
    fig = _figure(max(5.0, 1.1 * len(runs) + 2), 4.2)
    ax = fig.subplots()
    labels, means, low, high = [], [], [], []
    for run in runs:
        times = list(run.column("epoch_time_s").values())
        if times:
            labels.append(run.label)
            means.append(float(np.mean(times)))
            low.append(means[-1] - min(times))
            high.append(max(times) - means[-1])
    x = np.arange(len(labels))
    bars = ax.bar(x, means, yerr=[low, high], capsize=4, color=_colors(len(labels)))
    # inside the bars, clear of the whiskers
    ax.bar_label(bars, labels=[f"{m:.1f} s" for m in means], label_type="center", fontsize="small")
    ax.set_xticks(x, labels, rotation=20 if len(labels) > 3 else 0, ha="right" if len(labels) > 3 else "center")
    ax.set_ylabel("mean epoch time (s)")
    ax.set_title("epoch time (bars: mean, whiskers: min to max)")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)


def plot_confusion(cm: np.ndarray, classes: list[str], path: Path, title: str = "") -> None:
    """Counts in the cells, colour by the share of the true class (row), so small classes show too."""
    n = len(classes)
    size = max(5.0, 0.55 * n + 3)
    fig = _figure(size + 1, size)
    ax = fig.subplots()
    totals = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, totals, out=np.zeros(cm.shape, dtype=float), where=totals > 0)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize="small",
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(n), classes, rotation=45, ha="right", fontsize="small")
    ax.set_yticks(range(n), classes, fontsize="small")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    fig.savefig(path, dpi=110)


def write_confusion_csv(path: Path, cm: np.ndarray, classes: list[str]) -> None:
    """Rows: true class, columns: predicted class (artgenre-eval writes it, the report reads it)."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["true \\ predicted", *classes])
        for name, row in zip(classes, cm.tolist()):
            w.writerow([name, *row])


def read_confusion_csv(path: Path) -> tuple[np.ndarray, list[str]]:
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    classes = rows[0][1:]
    return np.array([[int(v) for v in r[1:]] for r in rows[1:]], dtype=np.int64), classes


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


# ---------------------------------------------------------------- the report


def write_report(run_dirs: Sequence[str | Path], out: Path, every: int = 10) -> Path:
    """Read the runs, write tables, plots and report.md into ``out``; return report.md's path."""
    if every < 1:
        raise ArtgenreError(f"--every {every}: must be 1 or more")
    runs = [read_run(d) for d in find_runs(run_dirs)]
    assign_labels(runs)
    out.mkdir(parents=True, exist_ok=True)
    labels = [r.label for r in runs]
    epochs = report_epochs(runs, every)
    md: list[str] = ["# Training report", "", f"{len(runs)} run(s):", ""]
    md += [f"- **{r.label}**: `{r.path}` ({len(r.rows)} epoch(s))" for r in runs]

    summaries = [summarize_run(r) for r in runs]
    header = [h for _, h, _ in SUMMARY_COLUMNS]
    rows = [[s.get(k) for k, _, _ in SUMMARY_COLUMNS] for s in summaries]
    write_csv(out / "summary.csv", header + ["run dir"], [row + [s["run_dir"]] for row, s in zip(rows, summaries)])
    summary_md = markdown_table(header, rows, [d for _, _, d in SUMMARY_COLUMNS])
    (out / "summary.md").write_text(summary_md + "\n")
    md += ["", "## Summary", "", summary_md, "", *_verdict(summaries)]

    for key, stem, title, decimals in STUDY_TABLES:
        values = study_table(runs, key, epochs)
        table_rows = [[e, *row] for e, row in zip(epochs, values)]
        write_csv(out / f"{stem}.csv", ["epoch", *labels], table_rows)
        table_md = markdown_table(["epoch", *labels], table_rows, [None] + [decimals] * len(labels))
        (out / f"{stem}.md").write_text(table_md + "\n")
        md += ["", f"## {title}", "", table_md]

    plot_curves(runs, ("train_acc", "val_acc"), "accuracy (%)", out / "accuracy.png")
    plot_curves(runs, ("train_loss", "val_loss"), "cross-entropy loss", out / "loss.png")
    plot_epoch_times(runs, out / "epoch_time.png")
    md += ["", "## Curves", "", "![accuracy](accuracy.png)", "", "![loss](loss.png)",
           "", "## Epoch time", "", "![epoch time](epoch_time.png)"]

    confusions = [r for r in runs if r.confusion is not None]
    if confusions:
        md += ["", "## Confusion matrices", "",
               "Rows: true class, columns: predicted; from `artgenre-eval` (cells: image counts).", ""]
    for run in confusions:
        cm, classes = read_confusion_csv(run.confusion)
        name = f"confusion_{slug(run.label)}.png"
        split = run.confusion.parent.name.removeprefix("eval_")
        plot_confusion(cm, classes, out / name, title=f"{run.label} ({split})")
        md += [f"### {run.label} ({split})", "", f"![confusion matrix of {run.label}]({name})", ""]

    report = out / "report.md"
    report.write_text("\n".join(md).rstrip() + "\n")
    (out / "runs.json").write_text(json.dumps(summaries, indent=2) + "\n")
    return report


def _verdict(summaries: list[dict[str, Any]]) -> list[str]:
    scored = [s for s in summaries if s.get("best_val_acc") is not None]
    if not scored:
        return ["No run has finished an epoch yet."]
    best = max(scored, key=lambda s: s["best_val_acc"])
    return [f"Highest validation accuracy: **{best['label']}**, {best['best_val_acc']:.2f}% "
            f"at epoch {best['best_epoch']}."]


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="artgenre-report",
        description="Tables (the study's Figures 7-9), a summary and plots from training runs' metrics.csv.",
    )
    p.add_argument("dirs", nargs="+", metavar="RUN_OR_SWEEP_DIR",
                   help="a run folder (holds metrics.csv) or a folder with runs below it (e.g. a -m sweep)")
    p.add_argument("-o", "--out", type=Path, default=None,
                   help="output folder (default: DIR/report for one folder given, else ./report)")
    p.add_argument("--every", type=int, default=10, help="table rows at every N-th epoch (default: 10)")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    out = args.out or (Path(args.dirs[0]) / "report" if len(args.dirs) == 1 else Path("report"))

    def run() -> None:
        report = write_report(args.dirs, out.expanduser(), args.every)
        print((report.parent / "summary.md").read_text(), end="")
        print(f"\nreport: {report}")

    launch.guarded(run)()


if __name__ == "__main__":
    main()
