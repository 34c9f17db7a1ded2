"""Samplers that shard a data set over ranks without losing or double-counting images.

Evaluation: rank r takes images r, r + W, r + 2W, ... Every image is seen exactly once
across the ranks; ranks may hold one image more than others (no padding, no drop_last).

Training: DDP needs the same number of steps on every rank, so the shuffled list is
padded with repeats up to equal shard lengths. The repeats sit at the end of each shard
(``num_real`` says where they start) so that metrics count every image once.

Class-balanced training (``trainer.class_balance=sampler``): the epoch's list is drawn so
that every class fills the same share of it, then padded and sharded exactly as above.
"""

from __future__ import annotations

from typing import Iterator, Sequence

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

    def epoch_order(self, g: torch.Generator) -> list[int]:
        """The epoch's ``size`` sample indices before padding and sharding: each image once."""
        return torch.randperm(self.size, generator=g).tolist()

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)  # same order on every rank
        order = self.epoch_order(g)
        total = self.per_rank * self.world_size
        padded = order + [order[i % self.size] for i in range(total - self.size)]
        return iter(padded[self.rank :: self.world_size])

    def __len__(self) -> int:
        return self.per_rank


class BalancedShardSampler(TrainShardSampler):
    """An epoch of ``len(labels)`` draws in which every class appears equally often (within one).

    A class's images are used in shuffled rounds: all of them once before any repeats, so a
    small class is repeated and a large one subsampled, each differently every epoch. The
    draws are the same on every rank (one generator, one seed) and then padded and sharded
    like TrainShardSampler's, so ``num_real`` keeps its meaning: the draws of this rank that
    are not padding.
    """

    def __init__(self, labels: Sequence[int], rank: int, world_size: int, seed: int, batch_size: int) -> None:
        super().__init__(len(labels), rank, world_size, seed, batch_size)
        by_class: dict[int, list[int]] = {}
        for i, y in enumerate(labels):
            by_class.setdefault(int(y), []).append(i)
        self.members = [by_class[y] for y in sorted(by_class)]

    def epoch_order(self, g: torch.Generator) -> list[int]:
        n_classes = len(self.members)
        share = [self.size // n_classes] * n_classes
        for c in torch.randperm(n_classes, generator=g)[: self.size % n_classes].tolist():
            share[c] += 1
        draws: list[int] = []
        for members, k in zip(self.members, share):
            rounds = -(-k // len(members))
            picks = torch.cat([torch.randperm(len(members), generator=g) for _ in range(rounds)])[:k]
            draws += [members[j] for j in picks.tolist()]
        return [draws[j] for j in torch.randperm(len(draws), generator=g).tolist()]
