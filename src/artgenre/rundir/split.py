"""split.csv: every image of a run, its class and the split it was in; and the split's fingerprint."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path
from typing import Any, Optional, Sequence

SPLIT_COLUMNS = ["path", "artist", "label", "class_name", "fold", "split"]
_TEXT = dict(encoding="utf-8", errors="surrogateescape")  # a folder name that is not UTF-8 keeps its raw bytes


def write_split_csv(path: Path, records: Sequence[Any], split: list[str],
                    fold: Optional[Sequence[Optional[int]]] = None) -> None:
    """One row per image; ``fold``: its cross-validation fold (data.folds), blank without folds."""
    fold = fold or [None] * len(records)
    with path.open("w", newline="", **_TEXT) as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(SPLIT_COLUMNS)
        for r, s, k in zip(records, split, fold):
            w.writerow([r.path, r.artist, r.label, r.class_name, "" if k is None else k, s])


def read_split_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a run's split.csv, as dicts keyed by SPLIT_COLUMNS."""
    with path.open(newline="", **_TEXT) as f:
        return list(csv.DictReader(f))


def class_count(path: Path) -> Optional[int]:
    """How many classes a run's split.csv names (its largest label + 1), or None where there is none."""
    if not path.is_file():
        return None
    labels = {int(row["label"]) for row in read_split_csv(path) if (row.get("label") or "").isdigit()}
    return max(labels) + 1 if labels else None


def split_digest(records: Sequence[Any], split: list[str]) -> str:
    """A fingerprint of which image is in which split, kept in checkpoints and checked on resume."""
    h = hashlib.sha1()
    for r, s in zip(records, split):
        h.update(f"{r.path}\t{r.label}\t{s}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()
