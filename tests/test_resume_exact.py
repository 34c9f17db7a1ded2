"""Exact resume: a run stopped by a signal and started again ends exactly where an uninterrupted run ends.

Same metrics.csv (every column but the timings) and bit-identical final weights and
optimizer state, for one process (SIGUSR1, as Slurm's warning) and for two under torchrun
(SIGTERM to torchrun, which passes it to its workers: what the job scripts do on SIGUSR1).
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from artgenre.rundir import checkpoint
from artgenre.runtime import preemption

from conftest import TINY, VENV_BIN, run_cli

EPOCHS = 12
TIME_COLUMNS = {"epoch_time_s", "train_time_s", "val_time_s", "train_data_wait_s", "train_images_per_s"}


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open() as f:
        return list(csv.DictReader(f))


def without_timings(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIME_COLUMNS} for row in rows]


def start(args: list[str], cwd: Path, nproc: int, log: Path) -> subprocess.Popen:
    if nproc > 1:
        cmd = [str(VENV_BIN / "torchrun"), "--standalone", f"--nproc_per_node={nproc}", "-m", "artgenre.train"]
    else:
        cmd = [sys.executable, "-m", "artgenre.train"]
    with log.open("w") as out:
        return subprocess.Popen(cmd + args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "OMP_NUM_THREADS": "1"})


def stop_after_two_epochs(proc: subprocess.Popen, run_dir: Path, sig: signal.Signals, log: Path) -> int:
    """Signal ``proc`` once two epochs are logged; its exit status."""
    deadline = time.monotonic() + 240
    while len(read_rows(run_dir / "metrics.csv")) < 2:
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    proc.send_signal(sig)
    return proc.wait(timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("nproc, extra", [
    # a cosine schedule with warm-up, per step and per epoch: a restarted schedule would change every row
    (1, ["sched=cosine", "sched.warmup_epochs=3", "sched.min_lr=1e-5"]),
    # a loader worker per rank (torchrun's SIGTERM reaches it too); the ranks' stop check every
    # 2 of an epoch's 3 steps, so that they agree to stop mid-epoch
    (2, ["trainer.num_workers=1", "trainer.stop_check_every=2", "sched=cosine", "sched.interval=epoch"]),
    (1, ["trainer.num_workers=1", "data.augment=basic"]),  # random augmentation in loader workers
], ids=["1proc", "2proc-workers", "augment-in-workers"])
def test_stopped_and_resumed_run_equals_the_uninterrupted_one(
    synthetic_root: Path, tmp_path: Path, nproc: int, extra: list[str]
) -> None:
    args = [*TINY, f"data.root={synthetic_root}", f"trainer.epochs={EPOCHS}", "trainer.deterministic=true", *extra]
    reference = run_cli([*args, "hydra.run.dir=reference"], cwd=tmp_path, nproc=nproc)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run_dir, log = tmp_path / "stopped", tmp_path / "stopped.log"
    sig = signal.SIGUSR1 if nproc == 1 else signal.SIGTERM
    status = stop_after_two_epochs(start([*args, "hydra.run.dir=stopped"], tmp_path, nproc, log), run_dir, sig, log)
    text = log.read_text()
    assert "stopped on" in text and "Traceback" not in text.split("stopped on")[0], text[-3000:]
    if nproc == 1:
        assert status == preemption.EXIT_CODE, text[-3000:]
    else:
        assert status != 0, "torchrun reports its workers' stop as a failure"
    done = checkpoint.load(run_dir / "checkpoints" / "last.pt")["epoch"]
    assert 2 <= done < EPOCHS, "stopped after a finished epoch, before the end"
    assert len(read_rows(run_dir / "metrics.csv")) == done, "no row for the interrupted epoch"

    resumed = run_cli([*args, "hydra.run.dir=stopped"], cwd=tmp_path, nproc=nproc)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"after epoch {done}" in resumed.stdout + resumed.stderr

    expected = without_timings(read_rows(tmp_path / "reference" / "metrics.csv"))
    assert without_timings(read_rows(run_dir / "metrics.csv")) == expected
    final = checkpoint.load(run_dir / "checkpoints" / "last.pt")
    ref = checkpoint.load(tmp_path / "reference" / "checkpoints" / "last.pt")
    assert final["epoch"] == ref["epoch"] == EPOCHS
    for name, tensor in ref["model"].items():
        assert torch.equal(final["model"][name], tensor), name
    for slot, state in ref["optimizer"]["state"].items():
        for key, value in state.items():
            assert torch.equal(torch.as_tensor(final["optimizer"]["state"][slot][key]), torch.as_tensor(value)), key


def test_a_stop_signal_only_sets_the_flag_and_earlier_handlers_still_run() -> None:
    seen: list[int] = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        with preemption.stop_signals():
            assert not preemption.requested()
            signal.raise_signal(signal.SIGUSR1)
            signal.raise_signal(signal.SIGTERM)
            assert preemption.requested() and preemption.received_name() == "SIGUSR1"
            assert seen == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL, "handlers restored"
    finally:
        signal.signal(signal.SIGTERM, before)


def test_ranks_check_every_n_steps_one_process_every_step() -> None:
    several, one = preemption.StopCheck(world_size=2, every=3), preemption.StopCheck(world_size=1, every=3)
    with preemption.stop_signals():
        signal.raise_signal(signal.SIGUSR1)
        assert [several.after_step(step) for step in range(6)] == [False, False, True, False, False, True]
        assert all(one.after_step(step) for step in range(6))
