"""One pass over a set of images: each rank predicts its shard, every rank gets all of them back
in data-set order, each image exactly once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from artgenre.data.loading.pipeline import DeviceInput
from artgenre.data.loading.sampler import EvalShardSampler
from artgenre.runtime import distributed


@dataclass
class Predictions:
    """Every evaluated image in data-set order, gathered from all ranks."""

    paths: list[str]
    labels: np.ndarray  # (N,) int
    logits: np.ndarray  # (N, C) float32
    predicted: np.ndarray  # (N,) int, argmax as the training computed it


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
    return gather_predictions(sampler.indices, logits, predicted, paths, dataset.labels)


def gather_predictions(indices: Sequence[int], logits: np.ndarray, predicted: np.ndarray, paths: Sequence[str],
                       labels: Sequence[int]) -> Predictions:
    """Every rank's shard (its data-set ``indices``, their logits and argmax) to every rank, in
    data-set order, each image exactly once. A collective: every rank calls it."""
    shards = distributed.all_gather_object((list(indices), logits, predicted))
    n = len(paths)
    order = np.concatenate([np.asarray(idx, dtype=np.int64) for idx, _, _ in shards])
    if sorted(order.tolist()) != list(range(n)):
        raise RuntimeError("evaluation shards do not cover every image exactly once")  # a sampler bug, not the user's
    all_logits = np.concatenate([lg for _, lg, _ in shards if len(lg)])
    all_pred = np.concatenate([p for _, _, p in shards])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n)
    return Predictions(list(paths), np.asarray(labels, dtype=np.int64), all_logits[inverse], all_pred[inverse])
