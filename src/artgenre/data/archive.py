"""Read a data set from an unpacked folder or straight from its .zip, through one interface.

Paths are relative to the archive root with forward slashes, exactly as listed (mojibake
included), so that a manifest row opens the same file again. A file's ``stamp`` changes
when its content may have: size and mtime for a folder, size and CRC for a zip member.
"""

from __future__ import annotations

import errno
import io
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Protocol

from artgenre.errors import DataError

# Created by macOS, Windows and this project; never data.
SYSTEM_DIRS = {"__MACOSX", ".artgenre", ".git", "@eaDir"}
MAX_MEMBER_BYTES = 2**30  # an image file larger than 1 GiB is not a painting (200 MP JPEGs are ~100 MB)
SYSTEM_FILES = {".DS_Store", "Thumbs.db", "desktop.ini", "Icon\r", ".synthetic.json"}


def is_system_file(name: str) -> bool:
    return name in SYSTEM_FILES or name.startswith("._")


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    stamp: str


class Archive(Protocol):
    root: Path

    def files(self, under: str = "") -> Iterator[FileEntry]: ...

    def open(self, path: str) -> BinaryIO: ...

    def is_file(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...


class FolderArchive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self, under: str = "") -> Iterator[FileEntry]:
        """Every file below ``under`` (recursively), system folders skipped, sorted by path."""
        base = self.root / under if under else self.root
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in SYSTEM_DIRS]
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError as e:  # a dangling or self-looping symlink: listed, and excluded when read
                    found.append(FileEntry(rel, 0, f"unreadable:{e.errno}"))
                    continue
                found.append(FileEntry(rel, st.st_size, f"{st.st_size}:{st.st_mtime_ns}"))
        return iter(sorted(found, key=lambda e: e.path))

    def open(self, path: str) -> BinaryIO:
        return open(self.root / path, "rb")

    def is_file(self, path: str) -> bool:
        return (self.root / path).is_file()

    def is_dir(self, path: str) -> bool:
        return (self.root / path).is_dir()


class ZipArchive:
    """A .zip read in place. The ZipFile handle is opened per process: a forked DataLoader
    worker must not share the parent's file position."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1

    def __getstate__(self) -> dict:
        return {"root": self.root, "_zip": None, "_pid": -1}

    @property
    def zip(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.root)
            except (OSError, zipfile.BadZipFile) as e:
                raise DataError(f"cannot read the zip archive {self.root}: {e}") from None
            self._pid = os.getpid()
        return self._zip

    def files(self, under: str = "") -> Iterator[FileEntry]:
        prefix = f"{under.rstrip('/')}/" if under else ""
        found = []
        for info in self.zip.infolist():
            parts = info.filename.split("/")
            if info.is_dir() or not info.filename.startswith(prefix) or SYSTEM_DIRS & set(parts[:-1]):
                continue
            found.append(FileEntry(info.filename, info.file_size, f"{info.file_size}:{info.CRC:08x}"))
        return iter(sorted(found, key=lambda e: e.path))

    def open(self, path: str) -> BinaryIO:
        """The member in memory (Pillow seeks; a zip member stream only partly does).

        OSError (the reason a file is excluded) for a member larger than MAX_MEMBER_BYTES, whose
        stated size would be read whole (an 8 GiB member in a 37 MB zip), or a damaged one.
        """
        info = self.zip.getinfo(path)
        if info.file_size > MAX_MEMBER_BYTES:
            raise OSError(errno.EFBIG, f"zip member states {info.file_size / 2**30:.1f} GiB uncompressed, "
                                       f"more than the {MAX_MEMBER_BYTES / 2**30:.0f} GiB an image file may have")
        try:
            return io.BytesIO(self.zip.read(path))
        except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError) as e:
            raise OSError(errno.EIO, f"damaged zip member ({e})") from None

    def is_file(self, path: str) -> bool:
        try:
            self.zip.getinfo(path)
            return True
        except KeyError:
            return False

    def is_dir(self, path: str) -> bool:
        prefix = f"{path.rstrip('/')}/"
        return any(name.startswith(prefix) for name in self.zip.namelist())


def open_archive(root: Path) -> Archive:
    if root.is_file():
        if not zipfile.is_zipfile(root):
            if _starts_like_zip(root):
                raise DataError(f"data.root {root} is a damaged or truncated .zip archive (its table of contents "
                                "at the end is missing); download or copy it again")
            raise DataError(f"data.root {root} is a file but not a .zip archive; pass the folder or the .zip")
        return ZipArchive(root)
    return FolderArchive(root)


def _starts_like_zip(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def find_upwards(archive: Archive, name: str, max_depth: int = 2) -> list[str]:
    """Paths of ``name`` at most ``max_depth`` folders deep, shallowest first (for a nested unpack)."""
    if isinstance(archive, ZipArchive):
        hits = [n for n in archive.zip.namelist() if n.rsplit("/", 1)[-1] == name]
    else:
        hits = []
        for depth in range(max_depth + 1):
            pattern = "/".join(["*"] * depth + [name])
            hits += [p.relative_to(archive.root).as_posix() for p in archive.root.glob(pattern)]
    hits = [h for h in hits if h.count("/") <= max_depth and not SYSTEM_DIRS & set(h.split("/"))]
    return sorted(hits, key=lambda h: (h.count("/"), h))
