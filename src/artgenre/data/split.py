"""Stratified, deterministic train/val(/test) split: each class split on its own, by the seed alone."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Sequence

import numpy as np


def _share(n: int, fraction: float) -> int:
    return math.floor(n * fraction + 0.5)


def stratified_split(labels: Sequence[int], val_fraction: float, seed: int, test_fraction: float = 0.0) -> list[str]:
    """'train', 'val' or 'test' for each position of ``labels``.

    Each class with at least two images gets ``round(n * val_fraction)`` validation images,
    at least one and at most n - 1, then ``round(n * test_fraction)`` test images as long as
    one training image is left. The choice depends only on the seed, the class and the order
    of its members (callers pass a sorted list), never on other classes; validation images
    come first in the class's permutation, so adding a test split leaves them unchanged.
    """
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    split = ["train"] * len(labels)
    for y, members in by_class.items():
        n = len(members)
        if n < 2:
            continue
        n_val = min(n - 1, max(1, _share(n, val_fraction)))
        n_test = min(n - 1 - n_val, _share(n, test_fraction))
        order = np.random.default_rng([seed, y]).permutation(n)
        for j in order[:n_val]:
            split[members[j]] = "val"
        for j in order[n_val : n_val + n_test]:
            split[members[j]] = "test"
    return split
