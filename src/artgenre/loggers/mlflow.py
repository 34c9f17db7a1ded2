"""``mlflow``: the resolved config as parameters, every metrics.csv column per epoch (step = epoch)
and each class's validation accuracy, and at the end the run's curves, record files and
(``log_checkpoints``) checkpoints as artifacts. Needs artgenre[mlflow].

With nothing set, the store is local: ``sqlite:///<outputs>/mlflow.db`` (SQLite is MLflow's
default backend since 3.7; the file store is legacy) with artifacts in ``<outputs>/mlartifacts``,
where ``<outputs>`` is $ARTGENRE_OUTPUTS or ./outputs. Browse it with
``mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db``. ``logger.mlflow.tracking_uri``
points at a server instead. The client is used directly (no global active run), so several
runs in one process (a local sweep) never mix.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from artgenre.loggers.base import Artifacts, Logger, RunContext, flatten
from artgenre.rundir.trackers import read_tracker_ids, write_tracker_id

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a parameter value
BATCH = 100  # MLflow takes at most 100 parameters per log_batch


def outputs_root() -> Path:
    return Path(os.environ.get("ARTGENRE_OUTPUTS") or "outputs").expanduser().resolve()


def default_tracking_uri() -> str:
    return f"sqlite:///{outputs_root() / 'mlflow.db'}"


def metric_key(name: str) -> str:
    """MLflow keys allow letters, digits, _ - . / and spaces: a class like "Primitivism; Surrealism" is made fit."""
    return re.sub(r"[^\w\-./ ]", "_", name)


class MLflowLogger(Logger):
    name = "mlflow"
    package, extra = "mlflow", "mlflow"

    def start(self, run: RunContext) -> None:
        o = self.options
        # a tracking server that does not answer costs one short wait, not MLflow's minutes of retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(o.http_timeout_s))
        from mlflow.entities import Param
        from mlflow.tracking import MlflowClient

        for name in ("alembic", "mlflow"):  # the SQLite store's schema set-up talks at INFO
            logging.getLogger(name).setLevel(logging.WARNING)

        uri = o.tracking_uri or default_tracking_uri()
        if not o.tracking_uri:
            outputs_root().mkdir(parents=True, exist_ok=True)
        self.client = MlflowClient(tracking_uri=uri)
        saved = read_tracker_ids(run.run_dir).get(self.name, {})
        if run.resumed and saved.get("run_id") and saved.get("tracking_uri") == uri:
            self.run_id = saved["run_id"]
            self.client.update_run(self.run_id, status="RUNNING")
            return
        experiment_id = self._experiment(o.experiment, None if o.tracking_uri else outputs_root() / "mlartifacts")
        tags = {"artgenre.run_dir": str(run.run_dir), **{str(k): str(v) for k, v in o.tags.items()}}
        self.run_id = self.client.create_run(experiment_id, run_name=o.run_name or run.run_dir.name,
                                             tags=tags).info.run_id
        write_tracker_id(run.run_dir, self.name, {"run_id": self.run_id, "tracking_uri": uri})
        params = [Param(k, str(v)[:MAX_PARAM_LENGTH]) for k, v in flatten(run.config).items()]
        for i in range(0, len(params), BATCH):
            self.client.log_batch(self.run_id, params=params[i : i + BATCH])

    def _experiment(self, name: str, artifacts: Path | None) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            return self.client.create_experiment(name, artifact_location=artifacts.as_uri() if artifacts else None)
        except Exception:  # another run of a sweep created it a moment ago
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def log_epoch(self, row: dict[str, Any], per_class: dict[str, float]) -> None:
        from mlflow.entities import Metric

        now, epoch = int(time.time() * 1000), int(row["epoch"])
        # every number of the row: metrics.csv's columns and any recipe's (EMA); not the text ones
        values = {k: v for k, v in row.items() if k != "epoch" and isinstance(v, (int, float))}
        values |= {metric_key(f"val_acc_class/{c}"): a for c, a in per_class.items()}
        self.client.log_batch(self.run_id, metrics=[Metric(k, float(v), now, epoch) for k, v in values.items()])

    def log_artifacts(self, artifacts: Artifacts) -> None:
        for folder, paths in (("plots", artifacts.plots), ("run", artifacts.files),
                              ("checkpoints", artifacts.checkpoints if self.options.log_checkpoints else [])):
            for path in paths:
                self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "KILLED")
