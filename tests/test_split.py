"""The train/val split: stratified, deterministic, and independent of listing order."""

from __future__ import annotations

from collections import Counter

from artgenre.data.layouts.catalog import STUDY_ARTISTS
from artgenre.data.split import stratified_split

REAL_LABELS = [i for i, a in enumerate(STUDY_ARTISTS) for _ in range(a.paintings)]


def test_study_sizes_give_288_val_images_stratified() -> None:
    split = stratified_split(REAL_LABELS, 0.15, seed=9)
    val = Counter(y for y, s in zip(REAL_LABELS, split) if s == "val")
    assert len(REAL_LABELS) == 1916
    assert sum(val.values()) == 288
    assert val[0] == 66 and val[9] == 4  # Picasso 439 * 0.15 = 65.85, Pollock 24 * 0.15 = 3.6


def test_every_class_has_a_validation_image() -> None:
    labels = [0] * 2 + [1] * 3 + [2] * 50
    split = stratified_split(labels, 0.15, seed=0)
    for c in (0, 1, 2):
        members = [s for y, s in zip(labels, split) if y == c]
        assert "val" in members and "train" in members


def test_same_seed_same_split_other_seed_other_split() -> None:
    a = stratified_split(REAL_LABELS, 0.15, seed=9)
    assert a == stratified_split(REAL_LABELS, 0.15, seed=9)
    assert a != stratified_split(REAL_LABELS, 0.15, seed=10)


def test_a_class_split_does_not_depend_on_other_classes() -> None:
    with_all = stratified_split(REAL_LABELS, 0.15, seed=9)
    picasso_only = stratified_split([0] * 439, 0.15, seed=9)
    assert with_all[:439] == picasso_only


def test_singleton_class_stays_in_train() -> None:
    assert stratified_split([0, 1, 1, 1], 0.5, seed=0)[0] == "train"
