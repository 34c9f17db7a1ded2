"""Data sets by config name (``data.name``). Each entry lists an archive's classes and candidate
files; prepare (manifest.py) then checks, labels and splits every one of them the same way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig

from artgenre.data.listing import ImageSet, Listing, Record
from artgenre.errors import DataError

__all__ = ["DATASETS", "ImageSet", "Listing", "Record", "default_cache_dir"]


def default_cache_dir() -> Path:
    """$ARTGENRE_CACHE_DIR, else $XDG_CACHE_HOME/artgenre, else ~/.cache/artgenre."""
    if os.environ.get("ARTGENRE_CACHE_DIR"):
        return Path(os.environ["ARTGENRE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "artgenre"


def _best_artworks(cfg: DictConfig) -> Listing:
    from artgenre.data.artworks import list_best_artworks

    return list_best_artworks(cfg.root, cfg.source)


def _synthetic(cfg: DictConfig) -> Listing:
    from artgenre.data.artworks import list_best_artworks
    from artgenre.data.synthetic import ensure_synthetic

    # prepare runs on rank 0 alone, so this process is the only writer
    root = cfg.root or default_cache_dir() / f"synthetic-scale{cfg.synthetic_scale:g}-seed{cfg.synthetic_seed}"
    try:
        ensure_synthetic(root, scale=cfg.synthetic_scale, seed=cfg.synthetic_seed)
    except ValueError as e:
        raise DataError(str(e)) from None
    return list_best_artworks(root, cfg.source)  # the real archive's code path


def _folder(cfg: DictConfig) -> Listing:
    from artgenre.data.folder import list_folder

    return list_folder(cfg.root)


DATASETS: dict[str, Callable[[DictConfig], Listing]] = {
    "best_artworks": _best_artworks,
    "synthetic": _synthetic,
    "folder": _folder,
}
