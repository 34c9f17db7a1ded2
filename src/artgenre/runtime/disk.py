""""Disk full" said in those words: which folder, how much was needed, how much is free.

A full disk surfaces as OSError(ENOSPC) or EDQUOT (a quota) from Python's own writes, and as a
RuntimeError from torch.save's C++ writer ("unexpected pos", "file write failed"). Writers
remove their temporary file and raise :class:`DiskFull` instead, so nothing half-written stays.
"""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

from artgenre.errors import ArtgenreError

_TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "No space left", "Disk quota exceeded")


class DiskFull(ArtgenreError):
    """No space left where a file had to be written."""


def is_disk_full(e: BaseException) -> bool:
    if isinstance(e, OSError):
        return e.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(e, RuntimeError) and any(s in str(e) for s in _TORCH_WRITE_FAILURES)


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def disk_full(folder: Path, need_bytes: int, what: str) -> DiskFull:
    """The error to raise: ``what`` could not be written to ``folder``."""
    try:
        free = f"{_size(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = "free space unknown"
    return DiskFull(f"disk full: cannot write {what} in {folder} (needs about {_size(need_bytes)}, {free}); "
                    "free space there or point the run elsewhere (hydra.run.dir=..., data.cache_dir=...), "
                    "then run the same command again")
