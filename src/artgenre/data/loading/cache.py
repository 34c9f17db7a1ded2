"""The pre-resized pixel cache (``data.cache=true``): its layouts, its files, and reading them
(:mod:`artgenre.data.prepare.pixels` builds it).

Each manifest image is decoded once (JPEGs in draft mode), resized to where its augmentation
preset starts, and saved as a uint8 H x W x 3 ``.npy`` file; a loader worker then reads a few
hundred KB instead of decoding a JPEG. Two layouts (:data:`LAYOUTS`):

* ``square``: for ``data.augment=none``, whose pipeline is deterministic (squash to
  image_size x image_size), the final square itself: an epoch only reads and converts.
* ``margin``: for ``basic``/``strong``, the shorter side at ``RESIZE_MARGIN`` x image_size (what
  evaluation resizes to before its centre crop), never upscaled, the long side capped at
  ``MAX_ASPECT`` times that: random crops keep their margin.

Files: ``<cache_dir>/pixels-v<version>-<layout>-<image_size>/<sha1[:2]>/<sha1>.npy``, named by
the image's content hash from the manifest, so a changed image, another size or another layout
is simply another file: nothing stale is ever read, and one cache serves every artist
selection and split. To reclaim the space, delete the ``pixels-*`` folders.
"""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from artgenre.errors import ReadError

CACHE_VERSION = 1
RESIZE_MARGIN = 1.15
MAX_ASPECT = 4.0


def short_side(image_size: int) -> int:
    return round(image_size * RESIZE_MARGIN)


def _margin_size(width: int, height: int, image_size: int) -> tuple[int, int]:
    short = short_side(image_size)
    scale = min(1.0, short / min(width, height), MAX_ASPECT * short / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _square_size(width: int, height: int, image_size: int) -> tuple[int, int]:
    return image_size, image_size


@dataclass(frozen=True)
class Layout:
    size: Callable[[int, int, int], tuple[int, int]]  # (width, height, image_size) -> stored (width, height)
    min_side: Callable[[int], int]  # image_size -> the smallest side worth decoding (JPEG draft mode)


LAYOUTS: dict[str, Layout] = {
    "square": Layout(_square_size, min_side=lambda image_size: image_size),
    "margin": Layout(_margin_size, min_side=short_side),
}


def cache_folder(cache_dir: Path, image_size: int, layout: str) -> Path:
    return cache_dir / f"pixels-v{CACHE_VERSION}-{layout}-{image_size}"


def cache_file(folder: Path, sha1: str) -> Path:
    return folder / sha1[:2] / f"{sha1}.npy"


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 -> 3 x H x W uint8 view, channels-last in memory: the layout torchvision's
    fast uint8 resize kernels work on without a copy."""
    return torch.from_numpy(pixels).permute(2, 0, 1)


# the header np.save writes for an H x W x 3 uint8 array (then padded with spaces to a multiple of 64)
_HEADER = re.compile(rb"\{'descr': '\|u1', 'fortran_order': False, 'shape': \((\d+), (\d+), 3\), \} *\n")


def read_pixels(path: Path) -> np.ndarray:
    """One cache file as a writable H x W x 3 uint8 array.

    The files are what :mod:`artgenre.data.prepare.pixels` saved; their header is read with one regular expression
    instead of np.load's general parser, which costs more than reading the pixels of a 224 px
    image (0.3 ms per file). Any other .npy is left to np.load."""
    with open(path, "rb") as f:
        data = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(data)
    if data[:8] == b"\x93NUMPY\x01\x00":
        end = 10 + int.from_bytes(data[8:10], "little")
        header = _HEADER.fullmatch(bytes(data[10:end]))
        if header is not None:
            height, width = int(header[1]), int(header[2])
            if len(data) - end == height * width * 3:
                return np.frombuffer(data, dtype=np.uint8, offset=end).reshape(height, width, 3)
    return np.load(io.BytesIO(data), allow_pickle=False)


class PixelCache:
    """Images of a manifest by position, read from their .npy files (decoding nothing)."""

    def __init__(self, folder: Path, sha1s: list[str]) -> None:
        self.folder = folder
        self.sha1s = list(sha1s)

    def __len__(self) -> int:
        return len(self.sha1s)

    def path(self, i: int) -> Path:
        return cache_file(self.folder, self.sha1s[i])

    def __getitem__(self, i: int) -> torch.Tensor:
        path = self.path(i)
        try:
            return to_tensor(read_pixels(path))
        except (OSError, ValueError) as e:
            raise ReadError(f"pixel cache file {path} is unreadable ({e}); delete {self.folder} to rebuild it") \
                from None
