"""Stratified, deterministic train/val split: each class split on its own, by the seed alone."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int) -> list[str]:
    """'train' or 'val' for each position of ``labels``.

    Each class with at least two images gets ``round(n * val_fraction)`` validation images,
    at least one and at most n - 1. The choice depends only on the seed, the class and the
    order of its members (callers pass a sorted list), never on other classes.
    """
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    split = ["train"] * len(labels)
    for y, members in by_class.items():
        n = len(members)
        if n < 2:
            continue
        n_val = min(n - 1, max(1, math.floor(n * val_fraction + 0.5)))
        rng = np.random.default_rng([seed, y])
        for j in rng.permutation(n)[:n_val]:
            split[members[j]] = "val"
    return split
