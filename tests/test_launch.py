"""The three ways to launch, from any folder; one run directory per run; the wheel ships the configs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, TINY, VENV_BIN, run_cli

pytestmark = pytest.mark.slow


def test_torchrun_ranks_share_one_time_stamped_run_dir(synthetic_root: Path, tmp_path: Path) -> None:
    result = run_cli([*TINY, f"data.root={synthetic_root}", "trainer.epochs=1"], cwd=tmp_path, nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [p.parent for p in (tmp_path / "outputs").rglob("metrics.csv")]
    assert len(runs) == 1 and len(list((tmp_path / "outputs").glob("*/*"))) == 1, "ranks must agree on one folder"
    run = runs[0]
    assert run.name.endswith("_vit_scratch") and (run / "checkpoints" / "last.pt").is_file()
    log = (run / "train.log").read_text()
    assert log.count("best val acc") == 1, "only rank 0 logs"
    assert result.stdout.count("model vit_scratch ") == 1, "only rank 0 prints"


def test_console_script_from_another_folder(synthetic_root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "some" / "where"
    elsewhere.mkdir(parents=True)
    result = subprocess.run(
        [str(VENV_BIN / "artgenre-train"), *TINY, f"data.root={synthetic_root}", "trainer.epochs=1",
         "hydra.run.dir=run"], cwd=elsewhere, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (elsewhere / "run" / "metrics.csv").is_file()


def test_multirun_sweep_gives_one_folder_per_job(synthetic_root: Path, tmp_path: Path) -> None:
    result = run_cli(["-m", *TINY, f"data.root={synthetic_root}", "trainer.epochs=1", "optim=adamw,sgd",
                      "hydra.sweep.dir=sweep"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.parent.name for p in (tmp_path / "sweep").rglob("metrics.csv"))
    assert jobs == ["0_vit_scratch", "1_vit_scratch"]


def test_wheel_contains_the_config_tree(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )
    (wheel,) = tmp_path.glob("artgenre-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "artgenre/conf/train.yaml" in names
    repo_conf = REPO / "src" / "artgenre" / "conf"
    for yaml in repo_conf.rglob("*.yaml"):
        assert f"artgenre/conf/{yaml.relative_to(repo_conf).as_posix()}" in names
