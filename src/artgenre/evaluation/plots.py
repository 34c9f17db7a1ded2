"""Figures: accuracy and loss curves, epoch times, confusion matrices (matplotlib's object API)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from artgenre.rundir.runs import Run


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
