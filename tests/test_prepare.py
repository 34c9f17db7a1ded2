"""prepare: the Kaggle archive's traps, artist selection, labels, the split, and reuse of the manifest."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from PIL import Image

from artgenre.data import decode
from artgenre.data.layouts import names
from artgenre.data.loading.dataset import ImageListDataset
from artgenre.data.prepare import files, manifest, report
from artgenre.training.data import prepare_manifest as prepare
from artgenre.data.split import stratified_split
from artgenre.errors import ConfigError, DataError
from trap_archive import DURER_CP437, DURER_DOUBLE, config, jpeg, make_archive, zip_folder

DURER = "Albrecht Dürer"


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_archive(tmp_path_factory.mktemp("trap") / "best-artworks")


@pytest.fixture
def fresh(archive: Path, tmp_path: Path) -> Path:
    """A private copy, for tests that change files or prepare with other settings."""
    return Path(shutil.copytree(archive, tmp_path / "copy", ignore=shutil.ignore_patterns(".artgenre")))


@pytest.fixture(scope="module")
def everyone(archive: Path) -> manifest.Prepared:
    return prepare(config(f"data.root={archive}", "data.artists=all"))


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def reasons(p: manifest.Prepared) -> dict[str, str]:
    return {path.rsplit("/", 1)[-1] if not path.endswith("/") else path: reason for path, reason in p.excluded}


@pytest.mark.parametrize("spelling", [DURER_CP437, DURER_DOUBLE, "Albrecht_Du╠Иrer", "Albrecht_Du\u0308rer",
                                      "Albrecht_D├╝rer", "albrecht durer", "Albrecht_Dürer"])
def test_every_spelling_of_durer_has_one_key(spelling: str) -> None:
    assert names.key(spelling) == names.key(DURER) == "albrecht durer"


def test_real_names_are_not_repaired() -> None:
    for name in ("Albrecht Dürer", "Pierre-Auguste Renoir", "Paul Cézanne", "Mikhail Vrubel"):
        assert names.repair(name) == name


def test_manifest_holds_the_usable_images_only(everyone: manifest.Prepared) -> None:
    by_artist = Counter(r.artist for r in everyone.records)
    # Picasso: 4 good + .JPG + PNG named .jpg; Dürer: a, b, c, d once; Titian: all six colour modes
    assert by_artist == {"Pablo Picasso": 6, "Titian": 6, DURER: 4, "Frida Kahlo": 3, "Claude Monet": 3,
                         "Alfred Sisley": 3}
    paths = {r.path for r in everyone.records}
    assert "images/images/Pablo_Picasso/Pablo_Picasso_5.JPG" in paths
    assert "images/images/Pablo_Picasso/Pablo_Picasso_9.jpg" in paths  # content decides: a PNG is kept
    titian = next(r for r in everyone.records if r.artist == "Titian")
    assert titian.genre == "High Renaissance, Mannerism"
    assert everyone.classes[titian.label] == "High Renaissance; Mannerism (Titian)"


def test_every_excluded_file_has_its_reason(everyone: manifest.Prepared) -> None:
    why = reasons(everyone)
    assert why["Pablo_Picasso_6.jpg"].startswith("truncated")
    assert why["Pablo_Picasso_7.jpg"] == "empty file (0 bytes)"
    assert why["Pablo_Picasso_8.jpg"].startswith("not an image")
    assert why["notes.txt"].startswith("not an image file")
    assert why["images/images/Unknown_Painter/"].startswith("folder of an artist not in artists.csv")
    assert why["stray.jpg"] == "not inside an artist folder"
    duplicates = [p for p, r in everyone.excluded if r.startswith("duplicate of")]
    assert len(duplicates) == 2 and all("Albrecht_Du" in p for p in duplicates)
    assert ".DS_Store" not in why and "Thumbs.db" not in why  # system files: counted, not listed
    notes = " | ".join(everyone.notes)
    assert "2 system file(s)" in notes and "Pablo_Picasso_9.jpg (PNG)" in notes
    assert "no images on disk for: Jackson Pollock" in notes and "merged into one artist" in notes


def test_files_written_and_report(everyone: manifest.Prepared) -> None:
    written = rows(everyone.manifest_path)
    assert list(written[0]) == manifest.MANIFEST_COLUMNS and len(written) == len(everyone.records)
    assert {r["path"] for r in rows(everyone.excluded_path)} == {p for p, _ in everyone.excluded}
    assert everyone.cache_dir == everyone.root / ".artgenre"
    text = "\n".join(report(everyone))
    assert "Pablo_Picasso_6.jpg: truncated" in text and str(everyone.manifest_path) in text
    assert str(everyone.excluded_path) in text and "total" in text


def test_odd_colour_modes_load_as_rgb(everyone: manifest.Prepared) -> None:
    titian = [r for r in everyone.records if r.artist == "Titian"]
    ds = ImageListDataset(everyone.root, [r.path for r in titian], [0] * len(titian), transform=lambda x: x)
    for i in range(len(ds)):
        image, _ = ds[i]
        assert image.dtype == torch.uint8 and image.shape == (3, 30, 40)
    transparent = ds[[r.path for r in titian].index("images/images/Titian/Titian_4.png")][0]
    assert int(transparent.min()) == 255, "fully transparent pixels become white"


def test_every_class_has_validation_images(everyone: manifest.Prepared) -> None:
    val = Counter(r.label for r, s in zip(everyone.records, everyone.split) if s == "val")
    assert set(val) == set(range(len(everyone.classes)))


def test_default_is_the_study_ten_and_says_what_is_missing(archive: Path) -> None:
    with pytest.raises(DataError, match="not in the data set: 'Rembrandt'"):
        prepare(config(f"data.root={archive}"))


def test_a_list_of_artists_in_any_spelling(archive: Path) -> None:
    p = prepare(config(f"data.root={archive}", "data.artists=[Albrecht_Durer,pablo picasso]", "data.cache_dir=" +
                       str(archive.parent / "list-cache")))
    assert p.classes == ["Northern Renaissance (Albrecht Dürer)", "Cubism (Pablo Picasso)"]
    assert Counter(r.label for r in p.records) == {0: 4, 1: 6}


def test_unknown_artist_gets_a_suggestion(archive: Path) -> None:
    with pytest.raises(DataError, match="did you mean 'Titian'"):
        prepare(config(f"data.root={archive}", "data.artists=[Titan,Pablo Picasso]"))


def test_a_chosen_artist_without_images_is_refused(archive: Path) -> None:
    with pytest.raises(DataError, match=r"Jackson Pollock \(0\)"):
        prepare(config(f"data.root={archive}", "data.artists=[Jackson Pollock,Titian]"))


def test_min_images_leaves_small_artists_out(fresh: Path) -> None:
    p = prepare(config(f"data.root={fresh}", "data.artists=all", "data.min_images=4"))
    assert {r.artist for r in p.records} == {"Pablo Picasso", "Titian", DURER}
    assert any("fewer than data.min_images=4" in n and "Frida Kahlo (3)" in n for n in p.notes)


def test_label_by_genre_merges_artists(fresh: Path) -> None:
    p = prepare(config(f"data.root={fresh}", "data.artists=all", "data.label=genre"))
    assert sorted(p.classes) == sorted(["Northern Renaissance", "Impressionism", "Primitivism", "Cubism",
                                        "High Renaissance"])
    impressionism = p.classes.index("Impressionism")
    assert {r.artist for r in p.records if r.label == impressionism} == {"Claude Monet", "Alfred Sisley"}


def test_test_split_is_deterministic_and_keeps_val() -> None:
    labels = [0] * 40 + [1] * 7 + [2] * 3
    plain = stratified_split(labels, 0.15, seed=9)
    with_test = stratified_split(labels, 0.15, seed=9, test_fraction=0.2)
    assert with_test == stratified_split(labels, 0.15, seed=9, test_fraction=0.2)
    assert [s == "val" for s in plain] == [s == "val" for s in with_test]
    for c in (0, 1, 2):
        mine = Counter(s for y, s in zip(labels, with_test) if y == c)
        assert mine["train"] >= 1 and mine["val"] >= 1
    assert Counter(with_test[:40])["test"] == 8


def test_fractions_are_checked(archive: Path) -> None:
    with pytest.raises(ConfigError, match="test_fraction"):
        prepare(config(f"data.root={archive}", "data.val_fraction=0.5", "data.test_fraction=0.5"))


def test_manifest_is_reused_until_something_changes(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = [f"data.root={fresh}", "data.artists=all"]
    first = prepare(config(*args))
    assert not first.reused and first.decoded > 0

    calls = []
    real_check = decode.check
    monkeypatch.setattr(decode, "check", lambda *a, **k: calls.append(1) or real_check(*a, **k))
    again = prepare(config(*args, "data.image_size=64", "data.augment=basic", "data.cache=true"))
    assert again.reused and again.records == first.records and again.split == first.split and not calls

    other_split = prepare(config(*args, "data.val_fraction=0.3"))
    assert not other_split.reused and not calls, "a new split needs no decoding"

    victim = fresh / "images" / "images" / "Titian" / "Titian_6.jpg"
    victim.write_bytes(victim.read_bytes()[:200])
    changed = prepare(config(*args))
    assert not changed.reused and len(calls) == 1, "only the changed file is decoded again"
    assert reasons(changed)["Titian_6.jpg"].startswith("truncated")


def test_a_manifest_rewritten_by_another_run_is_not_trusted(fresh: Path) -> None:
    args = [f"data.root={fresh}", "data.artists=all"]
    p = prepare(config(*args))
    p.manifest_path.write_text(p.manifest_path.read_text(encoding="utf-8").replace(",val,", ",train,"),
                               encoding="utf-8")
    again = prepare(config(*args))
    assert not again.reused and again.split == p.split


def test_read_only_root_uses_a_per_user_cache(fresh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARTGENRE_CACHE_DIR", str(tmp_path / "user-cache"))
    real = files._writable
    monkeypatch.setattr(files, "_writable", lambda folder: not folder.is_relative_to(fresh) and real(folder))
    p = prepare(config(f"data.root={fresh}", "data.artists=all"))
    assert p.cache_dir.is_relative_to(tmp_path / "user-cache") and p.manifest_path.is_file()
    assert not (fresh / ".artgenre").exists()


def test_zip_archive_gives_the_same_manifest(archive: Path, everyone: manifest.Prepared, tmp_path: Path) -> None:
    zipped = zip_folder(archive, tmp_path / "best-artworks.zip", top="best-artworks-of-all-time/")
    p = prepare(config(f"data.root={zipped}", "data.artists=all"))
    assert p.cache_dir == tmp_path / ".artgenre" / "best-artworks.zip"
    assert [(r.artist, r.sha1) for r in p.records] == [(r.artist, r.sha1) for r in everyone.records]
    assert p.split == everyone.split
    ds = ImageListDataset(zipped, [p.records[0].path], [0], transform=lambda x: x)
    assert ds[0][0].shape[0] == 3


def test_resized_source(archive: Path) -> None:
    p = prepare(config(f"data.root={archive}", "data.source=resized", "data.artists=all",
                       f"data.cache_dir={archive.parent / 'resized-cache'}"))
    assert Counter(r.artist for r in p.records) == {"Pablo Picasso": 3, "Titian": 2, DURER: 2, "Frida Kahlo": 2}
    assert all(r.path.startswith("resized/resized/") for r in p.records)


def test_images_above_max_pixels_are_excluded_and_pillow_limit_is_not_ours(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # every 40x30 image is a "bomb" to Pillow now
    big = fresh / "images" / "images" / "Frida_Kahlo" / "Frida_Kahlo_9.jpg"
    big.write_bytes(jpeg(99, size=(400, 300)))
    p = prepare(config(f"data.root={fresh}", "data.artists=all", "data.max_pixels=200000"))
    assert "Frida_Kahlo_9.jpg" in {r.path.rsplit("/", 1)[-1] for r in p.records}
    assert Image.MAX_IMAGE_PIXELS == 100, "Pillow's global setting is left as it was"

    small = prepare(config(f"data.root={fresh}", "data.artists=all", "data.max_pixels=100000"))
    assert "above data.max_pixels" in reasons(small)["Frida_Kahlo_9.jpg"]


def test_folder_of_labelled_images(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    for k, (cls, n) in enumerate((("cats", 3), ("dogs", 4), ("my_birds", 2))):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.jpg").write_bytes(jpeg(100 * k + i))
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "x.jpg").write_bytes(jpeg(1))
    (root / "README.txt").write_text("hello")
    p = prepare(config("data=folder", f"data.root={root}"))
    assert p.classes == ["cats", "dogs", "my birds"]
    assert reasons(p) == {"README.txt": "not inside a class folder"}


def test_missing_root_is_one_message(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist.*data/README.md"):
        prepare(config(f"data.root={tmp_path / 'nowhere'}"))
    with pytest.raises(DataError, match="data.root is not set"):
        prepare(config("data.root=null"))


def test_cli_prints_the_report_and_both_paths(archive: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "artgenre.prepare", f"data.root={archive}", "data.artists=all",
           "trainer.num_workers=0", f"data.cache_dir={tmp_path / 'cli-cache'}"]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Pablo_Picasso_7.jpg: empty file" in result.stdout and "Unknown_Painter" in result.stdout
    assert f"manifest: {tmp_path / 'cli-cache' / 'manifest.csv'}" in result.stdout
    assert f"excluded: {tmp_path / 'cli-cache' / 'excluded.csv'}" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cli-cache"], "no run folder, no log file"

    bad = subprocess.run([sys.executable, "-m", "artgenre.prepare", f"data.root={tmp_path / 'nowhere'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "data/README.md" in bad.stderr


def test_folder_names_that_are_not_utf8(tmp_path: Path) -> None:
    root = make_archive(tmp_path / "latin1")
    raw = os.fsencode(root / "images" / "images") + b"/Albrecht_D\xfcrer"  # a latin-1 "ü": not UTF-8
    os.mkdir(raw)
    with open(raw + b"/Albrecht_D\xfcrer_9.jpg", "wb") as f:
        f.write(jpeg(77))
    p = prepare(config(f"data.root={root}", "data.artists=['Albrecht Dürer',Titian]"))
    extra = [r for r in p.records if "D\udcfcrer" in r.path]
    assert len(extra) == 1 and extra[0].artist == DURER
    again = prepare(config(f"data.root={root}", "data.artists=['Albrecht Dürer',Titian]"))
    assert again.reused and again.records == p.records, "the manifest round-trips the raw bytes"
    ds = ImageListDataset(root, [extra[0].path], [0], transform=lambda x: x)
    assert ds[0][0].shape == (3, 30, 40)
