"""What the README promises about training, checked without starting a training process.

The learning-rate schedule against its formula (warm-up, cosine, ``min_lr``, ``interval``) and
its continuation after a resume with another process count; label smoothing against its
formula; validation over several batches per rank with an odd image count; resume refusals
and ``trainer.resume=null`` in a folder that holds a run. (test_walkthrough.py: the rest.)
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from artgenre.data.loading.sampler import EvalShardSampler
from artgenre.errors import CheckpointError
from artgenre.rundir import checkpoint
from artgenre.runtime.distributed import DistInfo
from artgenre.training import fit, resume
from artgenre.training.engine import StepContext, evaluate, train_one_epoch
from artgenre.training.optim import build_scheduler
from trap_archive import config

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- schedules


def sched_cfg(**kw):
    return OmegaConf.create({"name": "cosine", "warmup_epochs": 2.0, "min_lr": 0.01, "interval": "step", **kw})


def lrs(cfg, epochs: int, steps: int, base: float = 1.0) -> list[float]:
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=base)
    sched = build_scheduler(opt, cfg, epochs, steps)
    out = []
    for _ in range(epochs * steps if cfg.interval == "step" else epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def expected_lr(t: int, total: int, warmup: int, base: float, min_lr: float) -> float:
    """The documented schedule: linear warm-up to ``base``, then cosine from ``base`` down to ``min_lr``."""
    if t < warmup:
        return base * (t + 1) / (warmup + 1)
    progress = (t - warmup) / max(1, total - warmup)
    return min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize("interval, units", [("step", 5), ("epoch", 1)])
def test_cosine_schedule_follows_its_formula(interval: str, units: int) -> None:
    base, epochs = 0.5, 6
    got = lrs(sched_cfg(interval=interval), epochs, 5, base)
    total, warmup = epochs * units, 2 * units
    assert len(got) == total
    assert got == pytest.approx([expected_lr(t, total, warmup, base, 0.01) for t in range(total)], rel=1e-9)
    assert got[warmup] == pytest.approx(base) and max(got) == pytest.approx(base)  # warm-up ends at the full rate
    assert all(a < b for a, b in zip(got[:warmup], got[1 : warmup + 1])), "rising during warm-up"
    assert all(a >= b for a, b in zip(got[warmup:], got[warmup + 1 :])), "falling after it"
    assert got[-1] > 0.01 and got[-1] == pytest.approx(expected_lr(total - 1, total, warmup, base, 0.01))


def test_constant_schedule_keeps_the_rate() -> None:
    assert set(lrs(sched_cfg(name="constant", warmup_epochs=0.0, min_lr=0.0), 3, 4, 0.3)) == {0.3}


@pytest.mark.parametrize("interval", ["step", "epoch"])
@pytest.mark.parametrize("old_steps, new_steps", [(6, 3), (3, 6), (4, 4)])  # 1 -> 2 processes, 2 -> 1, same
def test_a_resumed_schedule_continues_at_the_same_point_of_the_training(interval, old_steps, new_steps) -> None:
    """After 3 of 6 epochs the resumed run's rates equal an uninterrupted run's with the new steps per epoch."""
    cfg, epochs, done = sched_cfg(interval=interval), 6, 3
    # the stopped run: `done` epochs of `old_steps`, its scheduler state saved
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_scheduler(opt, cfg, epochs, old_steps)
    for _ in range(done * (old_steps if interval == "step" else 1)):
        opt.step()
        sched.step()
    state = sched.state_dict()
    # the resumed run: new steps per epoch, the saved state loaded, then placed
    opt2 = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = build_scheduler(opt2, cfg, epochs, new_steps)
    sched2.load_state_dict(state)
    resume.continue_schedule(sched2, done, new_steps, interval)
    rest = []
    for _ in range((epochs - done) * (new_steps if interval == "step" else 1)):
        rest.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    uninterrupted = lrs(cfg, epochs, new_steps)
    assert rest == pytest.approx(uninterrupted[len(uninterrupted) - len(rest):], rel=1e-12)
    assert rest[0] < 1.0, "not the start of the schedule (warm-up or full rate) again"


def tiny_training(cfg, steps_per_epoch: int, world_size: int, rank: int = 0) -> SimpleNamespace:
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.optim.lr)
    sched = build_scheduler(opt, cfg.sched, cfg.trainer.epochs, steps_per_epoch)
    return SimpleNamespace(model=model, optimizer=opt, scheduler=sched,
                           scaler=None, recipes=None, steps_per_epoch=steps_per_epoch, split_id="split-1",
                           info=DistInfo(rank, world_size, rank))


def saved_checkpoint(tmp_path: Path, cfg, t: SimpleNamespace, epoch: int, world_size: int) -> Path:
    for _ in range(epoch * t.steps_per_epoch):
        t.optimizer.step()
        t.scheduler.step()
    rngs = []
    for r in range(world_size):
        torch.manual_seed(100 + r)
        rngs.append(checkpoint.rng_state())
    state = {"format": checkpoint.FORMAT_VERSION, "epoch": epoch, "model": t.model.state_dict(),
             "optimizer": t.optimizer.state_dict(), "scheduler": t.scheduler.state_dict(), "scaler": None,
             "best_val_acc": 50.0, "best_epoch": 1, "history": [{"epoch": 1}, {"epoch": 2}], "rng": rngs,
             "classes": ["a", "b", "c"], "config": OmegaConf.to_container(cfg, resolve=True), "split_digest": "split-1"}
    path = tmp_path / "last.pt"
    checkpoint.atomic_save(state, path)
    return path


def test_restore_places_the_cosine_schedule_for_another_process_count(tmp_path: Path) -> None:
    """Saved by 1 process (8 steps per epoch), resumed by rank 1 of 2 (4 steps): the rate is the
    uninterrupted 2-process run's at the start of epoch 3; rank 1 gets no RNG state of another count."""
    cfg = config("sched=cosine", "sched.warmup_epochs=1", "sched.min_lr=1e-5", "trainer.epochs=6")
    path = saved_checkpoint(tmp_path, cfg, tiny_training(cfg, 8, 1), epoch=2, world_size=1)
    t = tiny_training(cfg, 4, 2, rank=1)
    torch.manual_seed(7)
    before = torch.rand(1)
    torch.manual_seed(7)
    progress = resume.restore(t, cfg, path)
    assert (progress.done_epochs, progress.best_acc, progress.best_epoch) == (2, 50.0, 1)
    assert len(progress.history) == 2
    base = cfg.optim.lr
    uninterrupted = lrs(cfg.sched, 6, 4, base)
    assert uninterrupted[2 * 4] != pytest.approx(base) and uninterrupted[2 * 4] != pytest.approx(uninterrupted[0])
    rest = []
    for _ in range(4 * 4):  # the resumed run's steps: the rate at each equals the uninterrupted run's
        rest.append(t.optimizer.param_groups[0]["lr"])
        t.optimizer.step()
        t.scheduler.step()
    assert rest == pytest.approx(uninterrupted[2 * 4:], rel=1e-9)
    assert torch.rand(1) == before, "another world size: the saved RNG states are not applied"


def test_restore_takes_this_ranks_rng_state(tmp_path: Path) -> None:
    cfg = config("sched=cosine", "sched.warmup_epochs=1", "trainer.epochs=6")
    path = saved_checkpoint(tmp_path, cfg, tiny_training(cfg, 4, 2), epoch=1, world_size=2)
    torch.manual_seed(101)
    expected = torch.rand(3)
    t = tiny_training(cfg, 4, 2, rank=1)
    resume.restore(t, cfg, path)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("override", ["data.image_size=48", "trainer.seed=10", "model.depth=2"])
def test_resume_refuses_a_changed_image_size_seed_or_model(tmp_path: Path, override: str) -> None:
    tiny = ["model=vit_scratch", "model.embed_dim=32", "model.depth=1", "model.num_heads=2", "model.patch_size=8",
            "data.image_size=32"]
    key = override.split("=")[0]
    with pytest.raises(CheckpointError, match=rf"{key.split('.')[0]}.*hydra.run.dir"):
        resume.check_compatible(config(*tiny), config(*tiny, override), tmp_path / "last.pt")
    resume.check_compatible(config(*tiny), config(*tiny), tmp_path / "last.pt")  # same settings: accepted


def test_resume_setting_auto_path_and_null(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert resume.resume_path(config("trainer.resume=auto"), run) is None  # nothing to continue yet
    assert resume.resume_path(config("trainer.resume=null"), run) is None  # an empty folder: start
    (run / "checkpoints" / "last.pt").write_bytes(b"x")
    assert resume.resume_path(config("trainer.resume=auto"), run) == run / "checkpoints" / "last.pt"
    other = tmp_path / "other.pt"
    other.write_bytes(b"x")
    assert resume.resume_path(config(f"trainer.resume={other}"), run) == other
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        resume.resume_path(config(f"trainer.resume={tmp_path / 'missing.pt'}"), run)


@pytest.mark.parametrize("leftover", ["checkpoints/last.pt", "metrics.csv"])
def test_resume_null_in_a_folder_with_a_run_refuses_and_keeps_it(tmp_path: Path, leftover: str) -> None:
    (tmp_path / leftover).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / leftover).write_text("earlier run")
    with pytest.raises(CheckpointError, match=r"trainer.resume=null.*already holds a run.*trainer.resume=auto"):
        resume.resume_path(config("trainer.resume=null"), tmp_path)
    assert (tmp_path / leftover).read_text() == "earlier run"


# ---------------------------------------------------------------- the training step and validation


class Fixed(nn.Module):
    """Logits given per sample: the loss is then a known function of them."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = nn.Parameter(logits.clone())

    def forward(self, index: torch.Tensor) -> torch.Tensor:
        return self.logits[index.long().view(-1)]


@pytest.mark.parametrize("eps", [0.0, 0.1, 0.3])
def test_label_smoothing_loss_is_its_formula(eps: float) -> None:
    """(1 - eps) * CE(y) + eps * mean over classes of -log p_k, averaged over the images."""
    torch.manual_seed(0)
    logits = torch.randn(10, 5) * 3
    labels = torch.randint(0, 5, (10,))
    model = Fixed(logits)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    batches = [(torch.arange(0, 6), labels[:6]), (torch.arange(6, 10), labels[6:])]
    ctx = StepContext(device=torch.device("cpu"), autocast=contextlib.nullcontext, scaler=None, label_smoothing=eps)
    result = train_one_epoch(model, batches, opt, ctx, num_real=10)
    logp = torch.log_softmax(logits.double(), dim=1)
    per_image = -(1 - eps) * logp[torch.arange(10), labels] - eps * logp.mean(dim=1)
    assert result["loss"] == pytest.approx(per_image.mean().item(), rel=1e-6)
    assert result["n"] == 10


def test_step_context_takes_the_configured_label_smoothing() -> None:
    cfg = config("trainer.label_smoothing=0.15", "sched=cosine", "sched.interval=step")
    t = SimpleNamespace(device=torch.device("cpu"), numerics=SimpleNamespace(autocast_factory=None), scaler=None,
                        scheduler="the scheduler", info=DistInfo(), no_sync=None, model=nn.Linear(2, 2),
                        data=SimpleNamespace(train_labels=[0, 1], classes=["a", "b"]))
    t.recipes = SimpleNamespace(batch=None, ema=None)  # no mixing, no weight average
    ctx = fit.step_context(cfg, t, fit.RunFiles(Path("."), SimpleNamespace(wants_steps=False)))
    assert ctx.label_smoothing == 0.15 and ctx.step_scheduler == "the scheduler"


def shard_loaders(x: torch.Tensor, y: torch.Tensor, world: int, batch_size: int) -> list[DataLoader]:
    ds = TensorDataset(x, y)
    return [DataLoader(ds, batch_size=batch_size, sampler=EvalShardSampler(len(ds), r, world)) for r in range(world)]


@pytest.mark.parametrize("world", [1, 2, 3])
def test_validation_counts_every_image_with_several_short_batches_per_rank(world: int) -> None:
    """23 images (odd), batches of 4: several batches per rank, each rank's last one short."""
    torch.manual_seed(1)
    n, classes = 23, 4
    logits = torch.randn(n, classes)
    labels = torch.randint(0, classes, (n,))
    model = Fixed(logits)
    results = [evaluate(model, loader, torch.device("cpu"), classes)
               for loader in shard_loaders(torch.arange(n), labels, world, 4)]
    assert all(len(loader) >= 2 for loader in shard_loaders(torch.arange(n), labels, world, 4))
    assert sum(r["n"] for r in results) == n
    correct = sum(r["acc"] * r["n"] / 100 for r in results)
    assert correct == pytest.approx((logits.argmax(1) == labels).sum().item())
    loss = sum(r["loss"] * r["n"] for r in results) / n
    assert loss == pytest.approx(F.cross_entropy(logits, labels).item(), rel=1e-6)
