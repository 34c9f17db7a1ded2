"""artgenre-report on real runs (the study's tables, summary, plots), and the TensorBoard logs of training."""

from __future__ import annotations

import csv
import math
import re
import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf
from PIL import Image

from artgenre import eval as ag_eval
from artgenre import report
from artgenre.evaluation.report import write_report
from artgenre.evaluation.tables import STUDY_TABLES
from artgenre.rundir import tensorboard as tblog
from artgenre.config import validate
from artgenre.data.loading.sampler import TrainShardSampler
from artgenre.errors import ConfigError, DataError
from artgenre.models import build_model
from test_eval import EPOCHS, HAVE_TENSORBOARD, trained_run

TINY_VIT = dict(embed_dim=32, depth=1, num_heads=2, patch_size=8)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    return trained_run(tmp_path_factory, synthetic_root)


@pytest.fixture(scope="module")
def sweep(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep folder: the finished run (evaluated), the same run cut short as if still running
    (one epoch, no checkpoint yet), and a copy without Hydra's files (model read from its checkpoint)."""
    folder = tmp_path_factory.mktemp("sweep")
    done, running, bare = folder / "0_vit_scratch", folder / "1_vit_scratch", folder / "nested" / "2_vit_scratch"
    for d in (done, running, bare):
        shutil.copytree(run_dir, d, ignore=shutil.ignore_patterns("tensorboard"))
    ag_eval.run(ag_eval.parse_args([f"checkpoint={done / 'checkpoints' / 'best.pt'}"]))  # -> done/eval_val
    lines = (running / "metrics.csv").read_text().splitlines(keepends=True)
    (running / "metrics.csv").write_text("".join(lines[:2]) + lines[2][:15])  # a row being written, cut off
    shutil.rmtree(running / "checkpoints")
    shutil.rmtree(bare / ".hydra")
    return folder


@pytest.fixture(scope="module")
def built(sweep: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report")
    write_report([sweep], out, every=1)
    return out


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="") as f:
        return list(csv.reader(f))


def metrics(run: Path) -> list[dict[str, float]]:
    with (run / "metrics.csv").open(newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


LABELS = ["vit_scratch (0_vit_scratch)", "vit_scratch (1_vit_scratch)", "vit_scratch (2_vit_scratch)"]


def test_study_tables_hold_the_csv_numbers(run_dir: Path, built: Path) -> None:
    rows = metrics(run_dir)
    for key, stem, _, decimals in STUDY_TABLES:
        table = read_csv(built / f"{stem}.csv")
        assert table[0] == ["epoch", *LABELS]
        assert [r[0] for r in table[1:]] == [str(e) for e in range(1, EPOCHS + 1)]
        for r, m in zip(table[1:], rows):
            assert float(r[1]) == m[key] and float(r[3]) == m[key]
        assert float(table[1][2]) == rows[0][key]
        assert table[2][2] == ""  # the running run has no epoch 2 yet: blank, not zero
        markdown = (built / f"{stem}.md").read_text()
        for m in rows:
            assert f"| {int(m['epoch'])} | {m[key]:.{decimals}f} |" in markdown
        assert markdown in (built / "report.md").read_text()


def test_summary(run_dir: Path, built: Path) -> None:
    rows = metrics(run_dir)
    table = read_csv(built / "summary.csv")
    header, done, running, bare = table[0], *(dict(zip(table[0], r)) for r in table[1:])
    assert header[:3] == ["run", "model", "epochs"]
    best = max(rows, key=lambda r: (r["val_acc"], -r["epoch"]))
    assert float(done["best val acc (%)"]) == best["val_acc"] and int(done["best epoch"]) == best["epoch"]
    assert float(done["final train acc (%)"]) == rows[-1]["train_acc"]
    assert float(done["final val acc (%)"]) == rows[-1]["val_acc"]
    assert float(done["mean epoch time (s)"]) == pytest.approx(sum(r["epoch_time_s"] for r in rows) / len(rows))
    assert float(done["train images/s"]) == pytest.approx(sum(r["train_images_per_s"] for r in rows) / len(rows))
    expected = sum(p.numel() for p in build_model("vit_scratch", 10, 32, **TINY_VIT).parameters())
    assert int(done["parameters"]) == int(running["parameters"]) == int(bare["parameters"]) == expected
    assert running["epochs"] == "1" and float(running["final val acc (%)"]) == rows[0]["val_acc"]
    assert bare["model"] == "vit_scratch"  # from the checkpoint's config
    text = (built / "report.md").read_text()
    assert "Highest validation accuracy" in text and "## Summary" in text


def test_plots_are_valid_pngs_and_embedded(built: Path) -> None:
    text = (built / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {"accuracy.png", "loss.png", "epoch_time.png", "confusion_vit_scratch_0_vit_scratch.png"} <= set(linked)
    assert len([n for n in linked if n.startswith("confusion_")]) == 1  # only the evaluated run has one
    for name in linked:
        with Image.open(built / name) as im:
            im.verify()
            assert im.format == "PNG"
        with Image.open(built / name) as im:
            assert min(im.size) > 100


def test_every_n_epochs_and_single_run(run_dir: Path, tmp_path: Path) -> None:
    write_report([run_dir], tmp_path, every=10)  # fewer epochs than --every: the last epoch alone
    table = read_csv(tmp_path / "val_acc.csv")
    assert table == [["epoch", "vit_scratch"], [str(EPOCHS), repr(metrics(run_dir)[-1]["val_acc"])]]
    assert not list(tmp_path.glob("confusion_*.png"))


def test_no_runs_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no metrics.csv"):
        write_report([tmp_path], tmp_path / "out")
    with pytest.raises(DataError, match="not a folder"):
        write_report([tmp_path / "nope"], tmp_path / "out")


def test_cli(sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    report.main([str(sweep), "-o", str(tmp_path / "r"), "--every", "1"])
    out = capsys.readouterr().out
    assert "best val acc" in out and (tmp_path / "r" / "report.md").is_file()
    with pytest.raises(SystemExit) as exit_info:
        report.main([str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a folder" in err and len(err.strip().splitlines()) == 1


# ------------------------------------------------------------------ TensorBoard


@pytest.mark.skipif(not HAVE_TENSORBOARD, reason="tensorboard is not installed (pip install 'artgenre[tb]')")
def test_tensorboard_scalars(run_dir: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    rows = metrics(run_dir)
    steps = math.ceil(TrainShardSampler(int(rows[0]["n_train"]), 0, 1, 0, 16).per_rank / 16)  # batch 16 in TINY
    loss, lr = events.Scalars("step/train_loss"), events.Scalars("step/lr")
    assert [e.step for e in loss] == [e.step for e in lr] == list(range(EPOCHS * steps))
    assert all(math.isfinite(e.value) and e.value > 0 for e in loss)
    assert lr[0].value == pytest.approx(8e-4)
    val = events.Scalars("accuracy/val")
    assert [e.step for e in val] == [int(r["epoch"]) for r in rows]
    assert [e.value for e in val] == pytest.approx([r["val_acc"] for r in rows], rel=1e-6)
    assert [e.value for e in events.Scalars("loss/train")] == pytest.approx([r["train_loss"] for r in rows], rel=1e-6)


def test_tensorboard_missing_fails_at_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from artgenre.training import fit as trainer

    real = tblog.importlib.util.find_spec

    def find_spec(name: str, *args):
        return None if name == "tensorboard" else real(name, *args)

    monkeypatch.setattr(tblog.importlib.util, "find_spec", find_spec)
    cfg = validate(OmegaConf.create({"model": {"name": "vit_scratch"},
                                     "trainer": {"tensorboard": True, "device": "cpu"},
                                     "data": {"root": str(tmp_path / "never-made")}}))
    with pytest.raises(ConfigError, match=re.escape("pip install 'artgenre[tb]'")):
        trainer.fit(cfg, tmp_path)
    assert not (tmp_path / "never-made").exists() and not (tmp_path / "checkpoints").exists()
