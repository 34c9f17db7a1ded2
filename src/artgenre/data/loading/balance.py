"""Class imbalance (``trainer.class_balance``): Pollock has 24 paintings, Picasso 439.

* ``none``     every image once per epoch, plain cross-entropy (the study).
* ``loss``     every image once per epoch, cross-entropy weighted by n / (k * n_c) per class c
               (n images, k classes): each class weighs the same in the loss, and the weights
               average to 1 over the training set, so the learning rate keeps its meaning.
* ``sampler``  an epoch draws every class equally often (sampler.BalancedShardSampler).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from artgenre.data.loading.sampler import BalancedShardSampler, TrainShardSampler


def _every_image_once(
    labels: Sequence[int], rank: int, world_size: int, seed: int, batch_size: int
) -> TrainShardSampler:
    return TrainShardSampler(len(labels), rank, world_size, seed, batch_size)


@dataclass(frozen=True)
class Balance:
    sampler: Callable[[Sequence[int], int, int, int, int], TrainShardSampler]  # (labels, rank, world, seed, batch)
    weighted_loss: bool


CLASS_BALANCE: dict[str, Balance] = {
    "none": Balance(_every_image_once, weighted_loss=False),
    "loss": Balance(_every_image_once, weighted_loss=True),
    "sampler": Balance(BalancedShardSampler, weighted_loss=False),
}


def class_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """n / (k * n_c) for each class c present in ``labels``; 0 for a class with no images."""
    counts = torch.bincount(torch.as_tensor(list(labels), dtype=torch.long), minlength=num_classes).double()
    present = counts > 0
    weights = torch.zeros(num_classes, dtype=torch.float64)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights.float()


def train_sampler(
    mode: str, labels: Sequence[int], rank: int, world_size: int, seed: int, batch_size: int
) -> TrainShardSampler:
    return CLASS_BALANCE[mode].sampler(labels, rank, world_size, seed, batch_size)


def loss_weights(mode: str, labels: Sequence[int], num_classes: int) -> Optional[torch.Tensor]:
    return class_weights(labels, num_classes) if CLASS_BALANCE[mode].weighted_loss else None
