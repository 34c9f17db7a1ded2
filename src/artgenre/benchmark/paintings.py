"""Generated paintings: JPEGs that compress like photographed paintings, in class folders."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CLASSES = 4  # class folders of the generated paintings
JPEG_QUALITY = 94  # ~270 KB at 1000 x 1000 px


@dataclass
class Generated:
    root: Path
    count: int
    megabytes: float
    seconds: float

    def to_json(self, source_size: int) -> dict[str, Any]:
        return {"images": self.count, "source_size": source_size, "megabytes": self.megabytes,
                "kb_per_image": 1024 * self.megabytes / self.count, "seconds": self.seconds}


def painting(rng: np.random.Generator, w: int, h: int) -> Image.Image:
    """Smooth colour fields under a fine texture: compresses like a photographed painting."""
    base = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.Resampling.BICUBIC)
    texture = rng.integers(0, 256, (max(1, h // 3), max(1, w // 3), 3), dtype=np.uint8)
    return Image.blend(base, Image.fromarray(texture).resize((w, h), Image.Resampling.BILINEAR), 0.15)


def _write_painting(job: tuple[Path, int, int]) -> int:
    """Pool task: write painting number ``i`` of ``side`` x ``side`` px; return its size in bytes."""
    root, i, side = job
    path = root / f"class_{i % CLASSES}" / f"{i:05d}.jpg"
    painting(np.random.default_rng([0, i]), side, side).save(path, quality=JPEG_QUALITY)
    return path.stat().st_size


def make_images(root: Path, count: int, side: int) -> Generated:
    """``count`` JPEG paintings in CLASSES class folders under ``root``, written by one process per core."""
    tic = time.perf_counter()
    for c in range(CLASSES):
        (root / f"class_{c}").mkdir(parents=True, exist_ok=True)
    with multiprocessing.Pool(min(count, os.cpu_count() or 1)) as pool:
        sizes = pool.map(_write_painting, [(root, i, side) for i in range(count)])
    return Generated(root, count, sum(sizes) / 2**20, time.perf_counter() - tic)
