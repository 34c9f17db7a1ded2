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

import csv
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn
from torch.utils.data import DataLoader, Dataset

from artgenre import launch
from artgenre.rundir import checkpoint
from artgenre.runtime import distributed
from artgenre.data.listing import ImageSet
from artgenre.data.pipeline import DeviceInput, build_datasets
from artgenre.data.sampler import EvalShardSampler
from artgenre.errors import CheckpointError, ConfigError, DataError
from artgenre.models import build_model, normalization
# the training's own pieces, so that evaluation cannot drift from what training measured
from artgenre.training.data import index_data
from artgenre.training.fit import autocast_for, model_options, select_device

log = logging.getLogger("artgenre")

SPLITS = ("val", "test", "all")
TOP_K = 3

USAGE = """\
usage: artgenre-eval checkpoint=PATH [split=val|test|all] [out=DIR] [data.root=DIR]
                     [data.cache_dir=DIR] [device=auto|cpu|cuda] [batch_size=N] [num_workers=N]

Evaluate a training checkpoint on its run's validation images (split=val), its test images
(split=test) or every image of its data set (split=all). The data set, split, image size
and model come from the checkpoint; data.root points to the data if it has moved.
Runs under torchrun too: each process evaluates a share, each image exactly once.
Results go to OUT (default: <run dir>/eval_<split>/)."""


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
    data: EvalDataConfig = field(default_factory=EvalDataConfig)


@dataclass
class Predictions:
    """Every evaluated image in data-set order, gathered from all ranks."""

    paths: list[str]
    labels: np.ndarray  # (N,) int
    logits: np.ndarray  # (N, C) float32
    predicted: np.ndarray  # (N,) int, argmax as the training computed it


# ---------------------------------------------------------------- configuration


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
            reason += "; the keys: checkpoint, split, out, data.root, data.cache_dir, device, batch_size, num_workers"
        raise ConfigError(f"bad argument {key}: {reason}") from None
    if not cfg.checkpoint:
        raise ConfigError(f"no checkpoint given: pass checkpoint=PATH (e.g. <run dir>/checkpoints/best.pt)\n{USAGE}")
    if cfg.split not in SPLITS:
        raise ConfigError(f"split={cfg.split} is not one of: {', '.join(SPLITS)}")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"device={cfg.device} is not one of: auto, cpu, cuda")
    return OmegaConf.to_object(cfg)


def run_dir_of(checkpoint_path: Path) -> Path:
    """The run folder: checkpoints live in <run dir>/checkpoints/."""
    parent = checkpoint_path.resolve().parent
    return parent.parent if parent.name == "checkpoints" else parent


def training_config(state: dict[str, Any], data_root: Optional[str] = None,
                    cache_dir: Optional[str] = None) -> DictConfig:
    """The run's resolved config; only where the data (and its manifest) lie may differ."""
    cfg = OmegaConf.create(state["config"])
    if data_root:
        cfg.data.root = str(Path(data_root).expanduser())
    if cache_dir:
        cfg.data.cache_dir = str(Path(cache_dir).expanduser())
    return cfg


# ---------------------------------------------------------------- model from a checkpoint


def model_from_checkpoint(state: dict[str, Any], cfg: DictConfig, device: torch.device) -> nn.Module:
    """The trained network, built exactly as the training built it, in eval mode on ``device``."""
    classes = state["classes"]
    try:
        model = build_model(cfg.model.name, len(classes), cfg.data.image_size, **model_options(cfg))
        model.load_state_dict(state["model"])
    except (KeyError, TypeError, RuntimeError) as e:
        # a model registered under that name may have changed shape since the checkpoint was written
        raise CheckpointError(f"cannot rebuild model {cfg.model.name!r} from the checkpoint: "
                              f"{str(e).splitlines()[0]}") from None
    return model.to(device).eval()


def input_for(model: nn.Module, cfg: DictConfig, device: torch.device) -> DeviceInput:
    """uint8 images -> the normalised float batch the model was trained on, made as training makes it."""
    mean, std = normalization(model)
    return DeviceInput(device, mean, std, cfg.data.normalize)


# ---------------------------------------------------------------- which images


def select_images(cfg: DictConfig, which: str, run_dir: Path) -> tuple[ImageSet, list[int]]:
    """The data set and the manifest rows of split ``which``, as the training run saw them.

    The manifest is the training's own (trainer.index_data: same function, same seed), made
    afresh where the data has moved; where the run's split.csv exists it must agree, so a
    data folder that changed since training is caught rather than silently evaluated.
    """
    image_set, split = index_data(cfg)
    check_split_matches(run_dir / "split.csv", image_set.records, split)
    rows = list(range(len(split))) if which == "all" else [i for i, s in enumerate(split) if s == which]
    if not rows:
        if which == "test":
            raise ConfigError("split=test: this run has no test images (it was trained with data.test_fraction=0); "
                              "use split=val or split=all")
        raise DataError(f"split={which} holds no images under {image_set.root}")
    return image_set, rows


def check_split_matches(split_csv: Path, records: Sequence[Any], split: list[str]) -> None:
    if not split_csv.is_file():
        return
    with split_csv.open(newline="", encoding="utf-8", errors="surrogateescape") as f:
        recorded = [(row["path"], row["split"]) for row in csv.DictReader(f)]
    now = [(r.path, s) for r, s in zip(records, split)]
    if recorded != now:
        differ = len(set(recorded) ^ set(now))
        raise DataError(
            f"the images under data.root are not the ones this checkpoint was trained and validated on "
            f"({differ} path/split entries differ from {split_csv}); point data.root to the run's data"
        )


def eval_dataset(cfg: DictConfig, image_set: ImageSet, rows: list[int]) -> Dataset:
    """The images at manifest ``rows``, built by the training's own data pipeline as its
    validation set (same decoding, pixel cache, geometry), so the numbers match the training's."""
    chosen = set(rows)
    as_val = ["val" if i in chosen else "unused" for i in range(len(image_set.records))]
    _, dataset = build_datasets(cfg.data, image_set, as_val, cfg.trainer.num_workers, progress=False)
    return dataset


# ---------------------------------------------------------------- the evaluation pass


@torch.no_grad()
def predict_shard(
    model: nn.Module, loader: DataLoader, to_input: DeviceInput, autocast: Callable
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and argmax of this rank's images, in the loader's order, on the CPU."""
    logits_all, predicted_all = [], []
    for images, _ in loader:
        with autocast():
            logits = model(to_input(images))
        # argmax on the device, as engine.evaluate does, so top-1 matches training's to the image
        predicted_all.append(logits.argmax(1).cpu())
        logits_all.append(logits.float().cpu())
    if not logits_all:  # more ranks than images
        return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
    return torch.cat(logits_all).numpy(), torch.cat(predicted_all).numpy()


def evaluate_images(
    model: nn.Module, dataset: Dataset, paths: list[str], to_input: DeviceInput, device: torch.device,
    batch_size: int, num_workers: int, autocast: Callable, info: distributed.DistInfo,
) -> Predictions:
    """Each rank predicts its shard (images r, r+W, ...); every rank gets all of them back in order."""
    sampler = EvalShardSampler(len(dataset), info.rank, info.world_size)
    loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                        pin_memory=device.type == "cuda")
    logits, predicted = predict_shard(model, loader, to_input, autocast)
    shards = distributed.all_gather_object((sampler.indices, logits, predicted))
    n = len(dataset)
    order = np.concatenate([np.asarray(idx, dtype=np.int64) for idx, _, _ in shards])
    if sorted(order.tolist()) != list(range(n)):
        raise RuntimeError("evaluation shards do not cover every image exactly once")  # a sampler bug, not the user's
    all_logits = np.concatenate([lg for _, lg, _ in shards if len(lg)])
    all_pred = np.concatenate([p for _, _, p in shards])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    labels = np.asarray(dataset.labels, dtype=np.int64)
    return Predictions(list(paths), labels, all_logits[inverse], all_pred[inverse])


# ---------------------------------------------------------------- metrics


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (labels, predicted), 1)
    return cm


def summarize(p: Predictions, classes: list[str]) -> dict[str, Any]:
    """Top-1, top-3, balanced accuracy, loss, per-class precision/recall/F1 and the confusion matrix."""
    c = len(classes)
    n = len(p.labels)
    cm = confusion_matrix(p.labels, p.predicted, c)
    correct = int(np.trace(cm))
    k = min(TOP_K, c)  # with fewer than three classes top-3 is every class
    top_k = np.argsort(-p.logits, axis=1, kind="stable")[:, :k]
    support, predicted_count, hits = cm.sum(1), cm.sum(0), np.diag(cm)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        precision = np.where(predicted_count > 0, hits / predicted_count, np.nan)
        f1 = np.where(hits > 0, 2 * precision * recall / (precision + recall), 0.0)
    f1 = np.where(support + predicted_count > 0, f1, np.nan)  # a class absent everywhere has no F1
    probs = softmax(p.logits)
    loss = float(-np.log(np.clip(probs[np.arange(n), p.labels], 1e-300, None)).mean()) if n else float("nan")
    present = support > 0
    return {
        "n_images": n,
        "top1": 100.0 * correct / max(n, 1),  # the same float expression as engine.evaluate's
        "top3": 100.0 * float((top_k == p.labels[:, None]).any(1).sum()) / max(n, 1),
        "balanced_acc": 100.0 * float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": 100.0 * float(np.nanmean(f1[present])) if present.any() else 0.0,
        "loss": loss,
        "per_class": [
            {"class": name, "support": int(support[i]), "precision": 100.0 * precision[i],
             "recall": 100.0 * recall[i], "f1": 100.0 * f1[i]}
            for i, name in enumerate(classes)
        ],
        "confusion": cm,
    }


# ---------------------------------------------------------------- outputs


def _fmt(x: float) -> str:
    return "" if x != x else f"{x:.4f}"  # NaN (a class with no images or no predictions) -> blank


def write_outputs(out: Path, result: dict[str, Any], p: Predictions, classes: list[str], meta: dict[str, Any]) -> None:
    from artgenre.report import plot_confusion, write_confusion_csv  # matplotlib only when there is something to draw

    out.mkdir(parents=True, exist_ok=True)
    summary = {**meta, **{k: v for k, v in result.items() if k not in ("per_class", "confusion")}, "classes": classes}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    with (out / "per_class.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "support", "precision", "recall", "f1"])
        for row in result["per_class"]:
            w.writerow([row["class"], row["support"], _fmt(row["precision"]), _fmt(row["recall"]), _fmt(row["f1"])])
    write_confusion_csv(out / "confusion.csv", result["confusion"], classes)
    plot_confusion(result["confusion"], classes, out / "confusion.png",
                   title=f"{meta.get('model', '')} {meta['split']}: top-1 {result['top1']:.2f}%")
    probs = softmax(p.logits) if len(p.labels) else np.zeros((0, len(classes)))
    with (out / "predictions.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "true_class", "predicted_class", "probability", "correct"])
        for i, path in enumerate(p.paths):
            y, y_hat = int(p.labels[i]), int(p.predicted[i])
            w.writerow([path, classes[y], classes[y_hat], f"{probs[i, y_hat]:.6f}", int(y == y_hat)])


def recorded_val_acc(state: dict[str, Any]) -> Optional[float]:
    """The val accuracy the training logged for the checkpoint's epoch (what split=val must reproduce)."""
    rows = [r for r in state.get("history", []) if r.get("epoch") == state.get("epoch")]
    return float(rows[-1]["val_acc"]) if rows else None


def format_result(result: dict[str, Any], meta: dict[str, Any]) -> str:
    width = max(len(r["class"]) for r in result["per_class"])
    lines = [
        f"{meta['checkpoint']} (epoch {meta['epoch']}), split={meta['split']}: {result['n_images']} images",
        f"top-1 {result['top1']:.2f}%   top-3 {result['top3']:.2f}%   balanced {result['balanced_acc']:.2f}%   "
        f"macro F1 {result['macro_f1']:.2f}%   loss {result['loss']:.4f}",
    ]
    if meta["split"] == "val" and meta.get("recorded_val_acc") is not None:
        lines.append(f"(training logged val acc {meta['recorded_val_acc']:.2f}% for this epoch)")
    lines += [
        "",
        f"{'class':<{width}}  {'support':>7}  {'precision':>9}  {'recall':>7}  {'F1':>6}   (%)",
    ]
    for r in result["per_class"]:
        cells = [f"{v:.1f}" if v == v else "-" for v in (r["precision"], r["recall"], r["f1"])]
        lines.append(f"{r['class']:<{width}}  {r['support']:>7}  {cells[0]:>9}  {cells[1]:>7}  {cells[2]:>6}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the command


def run(args: EvalConfig) -> dict[str, Any]:
    """Evaluate as asked; return the metrics (on every rank) and, on rank 0, print and save them."""
    info = distributed.init()
    ckpt_path = Path(args.checkpoint).expanduser()
    state = checkpoint.load(ckpt_path)
    cfg = training_config(state, args.data.root, args.data.cache_dir)
    device = select_device(args.device, info)
    run_dir = run_dir_of(ckpt_path)

    image_set, rows = select_images(cfg, args.split, run_dir)
    classes = list(image_set.classes)
    if classes != list(state["classes"]):
        raise CheckpointError(f"the data set's classes {classes} differ from the checkpoint's {state['classes']}")
    model = model_from_checkpoint(state, cfg, device)
    dataset = eval_dataset(cfg, image_set, rows)
    predictions = evaluate_images(
        model, dataset, [image_set.records[i].path for i in rows], input_for(model, cfg, device), device,
        args.batch_size or cfg.trainer.batch_size,
        cfg.trainer.num_workers if args.num_workers is None else args.num_workers,
        # the training's precision on a GPU; float32 on a CPU, where bf16 and float16 are emulated (slow)
        autocast_for(device, cfg.trainer.precision if device.type == "cuda" else "32"), info,
    )
    result = summarize(predictions, classes)
    meta = {"checkpoint": str(ckpt_path), "epoch": state["epoch"], "split": args.split, "model": cfg.model.name,
            "data_root": str(image_set.root), "processes": info.world_size,
            "recorded_val_acc": recorded_val_acc(state)}
    if info.is_main:
        out = Path(args.out).expanduser() if args.out else run_dir / f"eval_{args.split}"
        write_outputs(out, result, predictions, classes, meta)
        print(format_result(result, meta))
        print(f"\nsaved to {out}/: summary.json per_class.csv confusion.csv confusion.png predictions.csv")
    return result


def main(argv: Optional[list[str]] = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(USAGE)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        launch.guarded(lambda: run(parse_args(argv)))()
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()
