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


def stratified_folds(labels: Sequence[int], folds: int, seed: int) -> list[int]:
    """The fold (0 .. folds-1) of each position of ``labels``: every class dealt out in turn.

    Each class's members are shuffled by ``(seed, class)`` and dealt to the folds like cards,
    each class starting where the previous one stopped, so a class's share of any two folds
    differs by at most one image and so do the folds' sizes. Every image is in exactly one fold.
    """
    by_class: dict[int, list[int]] = defaultdict(list)
    for i, y in enumerate(labels):
        by_class[y].append(i)
    fold = [0] * len(labels)
    dealt = 0
    for y in sorted(by_class):
        members = by_class[y]
        for j in np.random.default_rng([seed, y]).permutation(len(members)):
            fold[members[j]] = dealt % folds
            dealt += 1
    return fold


def grouped_folds(labels: Sequence[int], groups: Sequence[str], folds: int, seed: int) -> list[int]:
    """The fold of each position, every group (artist) whole in one fold, stratified by label.

    Per class, its groups in an order drawn from ``(seed, class)`` go one at a time to the fold
    holding the fewest of that class's groups so far, and among those to the one with the fewest
    images (then a fold order drawn from the seed). So a class with at least two groups always
    has groups in two folds or more: whichever fold is validated, training keeps the class.
    """
    members: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, (y, g) in enumerate(zip(labels, groups)):
        members[y][g].append(i)
    fold = [0] * len(labels)
    size = [0] * folds
    preference = np.random.default_rng([seed, 1 << 30]).permutation(folds).tolist()
    for y in sorted(members):
        names = sorted(members[y])
        taken = [0] * folds
        for k in np.random.default_rng([seed, y]).permutation(len(names)):
            group = members[y][names[k]]
            f = min(range(folds), key=lambda f: (taken[f], size[f], preference.index(f)))
            taken[f] += 1
            size[f] += len(group)
            for i in group:
                fold[i] = f
    return fold


def fold_split(fold: Sequence[int], val_fold: int) -> list[str]:
    """'val' for the images of fold ``val_fold``, 'train' for the others."""
    return ["val" if f == val_fold else "train" for f in fold]
