"""Entry point: ``python -m artgenre.eval``, ``torchrun ... -m artgenre.eval``, ``artgenre-eval``.

Evaluates a checkpoint on the validation images of its run (or on all images), exactly:
every image once, however many processes. Everything it needs comes from the checkpoint
(the data set, the split seed, the image size and the model options of the training run);
only ``data.root`` may be given, for data that has moved since.

    artgenre-eval checkpoint=outputs/2024-05-01/12-00-00_resnet50/checkpoints/best.pt
    torchrun --standalone --nproc_per_node=2 -m artgenre.eval checkpoint=... split=all

Writes into ``out`` (default ``<run dir>/eval_<split>/``): summary.json, per_class.csv,
confusion.csv and .png, predictions.csv. Accuracies, precision, recall and F1 are in percent,
as in metrics.csv; probabilities in predictions.csv are fractions.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from artgenre import launch
from artgenre.errors import CheckpointError, ConfigError
from artgenre.evaluation.outputs import write_outputs
from artgenre.evaluation.predictions import evaluate_images
from artgenre.evaluation.restore import (chosen_weights, eval_dataset, input_for, model_from_checkpoint,
                                         recorded_val_acc, run_dir_of, select_images, training_config)
from artgenre.evaluation.scores import format_result, summarize
from artgenre.rundir import checkpoint
from artgenre.runtime import distributed, precision
from artgenre.runtime.device import DEVICE_CHOICES, resolve_device

log = logging.getLogger("artgenre")

SPLITS = ("val", "test", "all")

USAGE = """\
usage: artgenre-eval checkpoint=PATH [split=val|test|all] [out=DIR] [data.root=DIR]
                     [data.cache_dir=DIR] [device=auto|cpu|cuda] [batch_size=N] [num_workers=N]
                     [weights=auto|raw|ema]

Evaluate a training checkpoint on its run's validation images (split=val), its test images
(split=test) or every image of its data set (split=all). The data set, split, image size
and model come from the checkpoint; data.root points to the data if it has moved.
Runs under torchrun too: each process evaluates a share, each image exactly once.
Results go to OUT (default: <run dir>/eval_<split>/). weights=ema evaluates the averaged
weights of a run with trainer.ema.enabled=true (auto: the ones its trainer.ema.select chose)."""


@dataclass
class EvalDataConfig:
    root: Optional[str] = None  # None: where the training run found its data
    cache_dir: Optional[str] = None  # None: the training's setting


@dataclass
class EvalConfig:
    checkpoint: Optional[str] = None
    split: str = "val"
    out: Optional[str] = None
    device: str = "auto"
    batch_size: Optional[int] = None  # None: the training's per-process batch (same batches, same numbers)
    num_workers: Optional[int] = None  # None: the training's
    weights: str = "auto"  # auto | raw | ema (evaluation.restore.chosen_weights)
    data: EvalDataConfig = field(default_factory=EvalDataConfig)


def parse_args(argv: list[str]) -> EvalConfig:
    """``key=value`` arguments (as for artgenre-train) checked against :class:`EvalConfig`."""
    bad = [a for a in argv if "=" not in a or a.startswith("-")]
    if bad:
        raise ConfigError(f"cannot read argument(s) {' '.join(bad)}: pass key=value pairs\n{USAGE}")
    try:
        cli = OmegaConf.from_dotlist([a.lstrip("+") for a in argv])
        cfg = OmegaConf.merge(OmegaConf.structured(EvalConfig), cli)
    except OmegaConfBaseException as e:
        key, reason = getattr(e, "full_key", None) or "?", str(e).splitlines()[0]
        if "not in" in reason:
            reason += "; the keys: checkpoint, split, out, data.root, data.cache_dir, device, batch_size, num_workers, weights"
        raise ConfigError(f"bad argument {key}: {reason}") from None
    if not cfg.checkpoint:
        raise ConfigError(f"no checkpoint given: pass checkpoint=PATH (e.g. <run dir>/checkpoints/best.pt)\n{USAGE}")
    if cfg.split not in SPLITS:
        raise ConfigError(f"split={cfg.split} is not one of: {', '.join(SPLITS)}")
    if cfg.device not in DEVICE_CHOICES:
        raise ConfigError(f"device={cfg.device} is not one of: {', '.join(DEVICE_CHOICES)}")
    return OmegaConf.to_object(cfg)


def run(args: EvalConfig) -> dict[str, Any]:
    """Evaluate as asked; return the metrics (on every rank) and, on rank 0, print and save them."""
    info = distributed.init()
    ckpt_path = Path(args.checkpoint).expanduser()
    state = checkpoint.load(ckpt_path)
    cfg = training_config(state, args.data.root, args.data.cache_dir)
    device = resolve_device(args.device, info.local_rank, setting="device")
    run_dir = run_dir_of(ckpt_path)

    image_set, rows = select_images(cfg, args.split, run_dir)
    classes = list(image_set.classes)
    if classes != list(state["classes"]):
        raise CheckpointError(f"the data set's classes {classes} differ from the checkpoint's {state['classes']}")
    which = chosen_weights(state, cfg, args.weights)
    model = model_from_checkpoint(state, cfg, device, which)
    dataset = eval_dataset(cfg, image_set, rows)
    predictions = evaluate_images(
        model, dataset, [image_set.records[i].path for i in rows], input_for(model, cfg, device), device,
        args.batch_size or cfg.trainer.batch_size,
        cfg.trainer.num_workers if args.num_workers is None else args.num_workers,
        # the training's precision on a GPU; float32 on a CPU, where bf16 and float16 are emulated (slow)
        precision.resolve(cfg.trainer.precision if device.type == "cuda" else "32", device).autocast_factory, info,
    )
    result = summarize(predictions, classes)
    meta = {"checkpoint": str(ckpt_path), "epoch": state["epoch"], "split": args.split, "model": cfg.model.name,
            "data_root": str(image_set.root), "processes": info.world_size,
            "weights": which, "recorded_val_acc": recorded_val_acc(state, which)}
    if info.is_main:
        out = Path(args.out).expanduser() if args.out else run_dir / f"eval_{args.split}"
        write_outputs(out, result, predictions, classes, meta)
        print(format_result(result, meta))
        print(f"\nsaved to {out}/: summary.json per_class.csv confusion.csv confusion.png predictions.csv")
    return result


def main(argv: Optional[list[str]] = None) -> None:
    launch.key_value_command(argv, USAGE, lambda args: run(parse_args(args)))


if __name__ == "__main__":
    main()
