"""Bad inputs and faults, each ending in one clear message (or handled), never a traceback or silence.

The faults of issue 18 that need no training run: configs out of range, crafted checkpoints,
the run-folder lock's staleness rules, a diverged epoch, non-finite weights, strict JSON, a full
disk, hostile files in a data folder or zip, and a report fed hostile metrics and names.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import math
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from artgenre.config import validate
from artgenre.data import decode
from artgenre.data.archive import FolderArchive, ZipArchive, open_archive
from artgenre.errors import CheckpointError, ConfigError, DataError
from artgenre.evaluation.report import write_report
from artgenre.evaluation.restore import model_from_checkpoint, training_config
from artgenre.rundir import checkpoint, lock
from artgenre.rundir.metrics import COLUMNS
from artgenre.runtime.disk import DiskFull
from artgenre.training.divergence import TrainingDiverged, check_epoch, finite_json

from test_config import composed

TINY_MODEL = ["model=vit_scratch", "model.embed_dim=32", "model.depth=1", "model.num_heads=2",
              "model.patch_size=8", "data.image_size=32"]


# ---------------------------------------------------------------- configs (defect 6)
@pytest.mark.parametrize("override, key", [
    ("data.image_size=100000", "data.image_size"),
    ("trainer.label_smoothing=2", "trainer.label_smoothing"),
    ("optim.betas=[1.5,0.999]", "optim.betas"),
    ("optim.eps=0", "optim.eps"),
    ("optim.weight_decay=-1", "optim.weight_decay"),
    ("optim.momentum=1.5", "optim.momentum"),
])
def test_out_of_range_settings_are_refused_by_name(override: str, key: str) -> None:
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        validate(composed(*TINY_MODEL, override))


@pytest.mark.parametrize("option", ["model.patch_size=0", "model.num_heads=0", "model.num_heads=3",
                                    "model.depth=-1", "model.dropout=1.5"])
def test_impossible_model_options_are_a_config_error(option: str) -> None:
    from artgenre.models import build_model
    from artgenre.training.setup import model_options

    cfg = validate(composed(*TINY_MODEL, option))
    with pytest.raises(ConfigError, match="model"):
        build_model(cfg.model.name, 3, cfg.data.image_size, **model_options(cfg))


# ---------------------------------------------------------------- checkpoints (defects 1, 4, 6, 8)
def tiny_state() -> dict:
    from artgenre.models import build_model
    from artgenre.training.setup import model_options

    cfg = validate(composed(*TINY_MODEL, "data=synthetic"))
    from omegaconf import OmegaConf
    model = build_model(cfg.model.name, 3, cfg.data.image_size, **model_options(cfg))
    return {"format": checkpoint.FORMAT_VERSION, "epoch": 1, "model": model.state_dict(), "classes": ["a", "b", "c"],
            "config": OmegaConf.to_container(cfg, resolve=True)}


@pytest.mark.parametrize("missing", ["model", "config", "classes", "epoch"])
def test_a_checkpoint_missing_a_key_is_named(tmp_path: Path, missing: str) -> None:
    state = tiny_state()
    del state[missing]
    torch.save(state, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=f"lacks {missing}"):
        checkpoint.load(tmp_path / "x.pt")


def test_resume_needs_the_optimizer_state(tmp_path: Path) -> None:
    state = tiny_state()
    with pytest.raises(CheckpointError, match="lacks optimizer"):
        checkpoint.require(state, checkpoint.RESUME_KEYS, tmp_path / "x.pt")


def test_a_pickled_object_is_refused_without_torchs_unsafe_advice(tmp_path: Path) -> None:
    torch.save({"format": 1, "payload": socket.gethostname, "epoch": 1}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError) as e:
        checkpoint.load(tmp_path / "evil.pt")
    message = str(e.value)
    assert "weights_only=False" not in message and "can still be loaded" not in message and "could run code" in message


def test_non_finite_weights_are_refused_by_eval_and_predict() -> None:
    state = tiny_state()
    name = next(k for k, v in state["model"].items() if v.is_floating_point())
    state["model"][name] = state["model"][name].clone().fill_(math.nan)
    cfg = training_config(state)
    with pytest.raises(CheckpointError, match="NaN or infinite.*diverged"):
        model_from_checkpoint(state, cfg, torch.device("cpu"))


def test_a_checkpoints_config_is_checked_and_its_cache_folder_not_trusted(tmp_path: Path) -> None:
    state = tiny_state()
    state["config"]["data"]["cache_dir"] = str(tmp_path / "victim")
    assert training_config(state).data.cache_dir is None, "the default cache for the data, as on a command line"
    assert training_config(state, cache_dir=str(tmp_path / "c")).data.cache_dir == str(tmp_path / "c")
    state["config"]["trainer"]["label_smoothing"] = 2.0
    with pytest.raises(CheckpointError, match="label_smoothing"):
        training_config(state)
    state["config"]["trainer"]["label_smoothing"] = 0.0
    state["config"]["evil"] = {"x": 1}
    with pytest.raises(CheckpointError, match="evil"):
        training_config(state)


# ---------------------------------------------------------------- divergence and JSON (defect 1)
def test_a_non_finite_loss_stops_the_run_naming_epoch_and_causes() -> None:
    row = {"epoch": 3, "train_loss": math.nan, "val_loss": 1.0}
    with pytest.raises(TrainingDiverged, match=r"epoch 3.*train_loss.*optim\.lr=1e\+06.*precision"):
        check_epoch(row, None, 1e6, "32")
    check_epoch({"epoch": 1, "train_loss": 2.0, "val_loss": 2.1}, None, 1e-3, "32")  # a healthy epoch passes


def test_float16_skipping_step_after_step_counts_as_divergence() -> None:
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**-3)
    with pytest.raises(TrainingDiverged, match="loss scale"):
        check_epoch({"epoch": 2, "train_loss": 1.0, "val_loss": 1.0}, scaler, 1e-3, "16")


def test_predict_json_is_strict_json() -> None:
    text = json.dumps(finite_json({"p": [math.nan, 0.5, math.inf], "q": {"r": -math.inf}}), allow_nan=False)
    assert json.loads(text) == {"p": [None, 0.5, None], "q": {"r": None}}


# ---------------------------------------------------------------- run-folder lock (defect 3)
def holder(**over) -> dict:
    return {**lock.identity(), **over}


def test_lock_refuses_a_second_run_and_names_the_first(tmp_path: Path) -> None:
    first = lock.RunLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(lock.RunFolderBusy, match=f"pid {os.getpid()} on {socket.gethostname()}"):
            lock.RunLock(tmp_path).acquire()
    finally:
        first.release()
    assert not (tmp_path / lock.LOCK_NAME).exists(), "released on exit"
    again = lock.RunLock(tmp_path)
    again.acquire()
    again.release()


def test_lock_of_a_dead_process_on_this_host_is_taken_over(tmp_path: Path) -> None:
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    (tmp_path / lock.LOCK_NAME).write_text(json.dumps(holder(pid=dead, slurm_job_id=None)))
    taker = lock.RunLock(tmp_path)
    taker.acquire()
    assert lock.read_holder(tmp_path / lock.LOCK_NAME)["pid"] == os.getpid()
    taker.release()


def test_lock_staleness_rules() -> None:
    me = holder(host="node2", pid=1, slurm_job_id="77", slurm_restart="1")
    other_node = holder(host="node1", pid=os.getpid(), slurm_job_id="55", slurm_restart="0")
    assert lock.stale_reason(other_node, 10.0, me) is None, "alive elsewhere: refused"
    assert "heartbeat" in lock.stale_reason(other_node, lock.STALE_AFTER_S + 1, me)
    requeued = holder(host="node1", pid=os.getpid(), slurm_job_id="77", slurm_restart="0")
    assert "requeued" in lock.stale_reason(requeued, 10.0, me)
    assert lock.stale_reason(None, 1.0, me) is None, "a lock being written is not taken over"


# ---------------------------------------------------------------- disk full (defect 5)
def test_disk_full_is_said_in_those_words_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    def full(obj, f):
        f.write(b"x" * 100)
        raise RuntimeError("[enforce fail at inline_container.cc:603] . unexpected pos 64 vs 0")

    monkeypatch.setattr(checkpoint.torch, "save", full)
    with pytest.raises(DiskFull, match=f"disk full: cannot write last.pt in {tmp_path}.*needs about"):
        checkpoint.atomic_save({"w": torch.zeros(1000)}, tmp_path / "last.pt")
    assert list(tmp_path.iterdir()) == []


def test_disk_full_in_a_prepare_file(tmp_path: Path, monkeypatch) -> None:
    from artgenre.data.prepare import files

    real_open = open

    def full_open(path, mode="r", **kw):
        f = real_open(path, mode, **kw)
        if "w" in mode:
            f.close()
            raise OSError(errno.ENOSPC, "No space left on device")
        return f

    monkeypatch.setattr("builtins.open", full_open)
    with pytest.raises(DiskFull, match="disk full"):
        files.atomic_write(tmp_path / "manifest.csv", "a,b\n")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_temporary_files_of_a_killed_save_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / ".last.pt.abc123").write_bytes(b"half")
    (tmp_path / "last.pt").write_bytes(b"whole")
    checkpoint.clean_temporary_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


# ---------------------------------------------------------------- hostile files (defects 5, 8)
def jpeg(size: int = 64, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_symlinks_that_dangle_or_loop_are_listed_and_excluded(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "ok.jpg").write_bytes(jpeg())
    (tmp_path / "a" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (tmp_path / "a" / "loop.jpg").symlink_to(tmp_path / "a" / "loop.jpg")
    archive = FolderArchive(tmp_path)
    entries = {e.path: e for e in archive.files()}
    assert set(entries) == {"a/ok.jpg", "a/dangling.jpg", "a/loop.jpg"}
    for bad in ("a/dangling.jpg", "a/loop.jpg"):
        with pytest.raises(OSError):
            archive.open(bad)


def test_a_zip_member_claiming_gigabytes_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images/a.jpg", jpeg())
    raw = bytearray(path.read_bytes())
    # the central directory's uncompressed size of the member (offset 24 in its header): 8 GiB - 1
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24: cd + 28] = (2**32 - 1).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    archive = ZipArchive(path)
    with pytest.raises(OSError, match="GiB uncompressed"):
        archive.open("images/a.jpg")


def test_a_truncated_zip_is_called_damaged(tmp_path: Path) -> None:
    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("images/a.jpg", jpeg())
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match="damaged or truncated"):
        open_archive(path)


def test_a_jpeg_claiming_more_pixels_than_it_holds_is_a_truncated_scan() -> None:
    data = bytearray(jpeg(64))
    sof = data.find(b"\xff\xc0")
    data[sof + 5: sof + 9] = (2048).to_bytes(2, "big") * 2  # height, width
    with pytest.raises(decode.ImageProblem, match="truncated scan"):
        decode.check(bytes(data))
    decode.check(jpeg(64))  # the honest file passes


# ---------------------------------------------------------------- the report (defect 7)
def fake_run(folder: Path, rows: list[list[str]], model: str, header: list[str] = COLUMNS) -> Path:
    folder.mkdir(parents=True)
    with (folder / "metrics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(json.dumps({"model": {"name": model}}))
    return folder


def good_row(epoch: int) -> list[str]:
    return [str(epoch)] + ["1.0"] * (len(COLUMNS) - 1)


def test_the_report_counts_and_names_rows_it_cannot_use(tmp_path: Path) -> None:
    bad = [["inf"] + good_row(1)[1:], ["1e7"] + good_row(1)[1:], good_row(2)[:4] + ["1e308"] + good_row(2)[5:],
           ["x"] + good_row(1)[1:], good_row(3)[:3] + ["abc"] + good_row(3)[4:]]
    run = fake_run(tmp_path / "runs" / "r1", [good_row(1), *bad], "vit_scratch")
    report = write_report([run], tmp_path / "out", every=1).read_text()
    assert "## Rows not used" in report and "5 problem(s)" in report
    for why in ("not a whole number", "out of range", "is not a number"):
        assert why in report
    assert report.count("\n| 1 |") >= 1 and "\n| 10000000 |" not in report
    assert (tmp_path / "out" / "report.md").stat().st_size < 100_000


def test_a_metrics_file_with_a_wrong_header_is_named(tmp_path: Path) -> None:
    run = fake_run(tmp_path / "runs" / "r1", [["1", "2"]], "vit_scratch", header=["epok", "acc"])
    report = write_report([run], tmp_path / "out").read_text()
    assert "no 'epoch' column" in report


def test_hostile_names_are_escaped_in_markdown_and_csv(tmp_path: Path) -> None:
    name = '=HYPERLINK("http://x")<script>alert(1)</script>\n# heading'
    run = fake_run(tmp_path / "runs" / "r1", [good_row(1)], name)
    out = tmp_path / "out"
    report = write_report([run], out, every=1).read_text()
    assert "<script>" not in report and "\n# heading" not in report and "&lt;script&gt;" in report
    with (out / "summary.csv").open(newline="") as f:
        cells = [c for row in csv.reader(f) for c in row]
    assert all(not c.startswith(("=", "+", "@")) for c in cells)
    assert any(c.startswith("'=HYPERLINK") for c in cells)


# ---------------------------------------------------------------- the same, through artgenre-prepare
def prepare(root: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "artgenre.prepare", "data=folder", f"data.root={root}",
                           "hydra.run.dir=prep", "trainer.progress=false", "trainer.num_workers=0"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)


def folder_set(root: Path) -> None:
    for c in "ab":
        (root / c).mkdir(parents=True)
        for i in range(3):
            (root / c / f"{i}.jpg").write_bytes(jpeg(40, seed=ord(c) * 10 + i))


def test_prepare_excludes_bad_symlinks_and_huge_zip_members_with_reasons(tmp_path: Path) -> None:
    root = tmp_path / "data"
    folder_set(root)
    (root / "a" / "dangling.jpg").symlink_to(tmp_path / "nowhere.jpg")
    (root / "a" / "loop.jpg").symlink_to("loop.jpg")
    result = prepare(root, tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    with (root / ".artgenre" / "excluded.csv").open(newline="") as f:
        excluded = {r["path"]: r["reason"] for r in csv.DictReader(f)}
    assert "No such file" in excluded["a/dangling.jpg"] and "symbolic links" in excluded["a/loop.jpg"]

    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for p in sorted(root.rglob("*.jpg")):
            if p.is_file() and not p.is_symlink():
                z.write(p, p.relative_to(root).as_posix())
    raw = bytearray(archive.read_bytes())
    cd = raw.find(b"PK\x01\x02")  # the first member's central-directory entry: claim 4 GiB
    raw[cd + 24: cd + 28] = (2**32 - 1).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    result = prepare(archive, tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-3000:]
    assert "GiB uncompressed" in result.stdout + result.stderr


@pytest.mark.slow  # starts the command line (its config fails before any training)
@pytest.mark.parametrize("command, args", [("artgenre.train", ["model=no_such_model"]),
                                           ("artgenre.train", ["trainer.epochs=[1"]),
                                           ("artgenre.prepare", ["data=no_such_set"])])
def test_hydras_own_config_errors_exit_2_like_artgenres(tmp_path: Path, command: str, args: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", command, *args, "hydra.run.dir=x"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr[-2000:]
