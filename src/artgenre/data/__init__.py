"""The data layer: which images a run uses, how they are checked and split, and how they are fed.

* ``layouts/``  archive layouts by config name (``data.name``, :data:`layouts.DATASETS`): the
                Kaggle "Best Artworks" archive, a folder per class, the synthetic set, WikiArt
                with ArtGAN's splits, parquet shards.
* ``prepare/``  the prepare step: check every image once, choose and label the classes, split,
                write the manifest; build the pixel cache.
* ``loading/``  torch datasets, samplers, augmentation presets and the pixel cache reader.
* basics shared by all three: ``listing`` (Record, ImageSet, Listing), ``archive`` (a folder or
  a zip), ``decode``, ``split`` (the stratified split), ``parallel`` (a worker pool with progress).

The data layer runs no collectives and reads no ``trainer.*`` setting: callers pass the seed,
worker count and progress flag, and decide which rank does what (``artgenre.training.data``).
"""

from __future__ import annotations

import os
from pathlib import Path

from artgenre.data.listing import ImageSet, Listing, Record

__all__ = ["ImageSet", "Listing", "Record", "default_cache_dir"]


def default_cache_dir() -> Path:
    """$ARTGENRE_CACHE_DIR, else $XDG_CACHE_HOME/artgenre, else ~/.cache/artgenre."""
    if os.environ.get("ARTGENRE_CACHE_DIR"):
        return Path(os.environ["ARTGENRE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "artgenre"
