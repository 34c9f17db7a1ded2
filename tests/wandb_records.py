"""Reading W&B's offline run files (<dir>/wandb/offline-run-*/run-<id>.wandb) back, for the tests.

The file is W&B's transaction log: a 7-byte header (":W&B", magic 0xBEE1, version 0), then
32 KiB blocks of LevelDB-log records (CRC32C, length, type; a record cut at a block's end
continues in the next), each a serialised ``wandb.proto.wandb_internal_pb2.Record``.
wandb 0.31 ships the protobuf classes but no Python reader of the log, so this reads it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, Iterator

HEADER = 7
BLOCK = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = HEADER, b""
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # the block's tail is padding
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4 : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


def history(run_file: Path) -> list[dict[str, Any]]:
    """Every ``run.log`` call of one offline run file, as {key: value}."""
    rows = []
    for record in records(run_file):
        if record.WhichOneof("record_type") == "history":
            rows.append({"/".join(item.nested_key) or item.key: json.loads(item.value_json)
                         for item in record.history.item})
    return rows


def run_ids(run_file: Path) -> set[str]:
    return {r.run.run_id for r in records(run_file) if r.WhichOneof("record_type") == "run"}


def config(run_file: Path) -> dict[str, Any]:
    """The run's config (``wandb.init(config=...)`` and later updates), top-level key -> value."""
    out: dict[str, Any] = {}
    for record in records(run_file):
        kind = record.WhichOneof("record_type")
        updates = record.run.config.update if kind == "run" else record.config.update if kind == "config" else []
        for item in updates:
            out["/".join(item.nested_key) or item.key] = json.loads(item.value_json)
    return out
