"""Building the pixel cache (``data.cache=true``): decode each manifest image once, resize it for
its layout and save it where :mod:`artgenre.data.loading.cache` reads it: one ``.npy`` per image
(``files``) or a few large shards (``packed``, :mod:`packing`), chosen by ``data.cache_format``.
Which rank builds is the caller's choice (``artgenre.training.data.ensure_pixel_cache``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from artgenre.data import decode
from artgenre.data.archive import Archive
from artgenre.data.listing import ImageSet, Record
from artgenre.data.loading.cache import LAYOUTS, PixelCache, cache_file, cache_folder
from artgenre.data.loading.packed import PackedCache
from artgenre.data.prepare import packing
from artgenre.data.parallel import parallel_map
from artgenre.errors import DataError
from artgenre.runtime.disk import disk_full, is_disk_full

__all__ = ["CACHE_FORMATS", "build", "cache_folder", "location", "missing", "open_pixels"]

# the state of one building worker process (set by _init_builder)
_archive: Optional[Archive] = None
_folder: Optional[Path] = None


def _init_builder(archive: Archive, folder: Path) -> None:
    global _archive, _folder
    _archive, _folder = archive, folder


def resized(archive: Archive, path: str, width: int, height: int, min_side: int) -> np.ndarray:
    """The image at ``path`` decoded and resized to ``width`` x ``height``: H x W x 3 uint8."""
    try:
        with archive.open(path) as f:
            im = decode.load_rgb(f, min_side=min_side, max_pixels=2**62)
    except (OSError, decode.ImageProblem) as e:
        raise DataError(f"cannot read image {archive.root}/{path} ({e}); it changed after prepare: "
                        "run again and prepare will check it anew") from None
    if im.size != (width, height):
        im = im.resize((width, height), Image.Resampling.BILINEAR)  # antialiased, like torchvision's Resize
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _build_one(item: tuple[str, str, int, int, int]) -> int:
    path, sha1, width, height, min_side = item
    pixels = resized(_archive, path, width, height, min_side)
    target = cache_file(_folder, sha1)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}.npy")
    try:
        np.save(tmp, pixels)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(_folder, pixels.nbytes, "the pixel cache") from None
        raise
    os.replace(tmp, target)  # readers never see half a file; two builders write the same bytes
    return pixels.nbytes


CACHE_FORMATS = ("auto", "files", "packed")  # data.cache_format
PACKED_FROM = 10_000  # auto: packed from this many images on (see docs/larger-datasets.md)


def is_packed(image_set: ImageSet, fmt: str) -> bool:
    return fmt == "packed" or (fmt == "auto" and len(image_set.records) >= PACKED_FROM)


def location(image_set: ImageSet, image_size: int, layout: str, fmt: str = "files") -> Path:
    if is_packed(image_set, fmt):
        return packing.folder(image_set, image_size, layout)
    return cache_folder(image_set.cache_dir, image_size, layout)


def missing(image_set: ImageSet, image_size: int, layout: str, fmt: str = "files") -> list[Record]:
    if is_packed(image_set, fmt):
        return packing.missing(image_set, image_size, layout)
    folder = cache_folder(image_set.cache_dir, image_size, layout)
    return [r for r in image_set.records if not cache_file(folder, r.sha1).is_file()]


def _check_space(folder: Path, items: list[tuple[int, int]]) -> None:
    need = sum(w * h * 3 + 128 for w, h in items)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DataError(f"the pixel cache needs {need / 2**30:.1f} GiB in {folder} but only {free / 2**30:.1f} GiB "
                        "are free: set data.cache_dir to a larger disk or data.cache=false")


def build(image_set: ImageSet, image_size: int, layout: str, workers: int, progress: bool,
          fmt: str = "files") -> int:
    """Write what is missing of the cache (``fmt``: files, packed or auto); return how many images
    were written."""
    todo = missing(image_set, image_size, layout, fmt)
    if not todo:
        return 0
    shape = LAYOUTS[layout]
    folder = location(image_set, image_size, layout, fmt)
    folder.mkdir(parents=True, exist_ok=True)
    _check_space(folder, [shape.size(r.width, r.height, image_size) for r in todo])
    if is_packed(image_set, fmt):
        return packing.build(image_set, image_size, layout, workers, progress,
                             lambda r: (r.path, *shape.size(r.width, r.height, image_size), shape.min_side(image_size)))
    items = [(r.path, r.sha1, *shape.size(r.width, r.height, image_size), shape.min_side(image_size)) for r in todo]
    for _ in parallel_map(_build_one, items, workers, f"caching {len(items)} images", progress,
                          _init_builder, (image_set.open_archive(), folder)):
        pass
    return len(items)


def open_pixels(image_set: ImageSet, image_size: int, layout: str, fmt: str = "files") -> PixelCache | PackedCache:
    """The reader of a built cache."""
    if is_packed(image_set, fmt):
        return PackedCache(packing.folder(image_set, image_size, layout), len(image_set.records))
    return PixelCache(cache_folder(image_set.cache_dir, image_size, layout), [r.sha1 for r in image_set.records])
