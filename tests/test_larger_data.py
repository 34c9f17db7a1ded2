"""WikiArt's ArtGAN splits (data=wikiart), parquet shards (data=parquet) and the packed pixel cache,
on generated fixtures with every format quirk of the real files."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from artgenre.benchmark.wikiart_like import ARTISTS, GENRES, STYLES, image_name, write_artgan, write_parquet
from artgenre.config import DataConfig
from artgenre.data.layouts.wikiart import parse_classes, parse_rows
from artgenre.data.listing import ArtistInfo
from artgenre.data.loading.packed import PackedCache, plan, shard_files
from artgenre.data.prepare import pixels, prepare
from artgenre.data.prepare.classes import LABELINGS
from artgenre.errors import DataError

from conftest import TINY, run_cli

COUNT = 60  # images per fixture: 3 styles x ~20


@pytest.fixture(scope="module")
def artgan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_artgan(tmp_path_factory.mktemp("artgan"), COUNT)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_parquet(tmp_path_factory.mktemp("hf") / "data", COUNT, shards=2, row_group=16)


def data_cfg(name: str, root: Path, cache_dir: Path, **over) -> OmegaConf:
    return OmegaConf.merge(OmegaConf.structured(DataConfig), {"name": name, "root": str(root),
                                                             "cache_dir": str(cache_dir), **over})


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_artgan_rows_parse_as_they_really_are() -> None:
    raw = b"(Path to image),, (Groundtruth class)\r\n\r\nA/x_one.jpg,,3\r\nA/y_two, with comma.jpg,,0\r\n\r\n"
    rows, bad = parse_rows(raw, "artist_train")
    assert rows == [("A/x_one.jpg", 3), ("A/y_two, with comma.jpg", 0)] and bad == []
    rows, bad = parse_rows("\ufeffImpressionism/a.jpg,12\r\nno label here\r\n".encode(), "style_train.csv")
    assert rows == [("Impressionism/a.jpg", 12)] and len(bad) == 1 and "line 2" in bad[0]
    assert parse_classes(b"0 Abstract_Expressionism\r\n1 Baroque\r\n", "style_class.txt") == \
        ["Abstract_Expressionism", "Baroque"]
    with pytest.raises(DataError, match="0..k-1"):
        parse_classes(b"0 A\r\n2 B\r\n", "genre_class")


@pytest.mark.parametrize("label, names", [("style", STYLES), ("genre", GENRES), ("artist", ARTISTS)])
def test_wikiart_keeps_the_official_split_and_reports_missing_files(artgan: Path, tmp_path: Path, label: str,
                                                                    names: tuple) -> None:
    p = prepare(data_cfg("wikiart", artgan, tmp_path, label=label), seed=3, workers=0, progress=False)
    assert p.classes == list(names)  # the class file's order
    val_file = {"style": "style_val.csv", "genre": "genre_val.csv", "artist": "artist_val"}[label]
    for r, s in zip(p.records, p.split):
        i = int(r.path.rsplit("no-", 1)[1].split(".")[0])
        assert s == ("val" if i % 4 == 0 else "train")  # as the split files say, whatever the seed
    excluded = dict(p.excluded)
    assert excluded[image_name(COUNT)] == f"listed in {val_file} but missing on disk"
    assert "not an image" in excluded[image_name(5)]
    assert len(p.records) == COUNT - 1
    assert any("no-0.jpg" in r.path and "," in r.path for r in p.records)  # a comma inside a path
    assert dict((row["path"], row["reason"]) for row in read_rows(p.excluded_path)) == excluded


def test_wikiart_split_files_may_live_elsewhere(artgan: Path, tmp_path: Path) -> None:
    splits = artgan.parent / "WikiArt Dataset"  # data.splits: the folder above Style/, Genre/, Artist/
    p = prepare(data_cfg("wikiart", artgan, tmp_path, label="artist", splits=str(splits)), seed=0, workers=0,
                progress=False)
    assert p.classes == list(ARTISTS) and len(p.records) == COUNT - 1
    with pytest.raises(DataError, match="data.splits"):
        prepare(data_cfg("wikiart", artgan, tmp_path, splits=str(tmp_path)), seed=0, workers=0, progress=False)


def test_wikiart_refuses_a_test_fraction(artgan: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="own train/val split"):
        prepare(data_cfg("wikiart", artgan, tmp_path, test_fraction=0.1), seed=0, workers=0, progress=False)


def test_wikiart_without_split_files_says_where_to_get_them(tmp_path: Path) -> None:
    (tmp_path / "imgs" / "Cubism").mkdir(parents=True)
    (tmp_path / "imgs" / "Cubism" / "a.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="data.splits"):
        prepare(data_cfg("wikiart", tmp_path / "imgs", tmp_path / "c"), seed=0, workers=0, progress=False)


def test_parquet_names_classes_from_metadata_and_leaves_unknown_out(shards: Path, tmp_path: Path) -> None:
    p = prepare(data_cfg("parquet", shards, tmp_path / "a", label="artist"), seed=0, workers=0, progress=False)
    assert p.classes == list(ARTISTS)
    unknown = sum(1 for i in range(COUNT) if i % 13 == 0)
    assert len(p.records) == COUNT - unknown - (0 if 5 % 13 == 0 else 1)
    assert any("Unknown Artist" in n and "data.artists=all" in n for n in p.notes)
    assert "not an image" in dict(p.excluded)["train-00000-of-00002.parquet#0000005"]
    every = prepare(data_cfg("parquet", shards, tmp_path / "b", label="artist", artists="all"), seed=0, workers=0,
                    progress=False)
    assert every.classes[0] == "Unknown Artist" and len(every.records) == COUNT - 1
    genre = prepare(data_cfg("parquet", shards, tmp_path / "c", label="genre"), seed=0, workers=0, progress=False)
    assert genre.classes == list(GENRES) and set(genre.split) == {"train", "val"}


def test_style_labels_need_a_data_set_that_has_them() -> None:
    kaggle = {"Pablo Picasso": ArtistInfo("Pablo Picasso", ("Cubism",))}
    with pytest.raises(DataError, match="data=wikiart or data=parquet"):
        LABELINGS["style"](["Pablo Picasso"], kaggle)


def test_packed_cache_matches_files_and_resumes_a_killed_build(shards: Path, tmp_path: Path) -> None:
    p = prepare(data_cfg("parquet", shards, tmp_path, label="style"), seed=0, workers=0, progress=False)
    image_set = p.image_set()
    for layout in ("square", "margin"):
        assert pixels.build(image_set, 32, layout, 0, False, "packed") == len(image_set.records)
        pixels.build(image_set, 32, layout, 0, False, "files")
        packed, files = (pixels.open_pixels(image_set, 32, layout, f) for f in ("packed", "files"))
        assert all(torch.equal(packed[i], files[i]) for i in range(len(image_set.records)))
    folder = pixels.location(image_set, 32, "margin", "packed")
    assert len(plan(image_set.records)) == 1 and shard_files(folder, 0)[0].is_file()
    shard_files(folder, 0)[1].unlink()  # as if the job died before the shard was done
    with pytest.raises(DataError, match="run again"):
        PackedCache(folder, len(image_set.records))
    assert len(pixels.missing(image_set, 32, "margin", "packed")) == len(image_set.records)
    assert pixels.build(image_set, 32, "margin", 0, False, "packed") == len(image_set.records)
    assert pixels.build(image_set, 32, "margin", 0, False, "packed") == 0
    assert torch.equal(pixels.open_pixels(image_set, 32, "margin", "packed")[7], files[7])


def test_packed_plan_depends_on_the_manifest_alone() -> None:
    from artgenre.data.listing import Record

    records = [Record(f"s#{i:07d}", "a", 0, "a", sha1=str(i)) for i in range(10_000)]
    shards_ = plan(records)
    assert sorted(i for s in shards_ for i in s) == list(range(10_000))
    assert len(shards_) <= 64 and shards_ == plan(list(records))


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("kind, nproc", [("wikiart", 1), ("parquet", 2), ("wikiart", 2), ("parquet", 1)])
def test_one_tiny_epoch(kind: str, nproc: int, artgan: Path, shards: Path, tmp_path: Path) -> None:
    root = artgan if kind == "wikiart" else shards
    args = [a for a in TINY if not a.startswith("data")] + [
        f"data={kind}", f"data.root={root}", f"data.cache_dir={tmp_path / 'cache'}", "data.image_size=32",
        "data.label=genre", "data.cache_format=packed", "trainer.epochs=1", "hydra.run.dir=run"]
    ok(run_cli(args, cwd=tmp_path, nproc=nproc))
    rows = read_rows(tmp_path / "run" / "metrics.csv")
    assert len(rows) == 1 and float(rows[0]["val_acc"]) >= 0.0
    split = read_rows(tmp_path / "run" / "split.csv")
    assert {r["split"] for r in split} == {"train", "val"}
    assert list((tmp_path / "cache").glob("pixels-*-packed-*/shard-00000.bin"))
