"""Parquet shards of images (``data=parquet``), like Hugging Face's ``huggan/wikiart``.

``data.root`` is one ``.parquet`` file or a folder of them (searched recursively, read in
place: nothing downloads, nothing is extracted). Each row holds an ``image`` column (a struct
of ``bytes`` and ``path``, or plain bytes) and label columns; ``data.label`` names the column
(artist, genre, style). Integer labels take their class names from the ``huggingface`` entry
of the schema's metadata (a ``ClassLabel``'s ``names``); string labels are their own names.
Classes whose name starts with "Unknown" ("Unknown Artist", "Unknown Genre") are left out
unless ``data.artists=all``. The split is the usual stratified one.

An image is named ``<shard>#<row>`` (row zero-padded, so paths sort in reading order) and read
by :class:`ParquetArchive`, which keeps the last row group it read: reading in order costs one
pass over each shard, and the decode check hands each worker a row group's worth of rows at a time.
"""

from __future__ import annotations

import io
import json
import os
from bisect import bisect_right
from pathlib import Path
from typing import Any, BinaryIO, Iterator, Optional

from artgenre.data.archive import FileEntry
from artgenre.data.layouts.artworks import check_root
from artgenre.data.listing import ArtistInfo, Candidate, Listing
from artgenre.errors import DataError

IMAGE_COLUMN = "image"
ROW_DIGITS = 7
MAX_CHUNK = 4096  # a decode-checking task reads whole row groups: give it up to this many rows


def _pq():
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("data=parquet needs pyarrow: pip install 'artgenre[parquet]'") from None
    return pq


def image_path(shard: str, row: int) -> str:
    return f"{shard}#{row:0{ROW_DIGITS}d}"


class ParquetArchive:
    """Parquet shards below ``root`` as an archive whose files are ``<shard>#<row>`` images."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.base = root if root.is_dir() else root.parent
        if root.is_dir():
            self.shards = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet")
                                 if not any(part.startswith(".") for part in p.relative_to(root).parts))
        else:
            self.shards = [root.name]
        self._state: dict[str, Any] = {}
        self._pid = -1
        self.chunk: Optional[int] = None  # rows per checking task: one row group's worth (set by list_parquet)

    def __getstate__(self) -> dict:
        return {"root": self.root, "base": self.base, "shards": self.shards, "_state": {}, "_pid": -1,
                "chunk": self.chunk}

    def shard_files(self) -> Iterator[FileEntry]:
        for shard in self.shards:
            st = os.stat(self.base / shard)
            yield FileEntry(shard, st.st_size, f"{st.st_size}:{st.st_mtime_ns}")

    def files(self, under: str = "") -> Iterator[FileEntry]:
        return self.shard_files()

    def _file(self, shard: str):
        if self._pid != os.getpid():  # a forked worker opens its own handles
            self._state, self._pid = {"files": {}, "group": None}, os.getpid()
        files = self._state["files"]
        if shard not in files:
            pf = _pq().ParquetFile(self.base / shard)
            starts, total = [], 0
            for i in range(pf.metadata.num_row_groups):
                starts.append(total)
                total += pf.metadata.row_group(i).num_rows
            files[shard] = (pf, starts)
        return files[shard]

    def open(self, path: str) -> BinaryIO:
        shard, _, row = path.rpartition("#")
        if not shard or not row.isdigit() or shard not in self.shards:
            raise FileNotFoundError(f"no image {path!r} in the parquet shards of {self.root}")
        pf, starts = self._file(shard)
        row_index = int(row)
        group = bisect_right(starts, row_index) - 1
        key = (shard, group)
        if self._state["group"] is None or self._state["group"][0] != key:
            column = pf.read_row_group(group, columns=[IMAGE_COLUMN]).column(IMAGE_COLUMN).combine_chunks()
            values = column.field("bytes") if hasattr(column, "field") else column
            self._state["group"] = (key, values.to_pylist())
        data = self._state["group"][1][row_index - starts[group]]
        if data is None:
            raise OSError(f"row {row_index} of {shard} holds no image bytes")
        return io.BytesIO(data)

    def is_file(self, path: str) -> bool:
        return path.rpartition("#")[0] in self.shards

    def is_dir(self, path: str) -> bool:
        return False


def _class_names(schema, column: str, shard: str) -> Optional[list[str]]:
    """The ``ClassLabel`` names of ``column`` from the schema's Hugging Face metadata, if any."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    try:
        info = json.loads(meta)
        features = info.get("info", info).get("features", {})
        feature = features.get(column, {})
        names = feature.get("names") or feature.get("feature", {}).get("names")
    except (ValueError, AttributeError) as e:
        raise DataError(f"unreadable Hugging Face metadata in {shard} ({e})") from None
    return [str(n) for n in names] if names else None


def list_parquet(root: Optional[str | Path], label: str, artists: Any = None) -> Listing:
    pq = _pq()
    archive = ParquetArchive(check_root(root))
    if not archive.shards:
        raise DataError(f"no .parquet files in data.root={archive.root}: pass a shard or a folder of shards")
    out = Listing(archive=archive, artists={}, candidates=[])
    out.entries = list(archive.shard_files())
    names: Optional[list[str]] = None
    values_seen: dict[str, None] = {}
    per_shard: list[tuple[str, list]] = []
    for entry in out.entries:
        try:
            schema = pq.read_schema(archive.base / entry.path)
        except Exception as e:  # pyarrow raises its own error types for damaged files
            out.skipped.append((entry.path, f"not a readable parquet file ({type(e).__name__}: {e})"))
            continue
        missing = [c for c in (IMAGE_COLUMN, label) if c not in schema.names]
        if missing:
            raise DataError(f"{entry.path} has no column {', '.join(map(repr, missing))} (data.label={label}); "
                            f"its columns: {', '.join(schema.names)}")
        names = names or _class_names(schema, label, entry.path)
        meta = pq.ParquetFile(archive.base / entry.path).metadata
        groups = [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]
        archive.chunk = min(MAX_CHUNK, max([archive.chunk or 1, *groups]))
        labels = pq.read_table(archive.base / entry.path, columns=[label]).column(label).to_pylist()
        per_shard.append((entry.path, labels))
        for v in labels:
            if v is not None:
                values_seen.setdefault(v, None)
    if not per_shard:
        raise DataError(f"no readable parquet shard in data.root={archive.root}")
    if names is None:  # no ClassLabel names: string labels name themselves, integers are shown as they are
        names = sorted(str(v) for v in values_seen)
        index = {v: str(v) for v in values_seen}
        if any(isinstance(v, int) for v in values_seen):
            out.notes.append(f"no class names for column {label!r} in the shards' metadata: classes are its numbers")
    else:
        index = {i: n for i, n in enumerate(names)}
    asked = [artists] if isinstance(artists, str) else list(artists or [])
    keep_unknown = any(str(a).strip().lower() == "all" or str(a).lower().startswith("unknown") for a in asked)
    unknown = {n for n in names if n.lower().startswith("unknown")} if not keep_unknown else set()
    left_out = 0
    for shard, labels in per_shard:
        stamp = next(e.stamp for e in out.entries if e.path == shard)
        for row, v in enumerate(labels):
            name = index.get(v)
            path = image_path(shard, row)
            if name is None:
                out.skipped.append((path, f"{label} value {v!r} is not a class of the shards' metadata"))
            elif name in unknown:
                left_out += 1
            else:
                out.candidates.append(Candidate(path, name, f"{stamp}:{row}"))
    if left_out:
        out.notes.append(f"left out {left_out} image(s) of {', '.join(sorted(unknown))} (data.artists=all keeps them)")
    out.artists = {n: ArtistInfo(n, (n,)) for n in names if n not in unknown}
    return out
