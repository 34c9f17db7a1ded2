"""What a newcomer walking through the README found (issue 19, items 1-12), each fixed behaviour
pinned, and the README's smaller promises (report --every, the port formula, the split's
independence from the file system's order, checkpoints that run no code). No training starts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from artgenre import launch
from artgenre.errors import CheckpointError, ConfigError, DataError, ReadError
from artgenre.rundir import checkpoint
from artgenre.rundir.confusion import write_confusion_csv
from artgenre.rundir.metrics import COLUMNS, MetricsCSV, PerClassCSV
from artgenre.runtime.device import resolve_device
from artgenre.runtime.distributed import DistInfo
from artgenre.training import fit
from trap_archive import config, jpeg

REPO = Path(__file__).resolve().parents[1]



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
