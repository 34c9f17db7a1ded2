"""The CUDA paths: bf16 / float16 steps, channels-last, torch.compile, NCCL DDP with SyncBatchNorm,
and a short `artgenre-bench --gpu`. Marked `gpu`; skipped (with the reason) where no CUDA GPU is
visible. On a GPU node:

    python -m pytest -m gpu -v            # 2 GPUs for the NCCL test; the others need one
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from artgenre.runtime import precision
from artgenre.runtime.compilation import CompileFallback
from artgenre.training.engine import StepContext, train_one_epoch
from conftest import TINY, run_cli

CUDA = torch.cuda.is_available()
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not CUDA, reason="no CUDA GPU visible: run `pytest -m gpu` on a GPU node")]


def net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))


def batches(device: torch.device, n: int = 6, channels_last: bool = False) -> list:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n * 8, 3, 16, 16, generator=g)
    y = (x[:, 0].mean((1, 2)) > 0).long() + 2 * (x[:, 1].mean((1, 2)) > 0).long()  # learnable
    x = x.to(device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return [(x[i : i + 8], y[i : i + 8].to(device)) for i in range(0, len(y), 8)]


def train(model: nn.Module, setting: str, epochs: int = 4, channels_last: bool = False) -> list[float]:
    device = torch.device("cuda")
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    p = precision.resolve(setting, device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    ctx = StepContext(device=device, autocast=p.autocast_factory, scaler=p.scaler())
    data = batches(device, channels_last=channels_last)
    return [train_one_epoch(model, data, opt, ctx, num_real=48)["loss"] for _ in range(epochs)]


def test_auto_precision_is_bf16_on_ampere_and_later() -> None:
    expected = "bf16" if torch.cuda.get_device_capability()[0] >= 8 else "32"
    assert precision.resolve("auto", torch.device("cuda")).name == expected


@pytest.mark.parametrize("setting", ["bf16", "16"])
def test_mixed_precision_steps_learn_and_stay_close_to_float32(setting: str) -> None:
    if setting == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    reference = train(net(), "32")
    mixed = train(net(), setting)
    assert all(map(torch.isfinite, map(torch.tensor, mixed)))
    assert mixed[-1] < mixed[0], "the loss falls"
    assert mixed[-1] == pytest.approx(reference[-1], abs=0.15)


def test_channels_last_trains_like_the_default_layout() -> None:
    assert train(net(), "32", channels_last=True) == pytest.approx(train(net(), "32"), rel=1e-3, abs=1e-4)


def test_compile_on_cuda_compiles_and_matches_eager() -> None:
    device = torch.device("cuda")
    eager = net().to(device).eval()
    compiled = CompileFallback(net().to(device).eval())
    x = batches(device)[0][0]
    with torch.no_grad():
        out = compiled(x)
    assert not compiled.fell_back, "torch.compile fell back to eager on this GPU"
    torch.testing.assert_close(out, eager(x), rtol=1e-3, atol=1e-3)


@pytest.mark.slow
@pytest.mark.skipif(CUDA and torch.cuda.device_count() < 2, reason="NCCL DDP needs 2 GPUs")
def test_two_process_nccl_ddp_with_sync_batchnorm(synthetic_root: Path, tmp_path: Path) -> None:
    """2 ranks on 2 GPUs, NCCL, SyncBatchNorm, bf16 and channels-last by default: the run ends, every
    validation image is counted once, and the saved model has SyncBatchNorm's plain BatchNorm keys."""
    args = [*TINY[:3], "model=timm", "model.arch=resnet18", "trainer.batch_size=8", "trainer.num_workers=0",
            "trainer.progress=false", "trainer.device=cuda", "trainer.sync_bn=true", f"data.root={synthetic_root}",
            "trainer.epochs=2", "hydra.run.dir=run"]
    result = run_cli(args, cwd=tmp_path, nproc=2)
    assert result.returncode == 0, result.stderr[-3000:]
    text = result.stdout + result.stderr
    assert "device cuda:0 x 2 process(es)" in text
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert len(rows) == 3
    split = (tmp_path / "run" / "split.csv").read_text().splitlines()
    n_val = sum(line.endswith(",val") for line in split)
    assert {line.split(",")[-1] for line in rows[1:]} == {str(n_val)}


@pytest.mark.slow
def test_bench_gpu_preset_runs_briefly(tmp_path: Path) -> None:
    out = tmp_path / "bench-gpu.json"
    cmd = [sys.executable, "-m", "artgenre.bench", "--gpu", "--images", "64", "--epochs", "2", "--steps", "3",
           "--rounds", "1", "--json", str(out)]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    models = json.loads(out.read_text())["models"]
    assert list(models) == ["resnet50", "vit_timm", "iformer_small"]
    for name, m in models.items():
        assert m["settings"]["device"].startswith("cuda"), name
    print(json.dumps({k: {key: v for key, v in m.items() if key != "settings"} for k, m in models.items()})[:4000])
