"""Which images and classes go into the manifest: the usable images per artist (decodable, one
per content), the artists ``data.artists`` chooses (``min_images`` each), their labels
(:data:`LABELINGS`, ``data.label``) and the manifest's rows."""

from __future__ import annotations

import difflib
from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any, Callable

from artgenre.data import decode
from artgenre.data.layouts.artworks import ArtistMatcher
from artgenre.data.layouts.catalog import class_name as artist_class_name
from artgenre.data.listing import ArtistInfo, Candidate, Listing
from artgenre.data.prepare.checks import Check
from artgenre.errors import DataError


def usable(listing: Listing, checks: dict[str, Check], max_pixels: int, excluded: list, notes: list) -> dict:
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
        if promised is not None and promised != chk.format and {promised, chk.format} != {"JPEG", "MPO"}:
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


def manifest_rows(selected: list[str], usable: dict, label_of: dict[str, int], classes: list[str],
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


def select(listing: Listing, artists: Any, min_images: int, counts: Counter, notes: list[str],
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


def _label_by_style(selected: list[str], artists: dict[str, ArtistInfo]) -> tuple[dict[str, int], list[str]]:
    """The class itself: layouts with style labels (wikiart, parquet) list the classes of ``data.label``
    (each class its own one "genre"); the Kaggle archive has artists and their genres, no styles."""
    other = [a for a in selected if artists[a].genres != (a,)]
    if other:
        raise DataError("data.label=style needs a data set with style labels (data=wikiart or data=parquet); "
                        "the Kaggle archive's artists.csv genres are data.label=genre")
    return {a: i for i, a in enumerate(selected)}, list(selected)


LABELINGS: dict[str, Callable[[list[str], dict[str, ArtistInfo]], tuple[dict[str, int], list[str]]]] = {
    "artist": _label_by_artist,
    "genre": _label_by_genre,
    "style": _label_by_style,
}
