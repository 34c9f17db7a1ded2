"""The synthetic painting set: Kaggle layout, class sizes, determinism, atomic creation, learnability."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from artgenre.data.layouts import synthetic
from artgenre.data.layouts.catalog import STUDY_ARTISTS, STUDY_ARTIST_NAMES

# A small set for the tests that generate several times (about 30 images, well under a second).
SMALL = dict(scale=0.01, seed=0, min_per_class=2, size=(96, 160))


def image_files(root: Path, folder: str) -> list[Path]:
    return sorted((root / "images" / "images" / folder).iterdir())


def all_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def default_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synthetic") / "set"
    synthetic.generate(root)
    return root


def test_class_counts_follow_the_archive_imbalance() -> None:
    counts = synthetic.class_counts(0.25)
    assert list(counts) == list(STUDY_ARTIST_NAMES)
    assert counts["Pablo Picasso"] == 110 and counts["Jackson Pollock"] == 6
    assert sum(counts.values()) == 480
    assert synthetic.class_counts(1.0) == {a.name: a.paintings for a in STUDY_ARTISTS}
    assert min(synthetic.class_counts(0.01, min_per_class=5).values()) == 5
    with pytest.raises(ValueError):
        synthetic.class_counts(0.0)
    with pytest.raises(ValueError):
        synthetic.class_counts(0.25, min_per_class=0)


def test_layout_and_csv(default_set: Path) -> None:
    df = pd.read_csv(default_set / "artists.csv")
    assert list(df.columns) == ["id", "name", "years", "genre", "nationality", "bio", "wikipedia", "paintings"]
    assert len(df) == 12 and list(df["id"]) == list(range(12))
    genres = dict(zip(df["name"], df["genre"]))
    assert genres["Frida Kahlo"] == "Primitivism,Surrealism"  # the quoted comma survives
    assert genres["Pablo Picasso"] == "Cubism"
    for name, paintings in zip(df["name"], df["paintings"]):
        folder = name.replace(" ", "_")
        files = image_files(default_set, folder)
        assert len(files) == paintings
        # <Artist_Name>_<n>.<ext>, n = 1..paintings without gaps
        assert sorted(int(p.stem.rsplit("_", 1)[1]) for p in files) == list(range(1, paintings + 1))
        assert {p.stem.rsplit("_", 1)[0] for p in files} == {folder}
    assert not (default_set / synthetic.MARKER_NAME).exists()  # only ensure_synthetic writes it


def test_counts_per_class_match_class_counts(default_set: Path) -> None:
    for artist in STUDY_ARTISTS:
        assert len(image_files(default_set, artist.folder)) == synthetic.class_counts(0.25)[artist.name]


def test_extra_artists_are_in_the_csv_and_on_disk(default_set: Path) -> None:
    df = pd.read_csv(default_set / "artists.csv")
    extras = set(df["name"]) - set(STUDY_ARTIST_NAMES)
    assert extras == {"Vincent van Gogh", "Claude Monet"}
    for name in extras:
        assert len(image_files(default_set, name.replace(" ", "_"))) == synthetic.EXTRA_IMAGES_PER_ARTIST


def test_files_open_with_pil_in_the_documented_modes(default_set: Path) -> None:
    modes, shapes = {}, set()
    for path in (default_set / "images" / "images").rglob("*"):
        if path.is_file():
            with Image.open(path) as im:
                im.load()
                modes[path.name] = (im.format, im.mode)
                shapes.add(im.size)
                assert all(96 <= side <= 160 for side in im.size)
    assert modes["Pablo_Picasso_1.jpg"] == ("JPEG", "L")
    assert modes["Rembrandt_1.jpg"] == ("JPEG", "L")
    assert modes["Andy_Warhol_1.PNG"] == ("PNG", "RGBA")
    assert modes["Piet_Mondrian_1.PNG"] == ("PNG", "RGBA")
    assert modes["Pablo_Picasso_2.jpg"] == ("JPEG", "RGB")
    assert sum(fmt == "PNG" for fmt, _ in modes.values()) == 2
    assert len({round(w / h, 2) for w, h in shapes}) > 20  # aspect ratios vary


def test_same_seed_gives_identical_bytes_and_another_seed_other_images(tmp_path: Path) -> None:
    synthetic.generate(tmp_path / "a", **SMALL)
    synthetic.generate(tmp_path / "b", **SMALL)
    synthetic.generate(tmp_path / "c", **{**SMALL, "seed": 1})
    a, b, c = (all_files(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys() and a["artists.csv"] == c["artists.csv"]
    assert all(a[k] != c[k] for k in a if k != "artists.csv")


def test_generate_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "other.txt").write_text("not a set")
    with pytest.raises(FileExistsError):
        synthetic.generate(tmp_path, **SMALL)


def test_ensure_synthetic_creates_once_then_reuses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "nested" / "set"
    assert synthetic.ensure_synthetic(root, **SMALL) == root
    marker = json.loads((root / synthetic.MARKER_NAME).read_text())
    assert marker["version"] == synthetic.GENERATOR_VERSION and marker["seed"] == 0
    before = all_files(root)
    assert sorted(p.name for p in root.parent.iterdir()) == ["set"]  # no temporary folder left

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the set was generated again")

    monkeypatch.setattr(synthetic, "generate", fail)
    assert synthetic.ensure_synthetic(str(root), **SMALL) == root
    assert all_files(root) == before


def test_ensure_synthetic_fills_an_existing_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "set"
    root.mkdir()
    synthetic.ensure_synthetic(root, **SMALL)
    assert (root / "artists.csv").is_file() and (root / synthetic.MARKER_NAME).is_file()


def test_ensure_synthetic_rejects_other_parameters_and_foreign_folders(tmp_path: Path) -> None:
    root = tmp_path / "set"
    synthetic.ensure_synthetic(root, **SMALL)
    with pytest.raises(ValueError, match="other parameters") as info:
        synthetic.ensure_synthetic(root, **{**SMALL, "seed": 1})
    assert str(root) in str(info.value) and "data.root" in str(info.value)

    foreign = tmp_path / "paintings"
    foreign.mkdir()
    (foreign / "artists.csv").write_text("id,name\n")
    with pytest.raises(ValueError, match="no .synthetic.json marker") as info:
        synthetic.ensure_synthetic(foreign, **SMALL)
    assert str(foreign) in str(info.value) and "delete" in str(info.value)


def test_ensure_synthetic_keeps_the_set_of_a_process_that_finished_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "set"
    real_generate = synthetic.generate

    def generate_while_another_process_wins(path: Path, **kwargs: object) -> None:
        real_generate(path, **kwargs)
        monkeypatch.setattr(synthetic, "generate", real_generate)
        synthetic.ensure_synthetic(root, **kwargs)  # the other process renames its set first
        (root / "winner.txt").write_text("theirs")

    monkeypatch.setattr(synthetic, "generate", generate_while_another_process_wins)
    assert synthetic.ensure_synthetic(root, **SMALL) == root
    assert (root / "winner.txt").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # the loser's copy is gone


def test_ensure_synthetic_leaves_nothing_when_generation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def killed_half_way(path: Path, **kwargs: object) -> None:
        (Path(path) / "images").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(synthetic, "generate", killed_half_way)
    with pytest.raises(KeyboardInterrupt):
        synthetic.ensure_synthetic(tmp_path / "set", **SMALL)
    assert list(tmp_path.iterdir()) == []


def _nearest_class_mean_accuracy(features: np.ndarray, labels: np.ndarray, test: np.ndarray) -> float:
    mean, std = features[~test].mean(0), features[~test].std(0) + 1e-6
    z = (features - mean) / std
    centres = np.stack([z[~test & (labels == k)].mean(0) for k in range(10)])
    predicted = ((z[test, None, :] - centres) ** 2).sum(-1).argmin(1)
    return float((predicted == labels[test]).mean())


def test_the_task_is_learnable_but_not_by_mean_colour(default_set: Path) -> None:
    pixels, colours, labels = [], [], []
    for k, artist in enumerate(STUDY_ARTISTS):
        for path in image_files(default_set, artist.folder):
            with Image.open(path) as im:
                rgb = im.convert("RGB")
            pixels.append(np.asarray(rgb.resize((16, 16), Image.BILINEAR), np.float32).ravel())
            colours.append(np.asarray(rgb, np.float32).reshape(-1, 3).mean(0))
            labels.append(k)
    labels_a = np.array(labels)
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels_a), bool)
    for k in range(10):  # stratified 30% held out
        idx = rng.permutation(np.flatnonzero(labels_a == k))
        test[idx[: max(1, round(0.3 * len(idx)))]] = True

    by_pixels = _nearest_class_mean_accuracy(np.array(pixels), labels_a, test)
    by_colour = _nearest_class_mean_accuracy(np.array(colours), labels_a, test)
    # Measured with seed 0: about 0.49 from 16x16 pixels, 0.31 from the mean colour (chance 0.10,
    # majority class 0.23).
    assert by_pixels > 0.30
    assert by_colour < 0.60
    assert by_pixels > by_colour
