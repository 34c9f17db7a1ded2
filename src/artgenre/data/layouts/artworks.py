"""The Kaggle "Best Artworks of All Time" layout, as found on disk or in its .zip::

    artists.csv                          id,name,years,genre,nationality,bio,wikipedia,paintings
    images/images/<Artist_Name>/*.jpg    data.source=images (the default)
    resized/resized/<Artist_Name>_<n>.jpg   data.source=resized: the same paintings, smaller, flat

Names have spaces in the CSV and underscores on disk; Dürer's folder is mojibake, sometimes
twice (names.py matches them all to one artist; prepare drops the duplicate images). A folder
of an artist the CSV does not know is skipped and reported; so is a file that is not an image.
"""

from __future__ import annotations

import csv
import hashlib
import io
import unicodedata
from collections import defaultdict
from pathlib import Path, PurePosixPath
from typing import Callable, Optional

from artgenre.data.layouts import names
from artgenre.data.archive import Archive, FileEntry, find_upwards, is_system_file, open_archive
from artgenre.data.layouts.catalog import STUDY_ARTIST_NAMES
from artgenre.data.decode import IMAGE_SUFFIXES
from artgenre.data.listing import ArtistInfo, Candidate, ImageSet, Listing, Record
from artgenre.errors import DataError

__all__ = ["HOW_TO_GET", "ImageSet", "Record", "check_root", "list_best_artworks", "ArtistMatcher"]

HOW_TO_GET = "see data/README.md for how to download and unpack the archive"


def check_root(root: Optional[str | Path]) -> Path:
    """``data.root`` as an existing, non-empty folder or a file, or one clear DataError."""
    if root is None or str(root) == "":
        raise DataError(f"data.root is not set: pass data.root=/path/to/best-artworks (or set ARTGENRE_DATA_ROOT); "
                        f"{HOW_TO_GET}")
    path = Path(root).expanduser()
    if not path.exists():
        raise DataError(f"data.root {path} does not exist; {HOW_TO_GET}")
    if path.is_dir() and not any(path.iterdir()):
        raise DataError(f"data.root {path} is empty; {HOW_TO_GET}")
    return path


def _decode_csv(raw: bytes, where: str) -> str:
    for encoding in ("utf-8-sig", "cp1252"):  # a CSV re-saved by Excel on Windows is cp1252
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(f"cannot decode {where}: neither UTF-8 nor cp1252")


def read_artists_csv(archive: Archive, path: str) -> tuple[dict[str, ArtistInfo], str]:
    """artist name -> info, and a digest of the file's bytes."""
    where = f"{archive.root}/{path}" if path else str(archive.root)
    try:
        with archive.open(path) as f:
            raw = f.read()
        rows = list(csv.DictReader(io.StringIO(_decode_csv(raw, where), newline="")))
    except (OSError, csv.Error) as e:
        raise DataError(f"cannot read {where}: {e}") from None
    rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items()} for row in rows]
    if not rows or not {"name", "genre"} <= set(rows[0]):
        raise DataError(f"{where} has no 'name' and 'genre' columns; is this the Kaggle archive? {HOW_TO_GET}")
    artists: dict[str, ArtistInfo] = {}
    for row in rows:
        name = names.repair(row["name"])
        if name and name not in artists:
            genres = tuple(g.strip() for g in row["genre"].split(",") if g.strip())
            artists[name] = ArtistInfo(name, genres)
    return dict(sorted(artists.items())), hashlib.sha1(raw).hexdigest()


class ArtistMatcher:
    """Finds the catalogue's artist for a folder or file-name stem, whatever its spelling."""

    def __init__(self, artists: list[str]) -> None:
        self.by_key = {names.key(a): a for a in artists}
        loose: dict[str, list[str]] = defaultdict(list)
        for a in artists:
            loose[names.loose_key_of_known(a)].append(a)
        self.by_loose = {k: v[0] for k, v in loose.items() if len(v) == 1}  # ambiguous: no guess

    def __call__(self, spelling: str) -> Optional[str]:
        return self.by_key.get(names.key(spelling)) or self.by_loose.get(names.loose_key(spelling))


def _is_canonical(spelling: str, artist: str) -> bool:
    return unicodedata.normalize("NFC", spelling).replace("_", " ") == artist


def classify_file(entry: FileEntry, spelling: str, artist: Optional[str], out: Listing) -> None:
    """Count a system file, skip a non-image, or add a candidate of ``artist`` (if known)."""
    name = PurePosixPath(entry.path).name
    if is_system_file(name):
        out.system_files += 1
    elif PurePosixPath(name).suffix.lower() not in IMAGE_SUFFIXES:
        out.skipped.append((entry.path, f"not an image file (extension {PurePosixPath(name).suffix or 'none'!r})"))
    elif artist is not None:
        out.candidates.append(Candidate(entry.path, artist, entry.stamp, _is_canonical(spelling, artist)))


def _images_layout(archive: Archive, base: str, match: ArtistMatcher, out: Listing) -> None:
    """images/images/<Artist_Name>/**: one folder per artist."""
    top = next((d for d in (f"{base}images/images", f"{base}images") if archive.is_dir(d)), None)
    if top is None:
        raise DataError(f"no images/images folder in {archive.root}; {HOW_TO_GET} (or data.source=resized)")
    folders: dict[str, list[FileEntry]] = defaultdict(list)
    for entry in archive.files(top):
        out.entries.append(entry)
        rel = entry.path[len(top) + 1:]
        if "/" not in rel:
            if not is_system_file(rel):
                out.skipped.append((entry.path, "not inside an artist folder"))
            else:
                out.system_files += 1
            continue
        folders[rel.split("/", 1)[0]].append(entry)
    merged: dict[str, list[str]] = defaultdict(list)
    for folder, entries in folders.items():
        artist = match(folder)
        if artist is None:
            images = sum(PurePosixPath(e.path).suffix.lower() in IMAGE_SUFFIXES for e in entries)
            out.skipped.append((f"{top}/{folder}/", f"folder of an artist not in artists.csv ({images} images)"))
            continue
        merged[artist].append(folder)
        for entry in entries:
            classify_file(entry, folder, artist, out)
    for artist, spellings in sorted(merged.items()):
        if len(spellings) > 1:
            out.notes.append(f"{artist}: folders {', '.join(sorted(spellings))} merged into one artist")


def _resized_layout(archive: Archive, base: str, match: ArtistMatcher, out: Listing) -> None:
    """resized/resized/<Artist_Name>_<n>.jpg: flat; the artist is the stem up to its last "_"."""
    top = next((d for d in (f"{base}resized/resized", f"{base}resized") if archive.is_dir(d)), None)
    if top is None:
        raise DataError(f"no resized/resized folder in {archive.root} for data.source=resized; {HOW_TO_GET}")
    for entry in archive.files(top):
        out.entries.append(entry)
        name = PurePosixPath(entry.path).name
        spelling = PurePosixPath(name).stem.rsplit("_", 1)[0]
        artist = match(spelling)
        if artist is None and not is_system_file(name) and PurePosixPath(name).suffix.lower() in IMAGE_SUFFIXES:
            out.skipped.append((entry.path, f"artist {names.display(spelling)!r} not in artists.csv"))
            continue
        classify_file(entry, spelling, artist, out)


LAYOUTS: dict[str, Callable[[Archive, str, ArtistMatcher, Listing], None]] = {
    "images": _images_layout,
    "resized": _resized_layout,
}


def _locate_csv(archive: Archive) -> str:
    """The folder prefix that holds artists.csv ("" at the root; "best-artworks/" when nested)."""
    if archive.is_file("artists.csv"):
        return ""
    found = find_upwards(archive, "artists.csv")
    if not found:
        raise DataError(f"artists.csv is missing in {archive.root}; {HOW_TO_GET}")
    return found[0][: -len("artists.csv")]


def list_best_artworks(root: Optional[str | Path], source: str = "images") -> Listing:
    """Index the archive under ``root`` (folder or .zip); nothing is decoded yet."""
    archive = open_archive(check_root(root))
    base = _locate_csv(archive)
    artists, digest = read_artists_csv(archive, f"{base}artists.csv")
    out = Listing(archive=archive, artists=artists, candidates=[], default_artists=list(STUDY_ARTIST_NAMES),
                  catalog_digest=digest)
    if base:
        out.notes.append(f"archive found in the sub-folder {base!r} of {archive.root}")
    LAYOUTS[source](archive, base, ArtistMatcher(list(artists)), out)
    return out
