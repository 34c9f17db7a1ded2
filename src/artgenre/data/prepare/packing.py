"""Building the packed pixel cache (:mod:`artgenre.data.loading.packed`): one worker process per
shard, each decoding its images in reading order and writing one ``.bin`` and then its
``.idx.npy``; shards that have their index are done and skipped, so a build killed half-way
(a preempted job) continues where it stopped."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from artgenre.data.archive import Archive
from artgenre.data.listing import ImageSet, Record
from artgenre.data.loading.packed import done, packed_folder, plan, shard_files
from artgenre.data.parallel import parallel_map

# the state of one building worker process (set by _init)
_archive: Optional[Archive] = None
_folder: Optional[Path] = None


def _init(archive: Archive, folder: Path) -> None:
    global _archive, _folder
    _archive, _folder = archive, folder


def _build_shard(job: tuple[int, list[tuple[int, str, int, int, int]]]) -> int:
    from artgenre.data.prepare.pixels import resized

    k, items = job
    data_path, idx_path = shard_files(_folder, k)
    tmp = data_path.with_name(f".{data_path.name}.tmp-{os.getpid()}")
    rows, offset = [], 0
    with open(tmp, "wb") as out:
        for position, path, width, height, min_side in items:
            pixels = resized(_archive, path, width, height, min_side)
            out.write(pixels.data)
            rows.append((position, offset, height, width))
            offset += pixels.nbytes
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, data_path)
    tmp_idx = idx_path.with_name(f".{idx_path.name}.tmp-{os.getpid()}.npy")
    np.save(tmp_idx, np.asarray(rows, dtype=np.int64).reshape(-1, 4))
    os.replace(tmp_idx, idx_path)  # last: the shard is done
    return len(items)


def folder(image_set: ImageSet, image_size: int, layout: str) -> Path:
    return packed_folder(image_set.cache_dir, image_size, layout, image_set.records)


def missing(image_set: ImageSet, image_size: int, layout: str) -> list[Record]:
    where = folder(image_set, image_size, layout)
    return [image_set.records[i] for k, shard in enumerate(plan(image_set.records)) if not done(where, k)
            for i in shard]


def build(image_set: ImageSet, image_size: int, layout: str, workers: int, progress: bool,
          item: Callable[[Record], tuple[str, int, int, int]]) -> int:
    """Write the shards not yet done; ``item(record)`` -> (path, width, height, min_side). Returns
    how many images were written."""
    where = folder(image_set, image_size, layout)
    jobs = [(k, [(i, *item(image_set.records[i])) for i in shard])
            for k, shard in enumerate(plan(image_set.records)) if not done(where, k)]
    if not jobs:
        return 0
    where.mkdir(parents=True, exist_ok=True)
    count = sum(len(items) for _, items in jobs)
    return sum(parallel_map(_build_shard, jobs, workers, f"packing {count} images into {len(jobs)} shards",
                            progress, _init, (image_set.open_archive(), where)))
