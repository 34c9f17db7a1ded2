"""The README's promises that need a real training run (tiny, slow-marked).

* `trainer.resume=PATH` continues another folder's checkpoint; `trainer.resume=null` refuses a
  folder that already holds a run and leaves it as it was.
* A cosine schedule with warm-up continues, after a resume with another process count, where an
  uninterrupted run with the new count would be.
* `data=folder` trains end to end.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from PIL import Image

from artgenre.data.loading.sampler import TrainShardSampler
from artgenre.rundir import checkpoint
from conftest import TINY, run_cli

pytestmark = pytest.mark.slow

COSINE = ["sched=cosine", "sched.warmup_epochs=1", "sched.min_lr=1e-5", "sched.interval=step", "optim.lr=1e-3"]


def rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def ok(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def cosine_lr(t: int, total: int, warmup: int, base: float = 1e-3, floor: float = 1e-5) -> float:
    if t < warmup:
        return base * (t + 1) / (warmup + 1)
    return floor + (base - floor) * 0.5 * (1 + math.cos(math.pi * (t - warmup) / (total - warmup)))


def test_resume_path_null_and_another_process_count_under_cosine(synthetic_root: Path, tmp_path: Path) -> None:
    args = [*TINY, f"data.root={synthetic_root}", *COSINE]
    ok(run_cli([*args, "trainer.epochs=2", "hydra.run.dir=first"], cwd=tmp_path))
    first = rows(tmp_path / "first")

    # trainer.resume=PATH: another folder's checkpoint, continued in a new folder
    copy = ok(run_cli([*args, "trainer.epochs=3", "hydra.run.dir=copy",
                       f"trainer.resume={tmp_path / 'first' / 'checkpoints' / 'last.pt'}"], cwd=tmp_path))
    assert "after epoch 2" in copy.stdout + copy.stderr
    assert [r["val_acc"] for r in rows(tmp_path / "copy")[:2]] == [r["val_acc"] for r in first]
    assert len(rows(tmp_path / "copy")) == 3

    # trainer.resume=null where a run is: refused, nothing replaced
    before = (tmp_path / "first" / "metrics.csv").read_bytes()
    refused = run_cli([*args, "trainer.epochs=2", "trainer.resume=null", "hydra.run.dir=first"], cwd=tmp_path)
    assert refused.returncode == 2 and "already holds a run" in refused.stderr and "Traceback" not in refused.stderr
    assert (tmp_path / "first" / "metrics.csv").read_bytes() == before
    assert checkpoint.load(tmp_path / "first" / "checkpoints" / "last.pt")["epoch"] == 2

    # 1 process -> 2: the schedule stands where a 2-process run of 4 epochs stands after 2
    ok(run_cli([*args, "trainer.epochs=4", "hydra.run.dir=first"], cwd=tmp_path, nproc=2))
    resumed = rows(tmp_path / "first")
    assert [r["epoch"] for r in resumed] == ["1", "2", "3", "4"]
    n_train, bs = int(resumed[0]["n_train"]), 16
    steps = math.ceil(len(TrainShardSampler(n_train, 0, 2, 0, bs)) / bs)
    for epoch in (3, 4):
        expected = cosine_lr((epoch - 1) * steps, 4 * steps, steps)
        assert float(resumed[epoch - 1]["lr"]) == pytest.approx(expected, rel=1e-4), epoch
    assert float(resumed[2]["lr"]) < float(resumed[1]["lr"]), "the cosine decays, it does not restart"


def test_a_folder_of_class_folders_trains_end_to_end(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    colours = {"reds": (200, 30, 30), "greens": (30, 180, 40), "blues": (20, 40, 210)}
    for name, colour in colours.items():
        (root / name).mkdir(parents=True)
        for i in range(8):
            shade = tuple(max(0, c - 9 * i) for c in colour)
            Image.new("RGB", (40 + i, 36), shade).save(root / name / f"{i}.png")
    tiny = [a for a in TINY if not a.startswith(("data=", "data.synthetic"))]
    ok(run_cli([*tiny, "data=folder", f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}",
                "trainer.epochs=2", "hydra.run.dir=run"], cwd=tmp_path))
    metrics = rows(tmp_path / "run")
    assert [r["epoch"] for r in metrics] == ["1", "2"]
    assert int(metrics[0]["n_train"]) + int(metrics[0]["n_val"]) == 24
    with (tmp_path / "run" / "val_acc_per_class.csv").open(newline="") as f:
        assert next(csv.reader(f)) == ["epoch", "blues", "greens", "reds"]
