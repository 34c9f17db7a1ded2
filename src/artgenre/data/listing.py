"""What a data-set layout yields before any image is opened, and what training gets after prepare.

A layout (layouts/artworks.py: the Kaggle archive; layouts/folder.py: one folder per class)
turns an archive into a :class:`Listing`: the classes it knows ("artists", each with its
genres), the candidate image files of each, and the files it passed over with the reason.
prepare (data/prepare/) checks the candidates, picks and labels the classes, splits them,
and hands training an :class:`ImageSet`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from artgenre.data.archive import Archive, FileEntry


@dataclass(frozen=True)
class ArtistInfo:
    name: str  # as artists.csv spells it (repaired), or the class folder's name
    genres: tuple[str, ...] = ()  # "High Renaissance,Mannerism" -> ("High Renaissance", "Mannerism")

    @property
    def genre(self) -> str:
        return ", ".join(self.genres)


@dataclass(frozen=True)
class Candidate:
    path: str
    artist: str  # ArtistInfo.name
    stamp: str
    canonical: bool = True  # found under the name the catalogue uses (kept first among duplicates)


@dataclass
class Listing:
    archive: Archive
    artists: dict[str, ArtistInfo]  # name -> info, sorted by name
    candidates: list[Candidate]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) never candidates
    entries: list[FileEntry] = field(default_factory=list)  # every file seen: the fingerprint's input
    default_artists: Optional[list[str]] = None  # data.artists=null; None here means every class
    notes: list[str] = field(default_factory=list)
    catalog_digest: str = ""  # hash of artists.csv, part of the fingerprint
    system_files: int = 0
    split: Optional[dict[str, str]] = None  # path -> train | val: a split the layout gives (WikiArt's official one)


@dataclass(frozen=True)
class Record:
    path: str  # relative to the data root, with forward slashes
    artist: str
    label: int
    class_name: str
    genre: str = ""
    width: int = 0  # of the original image
    height: int = 0
    sha1: str = ""


@dataclass(frozen=True)
class ImageSet:
    root: Path  # an unpacked folder or a .zip
    records: list[Record]
    classes: list[str]  # class index -> name
    cache_dir: Optional[Path] = None  # where prepare wrote the manifest; the pixel cache lives there too
    archive: Optional[Archive] = None  # how to open ``records``' paths; None: open_archive(root)
    fold: Optional[list[Optional[int]]] = None  # with data.folds: each record's cross-validation fold

    def open_archive(self) -> Archive:
        from artgenre.data.archive import open_archive

        return self.archive if self.archive is not None else open_archive(self.root)
