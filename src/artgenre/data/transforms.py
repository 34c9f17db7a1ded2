"""Image -> tensor pipelines. Evaluation never augments."""

from __future__ import annotations

from typing import Sequence

from torchvision import transforms as T

AUGMENTATIONS = {
    "none": lambda size: [T.Resize((size, size))],  # the study: squash to a square
    "basic": lambda size: [T.RandomResizedCrop((size, size), scale=(0.5, 1.0)), T.RandomHorizontalFlip()],
}


def build_transform(
    image_size: int, mean: Sequence[float], std: Sequence[float], normalize: bool, augment: str, train: bool
) -> T.Compose:
    steps = AUGMENTATIONS[augment if train else "none"](image_size)
    steps.append(T.ToTensor())
    if normalize:
        steps.append(T.Normalize(mean, std))
    return T.Compose(steps)
