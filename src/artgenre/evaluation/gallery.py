"""The report page's gallery: per class, the most confident correct paintings and the most
confident mistakes (with what they were taken for), each with the heatmap of the class the
model named.

It reads the per-image predictions ``artgenre-eval`` wrote (``eval_<split>/predictions.csv``,
probability = the softmax probability of the predicted class) and that evaluation's checkpoint
for the heatmaps; the images come from the data folder recorded in its ``summary.json``.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch

from artgenre.errors import ArtgenreError
from artgenre.evaluation.heatmap import overlay, png_bytes
from artgenre.evaluation.report_page import Section, data_uri

THUMBNAIL_MIN_SIDE = 128  # small model inputs (tests: 32 px) are enlarged so they can be seen


@dataclass
class Shot:
    path: str
    true: str
    predicted: str
    probability: float  # of the predicted class, as a fraction
    image: Optional[bytes] = None  # PNG of the painting as the model saw it
    heat: Optional[bytes] = None  # PNG of the heatmap of ``predicted`` over it


@dataclass
class Gallery:
    split: str
    per_class: dict[str, tuple[list[Shot], list[Shot]]]  # class -> (most confident correct, most confident mistakes)
    method: str = ""
    notes: list[str] = field(default_factory=list)


def read_predictions(path: Path) -> list[Shot]:
    with path.open(newline="") as f:
        return [Shot(r["path"], r["true_class"], r["predicted_class"], float(r["probability"]))
                for r in csv.DictReader(f)]


def pick(shots: list[Shot], classes: list[str], per_class: int) -> dict[str, tuple[list[Shot], list[Shot]]]:
    """Per true class: the ``per_class`` most confident correct and most confident wrong predictions."""
    ranked = sorted(shots, key=lambda s: (-s.probability, s.path))
    out = {}
    for name in classes:
        correct = [s for s in ranked if s.true == name and s.predicted == name][:per_class]
        wrong = [s for s in ranked if s.true == name and s.predicted != name][:per_class]
        out[name] = (correct, wrong)
    return out


def build_gallery(eval_dir: Path, run_dir: Path, per_class: int, device: str = "cpu") -> Gallery:
    """The gallery of one evaluated run; what could not be drawn (no data, no grad-cam) is said in ``notes``."""
    summary = json.loads((eval_dir / "summary.json").read_text())
    shots = read_predictions(eval_dir / "predictions.csv")
    gallery = Gallery(summary.get("split", eval_dir.name.removeprefix("eval_")),
                      pick(shots, list(summary.get("classes") or sorted({s.true for s in shots})), per_class))
    chosen = [s for correct, wrong in gallery.per_class.values() for s in correct + wrong]
    checkpoint = Path(summary.get("checkpoint", ""))
    if not checkpoint.is_file():
        checkpoint = run_dir / "checkpoints" / "best.pt"
    try:
        _draw(chosen, checkpoint, Path(summary["data_root"]), device, gallery)
    except (ArtgenreError, OSError, KeyError) as e:
        gallery.notes.append(f"no pictures: {e}")
    return gallery


def _draw(shots: list[Shot], checkpoint: Path, data_root: Path, device: str, gallery: Gallery) -> None:
    from artgenre.evaluation.explain import Explainer
    from artgenre.evaluation.images import folder_datasets

    if not shots:
        return
    explainer = Explainer(checkpoint, device)
    gallery.method = explainer.method
    paths = [str(data_root / s.path) for s in shots]
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise ArtgenreError(f"{len(missing)} image(s) not found under {data_root} (e.g. {missing[0]}); "
                            "has the data moved since artgenre-eval ran?")
    datasets = folder_datasets(explainer.cfg, paths)
    for start in range(0, len(shots), 16):
        batch = shots[start:start + 16]
        images = []
        for path in paths[start:start + 16]:
            dataset, position = datasets[str(Path(path).parent)]
            images.append(dataset[position[Path(path).name]][0])
        stacked = torch.stack(images)
        # the heatmap of the class the evaluation named (it is the model's own argmax)
        for shot, image, (_, maps, _) in zip(batch, stacked, explainer.explain_images(stacked, [s.predicted for s in batch])):
            picture = image.permute(1, 2, 0).numpy()
            shot.image = png_bytes(picture, THUMBNAIL_MIN_SIDE)
            shot.heat = png_bytes(overlay(picture, maps[shot.predicted]), THUMBNAIL_MIN_SIDE)


def render_gallery(section: Section, gallery: Gallery) -> None:
    method = f" Heatmaps: {gallery.method} for the class the model named." if gallery.method else ""
    section.text(f"Split {gallery.split}: per class, the most confident correct paintings and the most "
                 f"confident mistakes (what they were taken for); percentages are the model's probability "
                 f"of the class it named.{method}", note=True)
    for note in gallery.notes:
        section.text(note, note=True)
    for name, (correct, wrong) in gallery.per_class.items():
        section.heading(name)
        for label, shots in (("most confident correct", correct), ("most confident mistakes", wrong)):
            section.html(f"<div class=row-label>{label}</div>")
            if not shots:
                section.text("none", note=True)
                continue
            section.html("<div class=gallery>" + "".join(_card(s) for s in shots) + "</div>")


def _card(shot: Shot) -> str:
    verdict = (f"<span class=ok>{html.escape(shot.predicted)}</span>" if shot.predicted == shot.true
               else f"taken for <span class=wrong>{html.escape(shot.predicted)}</span>")
    pictures = "".join(f'<img src="{data_uri(png)}" alt="{alt} {html.escape(shot.path)}">'
                       for png, alt in ((shot.image, "painting"), (shot.heat, "heatmap")) if png)
    return (f"<div class=card><div class=pair>{pictures}</div><div class=caption>{verdict} "
            f"{100 * shot.probability:.1f}%<br>{html.escape(shot.path)}</div></div>")
