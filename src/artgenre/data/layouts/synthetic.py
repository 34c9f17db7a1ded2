"""A synthetic painting set in the exact on-disk layout of the Kaggle "Best Artworks" archive.

The demo, the tests and CI train on it so that the real data-loading path runs without the
real paintings (which must be downloaded by hand). Layout written into ``root``::

    root/artists.csv                                  id,name,years,genre,nationality,bio,wikipedia,paintings
    root/images/images/<Artist_Name>/<Artist_Name>_<n>.jpg     n = 1, 2, ...
    root/.synthetic.json                              marker (only via ensure_synthetic)

Classes: the study's ten artists (``catalog.STUDY_ARTISTS``), with the archive's imbalance
scaled by ``class_counts``. Two extra artists that the study did not use (Vincent van Gogh,
Claude Monet; ``EXTRA_IMAGES_PER_ARTIST`` images each) are in ``artists.csv`` and on disk so
that the loader's artist selection is exercised. The ``paintings`` column is the number of
files written for that artist.

Each artist has its own procedural style (one drawing function per artist in ``PAINTERS``),
followed by the same random "photograph" step for every image: a colour cast, brightness and
contrast jitter, pixel noise and sometimes blur, so that the mean colour alone does not give
the class away and the task is learnable but not trivial. Width and height are drawn
independently from ``size``, so aspect ratios vary.

Files that are not RGB JPEGs, on purpose, so the loader's conversion and extension handling run
(only when the artist has that many images):

* grayscale ("L") JPEGs: ``GRAYSCALE_IMAGES`` - image 1 of Pablo Picasso, Rembrandt, Alfred Sisley;
* RGBA PNGs with an upper-case ".PNG" extension (alpha fully opaque): ``RGBA_PNG_IMAGES`` -
  image 1 of Andy Warhol and Piet Mondrian.

``artists_per_genre=k`` (``data.synthetic_artists_per_genre``; default 1) adds k - 1 followers
to each study artist: "Follower 2 of Pablo Picasso", ... with the same genre in ``artists.csv``,
as many images, drawn in the same style and then tinted with a colour of their own (their "hand"),
so genre can be learnt across artists and ``data.group_by=artist`` runs without a download.

Deterministic: every image draws from its own ``numpy.random.default_rng((seed, artist index,
image index))`` and files carry no timestamps, so the same parameters give byte-identical files
(with the same Pillow/libjpeg build).
"""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from artgenre.data.layouts.catalog import STUDY_ARTISTS, Artist
from artgenre.data.layouts.painters import PAINTERS, photograph

__all__ = [
    "EXTRA_ARTISTS",
    "GENERATOR_VERSION",
    "MARKER_NAME",
    "PAINTERS",
    "class_counts",
    "ensure_synthetic",
    "generate",
]

# Bump whenever a change alters the generated files, so that ensure_synthetic refuses a set
# written by an older generator instead of silently mixing the two.
GENERATOR_VERSION = 1
MARKER_NAME = ".synthetic.json"
JPEG_QUALITY = 90
EXTRA_IMAGES_PER_ARTIST = 3

# Real archive facts; their `paintings` is the archive's count, not what is written here.
EXTRA_ARTISTS: tuple[Artist, ...] = (
    Artist("Vincent van Gogh", "Post-Impressionism", 877, "Dutch", "1853 – 1890"),
    Artist("Claude Monet", "Impressionism", 73, "French", "1840 – 1926"),
)

GRAYSCALE_IMAGES = frozenset({("Pablo Picasso", 1), ("Rembrandt", 1), ("Alfred Sisley", 1)})
RGBA_PNG_IMAGES = frozenset({("Andy Warhol", 1), ("Piet Mondrian", 1)})

CSV_COLUMNS = ("id", "name", "years", "genre", "nationality", "bio", "wikipedia", "paintings")

# --------------------------------------------------------------------------- public API


def class_counts(scale: float, min_per_class: int = 6) -> dict[str, int]:
    """Images per study artist: the archive's count times ``scale``, at least ``min_per_class``."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive number, got {scale!r}")
    if min_per_class < 1:
        raise ValueError(f"min_per_class must be at least 1, got {min_per_class!r}")
    return {a.name: max(int(min_per_class), round(a.paintings * scale)) for a in STUDY_ARTISTS}


def _paint(artist_index: int, name: str, n: int, seed: int, size: tuple[int, int], tint=None) -> Image.Image:
    # One generator per image: images do not depend on one another, so changing a count
    # leaves every other image unchanged.
    rng = np.random.default_rng((seed, artist_index, n))
    w, h = (int(v) for v in rng.integers(size[0], size[1] + 1, 2))
    img = PAINTERS[name](rng, w, h)
    if tint is not None:  # a follower's hand: the master's style under a colour of its own
        img = Image.blend(img, Image.new("RGB", img.size, tint), FOLLOWER_TINT)
    return photograph(rng, img)


FOLLOWER_TINT = 0.25


def followers(artists_per_genre: int, seed: int) -> list[tuple[Artist, str, tuple[int, int, int]]]:
    """(artist, the study artist whose style it paints, its tint) for each synthetic follower."""
    out = []
    for master_index, master in enumerate(STUDY_ARTISTS):
        for j in range(2, artists_per_genre + 1):
            rng = np.random.default_rng((seed, 1000 + master_index, j))
            tint = tuple(int(v) for v in rng.integers(0, 256, 3))
            out.append((Artist(f"Follower {j} of {master.name}", master.genre, master.paintings, master.nationality,
                               "synthetic"), master.name, tint))
    return out


def _save(img: Image.Image, folder: Path, name: str, n: int) -> None:
    stem = folder / f"{folder.name}_{n}"
    if (name, n) in RGBA_PNG_IMAGES:
        img.convert("RGBA").save(stem.with_suffix(".PNG"), format="PNG")
    elif (name, n) in GRAYSCALE_IMAGES:
        img.convert("L").save(stem.with_suffix(".jpg"), format="JPEG", quality=JPEG_QUALITY)
    else:
        img.save(stem.with_suffix(".jpg"), format="JPEG", quality=JPEG_QUALITY)


def _check_params(seed: int, size: tuple[int, int]) -> None:
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    lo, hi = size
    if not 32 <= lo <= hi:
        raise ValueError(f"size must be (min, max) side lengths with 32 <= min <= max, got {size!r}")


@dataclass(frozen=True)
class SyntheticSpec:
    """What a synthetic set is made with; the keyword arguments of generate and ensure_synthetic."""

    scale: float = 0.25  # class sizes as a fraction of the real ones
    seed: int = 0
    min_per_class: int = 6
    size: tuple[int, int] = (96, 160)  # (min, max) side lengths in pixels
    artists_per_genre: int = 1  # more than 1: followers painting in each study artist's style


def generate(root: str | os.PathLike, **options: Any) -> None:
    """Write the set into root (which must not exist or be empty).

    ``size`` is the (min, max) range from which width and height are drawn, each on its own.
    """
    root = Path(root)
    spec = SyntheticSpec(**options)
    seed, size = spec.seed, spec.size
    _check_params(seed, size)
    if spec.artists_per_genre < 1:
        raise ValueError(f"artists_per_genre must be at least 1, got {spec.artists_per_genre}")
    counts = class_counts(spec.scale, spec.min_per_class)
    counts.update({a.name: EXTRA_IMAGES_PER_ARTIST for a in EXTRA_ARTISTS})
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise FileExistsError(f"{root} exists and is not an empty folder; the synthetic set needs a fresh one")

    artists = (*STUDY_ARTISTS, *EXTRA_ARTISTS)
    for index, artist in enumerate(artists):
        folder = root / "images" / "images" / artist.folder
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, counts[artist.name] + 1):
            _save(_paint(index, artist.name, n, seed, size), folder, artist.name, n)
    extra = followers(spec.artists_per_genre, seed)
    for index, (artist, master, tint) in enumerate(extra, start=len(artists)):
        counts[artist.name] = counts[master]
        folder = root / "images" / "images" / artist.folder
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(1, counts[artist.name] + 1):
            _save(_paint(index, master, n, seed, size, tint), folder, artist.name, n)
    artists = (*artists, *(a for a, _, _ in extra))

    # Sorted by name so the two extra artists sit between study artists, as in the archive.
    rows = sorted(artists, key=lambda a: a.name)
    with open(root / "artists.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for i, a in enumerate(rows):
            bio = (f"Synthetic stand-in for {a.name}, {a.nationality} painter ({a.years}): "
                   "procedurally drawn, not real paintings.")
            writer.writerow([i, a.name, a.years, a.genre, a.nationality, bio,
                             f"http://en.wikipedia.org/wiki/{a.folder}", counts[a.name]])


def _marker_content(scale: float, seed: int, min_per_class: int, size: tuple[int, int],
                    artists_per_genre: int = 1) -> dict:
    followers_key = {"artists_per_genre": int(artists_per_genre)} if artists_per_genre != 1 else {}
    return {**followers_key,
        "generator": "artgenre.data.synthetic",
        "version": GENERATOR_VERSION,
        "scale": float(scale),
        "seed": int(seed),
        "min_per_class": int(min_per_class),
        "size": [int(size[0]), int(size[1])],
    }


def _check_existing(root: Path, expected: dict) -> None:
    advice = f"delete {root} or choose another data.root"
    marker = root / MARKER_NAME
    if not marker.is_file():
        raise ValueError(f"{root} is not empty and holds no synthetic set (no {MARKER_NAME} marker); {advice}")
    try:
        found = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"{root} has an unreadable {MARKER_NAME} marker ({e}); {advice}") from e
    if found != expected:
        diff = ", ".join(f"{k}: {found.get(k)!r} there, {v!r} asked" for k, v in expected.items() if found.get(k) != v)
        raise ValueError(f"{root} holds a synthetic set made with other parameters ({diff}); {advice}")


def ensure_synthetic(root: str | os.PathLike, **options: Any) -> Path:
    """Return root after making sure it holds the set for these parameters.

    The set is written into a temporary sibling folder and renamed into place, so a killed run
    never leaves a half-written set at root, and of two processes racing the one that renames
    first wins while the other keeps the winner's set and deletes its own. A set already at root
    is reused if its marker matches; otherwise (other parameters, or a folder that is not a
    synthetic set) ValueError says so.
    """
    root = Path(root)
    spec = SyntheticSpec(**options)
    expected = _marker_content(spec.scale, spec.seed, spec.min_per_class, spec.size, spec.artists_per_genre)
    if root.is_dir() and any(root.iterdir()):
        _check_existing(root, expected)
        return root
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file, not a folder; delete it or choose another data.root")

    root.parent.mkdir(parents=True, exist_ok=True)
    # Same filesystem as root, so the rename is atomic; the name says what left it behind.
    tmp = root.parent / f".{root.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        generate(tmp, **options)
        (tmp / MARKER_NAME).write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")
        try:
            # POSIX rename replaces an empty folder and refuses a non-empty one (the winner's).
            os.replace(tmp, root)
        except OSError:
            if not (root.is_dir() and any(root.iterdir())):
                raise
            _check_existing(root, expected)  # another process finished first: keep theirs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
