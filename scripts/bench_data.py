#!/usr/bin/env python
"""Images per second of the input pipeline alone (no model): the study's path vs the cached one.

    python scripts/bench_data.py                 # 200 generated 1200x900 JPEGs, 384 px, in-process
    python scripts/bench_data.py --workers 4 --images 400 --size 224

Paths measured, each for ``--epochs`` passes through a DataLoader (taking turns; the best epoch counts):

* study    decode the full JPEG + Resize((384, 384)) + ToTensor, every epoch (the study's code);
* decoded  this project with data.cache=false: JPEG draft-mode decode + the same squash on uint8;
* cached   this project with data.cache=true: read the stored square (data.augment=none caches the
           squashed image itself).

The study's loader delivers float batches; this project's deliver uint8 batches, which training
turns into floats on the GPU (pipeline.DeviceBatches). The last row adds that conversion on the
CPU, as a CPU-only run does it; "augment=basic" shows the random-crop preset on its own cache.

The one-off costs (prepare's check of every file, building the cache) are printed apart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import artgenre
from artgenre.benchmark.paintings import painting
from artgenre.benchmark.study import StudyDataset
from artgenre.config import validate
from artgenre.data.loading.dataset import CachedImageDataset, ImageListDataset
from artgenre.data.loading.pipeline import DeviceBatches
from artgenre.data.loading.transforms import geometry
from artgenre.training.data import ensure_pixel_cache, prepare_manifest

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def make_images(root: Path, n: int, w: int, h: int) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class_{i % 4}"
        folder.mkdir(parents=True, exist_ok=True)
        painting(rng, w, h).save(folder / f"{i:04d}.jpg", quality=90)


@dataclass
class Rate:
    wall: float = 0.0  # images per second of wall-clock time
    cpu: float = 0.0  # images per CPU-second of this process (workers=0 only): immune to other load


def epoch_rates(loaders: dict[str, Iterable], workers: int, epochs: int) -> dict[str, Rate]:
    """Best epoch per path. Epochs of the paths take turns, so a burst of load from other
    processes on a shared machine hits all of them alike; the best epoch is the least disturbed
    (as timeit takes the minimum)."""
    for loader in loaders.values():
        next(iter(loader))  # start the workers before the clock
    best = {name: Rate() for name in loaders}
    for _ in range(epochs):
        for name, loader in loaders.items():
            wall, cpu = time.perf_counter(), time.process_time()
            seen = sum(len(images) for images, _ in loader)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name].wall = max(best[name].wall, seen / wall)
            best[name].cpu = max(best[name].cpu, seen / max(cpu, 1e-9))
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--width", type=int, default=1200)
    ap.add_argument("--height", type=int, default=900)
    ap.add_argument("--size", type=int, default=384, help="data.image_size")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (0: in-process)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # one core per pipeline, as in a loader worker

    with tempfile.TemporaryDirectory(prefix="artgenre-bench-") as tmp:
        root = Path(tmp) / "images"
        tic = time.perf_counter()
        make_images(root, args.images, args.width, args.height)
        mb = sum(p.stat().st_size for p in root.rglob("*.jpg")) / 2**20
        print(f"{args.images} JPEGs of {args.width}x{args.height} ({mb:.0f} MB) written in "
              f"{time.perf_counter() - tic:.1f} s; image_size {args.size}, workers {args.workers}, "
              f"{args.epochs} epochs, batch {args.batch}")

        cfg = validate(_config(root, args))
        tic = time.perf_counter()
        prepared = prepare_manifest(cfg, progress=False)
        check_s = time.perf_counter() - tic
        image_set = prepared.image_set()
        tic = time.perf_counter()
        pixels = ensure_pixel_cache(image_set, args.size, "square", args.workers, progress=False)
        build_s = time.perf_counter() - tic
        margin = ensure_pixel_cache(image_set, args.size, "margin", args.workers, progress=False)
        print(f"one-off: prepare (decode-check every file) {check_s:.1f} s, build the cache {build_s:.1f} s "
              f"({sum(p.stat().st_size for p in pixels.folder.rglob('*.npy')) / 2**20:.0f} MB)")

        rows = list(range(len(image_set.records)))
        labels = [r.label for r in image_set.records]
        squash = geometry(args.size, "none", train=True)  # the study's preset, on uint8

        def loader(dataset: Dataset) -> DataLoader:
            return DataLoader(dataset, batch_size=args.batch, num_workers=args.workers, shuffle=True,
                              persistent_workers=args.workers > 0)

        cached = loader(CachedImageDataset(pixels, rows, labels, squash))
        loaders = {
            "study (decode + Resize, PIL)": loader(StudyDataset([image_set.root / r.path for r in image_set.records],
                                                                labels, args.size)),
            "decoded (draft + squash)": loader(ImageListDataset(image_set.root, [r.path for r in image_set.records],
                                                                labels, squash, min_side=args.size)),
            "cached (stored square)": cached,
            "cached + floats on the CPU": DeviceBatches(cached, torch.device("cpu"), MEAN, STD, normalize=False),
            "cached, augment=basic": loader(CachedImageDataset(margin, rows, labels,
                                                               geometry(args.size, "basic", train=True))),
        }
        results = epoch_rates(loaders, args.workers, args.epochs)

    study = results["study (decode + Resize, PIL)"]
    cpu = args.workers == 0  # CPU time of worker processes is not measured
    header = f"\n{'input pipeline':<30} {'images/s':>9} {'x study':>8}"
    print(header + (f" {'img/CPU-s':>10} {'x study':>8}" if cpu else ""))
    for name, rate in results.items():
        line = f"{name:<30} {rate.wall:>9.1f} {rate.wall / study.wall:>8.1f}"
        print(line + (f" {rate.cpu:>10.1f} {rate.cpu / study.cpu:>8.1f}" if cpu else ""))


def _config(root: Path, args: argparse.Namespace):
    from hydra import compose, initialize_config_dir

    conf = Path(artgenre.__file__).parent / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose(config_name="train", overrides=[
            "data=folder", f"data.root={root}", f"data.image_size={args.size}",
            f"trainer.num_workers={args.workers}", "trainer.progress=false"])


if __name__ == "__main__":
    sys.exit(main())
