"""Early stopping on validation accuracy (``trainer.early_stopping``).

Decided from the epochs' metrics rows alone (which the checkpoint carries), so a resumed or
preempted run stops exactly where an uninterrupted one would. An epoch counts as better when
its monitored accuracy beats the best so far by more than ``min_delta`` points; the run stops
once ``patience`` epochs in a row were not better. Rank 0 records why and when in
``early_stopping.json`` in the run directory.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

FILE = "early_stopping.json"


@dataclass
class EarlyStop:
    stopped_after_epoch: int
    best_epoch: int
    best: float
    monitor: str
    patience: int
    min_delta: float
    reason: str


def check(history: Sequence[dict[str, Any]], monitor: str, patience: int, min_delta: float) -> Optional[EarlyStop]:
    """The decision to stop after the last row of ``history``, or None to go on (or when patience is 0)."""
    if patience <= 0 or not history:
        return None
    best, best_epoch = float("-inf"), 0
    for row in history:
        if float(row[monitor]) > best + min_delta:
            best, best_epoch = float(row[monitor]), int(row["epoch"])
    last = int(history[-1]["epoch"])
    if last - best_epoch < patience:
        return None
    reason = (f"{monitor} did not improve on {best:.2f}% (epoch {best_epoch}) by more than {min_delta} points "
              f"for {last - best_epoch} epochs (patience {patience})")
    return EarlyStop(last, best_epoch, best, monitor, patience, min_delta, reason)


def record(run_dir: Path, stop: EarlyStop) -> None:
    (run_dir / FILE).write_text(json.dumps(asdict(stop), indent=2) + "\n")
