"""Generated stand-ins for WikiArt's two distributions, with every format quirk of the real ones:
ArtGAN's split files (:func:`write_artgan`) and Hugging Face parquet shards (:func:`write_parquet`).
The tests train on them and ``scripts/bench_scale.py`` times them; nothing is downloaded.

Image ``i`` has style ``i % styles``, genre ``(i // styles) % genres`` and artist ``i % artists``;
every fourth image is in the validation split.
"""

from __future__ import annotations

import io
import json
import multiprocessing
from pathlib import Path

import numpy as np

from artgenre.benchmark.paintings import JPEG_QUALITY, painting

STYLES = ("Impressionism", "Cubism", "Baroque")
GENRES = ("landscape", "portrait")
ARTISTS = ("edgar-degas", "pablo-picasso", "rembrandt")


def _jpeg(i: int, side: int) -> bytes:
    rng = np.random.default_rng([7, i])
    buf = io.BytesIO()
    painting(rng, side + int(rng.integers(0, side // 3 + 1)), side).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _labels(i: int) -> dict[str, int]:
    return {"style": i % len(STYLES), "genre": (i // len(STYLES)) % len(GENRES), "artist": i % len(ARTISTS)}


def image_name(i: int) -> str:
    title = f"study-no-{i}" if i % 11 else f"still-life, no-{i}"  # a comma inside a path
    return f"{STYLES[i % len(STYLES)]}/{ARTISTS[i % len(ARTISTS)]}_{title}.jpg"


def _write_image(job: tuple[Path, int, int, bool]) -> None:
    images, i, side, damaged = job
    path = images / image_name(i)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"this is not an image" if damaged else _jpeg(i, side))


def write_artgan(root: Path, count: int, side: int = 48, quirks: bool = True, workers: int = 1) -> Path:
    """``count`` images under ``root/wikiart/<Style>/`` and ArtGAN's split files under
    ``root/WikiArt Dataset/{Style,Genre,Artist}/`` as they really are (CRLF, missing extensions,
    the artist files' header, blank line and double commas). With ``quirks``: one listed image
    is missing on disk and one is not a JPEG at all. Returns the image folder (``data.root``)."""
    images = root / "wikiart"
    jobs = [(images, i, side, quirks and i == 5) for i in range(count)]
    if workers > 1:
        with multiprocessing.Pool(workers) as pool:
            pool.map(_write_image, jobs, chunksize=16)
    else:
        for job in jobs:
            _write_image(job)
    listed = list(range(count + (1 if quirks else 0)))  # the last one is missing on disk
    files = {"Style": ("style_class.txt", "style_train.csv", "style_val.csv", STYLES, "style", ","),
             "Genre": ("genre_class", "genre_train.csv", "genre_val.csv", GENRES, "genre", ","),
             "Artist": ("artist_class", "artist_train", "artist_val", ARTISTS, "artist", ",,")}
    for folder, (cls_file, train, val, names, key, sep) in files.items():
        out = root / "WikiArt Dataset" / folder
        out.mkdir(parents=True, exist_ok=True)
        (out / cls_file).write_bytes("".join(f"{k} {n.replace(' ', '_')}\r\n" for k, n in enumerate(names)).encode())
        for name, part in ((train, 1), (val, 0)):
            head = "(Path to image),, (Groundtruth class)\r\n\r\n" if key == "artist" else ""
            rows = [f"{image_name(i)}{sep}{_labels(i)[key]}\r\n" for i in listed if (i % 4 != 0) == bool(part)]
            (out / name).write_bytes((head + "".join(rows)).encode())
    return images


def _hf_metadata(columns: dict[str, tuple[str, ...]]) -> bytes:
    features = {"image": {"_type": "Image"}}
    features.update({c: {"names": list(n), "_type": "ClassLabel"} for c, n in columns.items()})
    return json.dumps({"info": {"features": features}}).encode()


def write_parquet(folder: Path, count: int, side: int = 48, shards: int = 2, row_group: int = 100,
                  quirks: bool = True) -> Path:
    """``count`` images in ``shards`` parquet files shaped like huggan/wikiart's: an ``image``
    struct of bytes and path, integer ``artist``/``genre``/``style`` columns whose names live in
    the schema's Hugging Face metadata, with "Unknown Artist" and "Unknown Genre" among them.
    With ``quirks``: one row's bytes are not an image. Returns ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = {"artist": ("Unknown Artist", *ARTISTS), "genre": (*GENRES, "Unknown Genre"), "style": STYLES}
    folder.mkdir(parents=True, exist_ok=True)
    per_shard = -(-count // shards)
    for s in range(shards):
        rows = range(s * per_shard, min(count, (s + 1) * per_shard))
        images = [{"bytes": b"not an image" if quirks and i == 5 else _jpeg(i, side), "path": f"{i}.jpg"}
                  for i in rows]
        labels = {k: [] for k in names}
        for i in rows:
            lab = _labels(i)
            unknown = i % 13 == 0  # a few images of unknown artist and genre
            labels["artist"].append(0 if unknown else lab["artist"] + 1)
            labels["genre"].append(len(GENRES) if unknown else lab["genre"])
            labels["style"].append(lab["style"])
        table = pa.table({"image": images, **{k: pa.array(v, pa.int64()) for k, v in labels.items()}})
        table = table.replace_schema_metadata({b"huggingface": _hf_metadata(names)})
        pq.write_table(table, folder / f"train-{s:05d}-of-{shards:05d}.parquet", row_group_size=row_group)
    return folder
