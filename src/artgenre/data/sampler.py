"""Samplers that shard a data set over ranks without losing or double-counting images.

Evaluation: rank r takes images r, r + W, r + 2W, ... Every image is seen exactly once
across the ranks; ranks may hold one image more than others (no padding, no drop_last).

Training: DDP needs the same number of steps on every rank, so the shuffled list is
padded with repeats up to equal shard lengths. The repeats sit at the end of each shard
(``num_real`` says where they start) so that metrics count every image once.
"""

from __future__ import annotations

from typing import Iterator

import torch
from torch.utils.data import Sampler


class EvalShardSampler(Sampler[int]):
    def __init__(self, size: int, rank: int, world_size: int) -> None:
        self.indices = list(range(rank, size, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class TrainShardSampler(Sampler[int]):
    def __init__(self, size: int, rank: int, world_size: int, seed: int, batch_size: int) -> None:
        if size == 0:
            raise ValueError("empty training set")
        self.size, self.rank, self.world_size = size, rank, world_size
        self.seed, self.batch_size = seed, batch_size
        self.epoch = 0
        self.num_real = len(range(rank, size, world_size))
        per_rank = -(-size // world_size)
        # a last batch of one image breaks BatchNorm in training: pad it to two
        if batch_size > 1 and per_rank % batch_size == 1:
            per_rank += 1
        self.per_rank = per_rank

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)  # same order on every rank
        order = torch.randperm(self.size, generator=g).tolist()
        total = self.per_rank * self.world_size
        padded = order + [order[i % self.size] for i in range(total - self.size)]
        return iter(padded[self.rank :: self.world_size])

    def __len__(self) -> int:
        return self.per_rank
