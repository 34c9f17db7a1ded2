"""Archive layouts: each data set kind (``data.name``) lists an archive's classes and candidate
files as a :class:`~artgenre.data.listing.Listing`; prepare (``data/prepare``) then checks,
labels and splits every one of them the same way.

* ``artworks``   the Kaggle "Best Artworks of All Time" archive (folder or zip, every known trap)
* ``folder``     a folder per class
* ``wikiart``    WikiArt with ArtGAN's official style/genre/artist splits
* ``parquet``    parquet shards of images and label columns (Hugging Face's huggan/wikiart)
* ``synthetic``  a generated set in the Kaggle archive's layout (``painters``: its drawing styles)
* ``catalog``    the study's ten artists and their class names; ``names``: artist-name matching

:data:`DATASETS` (name -> listing function) is the one registry of data set names.
"""

from __future__ import annotations

from typing import Callable

from omegaconf import DictConfig

from artgenre.data import default_cache_dir
from artgenre.data.listing import Listing
from artgenre.errors import DataError

__all__ = ["DATASETS"]


def _best_artworks(cfg: DictConfig) -> Listing:
    from artgenre.data.layouts.artworks import list_best_artworks

    return list_best_artworks(cfg.root, cfg.source)


def _synthetic(cfg: DictConfig) -> Listing:
    from artgenre.data.layouts.artworks import list_best_artworks
    from artgenre.data.layouts.synthetic import ensure_synthetic

    # prepare runs on rank 0 alone, so this process is the only writer
    per_genre = cfg.get("synthetic_artists_per_genre", 1)
    name = f"synthetic-scale{cfg.synthetic_scale:g}-seed{cfg.synthetic_seed}" + (f"-x{per_genre}" if per_genre > 1 else "")
    root = cfg.root or default_cache_dir() / name
    try:
        ensure_synthetic(root, scale=cfg.synthetic_scale, seed=cfg.synthetic_seed, artists_per_genre=per_genre)
    except ValueError as e:
        raise DataError(str(e)) from None
    return list_best_artworks(root, cfg.source)  # the real archive's code path


def _folder(cfg: DictConfig) -> Listing:
    from artgenre.data.layouts.folder import list_folder

    return list_folder(cfg.root)


def _wikiart(cfg: DictConfig) -> Listing:
    from artgenre.data.layouts.wikiart import list_wikiart

    return list_wikiart(cfg.root, cfg.label, cfg.get("splits"))


def _parquet(cfg: DictConfig) -> Listing:
    from artgenre.data.layouts.parquet import list_parquet

    return list_parquet(cfg.root, cfg.label, cfg.artists)


DATASETS: dict[str, Callable[[DictConfig], Listing]] = {
    "best_artworks": _best_artworks,
    "synthetic": _synthetic,
    "folder": _folder,
    "wikiart": _wikiart,
    "parquet": _parquet,
}
