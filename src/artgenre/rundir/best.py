"""best.pt agrees with the best epoch that last.pt (and metrics.csv) name, whatever moment a run was killed.

fit saves best.pt before last.pt, so a kill between the two leaves best.pt one epoch ahead and
the resumed run repeats that epoch and writes it again. A best.pt that is missing or holds
another epoch while last.pt itself is the best epoch (a folder from an older version, a file
removed by hand) is repaired on resume by copying last.pt.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from artgenre.rundir import checkpoint

log = logging.getLogger("artgenre")


def saved_epoch(path: Path) -> int | None:
    """The epoch a checkpoint holds, or None when it is missing or unreadable."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # missing, truncated or foreign: treated as absent
        return None
    return state.get("epoch") if isinstance(state, dict) else None


def repair_best(folder: Path, best_epoch: int) -> bool:
    """Copy last.pt to best.pt when last.pt is the best epoch and best.pt does not hold it."""
    last, best = folder / "last.pt", folder / "best.pt"
    if best_epoch < 1 or saved_epoch(last) != best_epoch or saved_epoch(best) == best_epoch:
        return False
    checkpoint.atomic_copy(last, best)
    log.warning(f"{best} did not hold the best epoch ({best_epoch}); restored it from {last}")
    return True
