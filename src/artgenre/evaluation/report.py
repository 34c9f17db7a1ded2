"""The run report artgenre-report writes: the study's tables, a summary, curves and confusion
matrices of any set of runs, in Markdown with CSV beside each table, and the same as one
self-contained web page (report.html) with a gallery of each evaluated run's paintings and heatmaps."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Sequence

from artgenre.errors import ArtgenreError
from artgenre.evaluation.claims_report import claims_section
from artgenre.evaluation.gallery import build_gallery, render_gallery
from artgenre.evaluation.plots import plot_confusion, plot_curves, plot_epoch_times
from artgenre.evaluation.study import figures_markdown, load_figures, side_by_side
from artgenre.evaluation.tables import (STUDY_TABLES, SUMMARY_COLUMNS, assign_labels, count_parameters, markdown_table,
                                        md_text, report_epochs,
                                        slug, study_table, summarize_run, verdict, write_csv)
from artgenre.evaluation.report_page import SIGNIFICANCE, ReportPage, add_csv_tables
from artgenre.rundir.confusion import read_confusion_csv
from artgenre.rundir.runs import Run, find_runs, read_run


def rows_not_used(runs: Sequence[Run], examples: int = 5) -> list[str]:
    """The report's account of metrics.csv rows and columns it left out: counted and named per run."""
    noted = [r for r in runs if r.problems]
    if not noted:
        return []
    md = ["", "## Rows not used", ""]
    for run in noted:
        md.append(f"- **{md_text(run.label)}**: {len(run.problems)} problem(s) in metrics.csv, e.g.:")
        md += [f"  - {md_text(p)}" for p in run.problems[:examples]]
    return md


def write_report(run_dirs: Sequence[str | Path], out: Path, every: int = 10, study: bool = False,
                 gallery: int = 4, device: str = "cpu") -> Path:
    """Read the runs, write tables, plots, report.md and report.html into ``out``; return report.md's path.

    ``study``: each run of a model that stands for one of the study's networks gets the study's
    published figure beside it in the three tables (artgenre.evaluation.study).
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
    md += [f"- **{md_text(r.label)}**: {md_text(r.path)} ({len(r.rows)} epoch(s))" for r in runs]
    md += rows_not_used(runs)
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
    md += ["", *claims_section(runs, out)]
    summary_section = page.section("Summary")
    summary_section.table(header, rows, [d for _, _, d in SUMMARY_COLUMNS])
    summary_section.text(" ".join(verdict(summaries)).replace("**", ""))
    page.section("Significance", key=SIGNIFICANCE)  # the slot for statistical verdicts, filled below

    figures = load_figures() if study else []
    tiles: list = []
    for key, stem, title, decimals in STUDY_TABLES:
        note: list[str] = []
        if figures:
            table = side_by_side(runs, key, epochs, figures, decimals)
            write_csv(out / f"{stem}.csv", table.csv_header, table.csv_rows)
            table_md = markdown_table(table.header, table.rows, table.decimals)
            note = ["", table.note]
            tiles.append((title, table.header, table.rows, table.decimals))
        else:
            values = study_table(runs, key, epochs)
            table_rows = [[e, *row] for e, row in zip(epochs, values)]
            write_csv(out / f"{stem}.csv", ["epoch", *labels], table_rows)
            table_md = markdown_table(["epoch", *labels], table_rows, [None] + [decimals] * len(labels))
            tiles.append((title, ["epoch", *labels], table_rows, [None] + [decimals] * len(labels)))
        (out / f"{stem}.md").write_text(table_md + "\n")
        md += ["", f"## {title}", "", table_md, *note]
    if figures:
        md += ["", *figures_markdown(figures)]
    page.section("Study tables").tiles(tiles)

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
        label = md_text(run.label)
        md += [f"### {label} ({md_text(split)})", "", f"![confusion matrix of {label}]({name})", ""]
        matrices = page.section("Confusion matrices")
        matrices.heading(f"{run.label} ({split})")
        matrices.image(out / name, f"confusion matrix of {run.label}",
                       "rows: true class, columns: predicted; from artgenre-eval (cells: image counts)")
        if gallery > 0 and (run.confusion.parent / "predictions.csv").is_file():
            shown = page.section(f"Gallery: {run.label}")
            render_gallery(shown, build_gallery(run.confusion.parent, run.path, gallery, device))

    # the claims (claims_section wrote them beside the report) and any other significance*.csv
    for pattern in ("groups.csv", "comparisons.csv", "significance*.csv"):
        add_csv_tables(page, out, pattern, "Significance", SIGNIFICANCE)
    page.write(out / "report.html")

    report = out / "report.md"
    report.write_text("\n".join(md).rstrip() + "\n")
    (out / "runs.json").write_text(json.dumps(summaries, indent=2) + "\n")
    return report
