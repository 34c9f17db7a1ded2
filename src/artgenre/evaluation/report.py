"""The run report artgenre-report writes: the study's tables, a summary, curves and confusion
matrices of any set of runs, in Markdown with CSV beside each table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from artgenre.errors import ArtgenreError
from artgenre.evaluation.claims_report import claims_section
from artgenre.evaluation.plots import plot_confusion, plot_curves, plot_epoch_times
from artgenre.evaluation.study import figures_markdown, load_figures, side_by_side
from artgenre.evaluation.tables import (STUDY_TABLES, SUMMARY_COLUMNS, assign_labels, count_parameters, markdown_table,
                                        md_text, report_epochs,
                                        slug, study_table, summarize_run, verdict, write_csv)
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


def write_report(run_dirs: Sequence[str | Path], out: Path, every: int = 10, study: bool = False) -> Path:
    """Read the runs, write tables, plots and report.md into ``out``; return report.md's path.

    ``study``: each run of a model that stands for one of the study's networks gets the study's
    published figure beside it in the three tables (artgenre.evaluation.study)."""
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

    summaries = [summarize_run(r) for r in runs]
    header = [h for _, h, _ in SUMMARY_COLUMNS]
    rows = [[s.get(k) for k, _, _ in SUMMARY_COLUMNS] for s in summaries]
    write_csv(out / "summary.csv", header + ["run dir"], [row + [s["run_dir"]] for row, s in zip(rows, summaries)])
    summary_md = markdown_table(header, rows, [d for _, _, d in SUMMARY_COLUMNS])
    (out / "summary.md").write_text(summary_md + "\n")
    md += ["", "## Summary", "", summary_md, "", *verdict(summaries)]
    md += ["", *claims_section(runs, out)]

    figures = load_figures() if study else []
    for key, stem, title, decimals in STUDY_TABLES:
        note: list[str] = []
        if figures:
            table = side_by_side(runs, key, epochs, figures, decimals)
            write_csv(out / f"{stem}.csv", table.csv_header, table.csv_rows)
            table_md = markdown_table(table.header, table.rows, table.decimals)
            note = ["", table.note]
        else:
            values = study_table(runs, key, epochs)
            table_rows = [[e, *row] for e, row in zip(epochs, values)]
            write_csv(out / f"{stem}.csv", ["epoch", *labels], table_rows)
            table_md = markdown_table(["epoch", *labels], table_rows, [None] + [decimals] * len(labels))
        (out / f"{stem}.md").write_text(table_md + "\n")
        md += ["", f"## {title}", "", table_md, *note]
    if figures:
        md += ["", *figures_markdown(figures)]

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
        label = md_text(run.label)
        md += [f"### {label} ({md_text(split)})", "", f"![confusion matrix of {label}]({name})", ""]

    report = out / "report.md"
    report.write_text("\n".join(md).rstrip() + "\n")
    (out / "runs.json").write_text(json.dumps(summaries, indent=2) + "\n")
    return report
