"""``csv``: metrics.csv and val_acc_per_class.csv, one row per epoch (always on: resume and
artgenre-report read them), and the console table row."""

from __future__ import annotations

import logging
from typing import Any

from artgenre.loggers.base import Logger, RunContext
from artgenre.rundir.metrics import MetricsCSV, PerClassCSV, table_row

log = logging.getLogger("artgenre")


class CSVLogger(Logger):
    name = "csv"
    essential = True

    def start(self, run: RunContext) -> None:
        self.metrics = MetricsCSV(run.run_dir / "metrics.csv", run.columns)
        self.per_class = PerClassCSV(run.run_dir / "val_acc_per_class.csv", run.classes)
        self.metrics.rewrite(run.history)  # a resumed run's rows from its checkpoint: nothing repeated
        self.per_class.start(run.done_epochs)

    def log_epoch(self, row: dict[str, Any], per_class: dict[str, float]) -> None:
        self.metrics.append(row)
        self.per_class.append(row["epoch"], list(per_class.values()))
        log.info(table_row(row))
