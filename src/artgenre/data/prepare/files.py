"""Where prepare's files go and how they are written: the cache folder, atomic writes, CSV text."""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Any, Optional

from artgenre.runtime.disk import disk_full, is_disk_full
from artgenre.data import default_cache_dir
from artgenre.errors import DataError

# Paths may hold bytes that are not UTF-8 (os.listdir escapes them); write them back as they were.
TEXT = dict(encoding="utf-8", errors="surrogateescape", newline="")


def _writable(folder: Path) -> bool:
    # os.access says yes to root and to read-only mounts alike; only a real write tells
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


def resolve_cache_dir(setting: Optional[str], root: Path) -> Path:
    """``data.cache_dir`` if set; else ``<root>/.artgenre`` (``<zip folder>/.artgenre/<zip name>``
    for a zip); else, when that is read-only, a per-user folder under default_cache_dir()."""
    if setting:
        path = Path(setting).expanduser()
        if not _writable(path):
            raise DataError(f"data.cache_dir {path} is not writable; choose another folder")
        return path
    preferred = root / ".artgenre" if root.is_dir() else root.parent / ".artgenre" / root.name
    if _writable(preferred):
        return preferred
    resolved = str(root.resolve())
    fallback = default_cache_dir() / "prepared" / f"{root.name}-{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"
    if _writable(fallback):
        return fallback
    raise DataError(f"neither {preferred} nor {fallback} is writable: set data.cache_dir=/a/writable/folder")


def atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", **TEXT) as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(path.parent, len(text.encode()), path.name) from None
        raise
    os.replace(tmp, path)


def csv_text(columns: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, **TEXT) as f:
        return list(csv.DictReader(f))
