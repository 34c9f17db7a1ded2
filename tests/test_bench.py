"""artgenre-bench: its figures agree with each other, the --gpu preset's path runs on the CPU, errors are one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from artgenre import bench
from artgenre.benchmark import paintings

# a model and a data set small enough for a few seconds per phase on a CPU
TINY = ["--model", "vit_scratch", "--model-opt", "embed_dim=32", "--model-opt", "depth=1", "--model-opt",
        "num_heads=2", "--image-size", "32", "--batch-size", "8", "--images", "24", "--source-size", "200",
        "--steps", "2", "--rounds", "1", "--epochs", "2", "--workers", "0", "--threads", "1"]
GPU_ON_CPU = ["--gpu", "--device", "cpu", "--image-size", "32", "--batch-size", "8", "--images", "16",
              "--source-size", "200", "--steps", "1", "--rounds", "1", "--epochs", "1", "--no-compile",
              "--precision", "32", "--workers", "0", "--threads", "1"]


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """--threads changes the whole process: give the other tests their thread count back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # trains (see tests/slow_guard.py)
def test_tiny_run_writes_consistent_figures(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "out.json"
    bench.main([*TINY, "--json", str(out)])
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    m = report["models"]["vit_scratch"]

    s = m["settings"]
    assert s["torch"] == torch.__version__ and s["device"] == "cpu" and s["device_name"]
    assert (s["model"], s["image_size"], s["batch_size"], s["workers"], s["images"], s["epochs"]) == (
        "vit_scratch", 32, 8, 0, 24, 2)
    assert s["model_options"]["embed_dim"] == 32 and s["model_options"]["depth"] == 1
    assert s["precision"] == "32", "auto resolves to float32 on the CPU"
    assert s["channels_last"] is False, "as in training: NHWC on CUDA only"
    assert s["compile"] is False and s["cache"] is True and s["threads"] == 1
    assert report["generated"]["images"] == 24 and report["generated"]["kb_per_image"] > 0

    ceiling, ours = m["ceiling"], m["our_loop"]
    for section in (ceiling, ours):
        assert section["images_per_s"] > 0 and section["step_ms"] > 0
        (only,) = section["rounds"]
        assert (only["images"], only["steps"]) == (16, 2)
        assert section["images_per_s"] == pytest.approx(only["images"] / only["seconds"])
    assert ours["overhead_pct"] == pytest.approx(100 * (ceiling["images_per_s"] / ours["images_per_s"] - 1))

    full = m["full_epochs"]
    assert len(full["epochs"]) == 2 and full["steady_epoch"] == 2, "the best epoch after the first"
    steady = full["epochs"][1]
    assert 0 < s["train_images"] < 24 and all(e["images"] == s["train_images"] for e in full["epochs"])
    assert full["images_per_s"] == pytest.approx(steady["images"] / steady["seconds"]) and full["images_per_s"] > 0
    assert full["ratio_to_ceiling"] == pytest.approx(full["images_per_s"] / ceiling["images_per_s"])
    assert 0 < full["data_wait_share"] < 1
    assert full["data_wait_seconds"] + full["compute_seconds"] == pytest.approx(full["epoch_seconds"])
    assert full["compute_share"] == pytest.approx(1 - full["data_wait_share"])
    assert full["cache"] and full["cache_built"] and full["cache_seconds"] > 0 and full["index_seconds"] > 0

    study = m["study"]
    assert len(study["epochs"]) == 2 and study["images_per_s"] > 0 and study["epoch_seconds"] > 0
    assert study["step_ms"] == pytest.approx(1000 * study["epoch_seconds"] / study["epochs"][1]["steps"])
    assert all(e["images"] == s["train_images"] for e in study["epochs"])
    assert study["speedup"] == pytest.approx(full["images_per_s"] / study["images_per_s"])
    assert study["compute_step_ms"] > 0 and study["ours_step_ms"] == pytest.approx(ours["step_ms"])

    memory = m["peak_memory"]
    assert "RSS" in memory["kind"] and all(memory[k] > 0 for k in ("in_memory", "full_epochs", "study"))

    assert "(a)  ceiling, img/s" in printed and "epoch speed-up of (b) over (c)" in printed
    assert f"{full['ratio_to_ceiling']:.2f}" in printed and f"figures written to {out}" in printed


@pytest.mark.slow  # trains (see tests/slow_guard.py)
def test_gpu_preset_path_runs_on_the_cpu_with_overrides(tmp_path: Path) -> None:
    out = tmp_path / "gpu.json"
    bench.main([*GPU_ON_CPU, "--json", str(out)])
    models = json.loads(out.read_text())["models"]
    assert list(models) == ["resnet50", "vit_timm", "iformer_small"]
    for name, m in models.items():
        s = m["settings"]
        assert (s["image_size"], s["batch_size"], s["precision"], s["compile"], s["epochs"], s["device"]) == (
            32, 8, "32", False, 1, "cpu"), name
        assert s["channels_last"] is True, "the preset's value where no flag overrides it"
        assert m["ceiling"]["images_per_s"] > 0 and m["our_loop"]["images_per_s"] > 0
        assert m["full_epochs"]["images_per_s"] > 0 and m["study"]["images_per_s"] > 0
    # the JPEGs and their pixel cache are made once and shared by the three models
    assert [m["full_epochs"]["cache_built"] for m in models.values()] == [True, False, False]


def test_gpu_preset_values_and_explicit_flags_win() -> None:
    preset = bench.plan(["--gpu"])
    assert [(r.model, r.batch_size) for r in preset.runs] == [("resnet50", 128), ("vit_timm", 64),
                                                               ("iformer_small", 64)]
    r = preset.runs[0]
    assert (r.image_size, r.precision, r.channels_last, r.compile, r.epochs) == (384, "bf16", True, True, 3)
    assert r.workers == min(8, max(0, os.cpu_count() - 2))
    assert (preset.images, preset.device, preset.json) == (1024, "cuda", Path("bench-gpu.json"))

    mine = bench.plan(["--gpu", "--model", "vit_timm", "--batch-size", "16", "--no-compile", "--json", "x.json"])
    assert [(r.model, r.batch_size, r.compile, r.image_size) for r in mine.runs] == [("vit_timm", 16, False, 384)]
    assert mine.json == Path("x.json")
    assert bench.plan(["--gpu", "--model", "resnet50"]).runs[0].batch_size == 128

    plain = bench.plan([])
    assert [(r.model, r.batch_size, r.image_size, r.compile, r.cache, r.study, r.channels_last)
            for r in plain.runs] == [("resnet50", 32, 128, False, True, True, None)]
    assert (plain.device, plain.json, plain.images, plain.preset) == ("auto", None, 256, False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_device_cuda_without_cuda_is_one_line_and_exit_2(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    result = subprocess.run([sys.executable, "-m", "artgenre.bench", "--device", "cuda", "--json", str(out)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --device cuda (also --gpu's default) but no CUDA device is visible; pass --device cpu or --device auto"]
    assert result.stdout == "" and not out.exists()


@pytest.mark.parametrize("args, message", [
    (["--gpu"], "no CUDA device is visible"),  # the preset means a GPU unless --device says otherwise
    (["--model-opt", "depth=2"], "--model-opt depth=2: model resnet50 has no such option"),
    (["--model", "resnet5"], "unknown model 'resnet5'; available:"),
    (["--images", "3"], "--images must be at least"),
])
def test_mistakes_end_before_any_work_with_one_line(args: list[str], message: str,
                                                    capsys: pytest.CaptureFixture) -> None:
    if args == ["--gpu"] and torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    with pytest.raises(SystemExit) as stop:
        bench.main(args)
    assert stop.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == "", "nothing generated, nothing measured"
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_generated_paintings_are_realistic_jpegs(tmp_path: Path) -> None:
    generated = paintings.make_images(tmp_path, 8, 1000)
    files = sorted(tmp_path.rglob("*.jpg"))
    assert len(files) == generated.count == 8
    assert len({f.parent.name for f in files}) == paintings.CLASSES
    assert all(200_000 <= f.stat().st_size <= 400_000 for f in files), [f.stat().st_size for f in files]
    assert generated.megabytes == pytest.approx(sum(f.stat().st_size for f in files) / 2**20)
