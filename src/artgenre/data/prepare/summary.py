"""What prepare found, as lines to print: excluded files with reasons, notes, per-class split
counts and the paths of manifest.csv and excluded.csv."""

from __future__ import annotations

from collections import Counter

from artgenre.data.prepare.manifest import Prepared


def split_table(p: Prepared) -> list[str]:
    """Images per class and split; with data.folds, per class and fold (the validated one marked *)."""
    if any(f is not None for f in p.fold):
        val_fold = next((f for f, s in zip(p.fold, p.split) if s == "val"), None)
        columns = [f"fold {k}" + ("*" if k == val_fold else "") for k in range(max(p.fold) + 1)]
        counts = Counter((r.label, columns[f]) for r, f in zip(p.records, p.fold))
        totals = Counter(columns[f] for f in p.fold)
    else:
        columns = ["train", "val", "test"] if "test" in p.split else ["train", "val"]
        counts = Counter((r.label, s) for r, s in zip(p.records, p.split))
        totals = Counter(p.split)
    width = max(len("class"), *(len(c) for c in p.classes))
    w = [max(6, len(c)) for c in columns]
    lines = [f"  {'class':<{width}} " + " ".join(f"{c:>{n}}" for c, n in zip(columns, w))]
    for i, name in enumerate(p.classes):
        lines.append(f"  {name:<{width}} " + " ".join(f"{counts[(i, c)]:>{n}}" for c, n in zip(columns, w)))
    lines.append(f"  {'total':<{width}} " + " ".join(f"{totals[c]:>{n}}" for c, n in zip(columns, w)))
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
