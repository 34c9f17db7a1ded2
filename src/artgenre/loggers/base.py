"""The one interface every logger implements, what it is told about the run, and the artifacts
a finished run hands to the trackers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch


@dataclass
class RunContext:
    """What a logger learns when the run starts (rank 0 only)."""

    run_dir: Path
    config: dict[str, Any]  # the resolved config
    classes: list[str]
    steps_per_epoch: int
    log_every: int = 50
    done_epochs: int = 0  # > 0: a resumed run; its earlier epochs are in ``history``
    history: list[dict[str, Any]] = field(default_factory=list)
    columns: Optional[list[str]] = None  # metrics.csv's columns; None: rundir.metrics.COLUMNS

    @property
    def resumed(self) -> bool:
        return self.done_epochs > 0


@dataclass
class Artifacts:
    """What a finished run offers the trackers: its curves, its record files and its checkpoints."""

    plots: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # metrics.csv, split.csv, the resolved config, ...
    checkpoints: list[Path] = field(default_factory=list)
    last_epoch: int = 0


class Logger:
    """Base class: every method does nothing unless a logger overrides it.

    ``package``/``extra``: the optional package a logger needs and the artgenre extra that
    installs it (checked on every rank before any work). ``essential``: its failure stops the
    run (csv, which resume reads); any other logger that fails warns once and is dropped.
    """

    name = ""
    package: Optional[str] = None
    extra: Optional[str] = None
    essential = False
    wants_steps = False  # True: log_step is called after every optimizer step

    def __init__(self, options: Any) -> None:
        self.options = options

    def start(self, run: RunContext) -> None: ...

    def start_epoch(self, epoch: int) -> None: ...

    def log_step(self, loss: torch.Tensor, lr: float) -> None:
        """The step's loss as a device tensor (reading it would stall the GPU: batch the reads)."""

    def log_epoch(self, row: dict[str, Any], per_class: dict[str, float]) -> None:
        """One metrics.csv row and each class's validation accuracy (percent)."""

    def log_artifacts(self, artifacts: Artifacts) -> None: ...

    def close(self, finished: bool) -> None:
        """``finished``: every epoch is done; otherwise the run stopped (and may be resumed)."""


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data": {"image_size": 32}} -> {"data.image_size": 32} (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out |= flatten(value, name + ".")
        else:
            out[name] = value
    return out
