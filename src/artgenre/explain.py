"""Entry point ``artgenre-explain``: where a trained model looks when it names a painting's genre.

    artgenre-explain checkpoint=outputs/.../checkpoints/best.pt painting.jpg more_paintings/
    artgenre-explain checkpoint=best.pt folder/ target=true out=heatmaps

For each image it writes ``OUT/<name>.png``: the painting as the model saw it (resized as its
validation images were), the heatmap of the predicted class laid over it, with ``target=true``
(the image's class in the run's split.csv, or the class its folder is named after) or ``target=CLASS`` a second heatmap, and the
top-k classes with their probabilities; ``OUT/explanations.json`` lists them all. The method
is the model family's (see docs/explain.md); ``method=`` picks another of the grad-cam package's.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from artgenre import launch
from artgenre.errors import ConfigError
from artgenre.evaluation.explain import METHOD_CHOICES, Explainer
from artgenre.evaluation.heatmap import explanation_figure
from artgenre.evaluation.restore import run_dir_of
from artgenre.runtime.device import DEVICE_CHOICES

USAGE = """\
usage: artgenre-explain checkpoint=PATH IMAGE_OR_FOLDER... [target=predicted|true|CLASS] [out=DIR]
                        [k=3] [method=auto|gradcam|hirescam|gradcam++|layercam|xgradcam] [device=auto|cpu|cuda]

Heatmaps of where the model looks, for the predicted class of each image (and, with target=true,
the class its folder is named after, or with target=CLASS any class), with the top-k classes.
Folders are searched recursively. Results go to OUT (default: <run dir>/explain/)."""


@dataclass
class ExplainConfig:
    checkpoint: Optional[str] = None
    target: str = "predicted"
    out: Optional[str] = None
    k: int = 3
    method: str = "auto"  # auto: the model family's method
    device: str = "auto"


def parse_args(argv: list[str]) -> tuple[ExplainConfig, list[str]]:
    """``key=value`` settings and the images (every argument without ``=``)."""
    settings = [a for a in argv if "=" in a and not a.startswith("-")]
    images = [a for a in argv if a not in settings]
    if any(a.startswith("-") for a in images):
        raise ConfigError(f"cannot read {' '.join(a for a in images if a.startswith('-'))}: pass key=value\n{USAGE}")
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(ExplainConfig), OmegaConf.from_dotlist(settings))
    except OmegaConfBaseException as e:
        key, reason = getattr(e, "full_key", None) or "?", str(e).splitlines()[0]
        raise ConfigError(f"bad argument {key}: {reason}; the keys: checkpoint, target, out, k, method, device") from None
    if not cfg.checkpoint:
        raise ConfigError(f"no checkpoint given: pass checkpoint=PATH (e.g. <run dir>/checkpoints/best.pt)\n{USAGE}")
    if not images:
        raise ConfigError(f"no images given: name image files or folders\n{USAGE}")
    if cfg.k < 1:
        raise ConfigError(f"k={cfg.k}: must be 1 or more")
    if cfg.method not in METHOD_CHOICES:
        raise ConfigError(f"method={cfg.method} is not one of: {', '.join(METHOD_CHOICES)}")
    if cfg.device not in DEVICE_CHOICES:
        raise ConfigError(f"device={cfg.device} is not one of: {', '.join(DEVICE_CHOICES)}")
    return OmegaConf.to_object(cfg), images


def run(args: ExplainConfig, images: list[str]) -> list[dict[str, Any]]:
    """Explain every image, write a figure per image and explanations.json; return the JSON's entries."""
    explainer = Explainer(Path(args.checkpoint).expanduser(), args.device, args.method)
    target = str(args.target)
    extra = None if target == "predicted" else "true" if target.lower() == "true" else target
    if extra not in (None, "true"):
        explainer.class_index(extra)  # an unknown class name fails before any image is read
    out = Path(args.out).expanduser() if args.out else run_dir_of(Path(args.checkpoint)) / "explain"
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    used: set[str] = set()
    for item in explainer.explain_files(images, extra, args.k):
        if item.error:
            entries.append({"path": item.path, "error": item.error})
            print(f"error: {item.path}: {item.error}", file=sys.stderr)
            continue
        name = Path(item.path).stem
        while name + ".png" in used:  # same file name in two folders
            name += "_"
        used.add(name + ".png")
        explanation_figure(out / f"{name}.png", item.image, item.heatmaps, item.top, explainer.method,
                           title=Path(item.path).name, probabilities=item.probabilities)
        entries.append({"path": item.path, "figure": f"{name}.png", "method": explainer.method,
                        "heatmaps": [{"class": c, "probability": p} for c, p in item.probabilities.items()],
                        "top": [{"class": c, "probability": p} for c, p in item.top]})
        if extra == "true" and explainer.true_class(item.path) is None:
            print(f"note: {item.path}: its class is unknown (not in the run's split.csv, its folder named after "
                  "no class); only the predicted class is drawn",
                  file=sys.stderr)
        print(f"{item.path} -> {out / (name + '.png')}\n  " +
              "  ".join(f"{c} {100 * p:.1f}%" for c, p in item.top))
    (out / "explanations.json").write_text(json.dumps({"checkpoint": args.checkpoint, "results": entries},
                                                      indent=2) + "\n")
    print(f"\nsaved to {out}/")
    return entries


def main(argv: Optional[list[str]] = None) -> None:
    entries = launch.key_value_command(argv, USAGE, lambda args: run(*parse_args(args)), logging.WARNING)
    failed = [e for e in entries or [] if "error" in e]
    if failed:
        print(f"{len(failed)} of {len(entries)} input(s) failed", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
