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
from torch.utils.data import default_collate

from artgenre import launch
from artgenre.rundir import checkpoint
from artgenre.errors import ConfigError, DataError
from artgenre.evaluation.exported import is_exported, load_exported
from artgenre.evaluation.images import expand_inputs, folder_datasets
from artgenre.evaluation.restore import WEIGHTS, input_for, model_from_checkpoint, training_config
from artgenre.training.divergence import finite_json
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


@torch.no_grad()
def predict(
    checkpoint_path: str | Path, inputs: Sequence[str], k: int = 3, device: str = "auto", weights: str = "auto"
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
        model = model_from_checkpoint(state, cfg, dev, weights)
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
    p.add_argument("--weights", choices=WEIGHTS, default="auto",
                   help="raw or averaged (trainer.ema) weights; auto: those the run's trainer.ema.select chose")
    return p.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    args = parse_args(argv)
    results = launch.guarded(lambda: predict(args.checkpoint, args.inputs, args.k, args.device, args.weights))()
    if args.json:
        print(json.dumps(finite_json({"checkpoint": args.checkpoint, "results": [r.as_dict() for r in results]}),
                         indent=2, allow_nan=False))  # strict JSON: NaN would be written as a bare NaN
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
