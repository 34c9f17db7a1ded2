"""experiment=finetune: the preset composes, and a real fine-tune from a weights file runs end to end."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
import torch

from artgenre.config import validate
from artgenre.models import build_model

from conftest import TINY, run_cli
from test_config import composed


def test_finetune_preset_composes_and_validates() -> None:
    cfg = validate(composed("experiment=finetune"))
    assert cfg.model.pretrained.lower() == "true"
    assert cfg.optim.name == "adamw" and cfg.optim.lr == 1e-4
    assert cfg.sched.name == "cosine" and 2 <= cfg.sched.warmup_epochs <= 5
    assert cfg.trainer.label_smoothing == 0.1 and cfg.data.augment == "basic"


def test_finetune_preset_takes_any_model_and_a_weights_path() -> None:
    cfg = validate(composed("experiment=finetune", "model=iformer_small", "model.pretrained=/weights/iformer_s.pth"))
    assert cfg.model.name == "iformer_small" and cfg.model.pretrained == "/weights/iformer_s.pth"
    assert validate(composed("model=resnet50", "model.pretrained=true")).model.pretrained.lower() == "true"
    assert validate(composed("model=resnet50")).model.pretrained is None


def _output(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.mark.slow
def test_finetune_from_a_weights_file_end_to_end(synthetic_root: Path, tmp_path: Path) -> None:
    # "ImageNet" weights: the same tiny ViT with a 1000-class head, as published checkpoints have
    weights = tmp_path / "imagenet.pth"
    torch.save(build_model("vit_scratch", 1000, 32, embed_dim=32, depth=1, num_heads=2, patch_size=8).state_dict(),
               weights)
    result = run_cli([
        "experiment=finetune", *TINY, f"model.pretrained={weights}", f"data.root={synthetic_root}",
        "trainer.epochs=1", f"hydra.run.dir={tmp_path / 'run'}",
    ], cwd=tmp_path)
    assert result.returncode == 0, _output(result)[-3000:]
    summary = next(line for line in _output(result).splitlines() if line.startswith("model vit_scratch"))
    assert f"weights: {weights}" in summary and "1000 classes in the file, 10 here" in summary
    assert "GFLOPs" in summary
    with (tmp_path / "run" / "metrics.csv").open() as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == [1]


@pytest.mark.slow
def test_library_weights_missing_is_one_message_not_a_traceback(synthetic_root: Path, tmp_path: Path) -> None:
    result = run_cli(
        [*(a for a in TINY if not a.startswith("model")), "model=resnet50", "model.pretrained=true",
         f"data.root={synthetic_root}",
         f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=tmp_path, env={"TORCH_HOME": str(tmp_path / "torch"), "HF_HOME": str(tmp_path / "hf")},
    )
    assert result.returncode == 2
    assert "Traceback" not in _output(result)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(tmp_path / "torch") in errors[0] and "resnet50(weights='DEFAULT')" in errors[0]
