"""Sharding: evaluation sees every image once; training pads to equal shards, marked as such."""

from __future__ import annotations

from collections import Counter

import pytest

from artgenre.data.loading.sampler import EvalShardSampler, TrainShardSampler


@pytest.mark.parametrize("size,world", [(74, 2), (75, 2), (10, 3), (1, 4), (288, 8)])
def test_eval_shards_cover_every_index_once(size: int, world: int) -> None:
    seen = [i for r in range(world) for i in EvalShardSampler(size, r, world)]
    assert sorted(seen) == list(range(size))


@pytest.mark.parametrize("size,world,batch", [(406, 2, 32), (407, 2, 32), (33, 1, 32), (100, 3, 7)])
def test_train_shards_are_equal_and_real_samples_counted_once(size: int, world: int, batch: int) -> None:
    samplers = [TrainShardSampler(size, r, world, seed=1, batch_size=batch) for r in range(world)]
    lengths = {len(s) for s in samplers}
    assert len(lengths) == 1, "DDP needs the same number of steps on every rank"
    real = Counter()
    for s in samplers:
        order = list(s)
        assert len(order) == len(s)
        real.update(order[: s.num_real])
        assert len(order) % batch != 1 or batch == 1, "a last batch of one breaks BatchNorm"
    assert sorted(real) == list(range(size)) and set(real.values()) == {1}


def test_train_order_changes_per_epoch_and_repeats_per_seed() -> None:
    s = TrainShardSampler(50, 0, 1, seed=3, batch_size=8)
    s.set_epoch(0)
    first = list(s)
    s.set_epoch(1)
    assert list(s) != first
    s.set_epoch(0)
    assert list(s) == first
