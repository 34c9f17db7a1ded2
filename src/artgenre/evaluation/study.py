"""The study's published figures, shipped as data (study_figures.csv), and which run sits beside which.

Every accuracy the study printed is rank 0's alone: 814 of the 1,628 training images and 144 of
the 288 validation images (two processes, DistributedSampler, drop_last on validation). Each
figure is stored with its count k/n, and :func:`load_figures` checks that k is the one count whose
percentage, printed to the figure's decimals, is the figure. Its times are the training loop of
one epoch on 2x Quadro RTX 8000 in float32.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Optional

from artgenre.errors import DataError

FIGURES_FILE = "study_figures.csv"
HARDWARE = "2x Quadro RTX 8000, float32"
METRICS = ("train_acc", "val_acc", "train_time_s")
HALF = {"train_acc": "814 of 1,628 train images", "val_acc": "144 of 288 val images"}  # rank 0's share

# artgenre models that stand for each of the study's networks (runs of these get its column)
STANDS_FOR = {
    "vit_scratch_study": "vit_scratch_study", "vit_scratch": "vit_scratch_study",
    "vit_timm": "vit_timm", "resnet50": "resnet50",
    "iformer_base": "iformer_base", "iformer_small": "iformer_base", "iformer_large": "iformer_base",
    "timm:iformer_small": "iformer_base", "timm:iformer_base": "iformer_base", "timm:iformer_large": "iformer_base",
}


@dataclass(frozen=True)
class Figure:
    model: str  # the artgenre model that reproduces the study's network
    label: str
    figure: int  # the study's Figure 7 (train acc), 8 (val acc) or 9 (epoch time)
    metric: str  # a metrics.csv column: train_acc | val_acc | train_time_s
    epoch: Optional[int]  # None: the figure does not say
    published: str  # as printed
    correct: Optional[int] = None  # accuracies: k of ...
    total: Optional[int] = None  # ... n images (rank 0's half)

    @property
    def value(self) -> float:
        """The exact percentage k/n for an accuracy, else the printed number."""
        return 100.0 * self.correct / self.total if self.total else float(self.published)

    @property
    def count(self) -> str:
        return f"{self.correct}/{self.total}" if self.total else ""

    def cell(self) -> str:
        """For a Markdown table: the printed figure and its count, e.g. ``72.9 (105/144)``."""
        return f"{self.published} ({self.count})" if self.total else self.published


def _decimals(printed: str) -> int:
    return len(printed.split(".", 1)[1]) if "." in printed else 0


def counts_for(printed: str, total: int) -> list[int]:
    """Every k in 0..total whose percentage, printed to ``printed``'s decimals, reads ``printed``."""
    d = _decimals(printed)
    return [k for k in range(total + 1) if f"{100.0 * k / total:.{d}f}" == printed]


def _check(fig: Figure, where: str) -> None:
    if fig.metric not in METRICS:
        raise DataError(f"{where}: metric {fig.metric!r} is not one of {', '.join(METRICS)}")
    if fig.metric.endswith("_acc"):
        if not fig.total or fig.correct is None:
            raise DataError(f"{where}: an accuracy needs its count (correct, total)")
        if counts_for(fig.published, fig.total) != [fig.correct]:
            raise DataError(f"{where}: {fig.correct}/{fig.total} = {fig.value:.4f}% does not print as "
                            f"{fig.published}, or another count does too")


def load_figures(path: Optional[Path] = None) -> list[Figure]:
    """The shipped figures (or those of ``path``), each accuracy checked against its count."""
    if path is None:
        text = resources.files("artgenre.evaluation").joinpath(FIGURES_FILE).read_text()
        where = f"artgenre/evaluation/{FIGURES_FILE}"
    else:
        text, where = Path(path).read_text(), str(path)
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    figures = []
    for i, row in enumerate(csv.DictReader(io.StringIO("\n".join(lines)))):
        try:
            fig = Figure(
                model=row["model"], label=row["label"], figure=int(row["figure"]), metric=row["metric"],
                epoch=int(row["epoch"]) if row["epoch"] else None, published=row["published"],
                correct=int(row["correct"]) if row["correct"] else None,
                total=int(row["total"]) if row["total"] else None,
            )
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"{where}, figure row {i + 1}: {e}") from None
        _check(fig, f"{where}, figure row {i + 1}")
        figures.append(fig)
    return figures


def study_model(run_model: str) -> Optional[str]:
    """The study's network a run of ``run_model`` stands beside, or None."""
    return STANDS_FOR.get(run_model)


def figures_for(figures: list[Figure], model: str, metric: str) -> dict[Optional[int], Figure]:
    """The study's figures of one network and metric, by epoch (None: epoch not stated)."""
    return {f.epoch: f for f in figures if f.model == model and f.metric == metric}


def column_header(fig_label: str, metric: str) -> str:
    where = HALF.get(metric, HARDWARE)
    return f"study: {fig_label} (rank 0, {where})" if metric in HALF else f"study: {fig_label} ({where})"


# ---------------------------------------------------------------- the report's tables beside the study
NOTES = {
    "train_acc": "The study's training accuracy counts rank 0's 814 of the 1,628 training images; the runs' "
                 "count every training image.",
    "val_acc": "The study's validation accuracy counts rank 0's 144 of the 288 validation images (the other "
               "half was never counted; 1 image = 0.69 points); the runs' count every validation image once.",
    "train_time_s": f"Like with like: the runs' `train_time_s` is the training loop alone, as the study timed it "
                    f"({HARDWARE}); validation is not included. The study states one time per network without "
                    "saying for which epoch: the last row sets it beside the mean over each run's epochs.",
}


@dataclass
class SideBySide:
    """One of the study's tables with its column beside each run's: Markdown cells and CSV cells."""

    header: list[str]
    rows: list[list]
    decimals: list[Optional[int]]
    csv_header: list[str]
    csv_rows: list[list]
    note: str


def side_by_side(runs: list, key: str, epochs: list[int], figures: list[Figure], decimals: int) -> SideBySide:
    """Rows: ``epochs`` and the epochs the study gives; columns: each run, then the study's figure for
    the network the run stands for (Markdown: ``72.9 (105/144)``; CSV: the exact k/n percentage and k/n).
    A figure without an epoch gets a last row, beside the mean of each run's epochs."""
    columns = []
    for run in runs:
        model = study_model(run.model)
        columns.append((run, figures_for(figures, model, key) if model else {}))
    dated = sorted(set(epochs) | {e for _, figs in columns for e in figs if e is not None})
    counted = key in HALF  # accuracies carry their count
    out = SideBySide(["epoch"], [], [None], ["epoch"], [], NOTES.get(key, ""))
    for run, figs in columns:
        out.header.append(run.label)
        out.csv_header.append(run.label)
        out.decimals.append(decimals)
        if figs:
            title = column_header(next(iter(figs.values())).label, key)
            out.header.append(title)
            out.decimals.append(None)  # a text cell: "72.9 (105/144)"
            out.csv_header += [title, f"{title} count"] if counted else [title]

    def add(epoch_cell, value_of, figure_at) -> None:
        row, csv_row = [epoch_cell], [epoch_cell]
        for run, figs in columns:
            row.append(value_of(run))
            csv_row.append(value_of(run))
            if figs:
                fig = figure_at(figs)
                row.append(fig.cell() if fig else None)
                csv_row.append(fig.value if fig else None)
                if counted:
                    csv_row.append(fig.count if fig else None)
        out.rows.append(row)
        out.csv_rows.append(csv_row)

    for epoch in dated:
        add(epoch, lambda run: run.column(key).get(epoch), lambda figs: figs.get(epoch))
    if any(None in figs for _, figs in columns):
        def mean(run) -> Optional[float]:
            values = list(run.column(key).values())
            return sum(values) / len(values) if values else None

        add("mean of epochs (study: stated)", mean, lambda figs: figs.get(None))
    return out


def figures_markdown(figures: list[Figure]) -> list[str]:
    """The shipped figures as a Markdown section, with what they count and what is missing."""
    from artgenre.evaluation.tables import markdown_table

    rows = [[f.label, f"Figure {f.figure}", f.metric, f.epoch if f.epoch is not None else "not stated",
             f.published, f.count or "", f"{f.value:.2f}" if f.total else ""] for f in figures]
    lines = ["## The study's published figures", "",
             markdown_table(["network", "figure", "metric", "epoch", "printed", "count (rank 0)", "k/n (%)"],
                            rows, [None] * 7), "",
             "Accuracies: rank 0's half of each set (train k/814, validation k/144); times: the training loop, "
             f"{HARDWARE}. Source: the study's report, shipped as `artgenre/evaluation/{FIGURES_FILE}`."]
    missing = [m for m in METRICS if not any(f.metric == m for f in figures)]
    if missing:
        lines += ["", "Not in the shipped data (the figures at hand do not give them): "
                  + ", ".join(f"`{m}`" for m in missing) + "."]
    return lines
