"""Any folder of labelled images (``data=folder``): one sub-folder per class, like torchvision's
ImageFolder::

    root/<class name>/**/*.jpg|png|...

The class is the sub-folder's name (repaired, underscores as spaces); it is also its "genre",
so ``data.label=artist`` and ``data.label=genre`` agree. Every class is used unless
``data.artists`` lists some. Files directly in ``root`` are skipped and reported.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Optional

from artgenre.data.layouts import names
from artgenre.data.archive import FileEntry, is_system_file, open_archive
from artgenre.data.layouts.artworks import check_root, classify_file
from artgenre.data.listing import ArtistInfo, Listing
from artgenre.errors import DataError


def list_folder(root: Optional[str | Path]) -> Listing:
    archive = open_archive(check_root(root))
    folders: dict[str, list[FileEntry]] = defaultdict(list)
    out = Listing(archive=archive, artists={}, candidates=[])
    for entry in archive.files():
        out.entries.append(entry)
        if entry.path.startswith("."):  # .ipynb_checkpoints, .cache ...: never a class
            out.system_files += 1
            continue
        if "/" not in entry.path:
            if is_system_file(entry.path):
                out.system_files += 1
            else:
                out.skipped.append((entry.path, "not inside a class folder"))
            continue
        folders[entry.path.split("/", 1)[0]].append(entry)
    by_name: dict[str, list[str]] = defaultdict(list)
    for folder in folders:
        by_name[names.display(folder)].append(folder)
    if not by_name:
        raise DataError(f"no class folders in {archive.root}: data=folder expects one sub-folder of images per class")
    out.artists = {name: ArtistInfo(name, (name,)) for name in sorted(by_name)}
    for name, spellings in by_name.items():
        if len(spellings) > 1:
            out.notes.append(f"{name}: folders {', '.join(sorted(spellings))} merged into one class")
        for folder in spellings:
            for entry in folders[folder]:
                classify_file(entry, folder, name, out)
    return out
