"""Build, load and fingerprint the manifest: :func:`prepare` reuses it when up to date, else makes
it afresh (decoding only new or changed files).

Up to date means: ``prepare.json`` holds the current fingerprint and the hash of the
``manifest.csv`` beside it. The fingerprint covers every file the layout lists (path, size and
mtime, or size and CRC in a zip), the bytes of artists.csv, the data keys that change the
manifest (:data:`FINGERPRINT_KEYS`) and the split seed. Keys that only change how images are fed
(image_size, augment, cache, normalize) do not count.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf

from artgenre.data.archive import Archive, FolderArchive, ZipArchive
from artgenre.data.layouts import DATASETS
from artgenre.data.listing import ImageSet, Listing, Record
from artgenre.data.prepare.checks import run_checks
from artgenre.data.prepare.classes import LABELINGS, manifest_rows, select, usable
from artgenre.data.prepare.files import atomic_write, csv_text, read_csv, resolve_cache_dir
from artgenre.data.prepare.groups import GROUPINGS
from artgenre.data.split import fold_split, grouped_folds, stratified_folds, stratified_split
from artgenre.errors import ConfigError, DataError

MANIFEST_VERSION = 2
MANIFEST_COLUMNS = ["path", "artist", "genre", "label", "class_name", "split", "fold", "format", "width", "height",
                    "sha1"]
EXCLUDED_COLUMNS = ["path", "reason"]
FINGERPRINT_KEYS = ("name", "source", "artists", "label", "min_images", "val_fraction", "test_fraction", "max_pixels",
                    "folds", "group_by")
CROSS_VALIDATION = "cv"  # the manifest's split of every image with data.folds: data.fold decides (see prepare)


@dataclass
class Prepared:
    root: Path
    cache_dir: Path
    records: list[Record]
    split: list[str]
    classes: list[str]
    excluded: list[tuple[str, str]]
    notes: list[str] = field(default_factory=list)
    fingerprint: str = ""
    archive: Optional[Archive] = None  # the layout's own reader (parquet shards); None: a folder or zip
    reused: bool = False
    decoded: int = 0  # images decoded to make this manifest (the others were known from checks.csv)
    fold: list[Optional[int]] = field(default_factory=list)  # with data.folds: each image's fold, else None

    @property
    def manifest_path(self) -> Path:
        return self.cache_dir / "manifest.csv"

    @property
    def excluded_path(self) -> Path:
        return self.cache_dir / "excluded.csv"

    def image_set(self) -> ImageSet:
        return ImageSet(root=self.root, records=self.records, classes=self.classes, cache_dir=self.cache_dir,
                        archive=self.archive, fold=self.fold if any(f is not None for f in self.fold) else None)


def options(data: DictConfig, seed: int) -> dict[str, Any]:
    """What the manifest depends on: the data keys of :data:`FINGERPRINT_KEYS` and the split seed."""
    values = OmegaConf.to_container(data, resolve=True)
    opts = {k: values.get(k) for k in FINGERPRINT_KEYS}
    opts["seed"] = int(seed)
    return opts


def given_split(split: dict[str, str], paths: list[str], test_fraction: float) -> list[str]:
    """The layout's split of each manifest path (``data.val_fraction`` plays no part)."""
    if test_fraction:
        raise DataError("this data set comes with its own train/val split and no test part: set data.test_fraction=0")
    return [split[p] for p in paths]


def fingerprint(listing: Listing, opts: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": MANIFEST_VERSION, "catalog": listing.catalog_digest, **opts},
                        sort_keys=True, default=str).encode())
    for e in listing.entries:
        h.update(f"{e.path}\0{e.stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _write_excluded(cache_dir: Path, excluded: list[tuple[str, str]]) -> None:
    atomic_write(cache_dir / "excluded.csv", csv_text(EXCLUDED_COLUMNS, [list(e) for e in sorted(excluded)]))


def build(listing: Listing, opts: dict[str, Any], cache_dir: Path, workers: int = 0, progress: bool = True) -> Prepared:
    """Check, select, label and split; write manifest.csv, excluded.csv and prepare.json."""
    checks, decoded = run_checks(listing, cache_dir, opts["max_pixels"], workers, progress)
    excluded: list[tuple[str, str]] = list(listing.skipped)
    notes = list(listing.notes)
    if listing.system_files:
        notes.append(f"ignored {listing.system_files} system file(s) (.DS_Store, Thumbs.db, ...)")
    images = usable(listing, checks, opts["max_pixels"], excluded, notes)
    _write_excluded(cache_dir, excluded)  # before choosing classes, whose errors point to it
    counts = Counter({a: len(v) for a, v in images.items()})
    selected = select(listing, opts["artists"], opts["min_images"], counts, notes, cache_dir / "excluded.csv")

    label_of, classes = LABELINGS[opts["label"]](selected, listing.artists)
    if opts.get("group_by"):
        selected, label_of, classes = GROUPINGS[opts["group_by"]](selected, label_of, classes, counts, notes)
    rows = manifest_rows(selected, images, label_of, classes, excluded)
    labels = [label_of[c.artist] for c, _ in rows]
    if listing.split is not None:  # the layout's own split (WikiArt's official one), kept as given
        if opts.get("folds") or opts.get("group_by"):
            raise ConfigError(f"data={opts['name']} keeps its official train/val split (so results compare with "
                              "the literature): drop data.folds and data.group_by")
        split = given_split(listing.split, [c.path for c, _ in rows], opts["test_fraction"])
        fold: list[Optional[int]] = [None] * len(split)
    else:
        split, fold = assign_split(labels, [c.artist for c, _ in rows], opts)
    records = [
        Record(c.path, c.artist, label_of[c.artist], classes[label_of[c.artist]], listing.artists[c.artist].genre,
               chk.width, chk.height, chk.sha1)
        for c, chk in rows
    ]
    formats = {c.path: chk.format for c, chk in rows}
    manifest = csv_text(MANIFEST_COLUMNS, [
        [r.path, r.artist, r.genre, r.label, r.class_name, s, "" if f is None else f, formats[r.path], r.width,
         r.height, r.sha1]
        for r, s, f in zip(records, split, fold)
    ])
    fp = fingerprint(listing, opts)
    _write_excluded(cache_dir, excluded)
    atomic_write(cache_dir / "manifest.csv", manifest)
    meta = {"version": MANIFEST_VERSION, "fingerprint": fp, "root": str(listing.archive.root),
            "manifest_sha256": hashlib.sha256(manifest.encode("utf-8", "surrogateescape")).hexdigest(),
            "classes": classes, "notes": notes, "options": opts}
    atomic_write(cache_dir / "prepare.json", json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n")
    return Prepared(listing.archive.root, cache_dir, records, split, classes, sorted(excluded), notes, fp,
                    archive=_own_archive(listing), decoded=decoded, fold=fold)


def _own_archive(listing: Listing) -> Optional[Archive]:
    """The listing's archive when open_archive(root) would not give it back (parquet shards)."""
    return None if isinstance(listing.archive, (FolderArchive, ZipArchive)) else listing.archive


def load(cache_dir: Path, root: Path, fp: str, archive: Optional[Archive] = None) -> Optional[Prepared]:
    """The manifest in ``cache_dir`` if it was made for fingerprint ``fp`` and is intact, else None."""
    try:
        meta = json.loads((cache_dir / "prepare.json").read_text(encoding="utf-8", errors="surrogateescape"))
        raw = (cache_dir / "manifest.csv").read_bytes()
        if meta.get("version") != MANIFEST_VERSION or meta.get("fingerprint") != fp:
            return None
        if hashlib.sha256(raw).hexdigest() != meta.get("manifest_sha256"):
            return None  # rewritten by a run with other settings since
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8", "surrogateescape"), newline="")))
        excluded = [(r["path"], r["reason"]) for r in read_csv(cache_dir / "excluded.csv")]
        records = [Record(r["path"], r["artist"], int(r["label"]), r["class_name"], r["genre"], int(r["width"]),
                          int(r["height"]), r["sha1"]) for r in rows]
        split = [r["split"] for r in rows]
        fold = [int(r["fold"]) if r["fold"] != "" else None for r in rows]
        return Prepared(root, cache_dir, records, split, list(meta["classes"]), excluded, list(meta["notes"]), fp,
                        archive=archive, reused=True, fold=fold)
    except (OSError, ValueError, KeyError, csv.Error):
        return None


def assign_split(labels: list[int], artists: list[str], opts: dict[str, Any]) -> tuple[list[str], list[Optional[int]]]:
    """(split, fold) of each image. With ``folds``: split 'cv' and the image's fold; grouped without
    folds: the first of round(1 / val_fraction) grouped folds is 'val'; else the stratified holdout."""
    n, seed, folds = len(labels), opts["seed"], opts.get("folds")
    if folds:
        if opts.get("group_by"):
            fold = grouped_folds(labels, artists, folds, seed)
        else:
            fold = stratified_folds(labels, folds, seed)
        return [CROSS_VALIDATION] * n, fold
    if opts.get("group_by"):
        k = max(2, round(1 / opts["val_fraction"]))
        return fold_split(grouped_folds(labels, artists, k, seed), 0), [None] * n
    return stratified_split(labels, opts["val_fraction"], seed, opts["test_fraction"]), [None] * n


def prepare(data: DictConfig, *, seed: int, workers: int = 0, progress: bool = True) -> Prepared:
    """The manifest for the ``data`` config section and split ``seed``: reused when up to date, else
    made afresh (decoding only new files, with ``workers`` processes; 0: in this one). With
    ``data.folds`` the manifest holds every image's fold, and ``data.fold`` picks the validated one
    here, so the K runs of a cross-validation share one manifest."""
    opts = options(data, seed)
    listing = DATASETS[data.name](data)
    root = listing.archive.root
    cache_dir = resolve_cache_dir(data.cache_dir, root)
    fp = fingerprint(listing, opts)
    prepared = load(cache_dir, root, fp, _own_archive(listing)) or build(listing, opts, cache_dir, workers, progress)
    if opts.get("folds"):
        prepared.split = fold_split(prepared.fold, int(data.fold))
    return prepared
