"""The train and validation data of a prepared image set, decoded or read from the pixel cache.

The datasets yield (3 x image_size x image_size uint8 tensor, label); a DataLoader batches them
as uint8, and :class:`DeviceBatches` moves each batch to the training device and only there
makes normalised floats of it.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader

from artgenre.data import cache
from artgenre.data.dataset import CachedImageDataset, ImageListDataset
from artgenre.data.listing import ImageSet
from artgenre.data.transforms import AUGMENTATIONS, geometry


def build_datasets(
    data: DictConfig, image_set: ImageSet, split: list[str], workers: int, progress: bool
) -> tuple[ImageListDataset | CachedImageDataset, ImageListDataset | CachedImageDataset]:
    """(train, val) for ``data.image_size`` and ``data.augment``; test images are never loaded."""
    size, layout = data.image_size, AUGMENTATIONS[data.augment].cache_layout
    pixels = cache.ensure(image_set, size, layout, workers, progress) if data.cache else None

    def one(which: str, train: bool) -> ImageListDataset | CachedImageDataset:
        rows = [i for i, s in enumerate(split) if s == which]
        labels = [image_set.records[i].label for i in rows]
        tf = geometry(size, data.augment, train)
        if pixels is not None:
            return CachedImageDataset(pixels, rows, labels, tf)
        paths = [image_set.records[i].path for i in rows]
        min_side = cache.LAYOUTS[layout].min_side(size)
        return ImageListDataset(image_set.root, paths, labels, tf, min_side, data.max_pixels)

    return one("train", True), one("val", False)


class DeviceInput:
    """uint8 batch -> float batch in [0, 1], normalised, on ``device``: the one place model
    inputs are made, for training, evaluation and prediction alike, so all three feed the
    model the same numbers. No host synchronisation (the copy is non-blocking from pinned
    memory on CUDA), and no float batch is ever built in host memory."""

    def __init__(self, device: torch.device, mean: Sequence[float], std: Sequence[float], normalize: bool) -> None:
        self.device = device
        shape = (1, 3, 1, 1)
        self.mean = torch.tensor(mean, dtype=torch.float32, device=device).view(shape) if normalize else None
        self.std = torch.tensor(std, dtype=torch.float32, device=device).view(shape) if normalize else None

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).to(torch.float32).div_(255.0)
        if self.mean is not None:
            x.sub_(self.mean).div_(self.std)
        return x


class DeviceBatches:
    """Iterates a DataLoader of uint8 batches and yields (model input, labels) on ``device``."""

    def __init__(self, loader: DataLoader, device: torch.device, mean: Sequence[float], std: Sequence[float],
                 normalize: bool) -> None:
        self.loader, self.device = loader, device
        self.to_input = DeviceInput(device, mean, std, normalize)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            yield self.to_input(images), labels.to(self.device, non_blocking=True)
