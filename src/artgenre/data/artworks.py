"""The Kaggle "Best Artworks of All Time" layout: artists.csv + images/images/<Artist_Name>/*.jpg.

Names have spaces in the CSV and underscores on disk. Each selected artist stands for one
genre; the class of an image is "<genre> (<artist>)". The file list is sorted, so the same
folder always gives the same records in the same order (the study used an unsorted listing).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from artgenre.data.catalog import STUDY_ARTIST_NAMES, class_name
from artgenre.errors import DataError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}  # compared lower-case: ".JPG" counts too
HOW_TO_GET = "see data/README.md for how to download and unpack the archive"


@dataclass(frozen=True)
class Record:
    path: str  # relative to the data root, with forward slashes
    artist: str
    label: int
    class_name: str


@dataclass(frozen=True)
class ImageSet:
    root: Path
    records: list[Record]
    classes: list[str]  # class index -> name


def _read_artists_csv(path: Path) -> dict[str, str]:
    """artist name -> genre, from artists.csv."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"cannot read {path}: {e}") from None
    if not rows or not {"name", "genre"} <= set(rows[0]):
        raise DataError(f"{path} has no 'name' and 'genre' columns; is this the Kaggle archive? {HOW_TO_GET}")
    return {row["name"].strip(): row["genre"].strip() for row in rows}


def _images_dir(root: Path) -> Path:
    for candidate in (root / "images" / "images", root / "images"):
        if candidate.is_dir():
            return candidate
    raise DataError(f"no images/images folder under {root}; {HOW_TO_GET}")


def load_best_artworks(root: Optional[str | Path], artists: Optional[Sequence[str]] = None) -> ImageSet:
    """Index the archive under ``root`` for the given artists (default: the study's ten)."""
    if root is None or str(root) == "":
        raise DataError(f"data.root is not set: pass data.root=/path/to/best-artworks; {HOW_TO_GET}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root {root} does not exist; {HOW_TO_GET}")
    if not any(root.iterdir()):
        raise DataError(f"data.root {root} is empty; {HOW_TO_GET}")
    csv_path = root / "artists.csv"
    if not csv_path.is_file():
        raise DataError(f"{csv_path} is missing; {HOW_TO_GET}")
    genres = _read_artists_csv(csv_path)
    images_dir = _images_dir(root)

    selected = list(artists) if artists else list(STUDY_ARTIST_NAMES)
    missing = [a for a in selected if a not in genres]
    if missing:
        raise DataError(f"artist(s) not in {csv_path}: {', '.join(missing)}")

    records: list[Record] = []
    classes: list[str] = []
    for label, artist in enumerate(selected):
        folder = images_dir / artist.replace(" ", "_")
        if not folder.is_dir():
            raise DataError(f"no folder for {artist!r}: expected {folder}; {HOW_TO_GET}")
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{folder} holds no .jpg/.jpeg/.png images")
        name = class_name(genres[artist], artist)
        classes.append(name)
        records += [Record(p.relative_to(root).as_posix(), artist, label, name) for p in files]
    return ImageSet(root=root, records=records, classes=classes)
