"""Cross-validation folds and artist-grouped splits: every image validated exactly once, no
artist on both sides, the manifest and split.csv record the fold, the config refuses nonsense."""

from __future__ import annotations

import csv
import dataclasses
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from artgenre.config import DataConfig, validate
from artgenre.data.layouts.synthetic import ensure_synthetic
from artgenre.data.prepare import prepare, report
from artgenre.data.split import fold_split, grouped_folds, stratified_folds
from artgenre.errors import CheckpointError, ConfigError, DataError
from artgenre.rundir.split import read_split_csv, write_split_csv
from artgenre.training.resume import check_compatible

SEEDS = range(25)
FOLD_COUNTS = (2, 3, 5, 7)


def _labels(seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    return sorted(int(y) for y in rng.integers(0, 6, int(rng.integers(20, 120))))


def _groups(labels: list[int], seed: int) -> list[str]:
    """Two to five artists per class, of uneven sizes."""
    rng = np.random.default_rng([seed, 7])
    per_class = {y: int(rng.integers(2, 6)) for y in set(labels)}
    return [f"artist{y}-{int(rng.integers(per_class[y]))}" for y in labels]


@pytest.mark.parametrize("k", FOLD_COUNTS)
def test_folds_validate_every_image_exactly_once_and_stay_stratified(k: int) -> None:
    for seed in SEEDS:
        labels = _labels(seed)
        fold = stratified_folds(labels, k, seed)
        assert set(fold) <= set(range(k))
        val_sets = [{i for i, s in enumerate(fold_split(fold, f)) if s == "val"} for f in range(k)]
        assert sum(len(v) for v in val_sets) == len(labels)  # disjoint ...
        assert set().union(*val_sets) == set(range(len(labels)))  # ... and covering
        sizes = Counter(fold)
        assert max(sizes.values()) - min(sizes[f] for f in range(k)) <= 1
        for y in set(labels):
            per_fold = Counter(f for f, lab in zip(fold, labels) if lab == y)
            assert max(per_fold[f] for f in range(k)) - min(per_fold[f] for f in range(k)) <= 1
        assert stratified_folds(labels, k, seed) == fold  # deterministic


def test_folds_depend_on_the_seed() -> None:
    labels = _labels(0)
    assert stratified_folds(labels, 5, 1) != stratified_folds(labels, 5, 2)


@pytest.mark.parametrize("k", FOLD_COUNTS)
def test_no_artist_on_both_sides_of_a_grouped_split(k: int) -> None:
    for seed in SEEDS:
        labels = _labels(seed)
        groups = _groups(labels, seed)
        fold = grouped_folds(labels, groups, k, seed)
        assert grouped_folds(labels, groups, k, seed) == fold
        for f in range(k):
            split = fold_split(fold, f)
            train = {g for g, s in zip(groups, split) if s == "train"}
            val = {g for g, s in zip(groups, split) if s == "val"}
            assert not train & val
            # every class with two artists or more keeps one in training, whichever fold is validated
            for y in set(labels):
                if len({g for g, lab in zip(groups, labels) if lab == y}) >= 2:
                    assert any(lab == y and s == "train" for lab, s in zip(labels, split))
        assert sorted(i for f in range(k) for i, s in enumerate(fold_split(fold, f)) if s == "val") == \
            list(range(len(labels)))


def _data(root: Path, **overrides) -> "OmegaConf":
    d = OmegaConf.create(dataclasses.asdict(DataConfig()))
    d.merge_with({"name": "synthetic", "root": str(root), "synthetic_scale": 0.05, **overrides})
    return d


@pytest.fixture(scope="module")
def followers_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data") / "followers"
    ensure_synthetic(root, scale=0.05, seed=0, artists_per_genre=2)
    return root


def test_prepare_records_folds_and_each_fold_validates_its_images(followers_root: Path, tmp_path: Path) -> None:
    val_paths = []
    for f in range(3):
        p = prepare(_data(followers_root, folds=3, fold=f, cache_dir=str(tmp_path / "cache"),
                          synthetic_artists_per_genre=2), seed=9, progress=False)
        val_paths += [r.path for r, s in zip(p.records, p.split) if s == "val"]
        assert all((s == "val") == (k == f) for s, k in zip(p.split, p.fold))
        assert p.reused == (f > 0)  # one manifest for the K runs
    assert sorted(val_paths) == sorted(r.path for r in p.records)
    with (tmp_path / "cache" / "manifest.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["fold"] for r in rows} == {"0", "1", "2"} and {r["split"] for r in rows} == {"cv"}
    write_split_csv(tmp_path / "split.csv", p.records, p.split, p.image_set().fold)
    written = read_split_csv(tmp_path / "split.csv")
    assert [int(r["fold"]) for r in written] == p.fold
    assert any("fold 2*" in line for line in report(p))


def test_grouped_prepare_leaves_single_artist_genres_out_and_says_so(followers_root: Path, tmp_path: Path) -> None:
    p = prepare(_data(followers_root, label="genre", group_by="artist", artists="all", folds=4,
                      cache_dir=str(tmp_path / "c"), synthetic_artists_per_genre=2), seed=3, progress=False)
    assert "Post-Impressionism" not in p.classes and len(p.classes) == 10  # van Gogh paints alone
    note = next(n for n in p.notes if "group_by=artist" in n)
    assert "Post-Impressionism (Vincent van Gogh: 3 images)" in note and "1 genre(s)" in note
    for f in range(4):
        split = fold_split(p.fold, f)
        train = {r.artist for r, s in zip(p.records, split) if s == "train"}
        val = {r.artist for r, s in zip(p.records, split) if s == "val"}
        assert not train & val
        assert {r.label for r, s in zip(p.records, split) if s == "train"} == set(range(len(p.classes)))


def test_grouped_holdout_without_folds_keeps_artists_whole(followers_root: Path, tmp_path: Path) -> None:
    p = prepare(_data(followers_root, label="genre", group_by="artist", artists="all",
                      cache_dir=str(tmp_path / "c"), synthetic_artists_per_genre=2), seed=0, progress=False)
    train = {r.artist for r, s in zip(p.records, p.split) if s == "train"}
    val = {r.artist for r, s in zip(p.records, p.split) if s == "val"}
    assert val and not train & val


def test_the_study_ten_cannot_be_grouped_by_artist(followers_root: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs more artists: pass data.artists=all"):
        prepare(_data(followers_root, label="genre", group_by="artist", cache_dir=str(tmp_path / "c"),
                      synthetic_artists_per_genre=2), seed=0, progress=False)


def _cfg(*overrides: str):
    from hydra import compose, initialize_config_module

    with initialize_config_module("artgenre.conf", version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.mark.parametrize("overrides, message", [
    (["data.fold=2"], "needs data.folds"),
    (["data.folds=5", "data.fold=5"], "must be 0 .. data.folds-1"),
    (["data.folds=1"], "must be 2 or more"),
    (["data.group_by=artist"], "needs data.label=genre"),
    (["data.group_by=painter", "data.label=genre"], "choose one of"),
    (["data.folds=5", "data.test_fraction=0.1"], "must be 0 with data.folds"),
])
def test_config_refuses_bad_fold_settings(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        validate(_cfg("model=resnet50", *overrides))


def test_resume_refuses_another_fold_and_accepts_checkpoints_from_before_folds(tmp_path: Path) -> None:
    new = validate(_cfg("model=resnet50", "data.folds=5", "data.fold=1"))
    other = validate(_cfg("model=resnet50", "data.folds=5", "data.fold=2"))
    with pytest.raises(CheckpointError, match="data.fold=1"):
        check_compatible(new, other, tmp_path / "last.pt")
    plain = validate(_cfg("model=resnet50"))
    old = OmegaConf.to_container(plain)
    for key in ("folds", "fold", "group_by", "synthetic_artists_per_genre"):
        del old["data"][key]
    check_compatible(OmegaConf.create(old), plain, tmp_path / "last.pt")


def test_followers_share_their_masters_genre_and_the_default_set_is_unchanged(followers_root: Path,
                                                                             synthetic_root: Path) -> None:
    import json

    with (followers_root / "artists.csv").open(newline="") as fh:
        genre = {r["name"]: r["genre"] for r in csv.DictReader(fh)}
    assert genre["Follower 2 of Pablo Picasso"] == genre["Pablo Picasso"] == "Cubism"
    assert not any(name.startswith("Follower 3") for name in genre)
    picasso = sorted((followers_root / "images" / "images" / "Pablo_Picasso").iterdir())
    follower = sorted((followers_root / "images" / "images" / "Follower_2_of_Pablo_Picasso").iterdir())
    assert len(picasso) == len(follower) and picasso[3].read_bytes() != follower[3].read_bytes()
    # the default set's marker is as before, so sets generated earlier are still reused
    assert "artists_per_genre" not in json.loads((synthetic_root / ".synthetic.json").read_text())
