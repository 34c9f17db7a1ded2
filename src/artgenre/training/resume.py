"""Continuing a run: which checkpoint, whether it fits this run, and restoring its state exactly."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from artgenre.config import SECTION_SCHEMAS
from artgenre.errors import CheckpointError
from artgenre.models import model_schema
from artgenre.rundir import checkpoint
from artgenre.runtime import distributed
from artgenre.training.setup import Training

log = logging.getLogger("artgenre")

# checkpoint entries that must agree with the run that resumes from it
COMPATIBILITY_KEYS = ("model", "data.name", "data.image_size", "data.artists", "data.val_fraction", "trainer.seed",
                      "data.source", "data.label", "data.min_images", "data.test_fraction", "data.folds", "data.fold",
                      "data.group_by", "data.synthetic_artists_per_genre",
                      "optim.decay_all")  # decides which parameters the saved optimizer moments belong to


@dataclass
class Progress:
    """Where a run stands: finished epochs, the best validation accuracy so far, every epoch's row."""

    done_epochs: int = 0
    best_acc: float = -1.0
    best_epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


FRESH = (None, "", "none", "null", "false")


def earlier_run(run_dir: Path) -> list[str]:
    """The files of an earlier run in ``run_dir`` that a fresh start would overwrite."""
    return [name for name in ("checkpoints/last.pt", "metrics.csv") if (run_dir / name).is_file()]


def resume_path(cfg: DictConfig, run_dir: Path) -> Optional[Path]:
    setting = cfg.trainer.resume
    if setting in FRESH:
        found = earlier_run(run_dir)
        if found:  # starting afresh here would replace that run's checkpoints and metrics
            raise CheckpointError(
                f"trainer.resume=null but {run_dir} already holds a run ({', '.join(found)}), which a fresh "
                "start would overwrite. Continue it with trainer.resume=auto, or start afresh in a new "
                "folder (hydra.run.dir=...), or move the old run away first.")
        return None
    if setting == "auto":
        last = run_dir / "checkpoints" / "last.pt"
        return last if last.is_file() else None
    path = Path(setting).expanduser()
    if not path.is_file():
        raise CheckpointError(f"trainer.resume={setting}: no such checkpoint file")
    return path


def warn_changed(saved: DictConfig, cfg: DictConfig) -> None:
    """The optimizer and schedule continue from the checkpoint: say so when the overrides differ."""
    for section in ("optim", "sched"):
        if OmegaConf.select(saved, section) != OmegaConf.select(cfg, section) and distributed.env_info().is_main:
            log.warning(f"resuming: optimizer and schedule state come from the checkpoint, so the changed "
                        f"'{section}' settings of this command may not take effect")


def _model_with_defaults(section: Any) -> Any:
    """A model section with the options added since it was saved set to their defaults."""
    try:
        defaults = dataclasses.asdict(model_schema(section["name"]))
    except (KeyError, TypeError):
        return section
    return OmegaConf.merge(defaults, section)


_ABSENT = object()


def check_compatible(saved: DictConfig, cfg: DictConfig, path: Path) -> None:
    for key in COMPATIBILITY_KEYS:
        old, new = OmegaConf.select(saved, key, default=_ABSENT), OmegaConf.select(cfg, key)
        if old is _ABSENT:  # a checkpoint from before the key existed ran with its schema default
            section, _, name = key.partition(".")
            old = getattr(SECTION_SCHEMAS[section](), name, None) if section in SECTION_SCHEMAS else None
        if key == "model":  # a checkpoint from before a model option existed ran with its default
            old, new = _model_with_defaults(old), _model_with_defaults(new)
        if old != new:
            raise CheckpointError(
                f"cannot resume from {path}: it was trained with {key}={old}, this run has {key}={new}. "
                "Start a new run directory (hydra.run.dir=...) for this setting."
            )


def continue_schedule(scheduler: Any, done_epochs: int, steps_per_epoch: int, interval: str) -> None:
    """Place ``scheduler`` at the start of epoch ``done_epochs`` (0-based), counted in this run's steps.

    A new process count or batch size changes the steps per epoch: the schedule continues at
    the same fraction of the training, not at the old step number.
    """
    scheduler.last_epoch = done_epochs * (steps_per_epoch if interval == "step" else 1) - 1
    scheduler.step()


def restore(t: Training, cfg: DictConfig, path: Path) -> Progress:
    """Load ``path`` into the set-up run ``t`` (model, optimizer, schedule, scaler, RNGs)."""
    state = checkpoint.load(path)
    checkpoint.require(state, checkpoint.RESUME_KEYS, path)
    saved = OmegaConf.create(state["config"])
    check_compatible(saved, cfg, path)
    if state.get("split_digest", t.split_id) != t.split_id:
        raise CheckpointError(
            f"cannot resume from {path}: the images under data.root or their train/val split changed "
            "since it was written, so validation could include images it trained on. Restore the data, "
            "or start a new run directory."
        )
    warn_changed(saved, cfg)
    t.model.load_state_dict(state["model"])
    t.optimizer.load_state_dict(state["optimizer"])
    t.scheduler.load_state_dict(state["scheduler"])
    if t.scaler is not None and state.get("scaler"):
        t.scaler.load_state_dict(state["scaler"])
    if t.recipes is not None:
        t.recipes.load_state_dict(state)  # the weight average
    done = state["epoch"]
    continue_schedule(t.scheduler, done, t.steps_per_epoch, cfg.sched.interval)
    rngs = state.get("rng", [])
    if len(rngs) == t.info.world_size:
        checkpoint.set_rng_state(rngs[t.info.rank])
    return Progress(done, state["best_val_acc"], state["best_epoch"], state["history"])
