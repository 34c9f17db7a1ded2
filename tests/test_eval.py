"""artgenre-eval on a real short training run: it reproduces training's validation accuracy exactly.

The training run is made once per session by :func:`trained_run` (also used by
test_predict.py and test_report.py) and never written to by the tests: each evaluation
writes into its own tmp folder.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from artgenre import eval as ag_eval
from artgenre.evaluation.predictions import Predictions
from artgenre.evaluation.scores import summarize
from artgenre.errors import CheckpointError, ConfigError, DataError
from conftest import TINY, VENV_BIN, run_cli

EPOCHS = 2
HAVE_TENSORBOARD = importlib.util.find_spec("tensorboard") is not None


def trained_run(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """A finished 2-epoch run (with TensorBoard logs where installed), trained once per test session.

    Several test modules ask for it; a marker file in the session's base tmp folder makes the
    second ask reuse the first run instead of training again.
    """
    run_dir = tmp_path_factory.getbasetemp() / "trained_run"
    if (run_dir / ".complete").is_file():
        return run_dir
    overrides = [*TINY, f"data.root={synthetic_root}", f"trainer.epochs={EPOCHS}", f"hydra.run.dir={run_dir}",
                 f"trainer.tensorboard={str(HAVE_TENSORBOARD).lower()}"]
    result = run_cli(overrides, cwd=tmp_path_factory.getbasetemp())
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir / ".complete").touch()
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    return trained_run(tmp_path_factory, synthetic_root)


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def val_paths(run_dir: Path) -> list[str]:
    with (run_dir / "split.csv").open(newline="") as f:
        return [row["path"] for row in csv.DictReader(f) if row["split"] == "val"]


def evaluate(checkpoint: Path, out: Path, *args: str) -> dict:
    return ag_eval.run(ag_eval.parse_args([f"checkpoint={checkpoint}", f"out={out}", *args]))


def read_predictions(out: Path) -> list[dict[str, str]]:
    with (out / "predictions.csv").open(newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------ exactness


def test_best_checkpoint_reproduces_best_val_acc(run_dir: Path, tmp_path: Path) -> None:
    rows = metrics_rows(run_dir)
    best = max(rows, key=lambda r: (float(r["val_acc"]), -int(r["epoch"])))  # training keeps the first best
    result = evaluate(run_dir / "checkpoints" / "best.pt", tmp_path / "eval")
    assert result["top1"] == pytest.approx(float(best["val_acc"]), abs=1e-9)
    assert result["balanced_acc"] == pytest.approx(float(best["val_acc_balanced"]), abs=1e-9)
    assert result["loss"] == pytest.approx(float(best["val_loss"]), rel=1e-4)
    assert result["n_images"] == int(best["n_val"])
    summary = json.loads((tmp_path / "eval" / "summary.json").read_text())
    assert summary["epoch"] == int(best["epoch"]) and summary["top1"] == result["top1"]


def test_last_checkpoint_reproduces_last_epoch(run_dir: Path, tmp_path: Path) -> None:
    last = metrics_rows(run_dir)[-1]
    result = evaluate(run_dir / "checkpoints" / "last.pt", tmp_path / "eval")
    assert int(last["epoch"]) == EPOCHS
    assert result["top1"] == pytest.approx(float(last["val_acc"]), abs=1e-9)


def test_outputs_cover_every_val_image_once(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = evaluate(run_dir / "checkpoints" / "best.pt", out)
    predictions = read_predictions(out)
    assert [p["path"] for p in predictions] == val_paths(run_dir)
    assert 100.0 * sum(int(p["correct"]) for p in predictions) / len(predictions) == result["top1"]
    assert all(0.0 < float(p["probability"]) <= 1.0 for p in predictions)

    with (out / "confusion.csv").open(newline="") as f:
        cm_rows = list(csv.reader(f))
    classes = cm_rows[0][1:]
    assert len(classes) == 10 and [r[0] for r in cm_rows[1:]] == classes
    cm = np.array([[int(v) for v in r[1:]] for r in cm_rows[1:]])
    assert cm.sum() == len(predictions) and 100.0 * np.trace(cm) / cm.sum() == result["top1"]

    with (out / "per_class.csv").open(newline="") as f:
        per_class = list(csv.DictReader(f))
    assert [r["class"] for r in per_class] == classes
    assert [int(r["support"]) for r in per_class] == cm.sum(axis=1).tolist()
    with Image.open(out / "confusion.png") as im:
        im.verify()
        assert im.format == "PNG"
    assert 0.0 <= result["top1"] <= result["top3"] <= 100.0


def test_two_processes_give_the_same_result(run_dir: Path, tmp_path: Path) -> None:
    one = tmp_path / "one"
    evaluate(run_dir / "checkpoints" / "best.pt", one)
    two = tmp_path / "two"
    cmd = [str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node=2", "-m", "artgenre.eval",
           f"checkpoint={run_dir / 'checkpoints' / 'best.pt'}", f"out={two}"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("top-1") == 1  # rank 0 alone prints
    s1, s2 = (json.loads((d / "summary.json").read_text()) for d in (one, two))
    assert s2["processes"] == 2
    for key in ("top1", "top3", "balanced_acc", "n_images"):
        assert s1[key] == s2[key], key
    assert read_predictions(one) == read_predictions(two)  # same images, same order, same answers


def test_all_split_and_moved_data(run_dir: Path, synthetic_root: Path, tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    shutil.copytree(synthetic_root, moved)
    result = evaluate(run_dir / "checkpoints" / "best.pt", tmp_path / "all", "split=all", f"data.root={moved}")
    with (run_dir / "split.csv").open(newline="") as f:
        assert result["n_images"] == sum(1 for _ in csv.DictReader(f))
    summary = json.loads((tmp_path / "all" / "summary.json").read_text())
    assert summary["data_root"] == str(moved)


def test_default_output_folder_is_in_the_run(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)  # the shared run stays as training left it
    ag_eval.run(ag_eval.parse_args([f"checkpoint={copy / 'checkpoints' / 'best.pt'}"]))
    assert (copy / "eval_val" / "summary.json").is_file()


# ------------------------------------------------------------------ clear failures


def test_test_split_is_a_clear_error(run_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no test images"):
        evaluate(run_dir / "checkpoints" / "best.pt", tmp_path / "x", "split=test")


def test_test_split_when_the_run_has_one(run_dir: Path, tmp_path: Path) -> None:
    """A run trained with data.test_fraction > 0 can be evaluated on its test images."""
    state = torch.load(run_dir / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
    state["config"]["data"]["test_fraction"] = 0.2
    checkpoint = tmp_path / "with_test.pt"  # no split.csv beside it: nothing to compare with
    torch.save(state, checkpoint)
    # the shared data's manifest stays as it is (a cache_dir stored in a checkpoint is not trusted: given here)
    manifest = f"data.cache_dir={tmp_path / 'manifest'}"
    test = evaluate(checkpoint, tmp_path / "test", "split=test", manifest)
    with (tmp_path / "manifest" / "manifest.csv").open(newline="") as f:
        splits = [row["split"] for row in csv.DictReader(f)]
    assert test["n_images"] == splits.count("test") > 0
    val = evaluate(checkpoint, tmp_path / "val", manifest)  # a test split leaves the validation images as they were
    assert val["top1"] == pytest.approx(state["best_val_acc"], abs=1e-9)


def test_changed_data_is_caught(run_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    text = (copy / "split.csv").read_text().replace(",val\n", ",train\n", 1)  # as if the split had differed
    (copy / "split.csv").write_text(text)
    with pytest.raises(DataError, match="not the ones this checkpoint was trained"):
        evaluate(copy / "checkpoints" / "best.pt", tmp_path / "x")


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError, match="no checkpoint"):
        ag_eval.parse_args([])
    with pytest.raises(ConfigError, match="splt"):
        ag_eval.parse_args(["checkpoint=x.pt", "splt=val"])
    with pytest.raises(ConfigError, match="split=train"):
        ag_eval.parse_args(["checkpoint=x.pt", "split=train"])


def test_cli_error_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(SystemExit) as exit_info:
        ag_eval.main([f"checkpoint={bad}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read checkpoint") and len(err.strip().splitlines()) == 1


def test_missing_checkpoint() -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        ag_eval.run(ag_eval.parse_args(["checkpoint=/nonexistent/best.pt"]))


# ------------------------------------------------------------------ the metrics themselves


def test_summarize_on_a_known_example() -> None:
    # 3 classes; class 2 never occurs and is never predicted
    labels = np.array([0, 0, 0, 1, 1])
    logits = np.array([[3, 2, 1], [3, 1, 2], [1, 3, 2], [1, 3, 2], [3, 2, 1]], dtype=np.float32)
    p = Predictions([f"{i}.jpg" for i in range(5)], labels, logits, logits.argmax(1))
    r = summarize(p, ["a", "b", "c"])
    assert r["top1"] == 60.0 and r["top3"] == 100.0
    assert r["balanced_acc"] == pytest.approx(100 * (2 / 3 + 1 / 2) / 2)
    assert r["confusion"].tolist() == [[2, 1, 0], [1, 1, 0], [0, 0, 0]]
    a, b, c = r["per_class"]
    assert (a["precision"], a["recall"]) == pytest.approx((200 / 3, 200 / 3))
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((50.0, 50.0, 50.0))
    assert c["support"] == 0 and np.isnan(c["recall"]) and np.isnan(c["f1"])
