"""Image files a user names (files or folders) and the training's validation pipeline over them:
what artgenre-predict and artgenre-explain read, decoded and sized as the checkpoint's run read
its validation images."""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from omegaconf import DictConfig, OmegaConf
from torch.utils.data import Dataset

from artgenre.data import decode
from artgenre.data.listing import ImageSet, Record
from artgenre.data.loading.pipeline import build_datasets


def expand_inputs(inputs: Sequence[str]) -> list[tuple[str, Optional[str]]]:
    """(path, error) per image: folders become their image files; a missing path is an error of its own."""
    out: list[tuple[str, Optional[str]]] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in decode.IMAGE_SUFFIXES)
            out += [(str(p), None) for p in files]
            if not files:
                out.append((item, f"folder holds no image files ({', '.join(sorted(decode.IMAGE_SUFFIXES))})"))
        elif path.is_file():
            out.append((item, None))  # named explicitly: tried whatever its suffix
        else:
            out.append((item, "no such file or folder"))
    return out


def folder_datasets(cfg: DictConfig, paths: list[str]) -> dict[str, tuple[Dataset, dict[str, int]]]:
    """Per parent folder, the training's validation pipeline over its files (decoding and geometry
    exactly as the checkpoint's run read its validation images), and each file's position in it."""
    data = OmegaConf.merge(cfg.data, {"cache": False})  # new files are not in any pixel cache
    by_folder: dict[str, list[str]] = {}
    for path in paths:
        by_folder.setdefault(str(Path(path).parent), []).append(Path(path).name)
    out = {}
    for folder, names in by_folder.items():
        image_set = ImageSet(root=Path(folder), records=[Record(n, "", 0, "") for n in names], classes=[])
        _, dataset = build_datasets(data, image_set, ["val"] * len(names))
        out[folder] = (dataset, {n: i for i, n in enumerate(names)})
    return out
