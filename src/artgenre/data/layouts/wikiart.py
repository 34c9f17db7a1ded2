"""WikiArt with ArtGAN's benchmark splits (``data=wikiart``), the splits the literature reports on.

Images: ``data.root/<Style>/<artist-slug>_<title>.jpg`` (a folder or its .zip). Split files,
at most two folders below ``data.splits`` if set, else below ``data.root`` or (a folder's) its parent
(ArtGAN keeps them in ``WikiArt Dataset/{Style,Genre,Artist}/``), read as they are, not as their README says:

* style:  ``style_class.txt``, ``style_train.csv``, ``style_val.csv``: ``path,label``, CRLF
* genre:  ``genre_class`` (no extension), ``genre_train.csv``, ``genre_val.csv``
* artist: ``artist_class``, ``artist_train``, ``artist_val`` (no extensions); a header line
  ``(Path to image),, (Groundtruth class)``, a blank line, then ``path,,label`` rows
* class files: ``<index> <Name>`` per line

Any line ending, blank lines, a header, one or more commas before the label, commas inside a
path and a byte-order mark are accepted. The official train/val split is kept as given
(``data.val_fraction`` plays no part). A listed path missing on disk, a label outside the
class file and a malformed row go to ``excluded.csv`` with their reason; files on disk that no
split file lists are not part of the set. Class indices follow the class file.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath
from typing import Optional

from artgenre.data.archive import Archive, FolderArchive, find_upwards, open_archive
from artgenre.data.decode import IMAGE_SUFFIXES
from artgenre.data.layouts.artworks import check_root
from artgenre.data.listing import ArtistInfo, Candidate, Listing
from artgenre.errors import DataError

PARTS = ("train", "val")
SUFFIXES = ("", ".csv", ".txt")  # ArtGAN's files have one of these, depending on the label
_ROW = re.compile(r"(?P<path>.+?)\s*,[\s,]*(?P<label>-?\d+)\s*")  # non-greedy: commas inside a path survive
HOW_TO_GET = ("the split files are in the 'WikiArt Dataset' folder of the ArtGAN repository "
              "(github.com/cs-chan/ArtGAN); see data/README.md")


def _lines(raw: bytes) -> list[str]:
    text = raw.decode("utf-8-sig", errors="surrogateescape")
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def parse_classes(raw: bytes, where: str) -> list[str]:
    """``index Name`` lines -> names by index (indices 0..k-1, each once)."""
    names: dict[int, str] = {}
    for n, line in enumerate(_lines(raw), 1):
        line = line.strip()
        if not line:
            continue
        index, _, name = line.partition(" ")
        if not index.isdigit() or not name.strip():
            raise DataError(f"{where} line {n}: expected '<index> <class name>', found {line!r}")
        names[int(index)] = name.strip()
    if sorted(names) != list(range(len(names))) or len(names) < 2:
        raise DataError(f"{where}: class indices must run 0..k-1 (k >= 2); found {sorted(names)[:10]}")
    return [names[i] for i in range(len(names))]


def parse_rows(raw: bytes, where: str) -> tuple[list[tuple[str, int]], list[str]]:
    """(path, label) rows, and a message per line that is neither a row, blank nor the header."""
    rows, bad = [], []
    seen_row = False
    for n, line in enumerate(_lines(raw), 1):
        if not line.strip():
            continue
        m = _ROW.fullmatch(line.strip())
        if m is None:
            if not seen_row and line.lstrip().startswith("("):  # "(Path to image),, (Groundtruth class)"
                continue
            bad.append(f"{where} line {n}: not 'path,label': {line.strip()[:80]!r}")
            continue
        seen_row = True
        rows.append((m["path"].strip().lstrip("/").replace("\\", "/"), int(m["label"])))
    return rows, bad


def _find(archive: Archive, splits: Optional[Path], stem: str) -> tuple[bytes, str]:
    """The bytes and a display name of split file ``stem`` (with any of :data:`SUFFIXES`)."""
    if splits is not None:  # the folder of split files, or one above it ("WikiArt Dataset")
        place = FolderArchive(splits)
        for suffix in SUFFIXES:
            hits = find_upwards(place, f"{stem}{suffix}")
            if hits:
                return (splits / hits[0]).read_bytes(), str(splits / hits[0])
        raise DataError(f"no {stem}[.csv|.txt] within two folders of data.splits={splits}; {HOW_TO_GET}")
    places = [archive] + ([FolderArchive(archive.root.parent)] if isinstance(archive, FolderArchive) else [])
    for place in places:  # data.root, then the folder beside it (the ArtGAN checkout next to the images)
        for suffix in SUFFIXES:
            hits = find_upwards(place, f"{stem}{suffix}")
            if hits:
                with place.open(hits[0]) as f:
                    return f.read(), f"{place.root}/{hits[0]}"
    raise DataError(f"no {stem}[.csv|.txt] within two folders of data.root={archive.root} or its parent: set "
                    f"data.splits to the folder that holds the {stem.split('_')[0]} split files; {HOW_TO_GET}")


def list_wikiart(root: Optional[str | Path], label: str, splits: Optional[str] = None) -> Listing:
    archive = open_archive(check_root(root))
    split_dir = Path(splits).expanduser() if splits else None
    if split_dir is not None and not split_dir.is_dir():
        raise DataError(f"data.splits={split_dir} is not a folder; {HOW_TO_GET}")
    digest = hashlib.sha256()
    raw, where = _find(archive, split_dir, f"{label}_class")
    digest.update(raw)
    classes = parse_classes(raw, where)
    out = Listing(archive=archive, artists={c: ArtistInfo(c, (c,)) for c in classes}, candidates=[], split={})
    listed: list[tuple[str, int, str, str]] = []  # path, label, part, file
    for part in PARTS:
        raw, where = _find(archive, split_dir, f"{label}_{part}")
        digest.update(raw)
        rows, bad = parse_rows(raw, where)
        if not rows:
            raise DataError(f"{where} lists no images; {HOW_TO_GET}")
        out.skipped += [(where, reason) for reason in bad]
        listed += [(p, y, part, Path(where).name) for p, y in rows]
    out.catalog_digest = digest.hexdigest()
    on_disk = {}
    for entry in archive.files():
        if PurePosixPath(entry.path).suffix.lower() in IMAGE_SUFFIXES:
            on_disk[entry.path] = entry
            out.entries.append(entry)
    twice = 0
    for path, y, part, source in listed:
        if not 0 <= y < len(classes):
            out.skipped.append((path, f"label {y} in {source} is not a class of {label}_class (0..{len(classes) - 1})"))
        elif path in out.split:
            twice += 1
        elif path not in on_disk:
            out.skipped.append((path, f"listed in {source} but missing on disk"))
        else:
            out.split[path] = part
            out.candidates.append(Candidate(path, classes[y], on_disk[path].stamp))
    if twice:
        out.notes.append(f"{twice} row(s) listed an image a second time; its first row counts")
    if not out.candidates:
        raise DataError(f"none of the {len(listed)} images the {label} split files list is under "
                        f"data.root={archive.root}: data.root is the folder that holds <Style>/<image>.jpg")
    out.notes.append(f"official {label} split of ArtGAN kept as given (data.val_fraction is not used)")
    return out
