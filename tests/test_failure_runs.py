"""Faults during a real training run: divergence, a kill at any moment of the checkpoint writes,
a second run on a folder in use. Kills are made deterministic by $ARTGENRE_TEST_CRASH_AT."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from artgenre.rundir import lock

from conftest import TINY, run_cli

pytestmark = pytest.mark.slow


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_divergence_stops_the_run_with_a_message_and_saves_nothing_of_it(synthetic_root: Path, tmp_path: Path) -> None:
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=2", "optim.lr=1e6",
                      "hydra.run.dir=run"], cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "training diverged in epoch 1" in result.stderr and "optim.lr" in result.stderr
    assert "Traceback" not in result.stderr and "best val acc" not in result.stdout + result.stderr
    run = tmp_path / "run"
    assert read_rows(run / "metrics.csv") == [], "a NaN epoch is never logged as a result"
    assert not (run / "checkpoints" / "best.pt").exists() and not (run / "checkpoints" / "last.pt").exists()
    assert not (run / lock.LOCK_NAME).exists(), "the lock is released on a failure too"


@pytest.fixture(scope="module")
def reference(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted 3-epoch run."""
    work = tmp_path_factory.mktemp("reference")
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=3", "hydra.run.dir=run"], cwd=work)
    assert result.returncode == 0, result.stderr[-3000:]
    return work / "run"


def best_epoch(rows: list[dict[str, str]]) -> int:
    accs = [float(r["val_acc"]) for r in rows]
    return int(rows[accs.index(max(accs))]["epoch"])  # the first epoch with the best value, as training keeps


# between best.pt and last.pt (the moment that lost the best weights before), and inside last.pt's write
@pytest.mark.parametrize("point", ["after_best_save", "before_replace_last"])
def test_a_kill_at_any_moment_of_the_saves_keeps_the_best_weights(
        synthetic_root: Path, tmp_path: Path, reference: Path, point: str) -> None:
    rows = read_rows(reference / "metrics.csv")
    # the last epoch that improved the best accuracy: the kill lands while its best.pt is written
    accs = [float(r["val_acc"]) for r in rows]
    improving = [i + 1 for i, a in enumerate(accs) if a > max(accs[:i], default=-1.0)]
    epoch = improving[-1]
    args = [*TINY, f"data.root={synthetic_root}", "trainer.epochs=3", "hydra.run.dir=run"]
    killed = run_cli(args, cwd=tmp_path, env={"ARTGENRE_TEST_CRASH_AT": f"{point}:{epoch}"})
    assert killed.returncode == 137, killed.stderr[-3000:]
    resumed = run_cli(args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    run = tmp_path / "run"
    assert [p.name for p in (run / "checkpoints").iterdir() if p.name.startswith(".")] == [], "temporary files cleaned"
    got = read_rows(run / "metrics.csv")
    assert [r["epoch"] for r in got] == ["1", "2", "3"], "every epoch logged once"
    best = ckpt(run / "checkpoints" / "best.pt")
    assert best["epoch"] == best_epoch(got) == best_epoch(rows)
    expected = ckpt(reference / "checkpoints" / "best.pt")["model"]
    assert all(torch.equal(best["model"][k], v) for k, v in expected.items()), "the best epoch's weights"


def test_a_second_run_on_a_folder_in_use_is_refused_naming_the_first(synthetic_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    first = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])  # a live process: the holder
    try:
        (run / lock.LOCK_NAME).write_text(json.dumps({**lock.identity(), "pid": first.pid}))
        result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=1", "hydra.run.dir=run"], cwd=tmp_path)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert f"is in use by another training (pid {first.pid} on {socket.gethostname()}" in result.stderr
        assert not (run / "metrics.csv").exists() and not (run / "checkpoints" / "last.pt").exists()
    finally:
        first.kill()
        first.wait()
    # the holder is gone: its lock is stale, and the next run takes it over
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=1", "hydra.run.dir=run"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not (run / lock.LOCK_NAME).exists()
