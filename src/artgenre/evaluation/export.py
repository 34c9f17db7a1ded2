"""A checkpoint -> a deployable file: ONNX (opset :data:`OPSET`, for onnxruntime and friends) or
TorchScript, with its preprocessing beside it (``<file>.json``), checked against PyTorch.

The network is rebuilt exactly as training built it (evaluation.restore) and exported in eval
mode (dropout and drop path off, BatchNorm on its running statistics) with a dynamic batch
dimension; height and width are fixed at the training's ``data.image_size``. The check decodes
a few of the run's validation images the way evaluation does (random pixels where the data is
not at hand), runs PyTorch and the exported file on the same normalised batch, and reports the
largest absolute difference of the logits and whether the top-1 classes agree.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from omegaconf import DictConfig
from torch import nn

from artgenre.data.loading.pipeline import DeviceInput
from artgenre.errors import ArtgenreError, ExportError
from artgenre.evaluation.exported import RUNNERS, require, sidecar_path
from artgenre.evaluation.restore import eval_dataset, model_from_checkpoint, run_dir_of, select_images, training_config
from artgenre.models import normalization
from artgenre.rundir import checkpoint

OPSET = 18  # the torch.export-based exporter's default opset; onnxruntime >= 1.14 runs it
EXAMPLE_BATCH = 2  # traced with 2 images; the check runs another batch size, so a fixed batch would show


def write_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    require("onnx", "onnx")
    require("onnxscript", "onnx")
    batch = torch.export.Dim("batch", min=1, max=4096)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():  # the exporter's progress talk
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), str(path), input_names=["image"], output_names=["logits"],
                          dynamic_shapes=({0: batch},), opset_version=OPSET, dynamo=True, external_data=False,
                          verbose=False)


def write_torchscript(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings():  # tracer warnings about Python values are checked by the run below
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, example, check_trace=False)
    traced.save(str(path))


@dataclass(frozen=True)
class Format:
    suffix: str
    write: Callable[[nn.Module, torch.Tensor, Path], None]


FORMATS: dict[str, Format] = {
    "onnx": Format(".onnx", write_onnx),
    "torchscript": Format(".torchscript.pt", write_torchscript),
}


def check_images(state: dict[str, Any], cfg: DictConfig, ckpt_path: Path, n: int) -> tuple[torch.Tensor, str]:
    """Up to ``n`` of the run's validation images as a uint8 batch, or random pixels; and which."""
    try:
        image_set, rows = select_images(cfg, "val", run_dir_of(ckpt_path))
        dataset = eval_dataset(cfg, image_set, rows[:n])
        images = torch.stack([dataset[i][0] for i in range(len(dataset))])
        return images, f"{len(images)} validation images of the run (under {image_set.root})"
    except ArtgenreError as e:
        generator = torch.Generator().manual_seed(0)
        size = cfg.data.image_size
        images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
        return images, f"{n} images of random pixels (the run's images are not at hand: {e})"


def export(ckpt_path: str | Path, fmt: str, out: str | Path | None = None, n_images: int = 5,
           data_root: str | None = None) -> dict[str, Any]:
    """Write the exported model and its ``.json``; return what the JSON holds (with the check's result)."""
    if fmt not in FORMATS:
        raise ExportError(f"format={fmt} is not one of: {', '.join(FORMATS)}")
    if n_images < 1:
        raise ExportError(f"images={n_images}: must be 1 or more")
    ckpt_path = Path(ckpt_path).expanduser()
    state = checkpoint.load(ckpt_path)
    cfg = training_config(state, data_root)
    device = torch.device("cpu")
    model = model_from_checkpoint(state, cfg, device)
    path = Path(out).expanduser() if out else run_dir_of(ckpt_path) / "export" / (ckpt_path.stem + FORMATS[fmt].suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    size = cfg.data.image_size
    tic = time.perf_counter()
    try:
        FORMATS[fmt].write(model, torch.randn(EXAMPLE_BATCH, 3, size, size), path)
    except ArtgenreError:
        raise
    except Exception as e:
        raise ExportError(f"model {cfg.model.name} does not export to {fmt}: {type(e).__name__}: "
                          f"{str(e).strip().splitlines()[0] if str(e).strip() else ''} (see docs/export.md)") from None
    seconds = time.perf_counter() - tic

    mean, std = normalization(model)
    images, source = check_images(state, cfg, ckpt_path, n_images)
    x = DeviceInput(device, mean, std, cfg.data.normalize)(images)
    with torch.no_grad():
        reference = model(x).float()
    exported = RUNNERS[fmt](path, device)(x)
    if exported.shape != reference.shape:
        raise ExportError(f"the exported model returned shape {tuple(exported.shape)} for a batch of {len(x)}, "
                          f"PyTorch {tuple(reference.shape)}")
    info = {
        "format": fmt, "file": path.name, "opset": OPSET if fmt == "onnx" else None,
        "model": cfg.model.name, "checkpoint": str(ckpt_path), "epoch": state.get("epoch"),
        "input": {"name": "image", "dtype": "float32", "shape": ["batch", 3, size, size], "layout": "NCHW, RGB"},
        "output": {"name": "logits", "shape": ["batch", len(state["classes"])]},
        "preprocessing": {
            "image_size": size, "augment": cfg.data.augment, "max_pixels": cfg.data.max_pixels,
            "resize": "squash to image_size x image_size" if cfg.data.augment == "none" else
                      "shorter side to image_size / 0.87, then centre crop image_size x image_size",
            "normalize": bool(cfg.data.normalize), "scale": "pixels / 255",
            "mean": list(mean) if cfg.data.normalize else [0.0, 0.0, 0.0],
            "std": list(std) if cfg.data.normalize else [1.0, 1.0, 1.0],
        },
        "classes": list(state["classes"]),
        "check": {
            "images": source, "batch": len(x),
            "max_abs_diff": float((exported - reference).abs().max()),
            "top1_agree": int((exported.argmax(1) == reference.argmax(1)).sum()),
            "runtime": "onnxruntime" if fmt == "onnx" else "torch.jit",
        },
        "export_seconds": round(seconds, 1),
    }
    sidecar_path(path).write_text(json.dumps(info, indent=2) + "\n")
    return info | {"path": str(path)}


def format_result(info: dict[str, Any]) -> str:
    check = info["check"]
    opset = f", opset {info['opset']}" if info["opset"] else ""
    return (f"exported {info['model']} (epoch {info['epoch']}) to {info['path']} ({info['format']}{opset}, "
            f"dynamic batch, input {info['input']['shape'][2]}x{info['input']['shape'][3]} px)\n"
            f"preprocessing and class names: {info['path']}.json\n"
            f"check on {check['images']}: largest |logit difference| {check['max_abs_diff']:.3g} "
            f"against PyTorch ({check['runtime']}, batch {check['batch']}); top-1 agrees on "
            f"{check['top1_agree']} of {check['batch']}")
