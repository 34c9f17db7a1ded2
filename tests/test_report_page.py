"""report.html: self-contained, with the tables, the significance slot and the gallery, and it renders in a real browser."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from artgenre import eval as ag_eval
from artgenre.evaluation.gallery import Shot, pick
from artgenre.evaluation.report import write_report
from artgenre.evaluation.report_page import SIGNIFICANCE, ReportPage, add_csv_tables
from browser import chromium, render
from test_eval import trained_run

pytest.importorskip("pytorch_grad_cam", reason="the gallery's heatmaps need the grad-cam package: pip install 'artgenre[explain]'")


def test_pick_takes_the_most_confident_per_class() -> None:
    shots = [Shot("a", "x", "x", 0.6), Shot("b", "x", "x", 0.9), Shot("c", "x", "y", 0.7), Shot("d", "x", "y", 0.8),
             Shot("e", "y", "x", 0.99), Shot("f", "x", "x", 0.1)]
    chosen = pick(shots, ["x", "y"], 2)
    assert [s.path for s in chosen["x"][0]] == ["b", "a"] and [s.path for s in chosen["x"][1]] == ["d", "c"]
    assert chosen["y"] == ([], [shots[4]])


def test_page_is_self_contained_and_shows_tables_written_beside_it(tmp_path: Path) -> None:
    (tmp_path / "significance_pairs.csv").write_text("run a,run b,p value,verdict\nresnet50,vit,0.012,differ\n")
    page = ReportPage("T <&>")
    page.section("Significance", key=SIGNIFICANCE)
    page.section("Summary").table(["run", "acc"], [["r<1>", 12.345], ["r2", None]], [None, 2])
    assert add_csv_tables(page, tmp_path, "significance*.csv", "Significance", SIGNIFICANCE) == 1
    text = page.write(tmp_path / "p.html").read_text()
    assert "T &lt;&amp;&gt;" in text and "r&lt;1&gt;" in text and ">12.35<" in text
    assert text.index("Significance") < text.index("Summary")  # the slot keeps its place
    assert "0.012" in text and "differ" in text
    assert not re.search(r"(src|href)=\"(?!data:|#)", text) and "<script" not in text


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    run = tmp_path_factory.mktemp("page") / "run"
    shutil.copytree(trained_run(tmp_path_factory, synthetic_root), run, ignore=shutil.ignore_patterns("tensorboard"))
    ag_eval.run(ag_eval.parse_args([f"checkpoint={run / 'checkpoints' / 'best.pt'}"]))  # -> run/eval_val
    out = run.parent / "report"
    write_report([run], out, every=1, gallery=2)
    return out


@pytest.mark.slow
def test_gallery_shows_each_class_with_its_heatmaps(report_dir: Path) -> None:
    text = (report_dir / "report.html").read_text()
    run = report_dir.parent / "run"
    predictions = (run / "eval_val" / "predictions.csv").read_text().splitlines()[1:]
    shown = re.findall(r'alt="heatmap ([^"]+)"', text)
    assert shown and len(shown) == len(re.findall(r'alt="painting ([^"]+)"', text))
    listed = {line.split(",")[0] for line in predictions}
    assert set(shown) <= listed  # only evaluated paintings, each with its heatmap
    mistakes = [line for line in predictions if line.endswith(",0")]
    assert ("taken for" in text) == bool(mistakes)
    assert not re.search(r"(src|href)=\"(?!data:|#)", text) and "<script" not in text  # nothing fetched


@pytest.mark.slow
def test_report_page_renders_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    if not chromium():
        pytest.skip("no headless Chromium here (Debian: apt-get install chromium; .ci/run installs it as root)")
    screenshot = tmp_path / "report.png"
    found = render(report_dir / "report.html", tmp_path, screenshot)
    assert found["console"] == [] and found["errors"] == [], found
    assert found["images"] >= 5 and found["undecoded"] == [], found  # curves, confusion matrix, gallery
    assert found["tables"] >= 4  # summary and the study's three tables
    assert {"Summary", "Study tables", "Curves", "Confusion matrices"} <= set(found["headings"])
    assert any(h.startswith("Gallery") for h in found["headings"])
    assert found["screenshot_ok"], found["screenshot_log"]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", found["pdf"]))
    assert found["pdf"][:5] == b"%PDF-" and pages >= 2  # it prints: the tables, curves and gallery over A4 pages
