"""Entry point: ``artgenre-prepare`` / ``python -m artgenre.prepare`` with training's overrides.

Checks every image of ``data.root`` by decoding it, chooses and labels the classes, splits them
and writes ``manifest.csv`` and ``excluded.csv`` into ``data.cache_dir``; then prints what it
excluded and why, the per-class split counts and both paths. Training does the same on its
own when the manifest is missing or out of date, so running this first is optional: it lets
you read the report before queueing a job. ``data.cache=true`` also builds the pixel cache.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from artgenre import launch
from artgenre.config import validate
from artgenre.data.loading.transforms import AUGMENTATIONS
from artgenre.data.prepare import pixels as pixel_cache
from artgenre.data.prepare import report
from artgenre.training.data import prepare_manifest


def run(raw: DictConfig) -> None:
    cfg = validate(raw)
    prepared = prepare_manifest(cfg, progress=cfg.trainer.progress)
    lines = report(prepared)
    if cfg.data.cache:
        size, layout = cfg.data.image_size, AUGMENTATIONS[cfg.data.augment].cache_layout
        image_set, fmt = prepared.image_set(), cfg.data.cache_format
        built = pixel_cache.build(image_set, size, layout, cfg.trainer.num_workers, cfg.trainer.progress, fmt)
        lines.append(f"pixel cache: {pixel_cache.location(image_set, size, layout, fmt)} "
                     f"({built} images added)")
    print("\n".join(lines), flush=True)


@hydra.main(config_path="conf", config_name="prepare", version_base="1.3")
def hydra_app(raw: DictConfig) -> None:
    launch.guarded(lambda: run(raw))()


def main() -> None:
    launch.hydra_exit_codes(hydra_app)


if __name__ == "__main__":
    main()
