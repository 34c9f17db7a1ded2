"""Where a run's numbers go: ``logger=[csv,tensorboard,mlflow,wandb]`` (a list, or one name).

Each logger lives in its own module and implements :class:`Logger` (start, start_epoch,
log_step, log_epoch, log_artifacts, close); :data:`LOGGERS` maps the config names to them (the
schema of each one's options: artgenre.config). ``csv`` is always on. Its optional package is
imported only when a logger is chosen; :func:`require_loggers` names the missing extra on every
rank before any work. Only rank 0 logs (:func:`open_loggers` gives other ranks none).

:class:`Loggers` hands every event to every chosen logger. A tracker that fails (its server is
down, its disk is full) warns once and is dropped: training goes on, and metrics.csv still has
every epoch. csv is the exception: a run that cannot write its own record stops.

These are not run-directory files only (rundir/): MLflow writes to its store, W&B to its
service, so the trackers get a package of their own.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from artgenre.errors import ConfigError
from artgenre.loggers.base import Artifacts, Logger, RunContext
from artgenre.loggers.csv import CSVLogger
from artgenre.loggers.mlflow import MLflowLogger
from artgenre.loggers.tensorboard import TensorBoardLogger
from artgenre.loggers.wandb import WandbLogger

log = logging.getLogger("artgenre")

LOGGERS: dict[str, type[Logger]] = {cls.name: cls for cls in (CSVLogger, TensorBoardLogger, MLflowLogger, WandbLogger)}

__all__ = ["LOGGERS", "Artifacts", "Logger", "Loggers", "RunContext", "chosen", "open_loggers", "require_loggers"]


def chosen(cfg: DictConfig) -> list[str]:
    """The loggers a validated config turns on, csv first."""
    return [name for name in LOGGERS if OmegaConf.select(cfg, f"logger.{name}") is not None]


def require_loggers(cfg: DictConfig) -> None:
    """Fail before any work when a chosen logger's package is missing (every rank checks)."""
    for name in chosen(cfg):
        cls = LOGGERS[name]
        if cls.package and importlib.util.find_spec(cls.package) is None:
            how = "trainer.tensorboard=true" if name == "tensorboard" and cfg.trainer.tensorboard else f"logger={name}"
            raise ConfigError(f"{how} needs the {cls.package} package: pip install 'artgenre[{cls.extra}]' "
                              f"(or leave {name} out of logger=[...])")


class Loggers:
    """Every chosen logger, each call guarded: a failing tracker warns once and is dropped."""

    def __init__(self, loggers: list[Logger]) -> None:
        self.loggers = loggers
        self.failed: set[str] = set()

    @property
    def active(self) -> list[Logger]:
        return [lg for lg in self.loggers if lg.name not in self.failed]

    @property
    def wants_steps(self) -> bool:
        return any(lg.wants_steps for lg in self.active)

    def _call(self, method: str, *args: Any, only: list[Logger] | None = None) -> None:
        for lg in only if only is not None else self.active:
            try:
                getattr(lg, method)(*args)
            except Exception as e:
                if lg.essential:
                    raise
                self.failed.add(lg.name)
                reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                log.warning(f"warning: logger {lg.name} failed in {method} ({type(e).__name__}: {reason}); "
                            f"training goes on without it (metrics.csv has every epoch)")

    def start(self, run: RunContext) -> None:
        self.run_dir = run.run_dir
        self._call("start", run)

    def start_epoch(self, epoch: int) -> None:
        self._call("start_epoch", epoch)

    def log_step(self, loss: torch.Tensor, lr: float) -> None:
        self._call("log_step", loss, lr, only=[lg for lg in self.active if lg.wants_steps])

    def log_epoch(self, row: dict[str, Any], per_class: dict[str, float]) -> None:
        self._call("log_epoch", row, per_class)

    def log_artifacts(self) -> None:
        """At the end of a finished run: curves, record files, checkpoints, for the trackers that take them."""
        takers = [lg for lg in self.active if type(lg).log_artifacts is not Logger.log_artifacts]
        if takers:
            try:
                artifacts = collect_artifacts(self.run_dir)
            except Exception as e:  # a plot that cannot be drawn must not end a finished run
                log.warning(f"warning: could not gather the run's artifacts for the trackers ({e})")
                return
            self._call("log_artifacts", artifacts, only=takers)

    def close(self, finished: bool) -> None:
        self._call("close", finished)


def open_loggers(cfg: DictConfig, is_main: bool) -> Loggers:
    """The chosen loggers on rank 0; none elsewhere (only rank 0 logs)."""
    if not is_main:
        return Loggers([])
    if cfg.trainer.tensorboard:
        log.warning("warning: trainer.tensorboard=true is deprecated; use logger=[csv,tensorboard] (the same logs)")
    return Loggers([LOGGERS[name](OmegaConf.select(cfg, f"logger.{name}")) for name in chosen(cfg)])


def collect_artifacts(run_dir: Path) -> Artifacts:
    """Draw the run's accuracy and loss curves into <run dir>/plots; list the files worth keeping."""
    from artgenre.evaluation.plots import plot_curves
    from artgenre.rundir.runs import Run, read_metrics

    run = Run(path=run_dir, rows=read_metrics(run_dir / "metrics.csv"), label=run_dir.name)
    plots = run_dir / "plots"
    plots.mkdir(exist_ok=True)
    plot_curves([run], ("train_acc", "val_acc"), "accuracy (%)", plots / "accuracy.png")
    plot_curves([run], ("train_loss", "val_loss"), "cross-entropy loss", plots / "loss.png")
    files = [run_dir / n for n in ("metrics.csv", "val_acc_per_class.csv", "split.csv", ".hydra/config.yaml",
                                   ".hydra/overrides.yaml")]
    checkpoints = [run_dir / "checkpoints" / n for n in ("best.pt", "last.pt")]
    return Artifacts(plots=[plots / "accuracy.png", plots / "loss.png"], files=[f for f in files if f.is_file()],
                     checkpoints=[c for c in checkpoints if c.is_file()],
                     last_epoch=max((int(r["epoch"]) for r in run.rows), default=0))
