"""The small-data recipes in real training runs: every new key survives an interrupted-and-resumed
run bit-exactly (one process and two), early stopping is recorded and holds across a restart,
and the averaged weights are what best.pt, artgenre-eval and artgenre-predict use."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
import torch

from artgenre import eval as ag_eval
from artgenre import predict as ag_predict
from artgenre.rundir import checkpoint
from artgenre.rundir.runs import read_metrics
from artgenre.runtime import preemption

from conftest import TINY, run_cli
from test_resume_exact import read_rows, start, stop_after_two_epochs, without_timings

EPOCHS = 6


@pytest.fixture(scope="module")
def teacher(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-epoch tiny ViT of another patch size, with its own normalisation: the teacher."""
    base = tmp_path_factory.mktemp("teacher")
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=2", "model.patch_size=16",
                      "data.normalize=false", "hydra.run.dir=teacher"], cwd=base)
    assert result.returncode == 0, result.stderr[-3000:]
    return base / "teacher" / "checkpoints" / "last.pt"


RECIPES = [
    "data.augment=deit", "data.random_erasing=0.5", "trainer.label_smoothing=0.1",
    "trainer.mix.mixup_alpha=0.8", "trainer.mix.cutmix_alpha=1.0", "trainer.mix.switch_prob=0.5",
    "trainer.ema.enabled=true", "trainer.ema.decay=0.9", "optim.name=lamb", "optim.layer_decay=0.75",
    "trainer.early_stopping.patience=100", "trainer.distill.kind=soft", "trainer.accum_steps=2",
]


@pytest.mark.slow
@pytest.mark.parametrize("nproc, extra", [
    (1, []),
    (2, ["trainer.stop_check_every=2", "trainer.distill.kind=hard"]),
], ids=["1proc", "2proc"])
def test_every_recipe_key_survives_an_interrupted_and_resumed_run(
    synthetic_root: Path, tmp_path: Path, teacher: Path, nproc: int, extra: list[str]
) -> None:
    args = [*TINY, f"data.root={synthetic_root}", f"trainer.epochs={EPOCHS}", "trainer.deterministic=true",
            *RECIPES, f"trainer.distill.teacher={teacher}", *extra]
    reference = run_cli([*args, "hydra.run.dir=reference"], cwd=tmp_path, nproc=nproc)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run_dir, log = tmp_path / "stopped", tmp_path / "stopped.log"
    sig = signal.SIGUSR1 if nproc == 1 else signal.SIGTERM
    status = stop_after_two_epochs(start([*args, "hydra.run.dir=stopped"], tmp_path, nproc, log), run_dir, sig, log)
    assert status == preemption.EXIT_CODE if nproc == 1 else status != 0, log.read_text()[-3000:]
    done = checkpoint.load(run_dir / "checkpoints" / "last.pt")["epoch"]
    assert 2 <= done < EPOCHS

    resumed = run_cli([*args, "hydra.run.dir=stopped"], cwd=tmp_path, nproc=nproc)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"after epoch {done}" in resumed.stdout + resumed.stderr

    rows = read_rows(tmp_path / "reference" / "metrics.csv")
    assert without_timings(read_rows(run_dir / "metrics.csv")) == without_timings(rows)
    assert {r["train_acc_of"] for r in rows} == {"dominant_label"} and all(r["val_acc_ema"] for r in rows)
    final = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    ref = checkpoint.load(tmp_path / "reference" / "checkpoints" / "last.pt")
    assert final["ema_updates"] == ref["ema_updates"] > 0
    for part in ("model", "ema"):
        for name, tensor in ref[part].items():
            assert torch.equal(final[part][name], tensor), f"{part}: {name}"
    for slot, state in ref["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(final["optimizer"]["state"][slot][key]), torch.as_tensor(value)), key


@pytest.mark.slow
def test_early_stopping_is_recorded_holds_on_restart_and_best_pt_uses_the_average(
    synthetic_root: Path, tmp_path: Path
) -> None:
    # min_delta=100: no epoch can beat the first, so patience 1 stops after epoch 2 of 5
    args = [*TINY, f"data.root={synthetic_root}", "trainer.epochs=5", "trainer.ema.enabled=true",
            "trainer.ema.decay=0.5", "trainer.early_stopping.patience=1", "trainer.early_stopping.min_delta=100",
            "hydra.run.dir=run"]
    first = run_cli(args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    run_dir = tmp_path / "run"
    rows = read_rows(run_dir / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert "train_acc_of" not in rows[0], "no mixing: train_acc counts the label, no column needed"
    assert [r["val_acc_ema"] for r in read_metrics(run_dir / "metrics.csv")] == [float(r["val_acc_ema"]) for r in rows]
    record = json.loads((run_dir / "early_stopping.json").read_text())
    assert (record["stopped_after_epoch"], record["best_epoch"], record["monitor"]) == (2, 1, "val_acc_ema")

    again = run_cli(args, cwd=tmp_path)  # restarted (as after a preemption): it stays stopped
    assert again.returncode == 0 and "early stopping after epoch 2" in again.stdout + again.stderr
    assert len(read_rows(run_dir / "metrics.csv")) == 2

    best = checkpoint.load(run_dir / "checkpoints" / "best.pt")
    assert best["epoch"] == 1 and best["best_val_acc"] == float(rows[0]["val_acc_ema"])
    out = tmp_path / "eval"
    averaged = ag_eval.run(ag_eval.parse_args([f"checkpoint={run_dir / 'checkpoints' / 'best.pt'}", f"out={out}"]))
    assert averaged["top1"] == pytest.approx(float(rows[0]["val_acc_ema"]), abs=1e-9)
    assert averaged["loss"] == pytest.approx(float(rows[0]["val_loss_ema"]), rel=1e-4)
    raw = ag_eval.run(ag_eval.parse_args([f"checkpoint={run_dir / 'checkpoints' / 'best.pt'}", f"out={out}",
                                          "weights=raw"]))
    assert raw["top1"] == pytest.approx(float(rows[0]["val_acc"]), abs=1e-9)
    assert raw["loss"] == pytest.approx(float(rows[0]["val_loss"]), rel=1e-4)

    image = next(p for p in synthetic_root.rglob("*.jpg"))
    probs = {w: ag_predict.predict(run_dir / "checkpoints" / "best.pt", [str(image)], k=10, weights=w)[0]
             for w in ("auto", "ema", "raw")}
    assert probs["auto"].predictions == probs["ema"].predictions != probs["raw"].predictions
