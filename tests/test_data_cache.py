"""The pre-resized pixel cache, the augmentation presets, and a training run that reads the cache."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from artgenre.data.loading import cache
from artgenre.data.loading.dataset import CachedImageDataset, ImageListDataset
from artgenre.data.loading.pipeline import DeviceBatches
from artgenre.data.loading.transforms import AUGMENTATIONS, geometry
from artgenre.data.prepare import pixels as pixel_cache
from artgenre.training.data import ensure_pixel_cache
from artgenre.training.data import prepare_manifest as prepare
from artgenre.errors import DataError
from conftest import TINY, run_cli
from trap_archive import config, jpeg, make_archive

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def cached_size(width: int, height: int, image_size: int, layout: str = "margin") -> tuple[int, int]:
    """(width, height) an image of that size is stored at."""
    return cache.LAYOUTS[layout].size(width, height, image_size)


def build_transform(
    image_size: int, mean: Sequence[float], std: Sequence[float], normalize: bool, augment: str, train: bool
) -> v2.Compose:
    """The whole pipeline for one image: geometry, then float in [0, 1], then normalisation."""
    steps = [geometry(image_size, augment, train), v2.ToDtype(torch.float32, scale=True)]
    if normalize:
        steps.append(v2.Normalize(list(mean), list(std)))
    return v2.Compose(steps)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory):
    root = make_archive(tmp_path_factory.mktemp("cache") / "archive")
    big = root / "images" / "images" / "Claude_Monet" / "Claude_Monet_9.jpg"
    big.write_bytes(jpeg(5, size=(1200, 900)))  # decoded in draft mode
    return prepare(config(f"data.root={root}", "data.artists=all"))


@pytest.mark.parametrize("w,h,size,expected", [
    (1200, 900, 384, (589, 442)),  # shorter side 1.15 x 384
    (900, 1200, 384, (442, 589)),
    (300, 200, 384, (300, 200)),  # never upscaled
    (8000, 500, 100, (460, 29)),  # a strip: long side capped at 4 x 115, aspect kept
])
def test_margin_layout_size(w: int, h: int, size: int, expected: tuple[int, int]) -> None:
    assert cached_size(w, h, size, "margin") == expected
    assert cached_size(w, h, size, "square") == (size, size)


def test_each_preset_has_a_cache_layout() -> None:
    assert {p.cache_layout for p in AUGMENTATIONS.values()} <= set(cache.LAYOUTS)
    assert AUGMENTATIONS["none"].cache_layout == "square", "the study's squash is deterministic: store its result"


def test_cache_holds_each_image_resized_once(prepared) -> None:
    image_set, size = prepared.image_set(), 32
    assert pixel_cache.build(image_set, size, "margin", workers=2, progress=False) == len(image_set.records)
    assert pixel_cache.build(image_set, size, "margin", workers=2, progress=False) == 0, "nothing to do the second time"
    pixels = ensure_pixel_cache(image_set, size, "margin", workers=0, progress=False)
    for i, r in enumerate(image_set.records):
        assert tuple(pixels[i].shape) == (3, *cached_size(r.width, r.height, size)[::-1])
        assert pixels[i].dtype == torch.uint8
    assert pixels.folder.name == f"pixels-v{cache.CACHE_VERSION}-margin-32"

    monet = next(i for i, r in enumerate(image_set.records) if r.path.endswith("Claude_Monet_9.jpg"))
    with Image.open(image_set.root / image_set.records[monet].path) as im:
        direct = np.asarray(im.convert("RGB").resize((49, 37), Image.Resampling.BILINEAR), dtype=np.float32)
    cached = pixels[monet].permute(1, 2, 0).numpy().astype(np.float32)
    assert np.abs(cached - direct).mean() < 3, "draft decoding looks like a full decode + resize"


def test_cache_follows_the_content_and_the_size(prepared) -> None:
    image_set = prepared.image_set()
    pixel_cache.build(image_set, 32, "margin", workers=0, progress=False)
    assert not pixel_cache.missing(image_set, 32, "margin")
    assert len(pixel_cache.missing(image_set, 48, "margin")) == len(image_set.records), "another size is another cache"
    assert len(pixel_cache.missing(image_set, 32, "square")) == len(image_set.records), "another layout too"
    changed = dataclasses.replace(image_set.records[0], sha1="0" * 40)
    assert pixel_cache.missing(dataclasses.replace(image_set, records=[changed]), 32, "margin"), "new content, new file"


@pytest.mark.parametrize("augment", ["none", "basic"])
def test_cached_and_decoded_datasets_feed_the_same_images(prepared, augment: str) -> None:
    image_set, size = prepared.image_set(), 32
    layout = AUGMENTATIONS[augment].cache_layout
    pixels = ensure_pixel_cache(image_set, size, layout, workers=0, progress=False)
    rows = [i for i, s in enumerate(prepared.split) if s == "val"]
    labels = [image_set.records[i].label for i in rows]
    tf = geometry(size, augment, train=False)
    cached = CachedImageDataset(pixels, rows, labels, tf)
    decoded = ImageListDataset(image_set.root, [image_set.records[i].path for i in rows], labels, tf,
                               min_side=cache.LAYOUTS[layout].min_side(size))
    for i in range(len(rows)):
        (a, ya), (b, yb) = cached[i], decoded[i]
        assert a.shape == b.shape == (3, size, size) and a.dtype == b.dtype == torch.uint8 and ya == yb
        assert (a.float() - b.float()).abs().mean() < 8  # same geometry; only the resampling path differs


def test_device_batches_normalise_like_the_single_image_transform(prepared) -> None:
    image_set, size = prepared.image_set(), 32
    rows = list(range(6))
    ds = ImageListDataset(image_set.root, [image_set.records[i].path for i in rows], [0] * 6,
                          geometry(size, "none", train=False))
    batches = DeviceBatches(DataLoader(ds, batch_size=4), torch.device("cpu"), MEAN, STD, normalize=True)
    assert len(batches) == 2
    x, y = next(iter(batches))
    single = build_transform(size, MEAN, STD, True, "none", train=False)
    ref = ImageListDataset(image_set.root, [image_set.records[0].path], [0], single)[0][0]
    assert x.dtype == torch.float32 and x.shape == (4, 3, size, size) and y.tolist() == [0] * 4
    assert torch.allclose(x[0], ref, atol=1e-5)


@pytest.mark.parametrize("augment", sorted(AUGMENTATIONS))
def test_presets_give_the_input_size(augment: str) -> None:
    image = torch.randint(0, 256, (3, 50, 70), dtype=torch.uint8)
    for train in (True, False):
        out = build_transform(32, MEAN, STD, True, augment, train)(image)
        assert out.shape == (3, 32, 32) and out.dtype == torch.float32 and type(out) is torch.Tensor
    pil = Image.fromarray(image.permute(1, 2, 0).numpy())
    assert build_transform(32, MEAN, STD, False, augment, False)(pil).max() <= 1.0


def test_evaluation_is_deterministic_and_crops_unless_squashing() -> None:
    image = torch.zeros(3, 40, 80, dtype=torch.uint8)
    image[:, :, :20] = 255  # a white band at the left edge only
    centre = build_transform(32, MEAN, STD, False, "basic", train=False)
    squash = build_transform(32, MEAN, STD, False, "none", train=False)
    assert torch.equal(centre(image), centre(image))
    assert centre(image)[:, :, 0].mean() < 0.05, "the centre crop leaves the left edge out"
    assert squash(image)[:, :, 0].mean() > 0.95, "the study's squash keeps the whole painting"


@pytest.mark.slow  # trains (see tests/slow_guard.py)
def test_training_reads_the_cache_and_skips_excluded_files(prepared, tmp_path: Path) -> None:
    tiny = [a for a in TINY if not a.startswith(("data=", "data.synthetic"))]
    args = [*tiny, "data=best_artworks", f"data.root={prepared.root}", "data.artists=all", "data.cache=true",
            "data.augment=strong", "trainer.num_workers=1", "trainer.epochs=2", "hydra.run.dir=run"]
    result = run_cli(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(tmp_path / "run" / "split.csv", newline="", encoding="utf-8") as f:
        used = {r["path"] for r in csv.DictReader(f)}
    assert used == {r.path for r in prepared.records}
    assert not used & {p for p, _ in prepared.excluded}
    with open(tmp_path / "run" / "val_acc_per_class.csv", newline="", encoding="utf-8") as f:
        per_class = list(csv.reader(f))
    assert per_class[0] == ["epoch", *prepared.classes] and [r[0] for r in per_class[1:]] == ["1", "2"]


def test_a_file_broken_after_prepare_is_named(prepared, tmp_path: Path) -> None:
    broken = tmp_path / "x" / "broken.jpg"
    broken.parent.mkdir()
    broken.write_bytes(jpeg(3)[:100])
    ds = ImageListDataset(tmp_path, ["x/broken.jpg"], [0], transform=lambda x: x)
    with pytest.raises(DataError, match=r"cannot read image .*broken\.jpg: truncated"):
        ds[0]


def test_cache_files_read_fast_and_exactly(tmp_path: Path) -> None:
    """read_pixels parses the header np.save writes for H x W x 3 uint8 and leaves anything else to np.load."""
    from artgenre.data.loading.cache import read_pixels

    rng = np.random.default_rng(0)
    for shape in ((7, 5, 3), (384, 441, 3)):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        np.save(tmp_path / "a.npy", pixels)
        got = read_pixels(tmp_path / "a.npy")
        assert got.dtype == np.uint8 and got.flags.writeable and np.array_equal(got, pixels)
    other = rng.random((4, 4))  # not a cache file's kind: still read right
    np.save(tmp_path / "b.npy", other)
    assert np.array_equal(read_pixels(tmp_path / "b.npy"), other)
