"""artgenre-export: every model family to ONNX (and TorchScript), the preprocessing beside it,
the check against PyTorch, and artgenre-predict on the exported file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from artgenre import export as export_cli
from artgenre import predict
from artgenre.config import validate
from artgenre.errors import ExportError
from artgenre.evaluation.export import export
from artgenre.models import build_model
from artgenre.rundir import checkpoint
from test_eval import trained_run, val_paths

HAVE_ONNX = all(importlib.util.find_spec(m) is not None for m in ("onnx", "onnxruntime", "onnxscript"))
needs_onnx = pytest.mark.skipif(not HAVE_ONNX, reason="onnx is not installed (pip install 'artgenre[onnx]')")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    return trained_run(tmp_path_factory, synthetic_root)


def predictions(model_file: Path, images: list[str]) -> list[list[tuple[str, float]]]:
    return [[(p["class"], p["probability"]) for p in r.predictions] for r in predict.predict(model_file, images, k=3)]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", [pytest.param("onnx", marks=needs_onnx), "torchscript"])
def test_export_checks_itself_and_predicts_as_the_checkpoint(run_dir: Path, tmp_path: Path, fmt: str,
                                                              capsys: pytest.CaptureFixture) -> None:
    best = run_dir / "checkpoints" / "best.pt"
    out = tmp_path / f"model.{fmt}"
    export_cli.main([f"checkpoint={best}", f"format={fmt}", f"out={out}", "images=3"])
    printed = capsys.readouterr().out
    assert "largest |logit difference|" in printed and "3 validation images of the run" in printed
    info = json.loads((tmp_path / f"model.{fmt}.json").read_text())
    state = checkpoint.load(best)
    assert info["classes"] == state["classes"] and info["format"] == fmt
    assert info["preprocessing"]["image_size"] == 32 and info["preprocessing"]["mean"] == [0.485, 0.456, 0.406]
    assert info["check"]["batch"] == 3 and info["check"]["top1_agree"] == 3  # traced with 2: the batch is dynamic
    assert info["check"]["max_abs_diff"] < 1e-4

    root = Path(state["config"]["data"]["root"])
    images = [str(root / p) for p in val_paths(run_dir)[:7]]
    got, want = predictions(out, images), predictions(best, images)
    assert [[c for c, _ in r] for r in got] == [[c for c, _ in r] for r in want]
    assert [p for r in got for _, p in r] == pytest.approx([p for r in want for _, p in r], abs=1e-5)


# a tiny configuration of each family (timm's ViT: its smallest ViT, vit_timm itself is ViT-B/16)
FAMILIES = [
    ("resnet50", 32, {}),
    ("timm", 32, {"arch": "vit_tiny_patch16_224"}),
    ("iformer_small", 64, {}),
    ("vit_scratch", 32, {"embed_dim": 32, "depth": 1, "num_heads": 2, "patch_size": 8}),
]


def fake_checkpoint(tmp_path: Path, name: str, size: int, options: dict) -> Path:
    """A checkpoint as training writes it (random weights), whose data is nowhere to be found."""
    cfg = validate(OmegaConf.create({"model": {"name": name, **options},
                                     "data": {"image_size": size, "root": str(tmp_path / "moved-away")}}))
    classes = [f"class {i}" for i in range(4)]
    torch.manual_seed(0)
    model = build_model(name, len(classes), size, **options)
    path = tmp_path / "run" / "checkpoints" / "best.pt"
    checkpoint.atomic_save({"format": checkpoint.FORMAT_VERSION, "epoch": 1, "model": model.state_dict(),
                            "classes": classes, "config": OmegaConf.to_container(cfg), "history": []}, path)
    return path


@pytest.mark.slow
@needs_onnx
@pytest.mark.parametrize("name, size, options", FAMILIES[:3], ids=[f[0] for f in FAMILIES[:3]])
def test_every_family_exports_to_onnx(tmp_path: Path, name: str, size: int, options: dict) -> None:
    import onnxruntime as ort

    info = export(fake_checkpoint(tmp_path, name, size, options), "onnx", n_images=3)
    path = Path(info["path"])
    assert path == tmp_path / "run" / "export" / "best.onnx"
    assert "random pixels" in info["check"]["images"]  # the data is gone: the check still runs
    assert info["check"]["max_abs_diff"] < 1e-3 and info["check"]["top1_agree"] == 3
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (image,) = session.get_inputs()
    assert image.name == "image" and isinstance(image.shape[0], str) and image.shape[1:] == [3, size, size]
    assert session.run(None, {"image": torch.zeros(5, 3, size, size).numpy()})[0].shape == (5, 4)


def test_missing_onnx_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m == "onnx" else real(m, *a))
    name, size, options = FAMILIES[3]
    with pytest.raises(ExportError, match=r"pip install 'artgenre\[onnx\]'"):
        export(fake_checkpoint(tmp_path, name, size, options), "onnx")


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    for argv, text in ([["checkpoint=x.pt", "format=tflite"], "format=tflite is not one of: onnx, torchscript"],
                       [[f"checkpoint={tmp_path / 'none.pt'}"], "does not exist"]):
        with pytest.raises(SystemExit) as exit_info:
            export_cli.main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and text in err
