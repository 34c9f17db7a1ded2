"""fit(): a training run from top to bottom.

Set up the process and the device, build the run (data, model, optimizer: training.setup),
resume if a checkpoint says so (training.resume), then per epoch train, evaluate every
validation image once, log one exact row and save the checkpoints.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from artgenre.loggers import Loggers, RunContext, open_loggers, require_loggers
from artgenre.models import model_summary
from artgenre.rundir import checkpoint
from artgenre.rundir.best import repair_best
from artgenre.rundir.lock import run_folder_locked
from artgenre.rundir.metrics import COLUMNS, table_header
from artgenre.rundir.split import write_split_csv
from artgenre.runtime import distributed, preemption
from artgenre.runtime.cpu_memory import keep_freed_memory
from artgenre.runtime.device import resolve_device, seed_everything
from artgenre.training.best_predictions import save_best_predictions
from artgenre.training.divergence import check_epoch
from artgenre.training.engine import StepContext, evaluate, train_one_epoch
from artgenre.training.recipes import build_recipes
from artgenre.training.resume import Progress, resume_path, restore
from artgenre.training.setup import Training, class_weight, set_up, wrap_for_training

log = logging.getLogger("artgenre")


@dataclass
class RunFiles:
    """The files rank 0 writes into the run directory as the run goes."""

    run_dir: Path
    loggers: Loggers  # logger=[csv,...]: metrics.csv and the chosen trackers (none on ranks > 0)


def start_process(cfg: DictConfig, run_dir: Path) -> tuple[distributed.DistInfo, torch.device]:
    """Join the process group, pick the device, fail early on a missing optional package."""
    info = distributed.init()
    device = resolve_device(cfg.trainer.device, info.local_rank)
    if device.type == "cpu":
        keep_freed_memory()  # every step's large blocks are reused instead of page-faulted anew
    require_loggers(cfg)  # a chosen logger's missing package: before any work, on every rank
    if cfg.trainer.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    if info.is_main:
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    return info, device


def open_run_files(cfg: DictConfig, t: Training, progress: Progress, run_dir: Path) -> RunFiles:
    """split.csv, and the loggers: metrics files that continue a resumed run's rows (nothing
    repeated, the recipes' columns included), trackers that continue its tracker runs."""
    files = RunFiles(run_dir, open_loggers(cfg, t.info.is_main))
    if t.info.is_main:
        write_split_csv(run_dir / "split.csv", t.image_set.records, t.split, t.image_set.fold)
        files.loggers.start(RunContext(run_dir, OmegaConf.to_container(cfg, resolve=True), list(t.data.classes),
                                       t.steps_per_epoch, cfg.trainer.log_every, progress.done_epochs,
                                       progress.history, columns=COLUMNS + t.recipes.columns))
    return files


def compile_note(cfg: DictConfig) -> str:
    # compiling happens at the first step, after this summary: a failure is logged then, as a warning
    if not cfg.trainer.compile:
        return ""
    return " | torch.compile on (compiled at the first step; eager, with a warning, if that fails)"


def describe(cfg: DictConfig, t: Training, run_dir: Path) -> str:
    k, bs = cfg.trainer.accum_steps, cfg.trainer.batch_size
    accumulated = "" if k == 1 else f" x {k} accumulated (effective batch {bs * k * t.info.world_size})"
    return (f"{model_summary(t.model, cfg.model.name, cfg.data.image_size)} | {len(t.data.classes)} classes | "
            f"device {t.device} x {t.info.world_size} process(es), batch {bs} per process{accumulated} | "
            f"precision {t.numerics.name}{compile_note(cfg)} | "
            f"train {t.data.n_train} / val {t.data.n_val} images | run dir {run_dir}")


def step_context(cfg: DictConfig, t: Training, files: RunFiles) -> StepContext:
    ctx = StepContext(
        device=t.device, autocast=t.numerics.autocast_factory, scaler=t.scaler,
        label_smoothing=cfg.trainer.label_smoothing, grad_clip=cfg.trainer.grad_clip,
        step_scheduler=t.scheduler if cfg.sched.interval == "step" else None,
        stop=preemption.StopCheck(t.info.world_size, cfg.trainer.stop_check_every),
        class_weight=class_weight(cfg, t.data, t.device), accum_steps=cfg.trainer.accum_steps,
        log_every=cfg.trainer.log_every, no_sync=t.no_sync, params=list(t.model.parameters()),
    )
    if files.loggers.wants_steps:
        ctx.on_step = files.loggers.log_step
    ctx.recipe = t.recipes.batch
    ctx.on_update = t.recipes.ema.update if t.recipes.ema is not None else None
    return ctx


def run_epoch(cfg: DictConfig, t: Training, ctx: StepContext, epoch: int, files: RunFiles) -> dict[str, Any]:
    """Train one epoch, validate on every validation image once; the epoch's metrics row."""
    # each epoch's randomness follows from (seed, epoch, rank) alone, so a resumed run repeats it
    seed_everything(cfg.trainer.seed + 1000 * (epoch + 1) + t.info.rank)
    t.data.train_sampler.set_epoch(epoch)
    lr = t.optimizer.param_groups[0]["lr"]
    tic = time.perf_counter()
    files.loggers.start_epoch(epoch)
    progress = t.info.is_main and cfg.trainer.progress
    train = train_one_epoch(t.train_model, t.data.train, t.optimizer, ctx, t.data.train_sampler.num_real,
                            progress, desc=f"epoch {epoch + 1}/{cfg.trainer.epochs}")
    distributed.broadcast_buffers(t.model)  # evaluate (and save) rank 0's model on every rank
    # the validation predictions kept for val_predictions.csv are those of the weights best.pt holds
    raw_chosen = t.recipes.monitor == "val_acc"
    val = evaluate(t.model, t.data.val, t.device, len(t.data.classes), t.numerics.autocast_factory, progress,
                   keep_logits=raw_chosen)
    val_ema = t.recipes.evaluate_ema(evaluate, t.data.val, t.device, len(t.data.classes),
                                     t.numerics.autocast_factory, progress, keep_logits=not raw_chosen)
    logits = val["logits"] if raw_chosen else val_ema.pop("_logits")
    if cfg.sched.interval == "epoch":
        t.scheduler.step()
    return {
        "epoch": epoch + 1, "train_loss": train["loss"], "train_acc": train["acc"],
        "val_loss": val["loss"], "val_acc": val["acc"], "val_acc_balanced": val["acc_balanced"],
        "epoch_time_s": time.perf_counter() - tic, "train_time_s": train["seconds"],
        "val_time_s": val["seconds"], "train_data_wait_s": train["data_seconds"], "lr": lr,
        "train_images_per_s": train["n"] / max(train["seconds"], 1e-9),
        "n_train": train["n"], "n_val": val["n"], "_per_class": val["per_class_acc"], "_logits": logits,
        **t.recipes.train_columns(), **val_ema,
    }


def save_epoch(cfg: DictConfig, t: Training, progress: Progress, row: dict[str, Any], files: RunFiles) -> None:
    """Record the epoch: every rank's RNG state gathered, rank 0 writes checkpoints and metrics."""
    per_class, logits = row.pop("_per_class"), row.pop("_logits")
    progress.history.append(row)
    improved = row[t.recipes.monitor] > progress.best_acc  # val_acc, or val_acc_ema (trainer.ema.select)
    if improved:
        progress.best_acc, progress.best_epoch = row[t.recipes.monitor], row["epoch"]
        save_best_predictions(t, logits, row["epoch"], files.run_dir)  # every rank: a gather
    progress.done_epochs = row["epoch"]
    rngs = distributed.all_gather_object(checkpoint.rng_state())
    if not t.info.is_main:
        return
    state = {
        "format": checkpoint.FORMAT_VERSION, "epoch": row["epoch"], "model": t.model.state_dict(),
        "optimizer": t.optimizer.state_dict(), "scheduler": t.scheduler.state_dict(),
        "scaler": t.scaler.state_dict() if t.scaler is not None else None,
        "best_val_acc": progress.best_acc, "best_epoch": progress.best_epoch, "history": progress.history,
        "rng": rngs, "classes": t.data.classes, "config": OmegaConf.to_container(cfg, resolve=True),
        "split_digest": t.split_id, **t.recipes.state_dict(),
    }
    # best.pt before last.pt: a kill between the two leaves last.pt at the previous epoch, whose
    # resume repeats this epoch (exactly) and writes best.pt again; never a best.pt that lags last.pt
    folder = files.run_dir / "checkpoints"
    if improved:  # serialised once: last.pt is a copy of the file
        checkpoint.atomic_save(state, folder / "best.pt")
        checkpoint.crash_point("after_best_save", row["epoch"])
        checkpoint.atomic_copy(folder / "best.pt", folder / "last.pt", row["epoch"])
    else:
        checkpoint.atomic_save(state, folder / "last.pt")
    checkpoint.crash_point("after_last_save", row["epoch"])
    files.loggers.log_epoch(row, dict(zip(t.data.classes, per_class)))


def run_epochs(cfg: DictConfig, t: Training, progress: Progress, files: RunFiles) -> None:
    t.train_model, t.no_sync = wrap_for_training(t.model, cfg, t.info, t.device)
    ctx = step_context(cfg, t, files)
    if t.info.is_main:
        log.info(table_header())
    finished = False
    try:
        for epoch in range(progress.done_epochs, cfg.trainer.epochs):
            if t.recipes.early_stop(progress.history, files.run_dir, t.info.is_main):
                break
            row = run_epoch(cfg, t, ctx, epoch, files)
            check_epoch(row, t.scaler, row["lr"], t.numerics.name)  # a diverged epoch is never saved
            save_epoch(cfg, t, progress, row, files)
            if epoch + 1 < cfg.trainer.epochs and ctx.stop.now():
                raise preemption.StopRequested()  # last.pt already holds this epoch
        finished = True
        files.loggers.log_artifacts()
    finally:  # a stopped run keeps the steps it logged; its tracker runs are continued on resume
        files.loggers.close(finished)


def fit(cfg: DictConfig, run_dir: Path) -> float:
    """Train as configured; return the best validation accuracy (percent)."""
    info, device = start_process(cfg, run_dir)
    with run_folder_locked(run_dir):  # a second run on the same folder is refused, naming this one
        if info.is_main:
            checkpoint.clean_temporary_files(run_dir / "checkpoints")  # left by a run killed mid-save
        return fit_locked(cfg, run_dir, info, device)


def fit_locked(cfg: DictConfig, run_dir: Path, info: distributed.DistInfo, device: torch.device) -> float:
    resume = resume_path(cfg, run_dir)  # before any work: trainer.resume=null never replaces an earlier run
    t = set_up(cfg, info, device)
    t.recipes = build_recipes(cfg, t.model, t.data.classes, device)
    progress = restore(t, cfg, resume) if resume is not None else Progress()
    if info.is_main and resume is not None:
        repair_best(run_dir / "checkpoints", progress.best_epoch)
    files = open_run_files(cfg, t, progress, run_dir)
    if info.is_main:
        log.info(describe(cfg, t, run_dir))
        if resume is not None:
            log.info(f"resumed from {resume} after epoch {progress.done_epochs}")
    if progress.done_epochs >= cfg.trainer.epochs:
        if info.is_main:
            log.info(f"nothing to do: {progress.done_epochs} of {cfg.trainer.epochs} epochs already finished")
        files.loggers.close(True)
        return progress.best_acc
    run_epochs(cfg, t, progress, files)
    if info.is_main:
        log.info(f"best {t.recipes.monitor.replace('_', ' ')} {progress.best_acc:.2f}% at epoch {progress.best_epoch}; "
                 f"metrics in {run_dir / 'metrics.csv'}")
    return progress.best_acc
