"""The data a run trains and validates on, and which rank makes it: rank 0 prepares the manifest
and builds the pixel cache while the others wait, then every rank uses the same result.

The data layer (``artgenre.data``) runs no collectives and reads no ``trainer.*`` setting; this
module passes it the seed, worker count and progress flag and decides who does what.
"""

from __future__ import annotations

import logging

from omegaconf import DictConfig

from artgenre.data.listing import ImageSet
from artgenre.data.loading.cache import PixelCache
from artgenre.data.loading.packed import PackedCache
from artgenre.data.loading.pipeline import build_datasets
from artgenre.data.loading.transforms import AUGMENTATIONS
from artgenre.data.prepare import Prepared, prepare, pixels, report
from artgenre.errors import DataError
from artgenre.runtime import distributed

log = logging.getLogger("artgenre")


def prepare_manifest(cfg: DictConfig, progress: bool = True) -> Prepared:
    """prepare for the whole config: ``cfg.data``, split by ``trainer.seed``, checked by
    ``trainer.num_workers`` processes, in this process alone."""
    return prepare(cfg.data, seed=int(cfg.trainer.seed), workers=int(cfg.trainer.num_workers), progress=progress)


def index_data(cfg: DictConfig) -> tuple[ImageSet, list[str]]:
    """The image list and its train/val(/test) split from the manifest, which rank 0 prepares when
    it is missing or out of date and hands to every rank; the same in every later run."""
    prepared = distributed.from_main(lambda: prepare_manifest(cfg, progress=cfg.trainer.progress))
    if distributed.env_info().is_main:
        for line in report(prepared, full=not prepared.reused):
            log.info(line)
    return prepared.image_set(), prepared.split


def ensure_pixel_cache(image_set: ImageSet, image_size: int, layout: str, workers: int,
                       progress: bool, fmt: str = "files") -> PixelCache | PackedCache:
    """The pixel cache for this manifest, size and layout, built where missing: by rank 0 while the
    others wait, then by the first rank of any node that still lacks it (a node-local cache_dir)."""
    if image_set.cache_dir is None:
        raise DataError("data.cache=true needs a prepared manifest (cache_dir unknown)")
    info = distributed.env_info()
    if info.is_main:
        pixels.build(image_set, image_size, layout, workers, progress, fmt)
    distributed.barrier()
    if info.local_rank == 0 and not info.is_main and pixels.missing(image_set, image_size, layout, fmt):
        pixels.build(image_set, image_size, layout, workers, False, fmt)
    distributed.barrier()
    return pixels.open_pixels(image_set, image_size, layout, fmt)


def open_datasets(data: DictConfig, image_set: ImageSet, split: list[str], workers: int, progress: bool):
    """(train, val) datasets for the ``data`` section, reading the pixel cache (built first where
    missing, see :func:`ensure_pixel_cache`) when ``data.cache`` is set; test images are never loaded."""
    cache = None
    if data.cache:
        layout = AUGMENTATIONS[data.augment].cache_layout
        cache = ensure_pixel_cache(image_set, data.image_size, layout, workers, progress, data.cache_format)
    return build_datasets(data, image_set, split, cache)
