"""An exported model (artgenre-export) back into a predictor: the file, and the preprocessing
written beside it (``<file>.json``: image size, resizing, normalisation, class names).

The exported network takes what the training's model took: float32 N x 3 x H x W, RGB, (pixels
/ 255 - mean) / std. :class:`ExportedModel` makes that input exactly as training and evaluation
do (the same decoding and geometry, pipeline.DeviceInput) and runs the file with onnxruntime
(ONNX) or torch.jit (TorchScript). ONNX files hold a graph and weights only; loading a
TorchScript file runs its TorchScript code, so load only files you (or artgenre-export) wrote.
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from artgenre.data.loading.pipeline import DeviceInput
from artgenre.errors import ExportError

Runner = Callable[[torch.Tensor], torch.Tensor]  # float input batch -> logits (CPU tensors)


def sidecar_path(model_path: str | Path) -> Path:
    """``best.onnx`` -> ``best.onnx.json``: what the exported file expects as input."""
    return Path(str(model_path) + ".json")


def is_exported(path: str | Path) -> bool:
    return sidecar_path(Path(path).expanduser()).is_file()


def require(package: str, extra: str) -> None:
    if importlib.util.find_spec(package) is None:
        raise ExportError(f"this needs the {package} package: pip install 'artgenre[{extra}]'")


def onnx_runner(path: Path, device: torch.device) -> Runner:
    require("onnxruntime", "onnx")
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    try:
        session = ort.InferenceSession(str(path), providers=providers)
    except Exception as e:
        raise ExportError(f"onnxruntime cannot load {path}: {str(e).splitlines()[0]}") from None
    name = session.get_inputs()[0].name
    return lambda x: torch.from_numpy(session.run(None, {name: x.detach().cpu().numpy().astype(np.float32)})[0])


def torchscript_runner(path: Path, device: torch.device) -> Runner:
    try:
        with warnings.catch_warnings():  # torch.jit is deprecated in favour of torch.export, but still loads
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location=device).eval()
    except Exception as e:
        raise ExportError(f"torch.jit cannot load {path}: {str(e).splitlines()[0]}") from None

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return module(x.to(device)).float().cpu()

    return run


RUNNERS: dict[str, Callable[[Path, torch.device], Runner]] = {"onnx": onnx_runner, "torchscript": torchscript_runner}


class ExportedModel:
    """Callable on a normalised float batch (as the training's model), with its preprocessing."""

    def __init__(self, path: Path, info: dict[str, Any], device: torch.device = torch.device("cpu")) -> None:
        self.path, self.info = path, info
        pre = info["preprocessing"]
        self.classes: list[str] = list(info["classes"])
        self.to_input = DeviceInput(torch.device("cpu"), pre["mean"], pre["std"], pre["normalize"])
        if info.get("format") not in RUNNERS:
            raise ExportError(f"{sidecar_path(path)}: unknown format {info.get('format')!r}")
        self.run = RUNNERS[info["format"]](path, device)

    @property
    def config(self) -> DictConfig:
        """A config whose ``data`` section decodes images as the training's validation images were."""
        from artgenre.config import DataConfig

        pre = self.info["preprocessing"]
        data = OmegaConf.merge(OmegaConf.structured(DataConfig), {k: pre[k] for k in
                                                                  ("image_size", "augment", "normalize", "max_pixels")})
        return OmegaConf.create({"data": data})

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


def load_exported(path: str | Path, device: torch.device = torch.device("cpu")) -> ExportedModel:
    path = Path(path).expanduser()
    if not path.is_file():
        raise ExportError(f"exported model {path} does not exist")
    try:
        info = json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {sidecar_path(path)} (written by artgenre-export beside the model): {e}") from None
    return ExportedModel(path, info, device)
