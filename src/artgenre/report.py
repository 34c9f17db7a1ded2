"""Entry point ``artgenre-report RUN_OR_SWEEP_DIR... [-o OUT] [--every 10] [--study]``: the study's tables and plots.

Finds every run below the given folders (a run = a folder with a metrics.csv) and writes
into OUT:

- ``train_acc``, ``val_acc``, ``epoch_time`` (.md and .csv): the study's Figures 7, 8 and 9,
  the value at epochs 10, 20, ... (``--every``), one column per run labelled by its model;
  the epoch time is ``train_time_s``, the training loop alone, as the study timed it.
  ``--study`` puts the study's published figure beside each run whose model stands for one of
  its networks (accuracies with their rank-0 counts, k/814 and k/144);
- ``summary`` (.md and .csv): per run best val accuracy and its epoch, final accuracies,
  mean epoch time, training images per second, parameter count;
- ``accuracy.png``, ``loss.png``, ``epoch_time.png`` and ``confusion_<run>.png`` for each run
  that ``artgenre-eval`` has evaluated;
- ``claims.md``, ``groups.csv``, ``comparisons.csv``: runs grouped by setting (every key but
  data.fold and trainer.seed), pooled accuracy with a 95% interval, paired tests between
  settings with Holm's correction and verdicts in words (from each run's val_predictions.csv);
- ``report.md``, which embeds all of them (relative links, so it renders on GitHub);
- ``report.html``: the same in one self-contained page (images inlined; opens offline, prints),
  with the claims' tables and, per evaluated run, a gallery per class of the most confident
  correct and mistaken paintings with their heatmaps (``--gallery N``; docs/report.md).

Runs of different lengths, or still running, leave the epochs they lack blank.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

from artgenre import launch
from artgenre.evaluation.report import write_report
from artgenre.runtime.device import DEVICE_CHOICES


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
    p.add_argument("--study", action="store_true",
                   help="set the study's published figures beside the runs (measured on half its sets)")
    p.add_argument("--gallery", type=int, default=4, metavar="N",
                   help="report.html: N paintings per class and kind (correct, mistaken) with heatmaps; 0: none")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="cpu", help="computes the gallery's heatmaps")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    out = args.out or (Path(args.dirs[0]) / "report" if len(args.dirs) == 1 else Path("report"))

    def run() -> None:
        report = write_report(args.dirs, out.expanduser(), args.every, study=args.study, gallery=args.gallery,
                              device=args.device)
        print((report.parent / "summary.md").read_text(), end="")
        if (report.parent / "claims.md").is_file():
            print("\n" + (report.parent / "claims.md").read_text().split("### Methods")[0].rstrip())
        print(f"\nreport: {report}\npage:   {report.parent / 'report.html'}")

    launch.guarded(run)()


if __name__ == "__main__":
    main()
