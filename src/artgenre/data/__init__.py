"""Data sets by config name, all indexed into the same ImageSet and split the same way."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from omegaconf import DictConfig

from artgenre import distributed
from artgenre.data.artworks import ImageSet, load_best_artworks


def default_cache_dir() -> Path:
    """$ARTGENRE_CACHE_DIR, else $XDG_CACHE_HOME/artgenre, else ~/.cache/artgenre."""
    if os.environ.get("ARTGENRE_CACHE_DIR"):
        return Path(os.environ["ARTGENRE_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "artgenre"


def _best_artworks(cfg: DictConfig) -> ImageSet:
    return load_best_artworks(cfg.root, cfg.artists)


def _synthetic(cfg: DictConfig) -> ImageSet:
    from artgenre.data.synthetic import ensure_synthetic

    root = cfg.root or default_cache_dir() / f"synthetic-scale{cfg.synthetic_scale:g}-seed{cfg.synthetic_seed}"
    if distributed.env_info().is_main:  # one writer; the others wait for it
        ensure_synthetic(root, scale=cfg.synthetic_scale, seed=cfg.synthetic_seed)
    distributed.barrier()
    return load_best_artworks(root, cfg.artists)  # the real archive's code path


DATASETS: dict[str, Callable[[DictConfig], ImageSet]] = {
    "best_artworks": _best_artworks,
    "synthetic": _synthetic,
}


def load_image_set(cfg: DictConfig) -> ImageSet:
    return DATASETS[cfg.name](cfg)
