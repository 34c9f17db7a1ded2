"""A list of (image file, label) pairs as a torch Dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from artgenre.errors import DataError


class ImageListDataset(Dataset):
    def __init__(self, root: Path, paths: Sequence[str], labels: Sequence[int], transform: Callable) -> None:
        self.root = Path(root)
        self.paths = list(paths)
        self.labels = list(labels)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int):
        path = self.root / self.paths[i]
        try:
            with Image.open(path) as im:
                image = im.convert("RGB")  # grayscale, palette, CMYK, alpha -> 3 channels
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise DataError(f"cannot read image {path}: {e}") from None
        return self.transform(image), self.labels[i]
