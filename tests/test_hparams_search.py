"""hparams_search=optuna: Hydra's Optuna sweeper runs real trials and keeps the best validation accuracy."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_module

from conftest import TINY, run_cli

HAVE_OPTUNA = importlib.util.find_spec("hydra_plugins.hydra_optuna_sweeper") is not None
needs_optuna = pytest.mark.skipif(not HAVE_OPTUNA, reason="needs hydra-optuna-sweeper (pip install 'artgenre[optuna]')")
SPACE = {"optim.lr", "optim.weight_decay", "model.drop_path", "data.augment"}


@needs_optuna
def test_preset_searches_the_four_settings_for_the_highest_accuracy() -> None:
    with initialize_config_module("artgenre.conf", version_base="1.3"):
        cfg = compose("train", overrides=["hparams_search=optuna", "hydra/launcher=greene"], return_hydra_config=True)
    sweeper = cfg.hydra.sweeper
    assert set(sweeper.params) == SPACE and sweeper.direction == "maximize"
    assert cfg.hydra.launcher._target_.endswith("SlurmLauncher")  # the same search on Slurm


@pytest.mark.slow
@needs_optuna
def test_three_trials_on_the_synthetic_set(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=1", "hparams_search=optuna",
                      "hydra.sweeper.n_trials=3", f"hydra.sweep.dir={sweep}"], cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = sorted(p.parent for p in sweep.glob("*/metrics.csv"))
    assert [r.name for r in runs] == ["0_vit_scratch", "1_vit_scratch", "2_vit_scratch"]
    best = {}
    for run in runs:
        with (run / "metrics.csv").open(newline="") as f:
            best[run.name] = max(float(r["val_acc"]) for r in csv.DictReader(f))
        overrides = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
        sampled = dict(o.split("=", 1) for o in overrides if o.split("=", 1)[0] in SPACE)
        assert set(sampled) == SPACE
        assert 1e-5 <= float(sampled["optim.lr"]) <= 3e-3 and 0 <= float(sampled["model.drop_path"]) <= 0.3
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == max(best.values())
    assert set(results["best_params"]) == SPACE
