"""One run per run folder: a lock file that names its holder and goes stale when the holder is gone.

``<run dir>/run.lock`` is created with O_CREAT|O_EXCL (atomic on local disks and on NFS v3+/Lustre/
GPFS, the shared file systems of clusters), holds who took it (host, pid, Slurm job id and restart
count, start time), and its modification time is a heartbeat that the holder renews every
``STALE_AFTER_S / 5`` seconds. A lock is stale, and taken over, when

- its holder ran on this host and that process no longer exists (a crash, a kill -9),
- it was taken by an earlier start of this very Slurm job (a requeue after preemption: same
  SLURM_JOB_ID, another SLURM_RESTART_COUNT), or
- its heartbeat is older than ``STALE_AFTER_S`` (a holder on another node that died with it).

Any other holder makes a second run stop with a message naming the first. Only rank 0 takes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

from artgenre.errors import ArtgenreError
from artgenre.runtime import distributed

LOCK_NAME = "run.lock"
STALE_AFTER_S = float(os.environ.get("ARTGENRE_LOCK_STALE_S", 600))


class RunFolderBusy(ArtgenreError):
    """Another run holds the run folder's lock."""


def identity() -> dict[str, Any]:
    return {"host": socket.gethostname(), "pid": os.getpid(), "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "slurm_restart": os.environ.get("SLURM_RESTART_COUNT", "0"),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def read_holder(path: Path) -> Optional[dict[str, Any]]:
    try:
        holder = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _pid_alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True  # someone else's process, or a pid we cannot judge: assume it lives
    return True


def stale_reason(holder: Optional[dict[str, Any]], age_s: float, me: dict[str, Any]) -> Optional[str]:
    """Why the lock of ``holder`` (heartbeat ``age_s`` seconds old) may be taken over by ``me``, or None."""
    if age_s > STALE_AFTER_S:
        return f"no heartbeat for {age_s / 60:.0f} min"
    if holder is None:
        return None  # being written right now, or garbled and still fresh: wait for its heartbeat to age
    if holder.get("slurm_job_id") and holder.get("slurm_job_id") == me["slurm_job_id"] \
            and str(holder.get("slurm_restart")) != str(me["slurm_restart"]):
        return f"an earlier start of Slurm job {me['slurm_job_id']} (requeued)"
    if holder.get("host") == me["host"] and not _pid_alive(holder.get("pid")):
        return f"process {holder.get('pid')} on {me['host']} is gone"
    return None


def describe(holder: Optional[dict[str, Any]]) -> str:
    if holder is None:
        return "a run whose lock file cannot be read"
    job = f", Slurm job {holder['slurm_job_id']}" if holder.get("slurm_job_id") else ""
    return f"pid {holder.get('pid')} on {holder.get('host')}{job}, started {holder.get('started')}"


class RunLock:
    """The lock of one run folder, held by this process between acquire() and release()."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.me = identity()
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self.me, f)
        return True

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            if self._create():
                self._start_heartbeat()
                return
            holder = read_holder(self.path)
            try:
                age = time.time() - self.path.stat().st_mtime
            except FileNotFoundError:
                continue  # released meanwhile: try again
            if stale_reason(holder, age, self.me) is None:
                raise RunFolderBusy(
                    f"run folder {self.path.parent} is in use by another training ({describe(holder)}). "
                    f"Wait for it to finish or choose another folder (hydra.run.dir=...); if that run is dead, "
                    f"delete {self.path}"
                )
            self.path.unlink(missing_ok=True)
        raise RunFolderBusy(f"run folder {self.path.parent}: another run took its lock at the same moment")

    def _start_heartbeat(self) -> None:
        def beat() -> None:
            while not self._stop.wait(STALE_AFTER_S / 5):
                with contextlib.suppress(OSError):
                    os.utime(self.path)
        self._thread = threading.Thread(target=beat, name="run-lock-heartbeat", daemon=True)
        self._thread.start()

    def release(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread = None
        holder = read_holder(self.path)
        if holder and holder.get("pid") == self.me["pid"] and holder.get("host") == self.me["host"]:
            self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def run_folder_locked(run_dir: Path) -> Iterator[None]:
    """Rank 0 holds ``run_dir``'s lock while the block runs; every rank stops if it is taken."""
    lock = RunLock(run_dir)
    distributed.from_main(lock.acquire)
    try:
        yield
    finally:
        lock.release()
