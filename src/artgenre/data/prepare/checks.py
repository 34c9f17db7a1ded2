"""The decode check of every candidate file, remembered in ``checks.csv`` by (path, size+mtime):
a later prepare with another artist selection, label, split or ``data.source`` decodes nothing again."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from artgenre.data import decode
from artgenre.data.archive import Archive
from artgenre.data.listing import Candidate, Listing
from artgenre.data.parallel import parallel_map
from artgenre.data.prepare.files import atomic_write, csv_text, read_csv

CHECK_COLUMNS = ["path", "stamp", "status", "format", "width", "height", "sha1", "reason"]


@dataclass(frozen=True)
class Check:
    status: str  # ok | bad | large
    format: str = ""
    width: int = 0
    height: int = 0
    sha1: str = ""
    reason: str = ""


# the state of one checking worker process (set by _init_checker)
_archive: Optional[Archive] = None
_max_pixels = decode.DEFAULT_MAX_PIXELS


def _init_checker(archive: Archive, max_pixels: int) -> None:
    global _archive, _max_pixels
    _archive, _max_pixels = archive, max_pixels


def _check_path(path: str) -> Check:
    try:
        with _archive.open(path) as f:
            data = f.read()
    except OSError as e:
        return Check("bad", reason=f"cannot read the file ({e.strerror or e})")
    try:
        info = decode.check(data, _max_pixels)
    except decode.TooLarge as e:
        return Check("large", width=e.width, height=e.height, reason=str(e))
    except decode.ImageProblem as e:
        return Check("bad", reason=str(e))
    return Check("ok", info.format, info.width, info.height, info.sha1)


def _load_checks(path: Path) -> dict[tuple[str, str], Check]:
    try:
        rows = read_csv(path)
    except (OSError, csv.Error, UnicodeError):
        return {}
    try:
        return {(r["path"], r["stamp"]): Check(r["status"], r["format"], int(r["width"]), int(r["height"]), r["sha1"],
                                               r["reason"]) for r in rows}
    except (KeyError, ValueError):
        return {}  # an older or damaged file: check again


def run_checks(
    listing: Listing, cache_dir: Path, max_pixels: int, workers: int, progress: bool
) -> tuple[dict[str, Check], int]:
    """The decode result of every candidate, and how many were decoded: only files new or changed
    since the last run are."""
    known = _load_checks(cache_dir / "checks.csv")
    results: dict[str, Check] = {}
    todo: list[Candidate] = []
    for c in listing.candidates:
        old = known.get((c.path, c.stamp))
        # a file too large for an earlier, lower limit may be allowed now
        if old is None or (old.status == "large" and old.width * old.height <= max_pixels):
            todo.append(c)
        else:
            results[c.path] = old
    if todo:
        done = parallel_map(_check_path, [c.path for c in todo], workers, "checking images", progress,
                            _init_checker, (listing.archive, max_pixels), getattr(listing.archive, "chunk", None))
        results.update(zip((c.path for c in todo), done))
    stamps = {c.path: c.stamp for c in listing.candidates}
    rows = [[p, stamps[p], r.status, r.format, r.width, r.height, r.sha1, r.reason] for p, r in results.items()]
    # files this listing does not include (the other data.source, another layout) keep their checks,
    # so switching back and forth decodes nothing again
    rows += [[p, stamp, r.status, r.format, r.width, r.height, r.sha1, r.reason]
             for (p, stamp), r in known.items() if p not in stamps]
    rows.sort(key=lambda row: (row[0], row[1]))
    atomic_write(cache_dir / "checks.csv", csv_text(CHECK_COLUMNS, rows))
    return results, len(todo)
