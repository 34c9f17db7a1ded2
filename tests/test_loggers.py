"""logger=[csv,tensorboard,mlflow,wandb]: config, the guard around trackers, and what a real run
(resumed once) logged, read back through MLflow's client and W&B's offline run files."""

from __future__ import annotations

import csv
import importlib.util
import logging
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from artgenre.config import validate
from artgenre.errors import ConfigError
from artgenre.loggers import Logger, Loggers, RunContext, chosen, require_loggers
from artgenre.loggers.csv import CSVLogger
from conftest import TINY, run_cli

HAVE_MLFLOW = importlib.util.find_spec("mlflow") is not None
HAVE_WANDB = importlib.util.find_spec("wandb") is not None


def composed(*overrides: str):
    with initialize_config_module("artgenre.conf", version_base="1.3"):
        return validate(compose("train", overrides=["model=vit_scratch", *overrides]))


def test_logger_group_is_a_list_and_csv_is_always_on() -> None:
    assert chosen(composed()) == ["csv"]
    assert chosen(composed("logger=mlflow")) == ["csv", "mlflow"]
    cfg = composed("logger=[tensorboard,mlflow,wandb]", "logger.mlflow.tracking_uri=http://tracker:5000")
    assert chosen(cfg) == ["csv", "tensorboard", "mlflow", "wandb"]
    assert cfg.logger.mlflow.tracking_uri == "http://tracker:5000" and cfg.logger.wandb.mode == "offline"


def test_deprecated_tensorboard_flag_still_turns_it_on() -> None:
    assert chosen(composed("trainer.tensorboard=true")) == ["csv", "tensorboard"]


def test_bad_logger_options_are_named() -> None:
    with pytest.raises(ConfigError, match="logger.mlflow.trackinguri"):
        composed("logger=mlflow", "+logger.mlflow.trackinguri=x")
    with pytest.raises(ConfigError, match="logger.wandb.mode"):
        composed("logger=wandb", "logger.wandb.mode=sometimes")


@pytest.mark.parametrize("name, extra", [("mlflow", "mlflow"), ("wandb", "wandb"), ("tensorboard", "tb")])
def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, name: str, extra: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda mod, *a: None if mod == name else real(mod, *a))
    with pytest.raises(ConfigError, match=f"logger={name} needs the {name} package: pip install 'artgenre\\[{extra}\\]'"):
        require_loggers(composed(f"logger={name}"))


class Flaky(Logger):
    name = "flaky"
    wants_steps = True

    def __init__(self) -> None:
        super().__init__(None)
        self.epochs: list[int] = []

    def log_epoch(self, row, per_class) -> None:
        if row["epoch"] == 2:
            raise ConnectionError("tracking server went away\nmore detail")
        self.epochs.append(row["epoch"])


def context(tmp_path: Path) -> RunContext:
    return RunContext(tmp_path, {"a": 1}, ["x", "y"], steps_per_epoch=3)


def row(epoch: int) -> dict:
    return {"epoch": epoch, "train_loss": 1.0, "train_acc": 50.0, "val_loss": 1.0, "val_acc": 50.0,
            "val_acc_balanced": 50.0, "epoch_time_s": 1.0, "train_time_s": 1.0, "val_time_s": 0.1,
            "train_data_wait_s": 0.0, "lr": 1e-3, "train_images_per_s": 10.0, "n_train": 4, "n_val": 2}


def test_a_failing_tracker_warns_once_and_training_goes_on(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    flaky = Flaky()
    loggers = Loggers([CSVLogger(None), flaky])
    loggers.start(context(tmp_path))
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        for epoch in (1, 2, 3, 4):
            loggers.log_epoch(row(epoch), {"x": 50.0, "y": 50.0})
    loggers.close(True)
    warnings = [r.message for r in caplog.records if "flaky" in r.message]
    assert len(warnings) == 1 and "tracking server went away" in warnings[0] and "more detail" not in warnings[0]
    assert flaky.epochs == [1] and not loggers.wants_steps
    with (tmp_path / "metrics.csv").open() as f:
        assert [int(r["epoch"]) for r in csv.DictReader(f)] == [1, 2, 3, 4]  # csv kept every epoch


def test_csv_failing_stops_the_run(tmp_path: Path) -> None:
    loggers = Loggers([CSVLogger(None)])
    loggers.start(context(tmp_path))
    (tmp_path / "metrics.csv").unlink()
    (tmp_path / "metrics.csv").mkdir()  # cannot be appended to
    with pytest.raises(OSError):
        loggers.log_epoch(row(1), {"x": 1.0, "y": 2.0})


def test_other_ranks_log_nothing(tmp_path: Path) -> None:
    from artgenre.loggers import open_loggers

    assert open_loggers(composed("logger=[tensorboard,mlflow,wandb]"), is_main=False).loggers == []


@pytest.mark.skipif(not HAVE_MLFLOW, reason="mlflow is not installed (pip install 'artgenre[mlflow]')")
def test_unreachable_mlflow_server_is_dropped_with_one_warning(tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    from artgenre.loggers.mlflow import MLflowLogger

    options = OmegaConf.merge(composed("logger=mlflow").logger.mlflow, {"tracking_uri": "http://127.0.0.1:9"})
    loggers = Loggers([MLflowLogger(options)])
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        loggers.start(context(tmp_path))
        loggers.log_epoch(row(1), {})
        loggers.close(True)
    assert len([r for r in caplog.records if "logger mlflow failed in start" in r.message]) == 1
    assert loggers.active == []


# ------------------------------------------------------------------ a real run, resumed


def metrics_rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> tuple[Path, Path]:
    """1 epoch, then the same command resumed to 2 epochs, logging to MLflow and W&B (offline)."""
    if not (HAVE_MLFLOW and HAVE_WANDB):
        pytest.skip("needs mlflow and wandb (pip install 'artgenre[mlflow,wandb]')")
    work = tmp_path_factory.mktemp("tracked")
    run_dir, outputs = work / "run", work / "outputs"
    env = {"ARTGENRE_OUTPUTS": str(outputs), "WANDB_CONFIG_DIR": str(work / "wandb-config"),
           "WANDB_CACHE_DIR": str(work / "wandb-cache"), "WANDB_DATA_DIR": str(work / "wandb-data")}
    for epochs in (1, 2):
        result = run_cli([*TINY, f"data.root={synthetic_root}", f"trainer.epochs={epochs}", f"hydra.run.dir={run_dir}",
                          "logger=[csv,mlflow,wandb]"], cwd=work, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        assert "failed" not in result.stdout + result.stderr
    return run_dir, outputs


@pytest.mark.slow
def test_mlflow_holds_the_config_every_epoch_and_the_artifacts(tracked_run: tuple[Path, Path]) -> None:
    from mlflow.tracking import MlflowClient

    run_dir, outputs = tracked_run
    client = MlflowClient(tracking_uri=f"sqlite:///{outputs / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("artgenre")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # the resumed run continued it
    run = runs[0]
    assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
    assert run.data.params["optim.lr"] == "0.0008" and run.data.params["model.embed_dim"] == "32"
    rows = metrics_rows(run_dir)
    for key in ("val_acc", "train_loss", "lr", "n_val"):
        history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
        assert [m.step for m in history] == [1, 2]
        assert [m.value for m in history] == pytest.approx([float(r[key]) for r in rows])
    per_class = [k for k in run.data.metrics if k.startswith("val_acc_class/")]
    assert len(per_class) == 10
    artifacts = {a.path for folder in ("plots", "run") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"plots/accuracy.png", "plots/loss.png", "run/metrics.csv", "run/split.csv"} <= artifacts
    assert (outputs / "mlartifacts").is_dir()  # the local store keeps artifacts under outputs/ too


@pytest.mark.slow
def test_wandb_offline_files_hold_one_run_with_every_epoch(tracked_run: tuple[Path, Path]) -> None:
    from wandb_records import config, history, run_ids

    run_dir, _ = tracked_run
    files = sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == 2  # one per process; `wandb sync` joins them under the one id
    assert len(set().union(*(run_ids(f) for f in files))) == 1
    logged = [h for f in files for h in history(f) if "val_acc" in h]
    rows = metrics_rows(run_dir)
    assert [h["epoch"] for h in logged] == [1, 2]
    assert [h["val_acc"] for h in logged] == pytest.approx([float(r["val_acc"]) for r in rows])
    assert config(files[0])["optim"]["lr"] == 0.0008
    assert any("plots/accuracy/_type" in h for f in files for h in history(f))


@pytest.mark.slow  # wandb waits init_timeout_s for the service
@pytest.mark.skipif(not HAVE_WANDB, reason="wandb is not installed (pip install 'artgenre[wandb]')")
def test_unreachable_wandb_service_does_not_stop_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    from artgenre.loggers.wandb import WandbLogger

    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    options = OmegaConf.merge(composed("logger=wandb").logger.wandb, {"mode": "online", "init_timeout_s": 5})
    loggers = Loggers([CSVLogger(None), WandbLogger(options)])
    with caplog.at_level(logging.WARNING, logger="artgenre"):
        loggers.start(context(tmp_path))
        loggers.log_epoch(row(1), {"x": 50.0, "y": 50.0})
        loggers.close(True)
    assert len([r for r in caplog.records if "logger wandb failed in start" in r.message]) == 1
    assert [lg.name for lg in loggers.active] == ["csv"] and (tmp_path / "metrics.csv").read_text().count("\n") == 2
