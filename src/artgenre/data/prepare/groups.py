"""Grouped splits (``data.group_by``): which classes can be split with every group whole on one side.

Grouping by artist asks "what genre is this painting by an artist the model has never seen?".
A genre needs two artists or more for that: one to validate on, one to train on. Genres with
fewer are left out of the manifest and named in the prepare report, with their counts.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable

from artgenre.errors import DataError


def _by_artist(selected: list[str], label_of: dict[str, int], classes: list[str], counts: Counter,
               notes: list[str]) -> tuple[list[str], dict[str, int], list[str]]:
    """(artists kept, their labels renumbered, classes kept): genres with two or more artists."""
    artists_of: dict[int, list[str]] = {}
    for a in selected:
        artists_of.setdefault(label_of[a], []).append(a)
    alone = [y for y in range(len(classes)) if len(artists_of.get(y, [])) < 2]
    if alone:
        detail = "; ".join(f"{classes[y]} ({', '.join(artists_of.get(y, []))}: {sum(counts[a] for a in artists_of.get(y, []))}"
                           " images)" for y in alone)
        n_images = sum(counts[a] for y in alone for a in artists_of.get(y, []))
        notes.append(f"left out, data.group_by=artist needs two or more artists per genre: {len(alone)} genre(s), "
                     f"{sum(len(artists_of.get(y, [])) for y in alone)} artist(s), {n_images} image(s): {detail}")
    kept_labels = [y for y in range(len(classes)) if y not in alone]
    if len(kept_labels) < 2:
        raise DataError(
            f"data.group_by=artist: only {len(kept_labels)} genre(s) among the chosen artists have two or more "
            "artists, and classifying genres of unseen artists needs at least two such genres. The study's ten "
            "artists each stand for their own genre, so this task needs more artists: pass data.artists=all "
            "(every artist of the archive; genres with a single artist are then left out and reported; with "
            "data=synthetic add data.synthetic_artists_per_genre=3)")
    new_label = {old: new for new, old in enumerate(kept_labels)}
    kept = [a for a in selected if label_of[a] in new_label]
    return kept, {a: new_label[label_of[a]] for a in kept}, [classes[y] for y in kept_labels]


GROUPINGS: dict[str, Callable[..., tuple[list[str], dict[str, int], list[str]]]] = {
    "artist": _by_artist,
}
