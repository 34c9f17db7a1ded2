"""Entry point ``artgenre-predict``: the top-k genres of paintings, from a trained checkpoint.

    artgenre-predict --checkpoint outputs/.../checkpoints/best.pt painting.jpg more/ -k 3
    artgenre-predict --checkpoint best.pt --json folder/ > predictions.json
    artgenre-predict -c export/best.onnx painting.jpg      # a model written by artgenre-export

Folders are searched recursively for image files (.jpg, .png, .webp, ... in any case). Images
are decoded and transformed as the training's validation images are. A file that cannot
be read is reported on its own (stderr, and in the JSON) and the others are still
predicted; the exit status is then 1. Probabilities are fractions that sum to 1 over all
classes.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset, default_collate

from artgenre import launch
from artgenre.rundir import checkpoint
from artgenre.data import decode
from artgenre.data.listing import ImageSet, Record
from artgenre.data.loading.pipeline import build_datasets
from artgenre.errors import ConfigError, DataError
from artgenre.evaluation.exported import is_exported, load_exported
from artgenre.evaluation.restore import input_for, model_from_checkpoint, training_config
from artgenre.runtime.device import DEVICE_CHOICES, resolve_device

BATCH_SIZE = 32


@dataclass
class Result:
    path: str
    predictions: list[dict[str, Any]] = field(default_factory=list)  # [{"class", "label", "probability"}], best first
    error: Optional[str] = None

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "error": self.error} if self.error else \
            {"path": self.path, "predictions": self.predictions}


def expand_inputs(inputs: Sequence[str]) -> list[tuple[str, Optional[str]]]:
    """(path, error) per image: folders become their image files; a missing path is an error of its own."""
    out: list[tuple[str, Optional[str]]] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in decode.IMAGE_SUFFIXES)
            out += [(str(p), None) for p in files]
            if not files:
                out.append((item, f"folder holds no image files ({', '.join(sorted(decode.IMAGE_SUFFIXES))})"))
        elif path.is_file():
            out.append((item, None))  # named explicitly: tried whatever its suffix
        else:
            out.append((item, "no such file or folder"))
    return out


def folder_datasets(cfg: DictConfig, paths: list[str]) -> dict[str, tuple[Dataset, dict[str, int]]]:
    """Per parent folder, the training's validation pipeline over its files (decoding and geometry
    exactly as the checkpoint's run read its validation images), and each file's position in it."""
    data = OmegaConf.merge(cfg.data, {"cache": False})  # new files are not in any pixel cache
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        by_folder.setdefault(str(Path(path).parent), []).append(Path(path).name)
    out = {}
    for folder, names in by_folder.items():
        image_set = ImageSet(root=Path(folder), records=[Record(n, "", 0, "") for n in names], classes=[])
        _, dataset = build_datasets(data, image_set, ["val"] * len(names))
        out[folder] = (dataset, {n: i for i, n in enumerate(names)})
    return out


@torch.no_grad()
def predict(
    checkpoint_path: str | Path, inputs: Sequence[str], k: int = 3, device: str = "auto"
) -> list[Result]:
    """Top-k classes for each image of ``inputs`` (files or folders), in the order given."""
    if k < 1:
        raise ConfigError(f"-k {k}: must be 1 or more")
    dev = resolve_device(device, setting="--device")
    if is_exported(checkpoint_path):  # an ONNX or TorchScript file with its preprocessing .json beside it
        exported = load_exported(checkpoint_path, dev)
        model, cfg, classes, to_input = exported, exported.config, exported.classes, exported.to_input
    else:
        state = checkpoint.load(checkpoint_path)
        cfg = training_config(state)
        model = model_from_checkpoint(state, cfg, dev)
        classes, to_input = list(state["classes"]), None
    k = min(k, len(classes))

    results = [Result(path, error=error) for path, error in expand_inputs(inputs)]
    datasets = folder_datasets(cfg, [r.path for r in results if not r.error])
    to_input = to_input or input_for(model, cfg, dev)
    batch: list[tuple[Result, Any]] = []
    for result in results:
        if result.error:
            continue
        dataset, position = datasets[str(Path(result.path).parent)]
        try:
            batch.append((result, dataset[position[Path(result.path).name]]))
        except DataError as e:  # the message names the file; the result is already filed under it
            result.error = "cannot read image: " + str(e).split(": ", 1)[-1]
        if len(batch) == BATCH_SIZE:
            _predict_batch(model, to_input, batch, classes, k)
            batch = []
    if batch:
        _predict_batch(model, to_input, batch, classes, k)
    return results


def _predict_batch(model: torch.nn.Module, to_input: Callable, batch: list[tuple[Result, Any]], classes: list[str],
                   k: int) -> None:
    images, _ = default_collate([sample for _, sample in batch])
    probs = torch.softmax(model(to_input(images)).float(), dim=1).cpu()
    top_p, top_i = probs.topk(k, dim=1)
    for (result, _), ps, idx in zip(batch, top_p.tolist(), top_i.tolist()):
        result.predictions = [{"class": classes[i], "label": i, "probability": p} for p, i in zip(ps, idx)]


def format_table(results: list[Result]) -> str:
    ok = [r for r in results if not r.error]
    if not ok:
        return "no predictions"
    width = max(len(p["class"]) for r in ok for p in r.predictions)
    lines = []
    for r in ok:
        lines.append(r.path)
        lines += [f"  {rank}. {p['class']:<{width}}  {100 * p['probability']:6.2f}%"
                  for rank, p in enumerate(r.predictions, 1)]
    return "\n".join(lines)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="artgenre-predict",
                                description="Top-k genres of paintings according to a trained checkpoint.")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_FOLDER", help="image files or folders (searched recursively)")
    p.add_argument("--checkpoint", "-c", required=True,
                   help="a training checkpoint, e.g. <run dir>/checkpoints/best.pt, or a model written "
                        "by artgenre-export (.onnx, .torchscript.pt, with its .json beside it)")
    p.add_argument("-k", type=int, default=3, help="how many classes to show per image (default: 3)")
    p.add_argument("--device", choices=DEVICE_CHOICES, default="auto", help="default: cuda if available")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    results = launch.guarded(lambda: predict(args.checkpoint, args.inputs, args.k, args.device))()
    if args.json:
        print(json.dumps({"checkpoint": args.checkpoint, "results": [r.as_dict() for r in results]}, indent=2))
    else:
        print(format_table(results))
    failed = [r for r in results if r.error]
    for r in failed:
        print(f"error: {r.path}: {r.error}", file=sys.stderr)
    if failed:
        print(f"{len(failed)} of {len(results)} input(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
