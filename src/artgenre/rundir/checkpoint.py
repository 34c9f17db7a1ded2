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

FORMAT_VERSION = 1

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
        _chmod_like_umask(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _chmod_like_umask(path: str) -> None:
    """mkstemp creates files readable by their owner only; give them the usual permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def atomic_copy(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    os.close(fd)
    try:
        shutil.copyfile(src, tmp)
        _chmod_like_umask(tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors come in many types; the file is unusable either way
        raise CheckpointError(f"cannot read checkpoint {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise CheckpointError(f"{path} is not an artgenre checkpoint (format {FORMAT_VERSION})")
    if isinstance(state.get("config"), dict):
        upgrade_config(state["config"])
    return state


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
