"""The train and validation data of a prepared image set, decoded or read from the pixel cache.

The datasets yield (3 x image_size x image_size uint8 tensor, label); a DataLoader batches them
as uint8, and :class:`DeviceBatches` moves each batch to the training device and only there
makes normalised floats of it.
"""

from __future__ import annotations

from typing import Iterator, Optional, Sequence

import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, get_worker_info

from artgenre.data.loading import cache
from artgenre.data.loading.dataset import CachedImageDataset, ImageListDataset
from artgenre.data.listing import ImageSet
from artgenre.data.loading.transforms import AUGMENTATIONS, geometry


def build_datasets(
    data: DictConfig, image_set: ImageSet, split: list[str], pixels: Optional[cache.PixelCache] = None
) -> tuple[ImageListDataset | CachedImageDataset, ImageListDataset | CachedImageDataset]:
    """(train, val) for ``data.image_size`` and ``data.augment``, read from ``pixels`` (the opened
    pixel cache of this size and layout) when given, else decoded; test images are never loaded."""
    size, layout = data.image_size, AUGMENTATIONS[data.augment].cache_layout

    def one(which: str, train: bool) -> ImageListDataset | CachedImageDataset:
        rows = [i for i, s in enumerate(split) if s == which]
        labels = [image_set.records[i].label for i in rows]
        tf = geometry(size, data.augment, train)
        if pixels is not None:  # the square layout stores the squashed image itself: nothing left to do
            return CachedImageDataset(pixels, rows, labels, None if layout == "square" else tf)
        paths = [image_set.records[i].path for i in rows]
        min_side = cache.LAYOUTS[layout].min_side(size)
        return ImageListDataset(image_set.root, paths, labels, tf, min_side, data.max_pixels, image_set.archive)

    return one("train", True), one("val", False)


class DeviceInput:
    """uint8 batch -> float batch, normalised, on ``device``: the one place model inputs are made,
    for training, evaluation and prediction alike, so all three feed the model the same numbers.

    No host synchronisation (the copy is non-blocking from pinned memory on CUDA), no float batch
    in host memory on a GPU run, and few passes over the floats: one copy turns the NHWC uint8
    batch (see ``collate``) into floats in the model's layout (NCHW, or NHWC with
    ``channels_last``), then (x / 255 - mean) / std is computed in place as x * scale + shift."""

    def __init__(self, device: torch.device, mean: Sequence[float], std: Sequence[float], normalize: bool,
                 channels_last: bool = False) -> None:
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        shape = (1, 3, 1, 1)
        mean_t = torch.tensor(mean if normalize else (0.0, 0.0, 0.0), dtype=torch.float64).view(shape)
        std_t = torch.tensor(std if normalize else (1.0, 1.0, 1.0), dtype=torch.float64).view(shape)
        self.scale = (1.0 / (255.0 * std_t)).to(device=device, dtype=torch.float32)
        self.shift = (-mean_t / std_t).to(device=device, dtype=torch.float32)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True)
        out = torch.empty(x.shape, dtype=torch.float32, device=self.device, memory_format=self.memory_format)
        return out.copy_(x).mul_(self.scale).add_(self.shift)  # the copy converts type and layout at once


def collate(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 3 x H x W uint8 images into a B x 3 x H x W batch stored as B x H x W x 3 (channels-last).

    Decoded and cached images are H x W x 3 in memory, so this is a plain copy (0.8 ms for 64
    images of 224 px, where the default collate's transposing copy took 8 ms); DeviceInput's
    conversion to floats puts the batch in the model's layout. In a loader worker the batch is
    built in shared memory, like the default collate's."""
    images = [image.permute(1, 2, 0) for image, _ in batch]
    first = images[0]
    out = None
    if get_worker_info() is not None:
        storage = first._typed_storage()._new_shared(len(images) * first.numel(), device="cpu")
        out = first.new(storage).resize_(len(images), *first.shape)
    stacked = torch.stack(images, out=out)
    labels = torch.tensor([label for _, label in batch], dtype=torch.long)
    return stacked.permute(0, 3, 1, 2), labels


class DeviceBatches:
    """Iterates a DataLoader of uint8 batches and yields (model input, labels) on ``device``."""

    def __init__(self, loader: DataLoader, device: torch.device, mean: Sequence[float], std: Sequence[float],
                 normalize: bool, channels_last: bool = False) -> None:
        self.loader, self.device = loader, device
        self.to_input = DeviceInput(device, mean, std, normalize, channels_last)

    def __len__(self) -> int:
        return len(self.loader)

    def batch_sizes(self) -> list[int]:
        """The size of every batch of one pass, without loading any (gradient accumulation needs them)."""
        n, size = len(self.loader.sampler), self.loader.batch_size
        sizes = [size] * (n // size)
        if n % size and not self.loader.drop_last:
            sizes.append(n % size)
        return sizes

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, labels in self.loader:
            yield self.to_input(images), labels.to(self.device, non_blocking=True)
