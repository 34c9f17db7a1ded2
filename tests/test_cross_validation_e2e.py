"""Real runs: a 2-process run's val_predictions.csv equals a 1-process artgenre-eval of its best
checkpoint; a `-m` sweep over data.fold validates every image exactly once and the report pools it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from artgenre import eval as ag_eval
from artgenre.evaluation.report import write_report
from artgenre.rundir.predictions import FILE_NAME, read_val_predictions
from conftest import TINY, run_cli


def _split_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "split.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_two_process_predictions_equal_one_process_eval(synthetic_root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=2", "data.folds=3", "data.fold=1",
                      f"hydra.run.dir={run_dir}"], cwd=tmp_path, nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    trained = read_val_predictions(run_dir / FILE_NAME)
    split = _split_rows(run_dir)
    assert trained.paths == [r["path"] for r in split if r["split"] == "val"]  # each image once, in order
    assert {r["fold"] for r in split if r["split"] == "val"} == {"1"}

    ag_eval.run(ag_eval.parse_args([f"checkpoint={run_dir / 'checkpoints' / 'best.pt'}", f"out={tmp_path / 'e'}",
                                    "device=cpu"]))
    with (tmp_path / "e" / "predictions.csv").open(newline="") as f:
        evaluated = list(csv.DictReader(f))
    assert [r["path"] for r in evaluated] == trained.paths
    assert [r["predicted_class"] for r in evaluated] == [trained.classes[k] for k in trained.predicted]
    assert [int(r["correct"]) for r in evaluated] == trained.correct.tolist()
    p_hat = trained.probabilities[np.arange(len(trained.paths)), trained.predicted]
    assert np.allclose([float(r["probability"]) for r in evaluated], p_hat, atol=2e-6)
    assert np.allclose(trained.probabilities.sum(1), 1.0, atol=1e-4)


@pytest.mark.slow
def test_fold_sweep_validates_every_image_once_and_the_report_pools_it(synthetic_root: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli(["-m", *TINY, f"data.root={synthetic_root}", "trainer.epochs=1", "data.folds=2",
                      "data.fold=0,1", f"hydra.sweep.dir={sweep}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p.parent for p in sweep.rglob(FILE_NAME))
    assert len(runs) == 2
    predicted = [path for r in runs for path in read_val_predictions(r / FILE_NAME).paths]
    every = [r["path"] for r in _split_rows(runs[0])]
    assert sorted(predicted) == sorted(every)  # each image validated exactly once over the folds
    assert [r["fold"] for r in _split_rows(runs[0])] == [r["fold"] for r in _split_rows(runs[1])]

    write_report([sweep], tmp_path / "report")
    with (tmp_path / "report" / "groups.csv").open(newline="") as f:
        groups = list(csv.DictReader(f))
    assert len(groups) == 1 and int(groups[0]["images"]) == len(every) and groups[0]["runs"] == "2"
    correct = sum(read_val_predictions(r / FILE_NAME).correct.sum() for r in runs)
    assert float(groups[0]["accuracy (%)"]) == pytest.approx(100 * correct / len(every), abs=0.01)
