"""The training step under DDP (torchrun, 2 processes, gloo on the CPU) and the new trainer switches
end to end: accumulation, mixed precision with its scaler in the checkpoint, compile, clipping."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from artgenre.rundir import checkpoint
from artgenre.runtime.distributed import DistInfo
from artgenre.errors import ConfigError
from artgenre.training.setup import place_model

from conftest import TINY, VENV_BIN, run_cli

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent


def test_ddp_accumulation_and_compile_equal_one_process_on_the_union_of_the_batches(tmp_path: Path) -> None:
    cmd = [str(VENV_BIN / "torchrun"), "--standalone", "--nproc_per_node=2", str(HERE / "ddp_step_check.py")]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    diffs = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(diffs) == {"accum1", "accum2", "accum3_short_last_group", "accum1_compiled", "accum2_compiled"}
    assert all(d < 1e-6 for d in diffs.values()), diffs


def test_sync_bn_on_the_cpu_is_refused_with_advice() -> None:
    cfg = OmegaConf.create({"model": {"name": "resnet50"}, "trainer": {"sync_bn": True, "channels_last": None}})
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    with pytest.raises(ConfigError, match="trainer.sync_bn=false"):
        place_model(model, cfg, DistInfo(rank=0, world_size=2), torch.device("cpu"))
    # one process: nothing to synchronise, nothing refused
    assert place_model(model, cfg, DistInfo(), torch.device("cpu")) is model


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def test_switches_end_to_end(synthetic_root: Path, tmp_path: Path) -> None:
    args = [*TINY, f"data.root={synthetic_root}", "trainer.epochs=2", "trainer.accum_steps=3",
            "trainer.precision=bf16", "trainer.compile=true", "trainer.compile_backend=aot_eager",
            "trainer.grad_clip=1.0", "trainer.log_every=2", "model.drop_path=0.1", "hydra.run.dir=run"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    log = result.stdout + result.stderr
    assert "precision bf16" in log and "compiled" in log and "x 3 accumulated" in log
    assert "torch.compile failed" not in log
    rows = read_rows(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 2
    for r in rows:
        assert 0 <= float(r["train_data_wait_s"]) <= float(r["train_time_s"])
        assert float(r["train_loss"]) > 0


def test_float16_keeps_its_gradient_scaler_across_a_resume(synthetic_root: Path, tmp_path: Path) -> None:
    args = [*TINY, f"data.root={synthetic_root}", "trainer.precision=16", "hydra.run.dir=run"]
    first = run_cli([*args, "trainer.epochs=1"], cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    one = checkpoint.load(last)["scaler"]
    assert one is not None and one["scale"] > 0
    steps = one["_growth_tracker"]  # consecutive steps without an overflow
    assert steps > 0
    second = run_cli([*args, "trainer.epochs=2"], cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    two = checkpoint.load(last)["scaler"]
    # the resumed run continued the scaler's count of overflow-free steps instead of starting anew
    assert two["scale"] == one["scale"] and two["_growth_tracker"] == 2 * steps
