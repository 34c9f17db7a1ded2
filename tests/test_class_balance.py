"""Class imbalance: the balanced sampler's sharding contract, the loss weights, per-class metrics."""

from __future__ import annotations

import contextlib
import csv
from collections import Counter
from pathlib import Path

import pytest
import torch
from torch import nn

from artgenre.data.loading.balance import CLASS_BALANCE, class_weights, loss_weights, train_sampler
from artgenre.data.loading.sampler import BalancedShardSampler
from artgenre.training.engine import StepContext, train_one_epoch
from artgenre.rundir.metrics import PerClassCSV
from conftest import TINY, run_cli

# the study's imbalance, scaled down: Picasso 44 ... Pollock 3
LABELS = [c for c, n in enumerate([44, 26, 26, 25, 19, 18, 12, 10, 8, 3]) for _ in range(n)]


@pytest.mark.parametrize("world,batch", [(1, 32), (2, 32), (3, 7), (4, 5)])
def test_balanced_shards_are_equal_and_real_draws_counted_once(world: int, batch: int) -> None:
    samplers = [BalancedShardSampler(LABELS, r, world, seed=1, batch_size=batch) for r in range(world)]
    assert len({len(s) for s in samplers}) == 1, "DDP needs the same number of steps on every rank"
    real = Counter()
    for s in samplers:
        order = list(s)
        assert len(order) == len(s) and (len(order) % batch != 1 or batch == 1)
        real.update(order[: s.num_real])
    assert sum(real.values()) == len(LABELS), "an epoch is as long as the data set"
    per_class = Counter(LABELS[i] for i in real.elements())
    assert max(per_class.values()) - min(per_class.values()) <= 1, per_class
    assert len(real) > 80, "the large classes are subsampled differently from the small ones being repeated"


def test_balanced_order_repeats_per_seed_and_epoch_and_agrees_across_ranks() -> None:
    a = BalancedShardSampler(LABELS, 0, 2, seed=3, batch_size=8)
    b = BalancedShardSampler(LABELS, 1, 2, seed=3, batch_size=8)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    a.set_epoch(0)
    assert list(a) == first
    # the two ranks shard one global draw: interleaved, they are the one-process order
    single = BalancedShardSampler(LABELS, 0, 1, seed=3, batch_size=8)
    interleaved = [i for pair in zip(first, list(b)) for i in pair]
    assert interleaved[: len(LABELS)] == list(single)  # 191 draws; the 192nd pads rank 1


def test_small_classes_use_every_image_before_repeating() -> None:
    s = BalancedShardSampler(LABELS, 0, 1, seed=0, batch_size=4)
    drawn = list(s)[: s.num_real]
    pollock = [i for i in drawn if LABELS[i] == 9]
    assert set(pollock) == {i for i, y in enumerate(LABELS) if y == 9}
    assert max(Counter(pollock).values()) - min(Counter(pollock).values()) <= 1


def test_class_weights_balance_the_classes_and_average_one() -> None:
    w = class_weights(LABELS, 11)  # class 10 has no image
    counts = Counter(LABELS)
    assert w[10] == 0
    assert all(abs(w[c] * counts[c] - len(LABELS) / 10) < 1e-3 for c in range(10)), "every class weighs the same"
    assert abs(sum(w[y].item() for y in LABELS) / len(LABELS) - 1) < 1e-5


def test_registry_modes() -> None:
    assert set(CLASS_BALANCE) == {"none", "loss", "sampler"}
    assert loss_weights("none", LABELS, 10) is None and loss_weights("sampler", LABELS, 10) is None
    assert loss_weights("loss", LABELS, 10).shape == (10,)
    assert type(train_sampler("sampler", LABELS, 0, 1, 0, 8)) is BalancedShardSampler
    plain = train_sampler("loss", LABELS, 0, 1, 0, 8)
    assert sorted(list(plain)[: plain.num_real]) == list(range(len(LABELS)))


def test_weighted_loss_reaches_the_training_step() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(12, 4), torch.tensor([0] * 10 + [1] * 2)
    losses = {}
    for name, weight in (("plain", None), ("weighted", class_weights(y.tolist(), 2))):
        model = nn.Linear(4, 2)
        with torch.no_grad():
            model.weight.zero_()
            model.bias.copy_(torch.tensor([2.0, 0.0]))  # predicts the large class
        ctx = StepContext(device=torch.device("cpu"), autocast=contextlib.nullcontext, scaler=None,
                          class_weight=weight)
        opt = torch.optim.SGD(model.parameters(), lr=0.0)
        losses[name] = train_one_epoch(model, [(x, y)], opt, ctx, num_real=12)["loss"]
    assert losses["weighted"] > losses["plain"], "the rare class's errors count for more"


def test_per_class_csv_continues_after_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "val_acc_per_class.csv"
    out = PerClassCSV(path, ["a", "b"])
    out.start(0)
    for epoch in (1, 2, 3):
        out.append(epoch, [50.0, 100.0])
    PerClassCSV(path, ["a", "b"]).start(2)  # resumed from a checkpoint of epoch 2
    assert path.read_text().splitlines() == ["epoch,a,b", "1,50.0000,100.0000", "2,50.0000,100.0000"]


@pytest.mark.slow  # trains (see tests/slow_guard.py)
def test_two_ranks_balanced_sampler_on_the_pixel_cache(synthetic_root: Path, tmp_path: Path) -> None:
    """torchrun, 2 processes: rank 0 prepares and builds the cache while rank 1 waits; the balanced
    sampler's epoch is as long as the training set and the metrics count it exactly once."""
    args = [*TINY, f"data.root={synthetic_root}", "data.cache=true", "trainer.class_balance=sampler",
            "trainer.epochs=1", "hydra.run.dir=run"]
    result = run_cli(args, cwd=tmp_path, nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "split.csv", newline="") as f:
        n_train = sum(r["split"] == "train" for r in csv.DictReader(f))
    with open(tmp_path / "run" / "metrics.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert int(row["n_train"]) == n_train
    assert (tmp_path / "run" / "val_acc_per_class.csv").is_file()
