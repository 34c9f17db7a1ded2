"""The packed pixel cache: the same pre-resized pixels as :mod:`cache`, in a few large shard
files instead of one file per image (what a parallel file system such as GPFS or Lustre wants:
81,000 small files cost a metadata operation each, 64 large ones almost nothing).

Folder ``<cache_dir>/pixels-v<version>-<layout>-<image_size>-packed-<digest>/``, the digest
naming the manifest's (path, sha1) list, so another manifest never reads a stale shard:

* ``shard-00000.bin``      the H x W x 3 uint8 pixels of its images, back to back
* ``shard-00000.idx.npy``  one row per image: manifest position, byte offset, height, width;
                           written last (atomically), so it marks the shard done: a build killed
                           half-way redoes only the shards without one

Shards hold consecutive images in path order (for parquet: in shard and row order, so the
builder reads each source row group once); :func:`plan` depends on the manifest alone, never on
the worker count, so a restart on another node continues the same plan. Reading is one
``pread`` per image from a file descriptor each loader process opens for itself.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from artgenre.data.listing import Record
from artgenre.data.loading.cache import CACHE_VERSION, to_tensor
from artgenre.errors import DataError

MIN_SHARD, MAX_SHARD, TARGET_SHARDS = 64, 2048, 64


def packed_folder(cache_dir: Path, image_size: int, layout: str, records: Sequence[Record]) -> Path:
    h = hashlib.sha256()
    for r in records:
        h.update(f"{r.path}\0{r.sha1}\n".encode("utf-8", "surrogateescape"))
    return cache_dir / f"pixels-v{CACHE_VERSION}-{layout}-{image_size}-packed-{h.hexdigest()[:12]}"


def plan(records: Sequence[Record]) -> list[list[int]]:
    """Manifest positions per shard: consecutive in path order, about TARGET_SHARDS shards."""
    size = max(MIN_SHARD, min(MAX_SHARD, math.ceil(len(records) / TARGET_SHARDS)))
    order = sorted(range(len(records)), key=lambda i: records[i].path)
    return [order[k : k + size] for k in range(0, len(order), size)]


def shard_files(folder: Path, k: int) -> tuple[Path, Path]:
    return folder / f"shard-{k:05d}.bin", folder / f"shard-{k:05d}.idx.npy"


def done(folder: Path, k: int) -> bool:
    return shard_files(folder, k)[1].is_file()


class PackedCache:
    """Images of a manifest by position, read from the shards of ``folder`` (decoding nothing)."""

    def __init__(self, folder: Path, count: int) -> None:
        self.folder = folder
        index = np.zeros((count, 4), dtype=np.int64)  # shard, offset, height, width
        seen = np.zeros(count, dtype=bool)
        self.shards: list[Path] = []
        for k, idx_path in enumerate(sorted(folder.glob("shard-*.idx.npy"))):
            try:
                rows = np.load(idx_path, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise DataError(f"pixel cache index {idx_path} is unreadable ({e}); delete {folder} to rebuild it") \
                    from None
            self.shards.append(idx_path.with_name(idx_path.name.replace(".idx.npy", ".bin")))
            index[rows[:, 0]] = np.column_stack([np.full(len(rows), k), rows[:, 1:]])
            seen[rows[:, 0]] = True
        if not seen.all():
            raise DataError(f"the packed pixel cache {folder} lacks {int((~seen).sum())} of {count} images; "
                            "run again to finish building it")
        self.index = index
        self._fds: dict[int, int] = {}
        self._pid = -1

    def __len__(self) -> int:
        return len(self.index)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fds": {}, "_pid": -1}

    def _fd(self, shard: int) -> int:
        if self._pid != os.getpid():  # a forked loader worker opens its own descriptors
            self._fds, self._pid = {}, os.getpid()
        if shard not in self._fds:
            self._fds[shard] = os.open(self.shards[shard], os.O_RDONLY)
        return self._fds[shard]

    def __getitem__(self, i: int) -> torch.Tensor:
        shard, offset, height, width = (int(v) for v in self.index[i])
        size = height * width * 3
        try:
            data = bytearray(size)
            got = os.preadv(self._fd(shard), [data], offset)
        except OSError as e:
            raise DataError(f"pixel cache shard {self.shards[shard]} is unreadable ({e}); delete {self.folder} "
                            "to rebuild it") from None
        if got != size:
            raise DataError(f"pixel cache shard {self.shards[shard]} is shorter than its index; delete "
                            f"{self.folder} to rebuild it")
        return to_tensor(np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3))
