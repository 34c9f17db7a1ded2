"""Shared fixtures: a small synthetic painting set and helpers to run the CLI for real."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from artgenre.data.layouts.synthetic import ensure_synthetic

pytest_plugins = ["slow_guard"]  # `slow` marks every test that trains (tests/slow_guard.py)

REPO = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent

# A model and an image size small enough for a CPU training run of a few seconds.
TINY = [
    "data=synthetic", "data.image_size=32", "data.synthetic_scale=0.05",
    "model=vit_scratch", "model.embed_dim=32", "model.depth=1", "model.num_heads=2", "model.patch_size=8",
    "trainer.batch_size=16", "trainer.num_workers=0", "trainer.progress=false",
]


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 100 generated paintings (scale 0.05) shared by every test of the session."""
    root = tmp_path_factory.mktemp("data") / "synthetic"
    ensure_synthetic(root, scale=0.05, seed=0)
    return root


def run_cli(args: list[str], cwd: Path, nproc: int = 1, timeout: float = 300, env: dict | None = None):
    """Run the training CLI as a user would: `python -m artgenre.train` or `torchrun`."""
    if nproc > 1:
        cmd = [str(VENV_BIN / "torchrun"), "--standalone", f"--nproc_per_node={nproc}", "-m", "artgenre.train"]
    else:
        cmd = [sys.executable, "-m", "artgenre.train"]
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(cmd + args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=full_env)
