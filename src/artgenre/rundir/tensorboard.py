"""TensorBoard scalars (``trainer.tensorboard=true``), written by rank 0 beside metrics.csv.

Per epoch: every metrics.csv column (loss, accuracy, time, lr, throughput). Per step: the
training loss and the learning rate. TensorBoard is an optional dependency
(``pip install 'artgenre[tb]'``), imported only when asked for.

The training loop reports each step through ``StepContext.on_step``; losses stay on the
device and are read in one transfer every ``trainer.log_every`` steps, because reading each one
would stall the GPU.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import torch

from artgenre.errors import ConfigError

FLUSH_EVERY = 50
INSTALL_HINT = "pip install 'artgenre[tb]'"

# metrics.csv column -> TensorBoard tag (grouped into panels by the part before "/")
EPOCH_TAGS = {
    "train_loss": "loss/train", "val_loss": "loss/val",
    "train_acc": "accuracy/train", "val_acc": "accuracy/val", "val_acc_balanced": "accuracy/val_balanced",
    "val_loss_ema": "loss/val_ema", "val_acc_ema": "accuracy/val_ema",
    "epoch_time_s": "time/epoch_s", "train_time_s": "time/train_s", "val_time_s": "time/val_s",
    "train_data_wait_s": "time/train_data_wait_s",
    "lr": "lr/epoch", "train_images_per_s": "throughput/train_images_per_s",
}


def require_tensorboard() -> None:
    """Fail before any work is done when TensorBoard is asked for but not installed (every rank checks)."""
    if importlib.util.find_spec("tensorboard") is None:
        raise ConfigError(f"trainer.tensorboard=true needs the tensorboard package: {INSTALL_HINT} "
                          "(or pass trainer.tensorboard=false)")


class TensorBoardLog:
    """One SummaryWriter under ``<run dir>/tensorboard``; create it on rank 0 only."""

    def __init__(self, log_dir: Path, first_step: int = 0, flush_every: int = FLUSH_EVERY) -> None:
        require_tensorboard()
        from torch.utils.tensorboard import SummaryWriter

        # purge_step: a run resumed after a crash drops the steps it is about to repeat
        self.writer = SummaryWriter(str(log_dir), purge_step=first_step or None)
        self.step = first_step
        self.flush_every = flush_every
        self._pending: list[tuple[int, torch.Tensor, float]] = []

    # -- per step -------------------------------------------------------------------
    def start_epoch(self, epoch: int, steps_per_epoch: int) -> None:
        """Steps count from the epoch's first, so a repeated (resumed) epoch overwrites its own steps."""
        self.step = epoch * steps_per_epoch

    def log_step(self, loss: torch.Tensor, lr: float) -> None:
        """The loss this step minimised (a device tensor, not read yet) and the learning rate it used."""
        self._pending.append((self.step, loss, lr))
        self.step += 1
        if len(self._pending) >= self.flush_every:
            self.flush_steps()

    def flush_steps(self) -> None:
        if not self._pending:
            return
        losses = torch.stack([loss for _, loss, _ in self._pending]).tolist()  # one device sync for all
        for (step, _, lr), loss in zip(self._pending, losses):
            self.writer.add_scalar("step/train_loss", loss, step)
            self.writer.add_scalar("step/lr", lr, step)
        self._pending = []

    # -- per epoch ------------------------------------------------------------------
    def log_epoch(self, row: dict[str, Any]) -> None:
        """One metrics.csv row, against the epoch number (1-based, as in the CSV)."""
        self.flush_steps()
        for key, tag in EPOCH_TAGS.items():
            if row.get(key) is not None:
                self.writer.add_scalar(tag, float(row[key]), int(row["epoch"]))
        self.writer.flush()

    def close(self) -> None:
        self.flush_steps()
        self.writer.close()

