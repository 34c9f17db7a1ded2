"""prepare: check every image once, choose and label the classes, split, write the manifest.

Files in ``data.cache_dir`` (default ``<data.root>/.artgenre``; see :func:`resolve_cache_dir`):

* ``manifest.csv``  one row per usable image: path, artist, genre, label, class_name, split, ...
* ``excluded.csv``  path, reason: every file left out (damaged, not an image, duplicate, ...)
* ``prepare.json``  the fingerprint the manifest was made for, and the manifest's own hash
* ``checks.csv``    the decode result of every file by (path, size+mtime): a later prepare with
                    another artist selection, label or split decodes nothing again

Up to date means: ``prepare.json`` holds the current fingerprint and the hash of the
``manifest.csv`` beside it. The fingerprint covers every file the layout lists (path, size and
mtime, or size and CRC in a zip), the bytes of artists.csv, the data keys that change the
manifest (:data:`FINGERPRINT_KEYS`) and the split seed (``trainer.seed``). Keys that only
change how images are fed (image_size, augment, cache, normalize) do not count.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Callable, Optional

from omegaconf import DictConfig, OmegaConf

from artgenre.runtime import distributed
from artgenre.data import decode
from artgenre.data.archive import Archive
from artgenre.data.artworks import ArtistMatcher
from artgenre.data.catalog import class_name as artist_class_name
from artgenre.data.listing import ArtistInfo, Candidate, ImageSet, Listing, Record
from artgenre.data.parallel import parallel_map
from artgenre.data.split import stratified_split
from artgenre.errors import ArtgenreError, ConfigError, DataError

MANIFEST_VERSION = 1
MANIFEST_COLUMNS = ["path", "artist", "genre", "label", "class_name", "split", "format", "width", "height", "sha1"]
EXCLUDED_COLUMNS = ["path", "reason"]
CHECK_COLUMNS = ["path", "stamp", "status", "format", "width", "height", "sha1", "reason"]
FINGERPRINT_KEYS = ("name", "source", "artists", "label", "min_images", "val_fraction", "test_fraction", "max_pixels")
# Paths may hold bytes that are not UTF-8 (os.listdir escapes them); write them back as they were.
_TEXT = dict(encoding="utf-8", errors="surrogateescape", newline="")


# ----------------------------------------------------------------------------- results


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
    reused: bool = False
    decoded: int = 0  # images decoded to make this manifest (the others were known from checks.csv)

    @property
    def manifest_path(self) -> Path:
        return self.cache_dir / "manifest.csv"

    @property
    def excluded_path(self) -> Path:
        return self.cache_dir / "excluded.csv"

    def image_set(self) -> ImageSet:
        return ImageSet(root=self.root, records=self.records, classes=self.classes, cache_dir=self.cache_dir)


@dataclass(frozen=True)
class Check:
    status: str  # ok | bad | large
    format: str = ""
    width: int = 0
    height: int = 0
    sha1: str = ""
    reason: str = ""


# ----------------------------------------------------------------------------- where files go


def _writable(folder: Path) -> bool:
    # os.access says yes to root and to read-only mounts alike; only a real write tells
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
        return True
    except OSError:
        return False


def resolve_cache_dir(setting: Optional[str], root: Path) -> Path:
    """``data.cache_dir`` if set; else ``<root>/.artgenre`` (``<zip folder>/.artgenre/<zip name>``
    for a zip); else, when that is read-only, a per-user folder under default_cache_dir()."""
    from artgenre.data import default_cache_dir

    if setting:
        path = Path(setting).expanduser()
        if not _writable(path):
            raise DataError(f"data.cache_dir {path} is not writable; choose another folder")
        return path
    preferred = root / ".artgenre" if root.is_dir() else root.parent / ".artgenre" / root.name
    if _writable(preferred):
        return preferred
    resolved = str(root.resolve())
    fallback = default_cache_dir() / "prepared" / f"{root.name}-{hashlib.sha1(resolved.encode()).hexdigest()[:10]}"
    if _writable(fallback):
        return fallback
    raise DataError(f"neither {preferred} nor {fallback} is writable: set data.cache_dir=/a/writable/folder")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", **_TEXT) as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _csv_text(columns: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue()


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, **_TEXT) as f:
        return list(csv.DictReader(f))


# ----------------------------------------------------------------------------- checking files

_archive: Optional[Archive] = None
_max_pixels = decode.DEFAULT_MAX_PIXELS


def _init_checker(archive: Archive, max_pixels: int) -> None:
    global _archive, _max_pixels
    _archive, _max_pixels = archive, max_pixels


def _check_path(path: str) -> Check:
    try:
        with _archive.open(path) as f:
            data = f.read()
    except OSError as e:
        return Check("bad", reason=f"cannot read the file ({e.strerror or e})")
    try:
        info = decode.check(data, _max_pixels)
    except decode.TooLarge as e:
        return Check("large", width=e.width, height=e.height, reason=str(e))
    except decode.ImageProblem as e:
        return Check("bad", reason=str(e))
    return Check("ok", info.format, info.width, info.height, info.sha1)


def _load_checks(path: Path) -> dict[tuple[str, str], Check]:
    try:
        rows = _read_csv(path)
    except (OSError, csv.Error, UnicodeError):
        return {}
    try:
        return {(r["path"], r["stamp"]): Check(r["status"], r["format"], int(r["width"]), int(r["height"]), r["sha1"],
                                               r["reason"]) for r in rows}
    except (KeyError, ValueError):
        return {}  # an older or damaged file: check again


def run_checks(
    listing: Listing, cache_dir: Path, max_pixels: int, workers: int, progress: bool
) -> tuple[dict[str, Check], int]:
    """The decode result of every candidate, and how many were decoded: only files new or changed
    since the last run are."""
    known = _load_checks(cache_dir / "checks.csv")
    results: dict[str, Check] = {}
    todo: list[Candidate] = []
    for c in listing.candidates:
        old = known.get((c.path, c.stamp))
        # a file too large for an earlier, lower limit may be allowed now
        if old is None or (old.status == "large" and old.width * old.height <= max_pixels):
            todo.append(c)
        else:
            results[c.path] = old
    if todo:
        done = parallel_map(_check_path, [c.path for c in todo], workers, "checking images", progress,
                            _init_checker, (listing.archive, max_pixels))
        results.update(zip((c.path for c in todo), done))
    stamps = {c.path: c.stamp for c in listing.candidates}
    rows = [[p, stamps[p], r.status, r.format, r.width, r.height, r.sha1, r.reason] for p, r in sorted(results.items())]
    _atomic_write(cache_dir / "checks.csv", _csv_text(CHECK_COLUMNS, rows))
    return results, len(todo)


# ----------------------------------------------------------------------------- choosing classes


def _requested(listing: Listing, artists: Any) -> tuple[bool, list[str]]:
    """(explicit?, names) for data.artists: null (the layout's default), "all", or a list."""
    everyone = list(listing.artists)
    if artists is None:
        if listing.default_artists is None:
            return False, everyone
        wanted, explicit = list(listing.default_artists), True
    elif isinstance(artists, str) and artists.strip().lower() == "all":
        return False, everyone
    else:
        wanted, explicit = ([artists] if isinstance(artists, str) else [str(a) for a in artists]), True
    match = ArtistMatcher(everyone)
    found, unknown = [], []
    for name in wanted:
        hit = match(name)
        if hit is None:
            unknown.append(name)
        elif hit not in found:
            found.append(hit)
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, everyone, n=1, cutoff=0.6)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise DataError(f"artist(s) not in the data set: {', '.join(hints)}; data.artists=all uses every artist")
    return explicit, found


def _select(listing: Listing, artists: Any, min_images: int, counts: Counter, notes: list[str],
            excluded_path: Path) -> list[str]:
    explicit, wanted = _requested(listing, artists)
    short = [a for a in wanted if counts[a] < min_images]
    if explicit and short:
        detail = ", ".join(f"{a} ({counts[a]})" for a in short)
        raise DataError(f"too few usable images (data.min_images={min_images}) for: {detail}. Check the archive "
                        f"(excluded files are listed in {excluded_path}) or choose other artists with data.artists")
    if short:
        none = [a for a in short if counts[a] == 0]
        few = [a for a in short if counts[a] > 0]
        if few:
            notes.append(f"left out, fewer than data.min_images={min_images} usable images: "
                         + ", ".join(f"{a} ({counts[a]})" for a in few))
        if none:
            notes.append(f"no images on disk for: {', '.join(none)}")
    selected = [a for a in wanted if counts[a] >= min_images]
    if len(selected) < 2:
        raise DataError(f"only {len(selected)} class(es) with at least data.min_images={min_images} usable images; "
                        "a classifier needs two or more")
    return selected


def _label_by_artist(selected: list[str], artists: dict[str, ArtistInfo]) -> tuple[dict[str, int], list[str]]:
    def name(a: str) -> str:
        info = artists[a]
        return artist_class_name(",".join(info.genres), a) if info.genres and info.genres != (a,) else a

    return {a: i for i, a in enumerate(selected)}, [name(a) for a in selected]


def _label_by_genre(selected: list[str], artists: dict[str, ArtistInfo]) -> tuple[dict[str, int], list[str]]:
    """An artist's first-listed genre is its class: "High Renaissance,Mannerism" -> High Renaissance."""
    missing = [a for a in selected if not artists[a].genres]
    if missing:
        raise DataError(f"data.label=genre but artists.csv gives no genre for: {', '.join(missing)}")
    classes: list[str] = []
    for a in selected:
        if artists[a].genres[0] not in classes:
            classes.append(artists[a].genres[0])
    return {a: classes.index(artists[a].genres[0]) for a in selected}, classes


LABELINGS: dict[str, Callable[[list[str], dict[str, ArtistInfo]], tuple[dict[str, int], list[str]]]] = {
    "artist": _label_by_artist,
    "genre": _label_by_genre,
}


# ----------------------------------------------------------------------------- the pipeline


def _options(cfg: DictConfig) -> dict[str, Any]:
    data = OmegaConf.to_container(cfg.data, resolve=True)
    opts = {k: data.get(k) for k in FINGERPRINT_KEYS}
    opts["seed"] = int(cfg.trainer.seed)
    if not 0.0 <= opts["test_fraction"] < 1.0 or opts["val_fraction"] + opts["test_fraction"] >= 1.0:
        raise ConfigError(f"'data.test_fraction' = {opts['test_fraction']}: needs 0 <= test_fraction and "
                          "val_fraction + test_fraction < 1")
    if opts["min_images"] < 2:
        raise ConfigError(f"'data.min_images' = {opts['min_images']} must be at least 2 (one train, one val image)")
    if opts["max_pixels"] < 1:
        raise ConfigError(f"'data.max_pixels' = {opts['max_pixels']} must be positive")
    return opts


def fingerprint(listing: Listing, opts: dict[str, Any]) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"version": MANIFEST_VERSION, "catalog": listing.catalog_digest, **opts},
                        sort_keys=True, default=str).encode())
    for e in listing.entries:
        h.update(f"{e.path}\0{e.stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _usable(listing: Listing, checks: dict[str, Check], max_pixels: int, excluded: list, notes: list) -> dict:
    """artist -> [(candidate, check)] of images that decode, one per content within an artist."""
    by_artist: dict[str, list[tuple[Candidate, Check]]] = {}
    renamed = []
    for cand in listing.candidates:
        chk = checks[cand.path]
        if chk.status == "ok" and chk.width * chk.height > max_pixels:  # the limit was lowered since the check
            chk = Check("large", reason=str(decode.TooLarge(chk.width, chk.height, max_pixels)))
        if chk.status != "ok":
            excluded.append((cand.path, chk.reason))
            continue
        promised = decode.SUFFIX_FORMATS.get(PurePosixPath(cand.path).suffix.lower())
        if promised != chk.format and {promised, chk.format} != {"JPEG", "MPO"}:
            renamed.append(f"{cand.path} ({chk.format})")
        by_artist.setdefault(cand.artist, []).append((cand, chk))
    if renamed:
        notes.append(f"kept {len(renamed)} file(s) whose content is not what the extension says: "
                     + ", ".join(renamed[:10]) + (" ..." if len(renamed) > 10 else ""))
    for artist, items in by_artist.items():
        # the spelling the catalogue uses wins over a mojibake copy of the same folder
        items.sort(key=lambda it: (not it[0].canonical, it[0].path))
        first: dict[str, str] = {}
        kept = []
        for cand, chk in items:
            if chk.sha1 in first:
                excluded.append((cand.path, f"duplicate of {first[chk.sha1]}"))
            else:
                first[chk.sha1] = cand.path
                kept.append((cand, chk))
        by_artist[artist] = sorted(kept, key=lambda it: it[0].path)
    return by_artist


def _rows(selected: list[str], usable: dict, label_of: dict[str, int], classes: list[str],
          excluded: list[tuple[str, str]]) -> list[tuple[Candidate, Check]]:
    """The manifest's images, sorted by (label, path): the split's input order."""
    first_seen: dict[str, str] = {}
    rows: list[tuple[Candidate, Check]] = []
    for artist in selected:
        for cand, chk in usable[artist]:
            if chk.sha1 in first_seen:  # the same painting under two selected artists
                excluded.append((cand.path, f"duplicate of {first_seen[chk.sha1]}"))
                continue
            first_seen[chk.sha1] = cand.path
            rows.append((cand, chk))
    rows.sort(key=lambda it: (label_of[it[0].artist], it[0].path))
    per_class = Counter(label_of[c.artist] for c, _ in rows)
    short = [name for i, name in enumerate(classes) if per_class[i] < 2]
    if short:
        raise DataError(f"after removing duplicate images these classes have fewer than two: {', '.join(short)}")
    return rows


def _write_excluded(cache_dir: Path, excluded: list[tuple[str, str]]) -> None:
    _atomic_write(cache_dir / "excluded.csv", _csv_text(EXCLUDED_COLUMNS, [list(e) for e in sorted(excluded)]))


def build(listing: Listing, cfg: DictConfig, cache_dir: Path, progress: bool = True) -> Prepared:
    """Check, select, label and split; write manifest.csv, excluded.csv and prepare.json."""
    opts = _options(cfg)
    checks, decoded = run_checks(listing, cache_dir, opts["max_pixels"], int(cfg.trainer.num_workers), progress)
    excluded: list[tuple[str, str]] = list(listing.skipped)
    notes = list(listing.notes)
    if listing.system_files:
        notes.append(f"ignored {listing.system_files} system file(s) (.DS_Store, Thumbs.db, ...)")
    usable = _usable(listing, checks, opts["max_pixels"], excluded, notes)
    _write_excluded(cache_dir, excluded)  # before choosing classes, whose errors point to it
    counts = Counter({a: len(v) for a, v in usable.items()})
    selected = _select(listing, opts["artists"], opts["min_images"], counts, notes, cache_dir / "excluded.csv")

    label_of, classes = LABELINGS[opts["label"]](selected, listing.artists)
    rows = _rows(selected, usable, label_of, classes, excluded)
    labels = [label_of[c.artist] for c, _ in rows]
    split = stratified_split(labels, opts["val_fraction"], opts["seed"], opts["test_fraction"])
    records = [
        Record(c.path, c.artist, label_of[c.artist], classes[label_of[c.artist]], listing.artists[c.artist].genre,
               chk.width, chk.height, chk.sha1)
        for c, chk in rows
    ]
    formats = {c.path: chk.format for c, chk in rows}
    manifest = _csv_text(MANIFEST_COLUMNS, [
        [r.path, r.artist, r.genre, r.label, r.class_name, s, formats[r.path], r.width, r.height, r.sha1]
        for r, s in zip(records, split)
    ])
    fp = fingerprint(listing, opts)
    _write_excluded(cache_dir, excluded)
    _atomic_write(cache_dir / "manifest.csv", manifest)
    meta = {"version": MANIFEST_VERSION, "fingerprint": fp, "root": str(listing.archive.root),
            "manifest_sha256": hashlib.sha256(manifest.encode("utf-8", "surrogateescape")).hexdigest(),
            "classes": classes, "notes": notes, "options": opts}
    _atomic_write(cache_dir / "prepare.json", json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n")
    return Prepared(listing.archive.root, cache_dir, records, split, classes, sorted(excluded), notes, fp,
                    decoded=decoded)


def load(cache_dir: Path, root: Path, fp: str) -> Optional[Prepared]:
    """The manifest in ``cache_dir`` if it was made for fingerprint ``fp`` and is intact, else None."""
    try:
        meta = json.loads((cache_dir / "prepare.json").read_text(encoding="utf-8", errors="surrogateescape"))
        raw = (cache_dir / "manifest.csv").read_bytes()
        if meta.get("version") != MANIFEST_VERSION or meta.get("fingerprint") != fp:
            return None
        if hashlib.sha256(raw).hexdigest() != meta.get("manifest_sha256"):
            return None  # rewritten by a run with other settings since
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8", "surrogateescape"), newline="")))
        excluded = [(r["path"], r["reason"]) for r in _read_csv(cache_dir / "excluded.csv")]
        records = [Record(r["path"], r["artist"], int(r["label"]), r["class_name"], r["genre"], int(r["width"]),
                          int(r["height"]), r["sha1"]) for r in rows]
        split = [r["split"] for r in rows]
        return Prepared(root, cache_dir, records, split, list(meta["classes"]), excluded, list(meta["notes"]), fp,
                        reused=True)
    except (OSError, ValueError, KeyError, csv.Error):
        return None


def prepare(cfg: DictConfig, progress: bool = True) -> Prepared:
    """The manifest for ``cfg``: reused when up to date, else made afresh (decoding only new files)."""
    from artgenre.data import DATASETS

    opts = _options(cfg)
    listing = DATASETS[cfg.data.name](cfg.data)
    root = listing.archive.root
    cache_dir = resolve_cache_dir(cfg.data.cache_dir, root)
    fp = fingerprint(listing, opts)
    return load(cache_dir, root, fp) or build(listing, cfg, cache_dir, progress)


def prepare_once(cfg: DictConfig, progress: bool = True) -> Prepared:
    """prepare on rank 0; every other rank gets rank 0's result (or its error), so all ranks use
    the very same manifest even if another job rewrites the file meanwhile."""
    outcome: tuple[str, Any] = ("", None)
    if distributed.env_info().is_main:
        try:
            outcome = ("ok", prepare(cfg, progress))
        except ArtgenreError as e:
            outcome = ("error", e)
    outcome = distributed.broadcast_object(outcome)
    if outcome[0] == "error":
        raise outcome[1]
    return outcome[1]


# ----------------------------------------------------------------------------- the report


def split_table(p: Prepared) -> list[str]:
    columns = ["train", "val", "test"] if "test" in p.split else ["train", "val"]
    counts = Counter((r.label, s) for r, s in zip(p.records, p.split))
    width = max(len("class"), *(len(c) for c in p.classes))
    lines = [f"  {'class':<{width}} " + " ".join(f"{c:>6}" for c in columns)]
    for i, name in enumerate(p.classes):
        lines.append(f"  {name:<{width}} " + " ".join(f"{counts[(i, c)]:>6}" for c in columns))
    totals = Counter(p.split)
    lines.append(f"  {'total':<{width}} " + " ".join(f"{totals[c]:>6}" for c in columns))
    return lines


def report(p: Prepared, max_listed: int = 50, full: bool = True) -> list[str]:
    """What prepare found: excluded files with reasons, notes, per-class split counts, file paths."""
    state = "manifest up to date" if p.reused else f"new manifest, {p.decoded} new or changed file(s) decoded"
    lines = [f"data {p.root}: {len(p.records)} images in {len(p.classes)} classes ({state}); "
             f"{len(p.excluded)} file(s) excluded"]
    if full:
        if p.excluded:
            lines.append("excluded:")
            lines += [f"  {path}: {reason}" for path, reason in p.excluded[:max_listed]]
            if len(p.excluded) > max_listed:
                lines.append(f"  ... and {len(p.excluded) - max_listed} more, see {p.excluded_path}")
        lines += [f"note: {n}" for n in p.notes]
        lines += split_table(p)
    lines += [f"manifest: {p.manifest_path}", f"excluded: {p.excluded_path}"]
    return lines
