"""Manifest images as a torch Dataset: decoded from the archive, or read from the pixel cache.

Either way a sample starts as a 3 x H x W uint8 tensor, so the transforms are the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from artgenre.data import decode
from artgenre.data.archive import Archive, open_archive
from artgenre.data.loading.cache import PixelCache, to_tensor
from artgenre.errors import ReadError


class ImageListDataset(Dataset):
    """Decodes each image on every access (JPEGs in draft mode, no smaller than ``min_side``)."""

    def __init__(
        self,
        root: Path,
        paths: Sequence[str],
        labels: Sequence[int],
        transform: Callable,
        min_side: Optional[int] = None,
        max_pixels: int = decode.DEFAULT_MAX_PIXELS,
        archive: Optional[Archive] = None,
    ) -> None:
        self.root = Path(root)
        self.archive = archive if archive is not None else open_archive(self.root)
        self.paths = list(paths)
        self.labels = list(labels)
        self.transform = transform
        self.min_side = min_side
        self.max_pixels = max_pixels

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, i: int) -> torch.Tensor:
        try:
            with self.archive.open(self.paths[i]) as f:
                image = decode.load_rgb(f, self.min_side, self.max_pixels)
        except (OSError, decode.ImageProblem) as e:
            raise ReadError(f"cannot read image {self.root / self.paths[i]}: {e}") from None
        return to_tensor(np.array(image))  # a writable copy: torch refuses to share read-only memory

    def __getitem__(self, i: int):
        return self.transform(self.load(i)), self.labels[i]


class CachedImageDataset(Dataset):
    """Reads pre-resized pixels: ``indices`` are manifest rows of ``cache``; ``transform=None``: the
    stored pixels are already the model's image (the ``square`` layout of ``data.augment=none``)."""

    def __init__(self, cache: PixelCache, indices: Sequence[int], labels: Sequence[int],
                 transform: Optional[Callable]) -> None:
        self.cache = cache
        self.indices = list(indices)
        self.labels = list(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        pixels = self.cache[self.indices[i]]
        return (pixels if self.transform is None else self.transform(pixels)), self.labels[i]
