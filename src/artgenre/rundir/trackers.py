"""trackers.json: which experiment-tracker run (MLflow run id, W&B run id) a run directory logs to.

A resumed or requeued run reads it back and continues the same tracker run instead of opening
a new one. Written by rank 0, atomically (temporary file + rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

FILE_NAME = "trackers.json"


def read_tracker_ids(run_dir: Path) -> dict[str, dict[str, Any]]:
    """{tracker name: what it needs to find its run again}; empty when there is no (readable) file."""
    try:
        data = json.loads((run_dir / FILE_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_tracker_id(run_dir: Path, name: str, ids: dict[str, Any]) -> None:
    data = read_tracker_ids(run_dir) | {name: ids}
    tmp = run_dir / f".{FILE_NAME}.tmp"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, run_dir / FILE_NAME)
