"""Entry point ``artgenre-export``: a checkpoint as ONNX or TorchScript, with its preprocessing.

    artgenre-export checkpoint=outputs/.../checkpoints/best.pt format=onnx
    artgenre-export checkpoint=best.pt format=torchscript out=model.torchscript.pt images=8

Writes the model (default ``<run dir>/export/<checkpoint>.onnx`` or ``.torchscript.pt``) and
``<file>.json`` beside it, runs the exported file on a few of the run's validation images and
prints the largest difference from PyTorch. ``artgenre-predict -c <file> images...`` uses it.
See docs/export.md (opset, what does not export).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from artgenre import launch
from artgenre.errors import ConfigError
from artgenre.evaluation.export import FORMATS, export, format_result

USAGE = f"""\
usage: artgenre-export checkpoint=PATH format={'|'.join(FORMATS)} [out=FILE] [images=N] [data_root=DIR]

Export a training checkpoint with a dynamic batch size; its preprocessing (image size,
resizing, normalisation, class names) goes to FILE.json. The export is checked on N (default 5)
of the run's validation images (data_root: where they are now, if moved)."""


@dataclass
class ExportConfig:
    checkpoint: Optional[str] = None
    format: str = "onnx"
    out: Optional[str] = None
    images: int = 5
    data_root: Optional[str] = None


def parse_args(argv: list[str]) -> ExportConfig:
    bad = [a for a in argv if "=" not in a or a.startswith("-")]
    if bad:
        raise ConfigError(f"cannot read argument(s) {' '.join(bad)}: pass key=value pairs\n{USAGE}")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(ExportConfig), OmegaConf.from_dotlist(argv))
    except OmegaConfBaseException as e:
        raise ConfigError(f"bad argument {getattr(e, 'full_key', None) or '?'}: {str(e).splitlines()[0]}; "
                          "the keys: checkpoint, format, out, images, data_root") from None
    if not cfg.checkpoint:
        raise ConfigError(f"no checkpoint given: pass checkpoint=PATH\n{USAGE}")
    if cfg.format not in FORMATS:
        raise ConfigError(f"format={cfg.format} is not one of: {', '.join(FORMATS)}")
    return OmegaConf.to_object(cfg)


def run(args: ExportConfig) -> dict:
    info = export(args.checkpoint, args.format, args.out, args.images, args.data_root)
    print(format_result(info))
    return info


def main(argv: Optional[list[str]] = None) -> None:
    launch.key_value_command(argv, USAGE, lambda args: run(parse_args(args)), logging.WARNING)


if __name__ == "__main__":
    main()
