"""A tiny archive in the Kaggle layout with every known trap of the real one, and config helpers.

Layout written by :func:`make_archive` (images are small and all different)::

    artists.csv        Picasso, Titian ("High Renaissance,Mannerism"), Albrecht Dürer, Frida Kahlo,
                       Claude Monet + Alfred Sisley (both Impressionism), Jackson Pollock (no folder);
                       years with en dashes
    images/images/Pablo_Picasso/      4 good JPEGs, one ".JPG", one truncated, one zero-byte, one text
                                      file named .jpg, one PNG named .jpg, .DS_Store, Thumbs.db, notes.txt
    images/images/Titian/             grayscale, CMYK, palette+transparency, RGBA, 16-bit, plain RGB
    images/images/Albrecht_Du╠êrer/     a, b, c          (cp437 mojibake of NFD "Dürer")
    images/images/Albrecht_DuΓòá├¬rer/  a, b (same bytes), d   (double mojibake)
    images/images/Frida_Kahlo/, Claude_Monet/, Alfred_Sisley/   3 JPEGs each
    images/images/Unknown_Painter/    2 JPEGs: not in artists.csv
    images/images/stray.jpg           outside any artist folder
    resized/resized/<Artist>_<n>.jpg  the flat copy, for Picasso, Titian, Dürer (mojibake), Kahlo
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from PIL import Image

from artgenre.config import validate

CONF = Path(__file__).resolve().parents[1] / "src" / "artgenre" / "conf"
DURER_CP437 = "Albrecht_Du╠êrer"
DURER_DOUBLE = "Albrecht_DuΓòá├¬rer"

ARTISTS = [  # name, years, genre
    ("Pablo Picasso", "1881 – 1973", "Cubism"),
    ("Titian", "1488 – 1576", "High Renaissance,Mannerism"),
    ("Albrecht Dürer", "1471 – 1528", "Northern Renaissance"),
    ("Frida Kahlo", "1907 – 1954", "Primitivism,Surrealism"),
    ("Claude Monet", "1840 – 1926", "Impressionism"),
    ("Alfred Sisley", "1839 – 1899", "Impressionism"),
    ("Jackson Pollock", "1912 – 1956", "Abstract Expressionism"),
]


def picture(seed: int, size: tuple[int, int] = (40, 30)) -> Image.Image:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)  # smooth: compresses and resizes like a photo
    return Image.fromarray(small).resize(size, Image.Resampling.BILINEAR)


def jpeg(seed: int, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    buf = io.BytesIO()
    picture(seed, size).convert(mode).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def make_archive(root: Path) -> Path:
    images = root / "images" / "images"
    root.mkdir(parents=True)
    with open(root / "artists.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "years", "genre", "nationality", "bio", "wikipedia", "paintings"])
        for i, (name, years, genre) in enumerate(ARTISTS):
            w.writerow([i, name, years, genre, "x", f"{name}, painter", "http://x", 3])

    seed = iter(range(1000))
    picasso = images / "Pablo_Picasso"
    for n in range(1, 5):
        _write(picasso / f"Pablo_Picasso_{n}.jpg", jpeg(next(seed)))
    _write(picasso / "Pablo_Picasso_5.JPG", jpeg(next(seed)))
    _write(picasso / "Pablo_Picasso_6.jpg", jpeg(next(seed))[:300])  # truncated
    _write(picasso / "Pablo_Picasso_7.jpg", b"")
    _write(picasso / "Pablo_Picasso_8.jpg", b"this is not a picture at all\n")
    _write(picasso / "Pablo_Picasso_9.jpg", png(picture(next(seed))))  # a PNG with a .jpg name
    _write(picasso / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    _write(picasso / "Thumbs.db", b"\xd0\xcf\x11\xe0")
    _write(picasso / "notes.txt", b"provenance notes")

    titian = images / "Titian"
    _write(titian / "Titian_1.jpg", jpeg(next(seed), mode="L"))
    _write(titian / "Titian_2.jpg", jpeg(next(seed), mode="CMYK"))
    palette = picture(next(seed)).convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
    palette.info["transparency"] = 0
    _write(titian / "Titian_3.png", png(palette))
    rgba = picture(next(seed)).convert("RGBA")
    rgba.putalpha(0)  # fully transparent: must become white, not black
    _write(titian / "Titian_4.png", png(rgba))
    deep = Image.fromarray((np.arange(40 * 30, dtype=np.uint16).reshape(30, 40) * 50).astype(np.uint16))
    _write(titian / "Titian_5.png", png(deep))
    _write(titian / "Titian_6.jpg", jpeg(next(seed)))

    a, b, c, d = (jpeg(next(seed)) for _ in range(4))
    for name, data in (("1", a), ("2", b), ("3", c)):
        _write(images / DURER_CP437 / f"{DURER_CP437}_{name}.jpg", data)
    for name, data in (("1", a), ("2", b), ("4", d)):
        _write(images / DURER_DOUBLE / f"{DURER_DOUBLE}_{name}.jpg", data)

    for folder in ("Frida_Kahlo", "Claude_Monet", "Alfred_Sisley"):
        for n in range(1, 4):
            _write(images / folder / f"{folder}_{n}.jpg", jpeg(next(seed)))
    for n in range(1, 3):
        _write(images / "Unknown_Painter" / f"Unknown_Painter_{n}.jpg", jpeg(next(seed)))
    _write(images / "stray.jpg", jpeg(next(seed)))

    resized = root / "resized" / "resized"
    for folder, count in (("Pablo_Picasso", 3), ("Titian", 2), (DURER_CP437, 2), ("Frida_Kahlo", 2)):
        for n in range(1, count + 1):
            _write(resized / f"{folder}_{n}.jpg", jpeg(next(seed), size=(20, 16)))
    return root


def zip_folder(folder: Path, target: Path, top: str = "") -> Path:
    with zipfile.ZipFile(target, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file() and ".artgenre" not in p.parts:
                z.write(p, f"{top}{p.relative_to(folder).as_posix()}")
    return target


def config(*overrides: str):
    """The validated training config for these overrides, as the CLI would compose it."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return validate(compose(config_name="train", overrides=["trainer.num_workers=0", "trainer.progress=false",
                                                                 *overrides]))
