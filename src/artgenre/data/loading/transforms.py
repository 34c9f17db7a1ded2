"""uint8 image -> model input, by augmentation preset (``data.augment``).

Every preset is a pair: the training pipeline and its deterministic evaluation counterpart.

* ``none``   the study: squash the whole painting to a square, in training and evaluation.
* ``basic``  random resized crop (half to all of the painting) + horizontal flip.
* ``strong`` a wider random resized crop + flip + RandAugment (2 ops, magnitude 9): colour,
             contrast, sharpness, posterize, shear, translate, rotate.
* ``deit``   DeiT's per-image recipe: random resized crop of 8 % to all of the painting + flip +
             RandAugment (2 ops, magnitude 9). Its random erasing is ``data.random_erasing``
             (on the device, training.mixing) and its mixup/CutMix ``trainer.mix``.

Evaluation for ``basic`` and ``strong`` resizes the shorter side to 1.15 x image_size (the size the
pixel cache stores) and takes the centre crop, the usual "crop_pct = 0.87". Evaluation for
``none`` squashes like its training does: a model trained on squashed paintings is judged on
squashed paintings, as in the study.

The loaders run only the geometry, on 3 x H x W uint8 tensors (torchvision's antialiased uint8
resize is the fast one), and deliver uint8 batches; pipeline.DeviceInput turns them into
normalised floats on the model's device (training, eval and predict alike): a quarter of the
bytes through shared and pinned memory, and on a GPU the conversion is free.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from torchvision.transforms import v2

from artgenre.data.loading.cache import short_side

Steps = Callable[[int], list]


def _squash(size: int) -> list:
    return [v2.Resize((size, size), antialias=True)]


def _resize_centre_crop(size: int) -> list:
    return [v2.Resize(short_side(size), antialias=True), v2.CenterCrop(size)]


def _basic(size: int) -> list:
    return [v2.RandomResizedCrop(size, scale=(0.5, 1.0), antialias=True), v2.RandomHorizontalFlip()]


def _strong(size: int) -> list:
    return [v2.RandomResizedCrop(size, scale=(0.25, 1.0), antialias=True), v2.RandomHorizontalFlip(),
            v2.RandAugment(num_ops=2, magnitude=9)]


def _deit(size: int) -> list:
    return [v2.RandomResizedCrop(size, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip(),
            v2.RandAugment(num_ops=2, magnitude=9)]


@dataclass(frozen=True)
class Preset:
    train: Steps
    eval: Steps
    cache_layout: str  # how data.cache stores images for this preset (cache.LAYOUTS)


AUGMENTATIONS: dict[str, Preset] = {
    "none": Preset(train=_squash, eval=_squash, cache_layout="square"),
    "basic": Preset(train=_basic, eval=_resize_centre_crop, cache_layout="margin"),
    "strong": Preset(train=_strong, eval=_resize_centre_crop, cache_layout="margin"),
    "deit": Preset(train=_deit, eval=_resize_centre_crop, cache_layout="margin"),
}


def geometry(image_size: int, augment: str, train: bool) -> v2.Compose:
    """PIL image or 3 x H x W uint8 tensor -> 3 x image_size x image_size uint8 tensor."""
    preset = AUGMENTATIONS[augment]
    return v2.Compose([v2.ToImage(), *(preset.train if train else preset.eval)(image_size), v2.ToPureTensor()])
