"""Real training runs on the synthetic set: one process, two processes under torchrun, resume."""

from __future__ import annotations

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from artgenre.rundir import checkpoint
from artgenre.runtime.distributed import DistInfo
from artgenre.training.engine import evaluate
from artgenre.rundir.metrics import COLUMNS
from artgenre.models import build_model, normalization
from artgenre.training.data import index_data
from artgenre.training.setup import build_loaders, model_options

from conftest import TINY, run_cli

pytestmark = pytest.mark.slow

# The 2-process run: batches of 4 and 21 validation images (odd), so each rank validates several
# batches and its last one is short (11 = 4 + 4 + 3 and 10 = 4 + 4 + 2).
DDP = [*TINY, "trainer.batch_size=4", "data.val_fraction=0.2"]


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def ddp_run(synthetic_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-process torchrun (gloo, CPU) of 3 epochs; the run directory it wrote."""
    work = tmp_path_factory.mktemp("ddp")
    ok(run_cli([*DDP, f"data.root={synthetic_root}", "trainer.epochs=3", "hydra.run.dir=run"], cwd=work, nproc=2))
    return work / "run"


def single_process_val_acc(run_dir: Path, ckpt: Path) -> tuple[float, int]:
    """Evaluate a checkpoint's weights on the run's validation split in this one process."""
    state = checkpoint.load(ckpt)
    cfg = OmegaConf.create(state["config"])
    one = DistInfo(rank=0, world_size=1, local_rank=0)
    image_set, split = index_data(cfg)
    model = build_model(cfg.model.name, len(image_set.classes), cfg.data.image_size, **model_options(cfg))
    model.load_state_dict(state["model"])
    data = build_loaders(cfg, one, image_set, split, *normalization(model), torch.device("cpu"))
    result = evaluate(model, data.val, torch.device("cpu"), len(image_set.classes))
    return result["acc"], result["n"]


def test_ddp_run_writes_metrics_split_and_checkpoints(ddp_run: Path) -> None:
    rows = read_rows(ddp_run / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert list(rows[0]) == COLUMNS
    split = read_rows(ddp_run / "split.csv")
    n_val = sum(r["split"] == "val" for r in split)
    n_train = sum(r["split"] == "train" for r in split)
    assert {int(r["n_val"]) for r in rows} == {n_val}, "every validation image evaluated exactly once"
    assert {int(r["n_train"]) for r in rows} == {n_train}
    assert len({r["label"] for r in split if r["split"] == "val"}) == 10
    assert n_val % 2 == 1 and n_val // 2 > 2 * 4, "several validation batches per rank, a short last one"
    for r in rows:
        assert 0 <= float(r["val_acc"]) <= 100 and float(r["train_loss"]) > 0 and float(r["epoch_time_s"]) > 0
        # exact counts: the accuracy is a whole number of images out of n_val
        assert abs(float(r["val_acc"]) * n_val / 100 - round(float(r["val_acc"]) * n_val / 100)) < 1e-6
    assert (ddp_run / "checkpoints" / "last.pt").is_file() and (ddp_run / "checkpoints" / "best.pt").is_file()
    assert (ddp_run / ".hydra" / "config.yaml").is_file()
    assert not list((ddp_run / "checkpoints").glob(".*")), "no temporary files left behind"


def test_ddp_val_accuracy_equals_single_process_evaluation(ddp_run: Path) -> None:
    rows = read_rows(ddp_run / "metrics.csv")
    acc, n = single_process_val_acc(ddp_run, ddp_run / "checkpoints" / "last.pt")
    assert n == int(rows[-1]["n_val"])
    assert acc == pytest.approx(float(rows[-1]["val_acc"]), abs=1e-9)
    best = checkpoint.load(ddp_run / "checkpoints" / "best.pt")
    assert best["best_val_acc"] == max(float(r["val_acc"]) for r in rows)


def test_checkpoint_holds_what_resume_needs(ddp_run: Path) -> None:
    state = checkpoint.load(ddp_run / "checkpoints" / "last.pt")
    assert state["epoch"] == 3 and len(state["history"]) == 3 and len(state["rng"]) == 2
    assert {"model", "optimizer", "scheduler", "config", "best_val_acc", "classes"} <= set(state)
    assert state["config"]["model"]["name"] == "vit_scratch"


def test_resume_after_a_killed_run_has_no_duplicate_rows(synthetic_root: Path, tmp_path: Path) -> None:
    args = [*TINY, f"data.root={synthetic_root}", "hydra.run.dir=run"]
    proc = subprocess.Popen([sys.executable, "-m", "artgenre.train", *args, "trainer.epochs=30"], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    metrics = tmp_path / "run" / "metrics.csv"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file() and len(read_rows(metrics)) >= 2:
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: as a node failure would
    proc.wait()
    done = len(read_rows(metrics))
    assert 2 <= done < 30

    # the metrics file may lag the checkpoint: a kill between the two writes loses no epoch
    last = checkpoint.load(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"]
    assert last >= done

    ok(run_cli([*args, f"trainer.epochs={last + 2}"], cwd=tmp_path))
    epochs = [int(r["epoch"]) for r in read_rows(metrics)]
    assert epochs == list(range(1, last + 3))


def test_lagging_metrics_file_is_rebuilt_from_the_checkpoint(ddp_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(ddp_run, run)
    rows = read_rows(run / "metrics.csv")
    with (run / "metrics.csv").open("w", newline="") as f:  # as if killed before the last row was written
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows[:1])
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    result = ok(run_cli([*DDP, f"data.root={cfg.data.root}", "trainer.epochs=3", "hydra.run.dir=run"], cwd=tmp_path))
    assert "nothing to do" in result.stdout + result.stderr
    assert [r["val_acc"] for r in read_rows(run / "metrics.csv")] == [r["val_acc"] for r in rows]


def test_resume_refuses_an_incompatible_checkpoint(ddp_run: Path, tmp_path: Path) -> None:
    import shutil

    shutil.copytree(ddp_run, tmp_path / "run")
    cfg = OmegaConf.load(tmp_path / "run" / ".hydra" / "config.yaml")
    result = run_cli([*DDP, f"data.root={cfg.data.root}", "model.depth=2", "hydra.run.dir=run"], cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot resume" in result.stderr and "model" in result.stderr and "Traceback" not in result.stderr


def test_missing_data_root_is_one_clear_message(tmp_path: Path) -> None:
    result = run_cli(["data=best_artworks", f"data.root={tmp_path / 'nowhere'}"], cwd=tmp_path)
    assert result.returncode == 2
    assert "data/README.md" in result.stderr and "Traceback" not in result.stderr
    logs = list((tmp_path / "outputs").glob("*/*/train.log"))
    assert len(logs) == 1 and "error:" in logs[0].read_text() and "data/README.md" in logs[0].read_text(), \
        "the run folder says why it is empty"


def test_unreadable_image_is_excluded_and_named(synthetic_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "broken"
    shutil.copytree(synthetic_root, root)
    victim = sorted((root / "images" / "images" / "Pablo_Picasso").glob("*.jpg"))[3]
    victim.write_bytes(b"not a jpeg")
    result = ok(run_cli([*TINY, f"data.root={root}", "trainer.epochs=1", "trainer.num_workers=1", "hydra.run.dir=run"],
                        cwd=tmp_path))
    assert f"{victim.name}: not an image" in result.stdout + result.stderr
    assert victim.name not in (tmp_path / "run" / "split.csv").read_text()


def test_ddp_with_batchnorm_evaluates_rank_0s_model(synthetic_root: Path, tmp_path: Path) -> None:
    """BatchNorm statistics differ per rank after the last step; validation must use rank 0's (the saved ones)."""
    args = [*TINY[:3], "model=timm", "model.arch=resnet18", "trainer.batch_size=8", "trainer.num_workers=0",
            "trainer.progress=false", f"data.root={synthetic_root}", "trainer.epochs=1", "hydra.run.dir=run"]
    ok(run_cli(args, cwd=tmp_path, nproc=2))
    rows = read_rows(tmp_path / "run" / "metrics.csv")
    acc, n = single_process_val_acc(tmp_path / "run", tmp_path / "run" / "checkpoints" / "last.pt")
    assert n == int(rows[-1]["n_val"]) and acc == pytest.approx(float(rows[-1]["val_acc"]), abs=1e-9)


def test_resume_refuses_when_the_split_changed(synthetic_root: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthetic_root, root)
    args = [*TINY, f"data.root={root}", "hydra.run.dir=run"]
    ok(run_cli([*args, "trainer.epochs=1"], cwd=tmp_path))
    folder = root / "images" / "images" / "Pablo_Picasso"
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 30, 30)).save(folder / "Pablo_Picasso_999.jpg")  # the archive grew
    result = run_cli([*args, "trainer.epochs=2"], cwd=tmp_path)
    assert result.returncode == 2 and "split changed" in result.stderr and "Traceback" not in result.stderr
