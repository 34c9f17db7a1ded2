"""Checkpoints: written atomically, read without unpickling arbitrary objects.

A checkpoint holds everything a run needs to continue as if never stopped: model,
optimizer, scheduler and gradient-scaler states, the number of finished epochs, the
best validation accuracy so far, every finished epoch's metrics row, a fingerprint of the
split, the resolved config, and each rank's RNG states at the end of the epoch.

Resuming at an epoch boundary does not need the RNG states: every epoch reseeds from
(seed, epoch, rank). They are restored anyway and kept for a resume inside an epoch.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from artgenre.errors import CheckpointError
from artgenre.runtime.disk import disk_full, is_disk_full

FORMAT_VERSION = 1
# what evaluation and prediction need; resuming needs RESUME_KEYS as well
REQUIRED_KEYS = ("epoch", "model", "classes", "config")
RESUME_KEYS = ("optimizer", "scheduler", "best_val_acc", "best_epoch", "history")
CRASH_ENV = "ARTGENRE_TEST_CRASH_AT"  # tests only: die at this named point, as a kill would

# options renamed since a checkpoint may have been written, per config section: old -> new name
RENAMED_OPTIONS = {"model": {"drop_path_rate": "drop_path"}}


def atomic_save(obj: Any, path: Path) -> None:
    """torch.save to a temporary file in the same folder, then rename over ``path``.

    A run killed mid-write leaves the previous checkpoint intact, never a truncated one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        crash_point(f"before_replace_{path.stem}", obj.get("epoch", 0) if isinstance(obj, dict) else 0)
        _chmod_like_umask(tmp)
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(path.parent, _nbytes(obj), path.name) from None
        raise


def _nbytes(obj: Any) -> int:
    """About the size torch.save writes for ``obj``: its tensors' bytes."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(_nbytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_nbytes(v) for v in obj)
    return 64


def crash_point(name: str, epoch: int) -> None:
    """End the process at once (no clean-up, like SIGKILL) when $ARTGENRE_TEST_CRASH_AT names this
    point (``name`` or ``name:epoch``): the tests' way to kill a run at a precise moment instead of
    racing a timer."""
    if os.environ.get(CRASH_ENV) in (name, f"{name}:{epoch}"):
        os._exit(137)


def clean_temporary_files(folder: Path) -> list[Path]:
    """Remove the half-written ``.<name>.pt.*`` files a killed save left in ``folder``."""
    removed = [p for p in folder.glob(".*.pt.*") if p.is_file()] if folder.is_dir() else []
    for p in removed:
        p.unlink(missing_ok=True)
    return removed


def _chmod_like_umask(path: str) -> None:
    """mkstemp creates files readable by their owner only; give them the usual permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_copy(src: Path, dst: Path, epoch: int = 0) -> None:
    """Copy ``src`` to a temporary file beside ``dst``, then rename over ``dst`` (as atomic_save does,
    without serialising the state a second time)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        crash_point(f"before_replace_{dst.stem}", epoch)
        _chmod_like_umask(tmp)
        os.replace(tmp, dst)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if is_disk_full(e):
            raise disk_full(dst.parent, src.stat().st_size, dst.name) from None
        raise


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors come in many types; the file is unusable either way
        raise CheckpointError(f"cannot read checkpoint {path}: {_why_unreadable(e)}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not an artgenre checkpoint (format {FORMAT_VERSION})")
    require(state, REQUIRED_KEYS, path)
    if isinstance(state.get("config"), dict):
        upgrade_config(state["config"])
    return state


def require(state: dict[str, Any], keys: tuple[str, ...], path: Path | str) -> None:
    """CheckpointError naming the entries of ``keys`` that ``state`` lacks (a damaged or crafted file)."""
    missing = [k for k in keys if k not in state]
    if missing:
        raise CheckpointError(f"{path} is not a complete artgenre checkpoint: it lacks {', '.join(missing)}; "
                              "use a checkpoint written by artgenre-train (checkpoints/last.pt or best.pt)")


def _why_unreadable(e: BaseException) -> str:
    """torch's reason, without its advice to retry with weights_only=False (which could run code)."""
    text = str(e)
    if "Weights only load failed" in text or "weights_only" in text:
        return ("it holds objects other than tensors and plain values, which are not loaded because "
                "unpickling them could run code; use a checkpoint written by artgenre-train")
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(e).__name__


def upgrade_config(config: dict[str, Any]) -> None:
    """Give options renamed since the checkpoint was written their current names (in place), so
    that older checkpoints still evaluate, predict and resume."""
    for section, names in RENAMED_OPTIONS.items():
        options = config.get(section)
        if isinstance(options, dict):
            for old, new in names.items():
                if old in options and new not in options:
                    options[new] = options.pop(old)


def rng_state() -> dict[str, Any]:
    """This process's RNG states as plain lists, which pickle across ranks and load with weights_only=True."""
    np_state = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_to_tuple(state["python"]))
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _to_tuple(x: Any) -> Any:
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x
