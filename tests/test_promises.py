"""What the README promises, checked without starting a training process.

The learning-rate schedule against its formula (warm-up, cosine, ``min_lr``, ``interval``) and
its continuation after a resume with another process count; label smoothing against its
formula; validation over several batches per rank with an odd image count; resume refusals;
the run-folder and error conventions the newcomer's walk-through asked for.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from artgenre import launch
from artgenre.data.loading.sampler import EvalShardSampler
from artgenre.errors import CheckpointError, ConfigError, DataError, ReadError
from artgenre.rundir import checkpoint
from artgenre.rundir.confusion import write_confusion_csv
from artgenre.rundir.metrics import COLUMNS, MetricsCSV, PerClassCSV
from artgenre.runtime.device import resolve_device
from artgenre.runtime.distributed import DistInfo
from artgenre.training import fit, resume
from artgenre.training.engine import StepContext, evaluate, train_one_epoch
from artgenre.training.optim import build_scheduler
from trap_archive import config, jpeg

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
                           scaler=None, steps_per_epoch=steps_per_epoch, split_id="split-1",
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
    ctx = fit.step_context(cfg, t, fit.RunFiles(Path("."), None, None))
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


# ---------------------------------------------------------------- the newcomer's findings


def test_more_processes_than_gpus_is_one_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for name in ("auto", "cuda"):
        with pytest.raises(ConfigError, match=r"2 processes on this node but 1 GPU.*nproc_per_node=1.*device=cpu"):
            resolve_device(name, local_rank=1, processes=2)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="2 processes"):
        resolve_device("auto", local_rank=0)
    assert resolve_device("cpu", local_rank=1) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)


def test_the_demo_trains_on_the_cpu_whatever_gpus_the_machine_has() -> None:
    cfg = config("experiment=demo")
    assert cfg.trainer.device == "cpu"
    assert resolve_device(cfg.trainer.device, local_rank=1, processes=2) == torch.device("cpu")


def run_guarded(error: Exception, rank: int, monkeypatch: pytest.MonkeyPatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("RANK", str(rank))
    monkeypatch.setenv("WORLD_SIZE", "2")

    def fail() -> None:
        raise error

    with pytest.raises(SystemExit) as stop:
        launch.guarded(fail)()
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("error", [ConfigError("bad value"), DataError("no images"), CheckpointError("old run")])
def test_an_error_every_rank_meets_is_printed_once(error, monkeypatch, capsys) -> None:
    assert run_guarded(error, 0, monkeypatch, capsys) == (2, f"error: {error}\n")
    assert run_guarded(error, 1, monkeypatch, capsys) == (2, "")


def test_an_unreadable_file_of_one_ranks_shard_is_said_by_that_rank(monkeypatch, capsys) -> None:
    error = ReadError("cannot read image x.jpg")
    assert run_guarded(error, 1, monkeypatch, capsys) == (2, "error (rank 1): cannot read image x.jpg\n")


def test_a_failure_at_start_reaches_the_run_log(tmp_path: Path, monkeypatch, capsys) -> None:
    log_file = tmp_path / "train.log"
    handler = logging.FileHandler(log_file)
    logging.getLogger().addHandler(handler)
    try:
        code, err = run_guarded(DataError("data.root /nowhere does not exist"), 0, monkeypatch, capsys)
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    assert code == 2 and err == "error: data.root /nowhere does not exist\n"
    assert "error: data.root /nowhere does not exist" in log_file.read_text()


def test_the_summary_does_not_claim_a_compiled_model() -> None:
    note = fit.compile_note(config("trainer.compile=true"))
    assert not note.endswith("| compiled") and note != " | compiled"  # what it said before compiling
    assert "eager, with a warning, if that fails" in note
    assert fit.compile_note(config()) == ""


def test_every_csv_a_run_writes_ends_lines_with_lf(tmp_path: Path) -> None:
    metrics = MetricsCSV(tmp_path / "metrics.csv")
    row = {c: 1 for c in COLUMNS}
    metrics.rewrite([row])
    metrics.append(row)
    per_class = PerClassCSV(tmp_path / "per_class.csv", ["a", "b"])
    per_class.start(0)
    per_class.append(1, [50.0, 25.0])
    write_confusion_csv(tmp_path / "confusion.csv", np.eye(2, dtype=int), ["a", "b"])
    from artgenre.evaluation.tables import write_csv
    from artgenre.rundir.split import write_split_csv
    write_csv(tmp_path / "table.csv", ["x", "y"], [[1, 2]])
    rec = SimpleNamespace(path="a/1.jpg", artist="A", label=0, class_name="a")
    write_split_csv(tmp_path / "split.csv", [rec], ["val"])
    for path in tmp_path.glob("*.csv"):
        data = path.read_bytes()
        assert b"\r\n" not in data and data.endswith(b"\n"), path.name


def test_readme_lists_every_metrics_column_and_greene_names_sigusr2() -> None:
    readme = (REPO / "README.md").read_text() + (REPO / "docs" / "runs.md").read_text()
    for column in COLUMNS:
        assert f"`{column}`" in readme or f" {column}," in readme or f"{column}`" in readme, column
    greene = (REPO / "src/artgenre/conf/hydra/launcher/greene.yaml").read_text()
    assert "SIGUSR2" in greene and "SIGUSR1" not in greene


def test_the_split_does_not_depend_on_the_order_the_file_system_lists(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "mine"
    for k, cls in enumerate(("cats", "dogs", "owls")):
        (root / cls).mkdir(parents=True)
        for i in range(7):
            (root / cls / f"{i}.jpg").write_bytes(jpeg(100 * k + i))
    from artgenre.training.data import prepare_manifest
    first = prepare_manifest(config("data=folder", f"data.root={root}", f"data.cache_dir={tmp_path / 'c1'}"))
    real_walk = os.walk

    def reversed_walk(top, *args, **kwargs):
        for dirpath, dirnames, filenames in real_walk(top, *args, **kwargs):
            dirnames.reverse()
            yield dirpath, dirnames, list(reversed(filenames))

    monkeypatch.setattr(os, "walk", reversed_walk)
    second = prepare_manifest(config("data=folder", f"data.root={root}", f"data.cache_dir={tmp_path / 'c2'}"))
    assert [r.path for r in first.image_set().records] == [r.path for r in second.image_set().records]
    assert first.split == second.split and "val" in first.split


def test_report_every_n_epochs_on_a_run_longer_than_ten() -> None:
    from artgenre.evaluation.tables import report_epochs, study_table
    from artgenre.rundir.runs import Run
    long = Run(Path("long"), [{"epoch": e, "val_acc": float(e)} for e in range(1, 26)])
    short = Run(Path("short"), [{"epoch": e, "val_acc": 100.0 - e} for e in range(1, 13)])
    assert report_epochs([long, short], 10) == [10, 20]
    assert report_epochs([long], 5) == [5, 10, 15, 20, 25]
    assert study_table([long, short], "val_acc", [10, 20]) == [[10.0, 90.0], [20.0, None]]


class _Payload:
    """Unpickling this touches a file: code that a checkpoint must never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_checkpoint_is_read_without_running_its_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    torch.save({"epoch": 1, "model": {}, "x": _Payload(marker)}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        checkpoint.load(tmp_path / "evil.pt")
    assert not marker.exists()


def test_the_multinode_port_formula() -> None:
    """10000 + job id mod 20000: two jobs sharing a node (ids apart by less than 20000) never clash."""
    import re
    import subprocess

    text = (REPO / "scripts" / "slurm" / "common.sh").read_text()
    function = re.search(r"artgenre_port\(\) \{.*?\n\}", text, re.S).group(0)
    for job, port in (("123457", 13457), ("7", 10007), ("40000", 10000), ("59999", 29999)):
        out = subprocess.run(["bash", "-c", f"{function}\nartgenre_port"], capture_output=True, text=True,
                             env={"SLURM_JOB_ID": job, "PATH": os.environ.get("PATH", "")}, timeout=30)
        assert out.stdout.strip() == str(port), job
    multinode = (REPO / "scripts" / "slurm" / "train_multinode.sbatch").read_text()
    assert '--rdzv_endpoint="$head_node:$(artgenre_port)"' in multinode


def test_switching_data_source_back_and_forth_decodes_nothing_again(tmp_path: Path) -> None:
    from trap_archive import make_archive
    from artgenre.training.data import prepare_manifest

    root = make_archive(tmp_path / "best-artworks")
    cache = f"data.cache_dir={tmp_path / 'cache'}"
    images = prepare_manifest(config(f"data.root={root}", "data.artists=all", cache))
    resized = prepare_manifest(config(f"data.root={root}", "data.artists=all", "data.source=resized", cache))
    assert images.decoded > 0 and resized.decoded > 0
    again = prepare_manifest(config(f"data.root={root}", "data.artists=all", cache))
    back = prepare_manifest(config(f"data.root={root}", "data.artists=all", "data.source=resized", cache))
    assert (again.decoded, back.decoded) == (0, 0)
    assert [r.path for r in again.records] == [r.path for r in images.records]


@pytest.mark.parametrize("augment, persistent", [("none", True), ("basic", False), ("strong", False)])
def test_loader_workers_persist_only_without_random_augmentation(augment, persistent, monkeypatch) -> None:
    from artgenre.training import setup

    class Tiny(torch.utils.data.Dataset):
        labels = [0, 1, 0, 1]

        def __len__(self) -> int:
            return 4

        def __getitem__(self, i):
            return torch.zeros(8, 8, 3, dtype=torch.uint8), self.labels[i]

    monkeypatch.setattr(setup, "open_datasets", lambda *args: (Tiny(), Tiny()))
    cfg = config(f"data.augment={augment}", "trainer.num_workers=1")
    image_set = SimpleNamespace(classes=["a", "b"])
    data = setup.build_loaders(cfg, DistInfo(), image_set, [], (0.5,) * 3, (0.5,) * 3, torch.device("cpu"))
    assert data.train.loader.persistent_workers is persistent
    assert data.val.loader.persistent_workers is persistent


@pytest.mark.parametrize("size", [224, 256, 384])
def test_the_readme_says_how_to_fetch_the_vit_weights_every_size_wants(size: int) -> None:
    from artgenre.models.vit import vit_b16_arch

    readme = (REPO / "README.md").read_text()
    assert f"timm.create_model('{vit_b16_arch(size)}', pretrained=True)" in readme


@pytest.mark.parametrize("gpus, backend", [(1, "gloo"), (2, "cpu:gloo,cuda:nccl")])
def test_two_ranks_on_a_one_gpu_machine_join_over_gloo_and_claim_no_gpu(gpus, backend, monkeypatch) -> None:
    import torch.distributed as dist
    from artgenre.runtime import distributed

    calls: dict[str, object] = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: calls.setdefault("device", d))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda backend, timeout: calls.setdefault("backend", backend))
    for key, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2"}.items():
        monkeypatch.setenv(key, value)
    distributed.init()
    assert calls["backend"] == backend
    assert ("device" in calls) == (gpus == 2)
