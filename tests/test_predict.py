"""artgenre-predict: top-k genres with probabilities; an unreadable file fails alone."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artgenre import eval as ag_eval
from artgenre.predict import main, predict
from test_eval import trained_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    return trained_run(tmp_path_factory, synthetic_root)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated pictures in the modes people's files come in: RGB JPEG, RGBA PNG, grayscale."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (60, 90, 3), dtype=np.uint8)).save(folder / "noise.jpg")
    Image.fromarray(rng.integers(0, 255, (50, 50, 4), dtype=np.uint8), "RGBA").save(folder / "alpha.PNG")
    Image.fromarray(rng.integers(0, 255, (40, 70), dtype=np.uint8), "L").save(folder / "gray.jpeg")
    return folder


def test_top_k_with_probabilities(run_dir: Path, images: Path) -> None:
    results = predict(run_dir / "checkpoints" / "best.pt", [str(images / "noise.jpg")], k=3, device="cpu")
    assert len(results) == 1 and results[0].error is None
    top = results[0].predictions
    assert len(top) == 3
    probs = [p["probability"] for p in top]
    assert probs == sorted(probs, reverse=True) and all(0.0 <= p <= 1.0 for p in probs)
    assert len({p["class"] for p in top}) == 3

    everything = predict(run_dir / "checkpoints" / "best.pt", [str(images / "noise.jpg")], k=50, device="cpu")
    all_probs = [p["probability"] for p in everything[0].predictions]
    assert len(all_probs) == 10  # k larger than the number of classes shows them all
    assert sum(all_probs) == pytest.approx(1.0, abs=1e-5)
    assert everything[0].predictions[:3] == top


def test_folder_and_modes(run_dir: Path, images: Path) -> None:
    results = predict(run_dir / "checkpoints" / "best.pt", [str(images)], k=2, device="auto")
    assert [Path(r.path).name for r in results] == ["alpha.PNG", "gray.jpeg", "noise.jpg"]
    assert all(r.error is None and len(r.predictions) == 2 for r in results)


def test_agrees_with_eval(run_dir: Path, synthetic_root: Path, tmp_path: Path) -> None:
    """The same image gets the same answer from predict as from the evaluation."""
    ag_eval.run(ag_eval.parse_args([f"checkpoint={run_dir / 'checkpoints' / 'best.pt'}", f"out={tmp_path}"]))
    with (tmp_path / "predictions.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))[:5]
    results = predict(run_dir / "checkpoints" / "best.pt", [str(synthetic_root / r["path"]) for r in rows], k=1)
    for row, result in zip(rows, results):
        assert result.predictions[0]["class"] == row["predicted_class"]
        assert result.predictions[0]["probability"] == pytest.approx(float(row["probability"]), abs=1e-5)


def test_unreadable_file_fails_alone(run_dir: Path, images: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    shutil.copytree(images, folder)
    (folder / "broken.jpg").write_bytes(b"this is not a JPEG")
    results = predict(run_dir / "checkpoints" / "best.pt", [str(folder), str(tmp_path / "missing.png")], k=3)
    by_name = {Path(r.path).name: r for r in results}
    assert "cannot read image" in by_name["broken.jpg"].error
    assert by_name["missing.png"].error == "no such file or folder"
    assert all(len(by_name[n].predictions) == 3 for n in ("alpha.PNG", "gray.jpeg", "noise.jpg"))


def test_cli_json_and_exit_status(run_dir: Path, images: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG but not really")
    with pytest.raises(SystemExit) as exit_info:
        main(["--checkpoint", str(run_dir / "checkpoints" / "best.pt"), "--json", "-k", "2", "--device", "cpu",
              str(images / "noise.jpg"), str(broken)])
    assert exit_info.value.code == 1  # one input failed
    captured = capsys.readouterr()
    assert f"error: {broken}: cannot read image" in captured.err
    good, bad = json.loads(captured.out)["results"]
    assert len(good["predictions"]) == 2 and "error" not in good
    assert bad["path"] == str(broken) and "cannot read image" in bad["error"]


def test_cli_table(run_dir: Path, images: Path, capsys: pytest.CaptureFixture) -> None:
    main(["-c", str(run_dir / "checkpoints" / "best.pt"), "-k", "3", str(images / "noise.jpg")])  # no exit: all read
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("noise.jpg") and len(lines) == 4
    assert all(line.strip().startswith(f"{i}. ") and line.endswith("%") for i, line in enumerate(lines[1:], 1))


def test_bad_checkpoint_is_one_clear_error(tmp_path: Path, images: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["-c", str(tmp_path / "none.pt"), str(images)])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint {tmp_path / 'none.pt'} does not exist"
