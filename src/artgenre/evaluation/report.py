"""The run report artgenre-report writes: the study's tables, a summary, curves and confusion
matrices of any set of runs, in Markdown with CSV beside each table, and the same as one
self-contained web page (report.html) with a gallery of each evaluated run's paintings and heatmaps."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

from artgenre.errors import ArtgenreError
from artgenre.evaluation.gallery import build_gallery, render_gallery
from artgenre.evaluation.plots import plot_confusion, plot_curves, plot_epoch_times
from artgenre.evaluation.tables import (STUDY_TABLES, SUMMARY_COLUMNS, assign_labels, count_parameters, markdown_table, report_epochs,
                                        slug, study_table, summarize_run, verdict, write_csv)
from artgenre.evaluation.report_page import SIGNIFICANCE, ReportPage, add_csv_tables
from artgenre.rundir.confusion import read_confusion_csv
from artgenre.rundir.runs import find_runs, read_run


def write_report(run_dirs: Sequence[str | Path], out: Path, every: int = 10, gallery: int = 4,
                 device: str = "cpu") -> Path:
    """Read the runs, write tables, plots, report.md and report.html into ``out``; return report.md's path.

    ``gallery``: paintings per class and kind (correct, mistaken) in report.html's gallery, 0 for none;
    ``device`` computes their heatmaps."""
    if every < 1:
        raise ArtgenreError(f"--every {every}: must be 1 or more")
    runs = [read_run(d) for d in find_runs(run_dirs)]
    for run in runs:
        run.parameters = count_parameters(run.config, run.num_classes)
    assign_labels(runs)
    out.mkdir(parents=True, exist_ok=True)
    labels = [r.label for r in runs]
    epochs = report_epochs(runs, every)
    md: list[str] = ["# Training report", "", f"{len(runs)} run(s):", ""]
    md += [f"- **{r.label}**: `{r.path}` ({len(r.rows)} epoch(s))" for r in runs]
    page = ReportPage("Training report")
    page.intro.append("<p class=note>" + html.escape(f"{len(runs)} run(s): ") + "; ".join(
        f"<b>{html.escape(r.label)}</b> <code>{html.escape(str(r.path))}</code> ({len(r.rows)} epoch(s))"
        for r in runs) + "</p>")

    summaries = [summarize_run(r) for r in runs]
    header = [h for _, h, _ in SUMMARY_COLUMNS]
    rows = [[s.get(k) for k, _, _ in SUMMARY_COLUMNS] for s in summaries]
    write_csv(out / "summary.csv", header + ["run dir"], [row + [s["run_dir"]] for row, s in zip(rows, summaries)])
    summary_md = markdown_table(header, rows, [d for _, _, d in SUMMARY_COLUMNS])
    (out / "summary.md").write_text(summary_md + "\n")
    md += ["", "## Summary", "", summary_md, "", *verdict(summaries)]
    summary_section = page.section("Summary")
    summary_section.table(header, rows, [d for _, _, d in SUMMARY_COLUMNS])
    summary_section.text(" ".join(verdict(summaries)).replace("**", ""))
    page.section("Significance", key=SIGNIFICANCE)  # the slot for statistical verdicts, filled below

    study: list = []
    for key, stem, title, decimals in STUDY_TABLES:
        values = study_table(runs, key, epochs)
        table_rows = [[e, *row] for e, row in zip(epochs, values)]
        write_csv(out / f"{stem}.csv", ["epoch", *labels], table_rows)
        table_md = markdown_table(["epoch", *labels], table_rows, [None] + [decimals] * len(labels))
        (out / f"{stem}.md").write_text(table_md + "\n")
        md += ["", f"## {title}", "", table_md]
        study.append((title, ["epoch", *labels], table_rows, [None] + [decimals] * len(labels)))

    page.section("Study tables").tiles(study)

    plot_curves(runs, ("train_acc", "val_acc"), "accuracy (%)", out / "accuracy.png")
    plot_curves(runs, ("train_loss", "val_loss"), "cross-entropy loss", out / "loss.png")
    plot_epoch_times(runs, out / "epoch_time.png")
    md += ["", "## Curves", "", "![accuracy](accuracy.png)", "", "![loss](loss.png)",
           "", "## Epoch time", "", "![epoch time](epoch_time.png)"]
    curves = page.section("Curves")
    curves.image(out / "accuracy.png", "accuracy curves", "accuracy per epoch, train (left) and validation (right)")
    curves.image(out / "loss.png", "loss curves", "cross-entropy loss per epoch, train (left) and validation (right)")
    curves.image(out / "epoch_time.png", "epoch times", "mean epoch time per run, whiskers: min to max")

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
        matrices = page.section("Confusion matrices")
        matrices.heading(f"{run.label} ({split})")
        matrices.image(out / name, f"confusion matrix of {run.label}",
                       "rows: true class, columns: predicted; from artgenre-eval (cells: image counts)")
        if gallery > 0 and (run.confusion.parent / "predictions.csv").is_file():
            shown = page.section(f"Gallery: {run.label}")
            render_gallery(shown, build_gallery(run.confusion.parent, run.path, gallery, device))

    # significance verdicts other modules wrote beside the report (significance*.csv), if any
    add_csv_tables(page, out, "significance*.csv", "Significance", SIGNIFICANCE)
    page.write(out / "report.html")

    report = out / "report.md"
    report.write_text("\n".join(md).rstrip() + "\n")
    (out / "runs.json").write_text(json.dumps(summaries, indent=2) + "\n")
    return report
