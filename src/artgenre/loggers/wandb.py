"""``wandb``: Weights & Biases, offline by default (compute nodes have no network). Needs artgenre[wandb].

The run's files go to <run dir>/wandb/offline-run-*; upload them later from a machine with
network: ``wandb sync <run dir>/wandb/offline-run-*``. The config is the run's config, every
metrics.csv column and each class's validation accuracy are logged per epoch against the
``epoch`` axis, and at the end the curves (and with ``log_checkpoints`` best.pt as a model
artifact). ``mode=online`` waits at most ``init_timeout_s`` for the service; if it cannot be
reached the run warns once and trains on without W&B. A resumed run continues the same W&B run
(its id is kept in trackers.json); each process writes its own offline-run folder, and
``wandb sync`` puts them together.
"""

from __future__ import annotations

import uuid
from typing import Any

from artgenre.loggers.base import Artifacts, Logger, RunContext
from artgenre.rundir.trackers import read_tracker_ids, write_tracker_id


class WandbLogger(Logger):
    name = "wandb"
    package, extra = "wandb", "wandb"

    def start(self, run: RunContext) -> None:
        import wandb

        o = self.options
        saved = read_tracker_ids(run.run_dir).get(self.name, {})
        run_id = saved["id"] if run.resumed and saved.get("id") else uuid.uuid4().hex[:12]
        settings = wandb.Settings(console="off", silent=True, init_timeout=float(o.init_timeout_s))
        self.run = wandb.init(project=o.project, entity=o.entity, group=o.group, tags=list(o.tags) or None,
                              name=o.run_name or run.run_dir.name, id=run_id, resume="allow", mode=o.mode,
                              dir=str(run.run_dir), config=run.config, settings=settings)
        write_tracker_id(run.run_dir, self.name, {"id": run_id, "project": o.project, "mode": o.mode})
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")

    def log_epoch(self, row: dict[str, Any], per_class: dict[str, float]) -> None:
        values = {k: v for k, v in row.items() if isinstance(v, (int, float))}  # numbers only (not train_acc_of)
        values |= {f"val_acc_class/{c}": a for c, a in per_class.items()}
        self.run.log(values)

    def log_artifacts(self, artifacts: Artifacts) -> None:
        import wandb

        if artifacts.plots:
            self.run.log({"epoch": artifacts.last_epoch,
                          **{f"plots/{p.stem}": wandb.Image(str(p)) for p in artifacts.plots}})
        best = [p for p in artifacts.checkpoints if p.name == "best.pt"]
        if self.options.log_checkpoints and best:
            model = wandb.Artifact(f"model-{self.run.id}", type="model")
            model.add_file(str(best[0]))
            self.run.log_artifact(model)

    def close(self, finished: bool) -> None:
        self.run.finish(exit_code=0 if finished else 1)
