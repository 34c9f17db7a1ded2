"""Building the pixel cache (``data.cache=true``): decode each manifest image once, resize it for
its layout and save it where :mod:`artgenre.data.loading.cache` reads it. Which rank builds is
the caller's choice (``artgenre.training.data.ensure_pixel_cache``)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

from artgenre.data import decode
from artgenre.data.archive import Archive, open_archive
from artgenre.data.listing import ImageSet, Record
from artgenre.data.loading.cache import LAYOUTS, cache_file, cache_folder
from artgenre.data.parallel import parallel_map
from artgenre.errors import DataError
from artgenre.runtime.disk import disk_full, is_disk_full

__all__ = ["build", "cache_folder", "missing"]

# the state of one building worker process (set by _init_builder)
_archive: Optional[Archive] = None
_folder: Optional[Path] = None


def _init_builder(archive: Archive, folder: Path) -> None:
    global _archive, _folder
    _archive, _folder = archive, folder


def _build_one(item: tuple[str, str, int, int, int]) -> int:
    path, sha1, width, height, min_side = item
    try:
        with _archive.open(path) as f:
            im = decode.load_rgb(f, min_side=min_side, max_pixels=2**62)
    except (OSError, decode.ImageProblem) as e:
        raise DataError(f"cannot read image {_archive.root}/{path} ({e}); it changed after prepare: "
                        "run again and prepare will check it anew") from None
    if im.size != (width, height):
        im = im.resize((width, height), Image.Resampling.BILINEAR)  # antialiased, like torchvision's Resize
    pixels = np.ascontiguousarray(np.asarray(im, dtype=np.uint8))
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


def missing(image_set: ImageSet, image_size: int, layout: str) -> list[Record]:
    folder = cache_folder(image_set.cache_dir, image_size, layout)
    return [r for r in image_set.records if not cache_file(folder, r.sha1).is_file()]


def build(image_set: ImageSet, image_size: int, layout: str, workers: int, progress: bool) -> int:
    """Write the missing cache files; return how many were written."""
    todo = missing(image_set, image_size, layout)
    if not todo:
        return 0
    folder = cache_folder(image_set.cache_dir, image_size, layout)
    folder.mkdir(parents=True, exist_ok=True)
    shape = LAYOUTS[layout]
    items = [(r.path, r.sha1, *shape.size(r.width, r.height, image_size), shape.min_side(image_size)) for r in todo]
    need = sum(w * h * 3 + 128 for _, _, w, h, _ in items)
    free = shutil.disk_usage(folder).free
    if need > free:
        raise DataError(f"the pixel cache needs {need / 2**30:.1f} GiB in {folder} but only {free / 2**30:.1f} GiB "
                        "are free: set data.cache_dir to a larger disk or data.cache=false")
    for _ in parallel_map(_build_one, items, workers, f"caching {len(items)} images", progress,
                          _init_builder, (open_archive(image_set.root), folder)):
        pass
    return len(items)
