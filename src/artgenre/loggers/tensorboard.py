"""``tensorboard``: every metrics.csv column per epoch and the loss and learning rate per step,
under <run dir>/tensorboard (the writer: artgenre.rundir.tensorboard). Needs artgenre[tb]."""

from __future__ import annotations

from typing import Any

import torch

from artgenre.loggers.base import Logger, RunContext
from artgenre.rundir.tensorboard import TensorBoardLog


class TensorBoardLogger(Logger):
    name = "tensorboard"
    package, extra = "tensorboard", "tb"
    wants_steps = True

    def start(self, run: RunContext) -> None:
        self.steps_per_epoch = run.steps_per_epoch
        self.log = TensorBoardLog(run.run_dir / "tensorboard", first_step=run.done_epochs * run.steps_per_epoch,
                                  flush_every=run.log_every)

    def start_epoch(self, epoch: int) -> None:
        self.log.start_epoch(epoch, self.steps_per_epoch)

    def log_step(self, loss: torch.Tensor, lr: float) -> None:
        self.log.log_step(loss, lr)

    def log_epoch(self, row: dict[str, Any], per_class: dict[str, float]) -> None:
        self.log.log_epoch(row)

    def close(self, finished: bool) -> None:
        self.log.close()
