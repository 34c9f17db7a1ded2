"""From runs to claims: runs grouped by configuration, each group's accuracy with its interval,
and every pair of groups evaluated on the same images compared image by image.

A group is every run whose resolved config is the same once ``data.fold``, ``trainer.seed`` and
bookkeeping keys (:data:`IGNORED_KEYS`) are set aside: the folds and seeds of one setting. Its
images are the union of its runs' ``val_predictions.csv`` (the best epoch of each run); with
``data.folds`` that is every image once per seed (out-of-fold predictions).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from artgenre.evaluation import stats
from artgenre.rundir.predictions import FILE_NAME, read_val_predictions
from artgenre.rundir.runs import Run

# settings that change how a run is executed or logged, not what it learns
IGNORED_KEYS = ("data.fold", "trainer.seed", "data.root", "data.cache_dir", "data.cache", "trainer.num_workers",
                "trainer.progress", "trainer.resume", "trainer.log_every", "trainer.stop_check_every",
                "trainer.tensorboard")


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


@dataclass
class Group:
    setting: dict[str, Any]  # the flattened config, ignored keys removed
    runs: list[Run] = field(default_factory=list)
    label: str = ""
    # (seed, image path) -> (true class, predicted class), by name: settings with other class
    # lists (data.label=artist vs genre) never agree on a true class by accident of numbering
    predictions: dict[tuple[int, str], tuple[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        return sorted({s for s, _ in self.predictions})

    def classes_of(self, seed: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
        keys = [k for k in self.predictions if seed is None or k[0] == seed]
        y = np.array([self.predictions[k][0] for k in keys], dtype=object)
        y_hat = np.array([self.predictions[k][1] for k in keys], dtype=object)
        return y, y_hat


def group_runs(runs: list[Run]) -> tuple[list[Group], list[Run]]:
    """(groups of runs with per-image predictions, runs without a val_predictions.csv)."""
    groups: dict[str, Group] = {}
    without: list[Run] = []
    for run in runs:
        path = run.path / FILE_NAME
        if not path.is_file() or not run.config:
            without.append(run)
            continue
        flat = _flat(run.config)
        setting = {k: v for k, v in flat.items() if k not in IGNORED_KEYS}
        key = json.dumps(setting, sort_keys=True, default=str)
        group = groups.setdefault(key, Group(setting))
        group.runs.append(run)
        seed = int(flat.get("trainer.seed", 0))
        p = read_val_predictions(path)
        for image, y, y_hat in zip(p.paths, p.labels.tolist(), p.predicted.tolist()):
            if (seed, image) in group.predictions:
                group.notes.append(f"{run.path}: image {image} with seed {seed} also in another run of this "
                                   "setting (the later run counts)")
            group.predictions[(seed, image)] = (p.classes[y], p.classes[y_hat])
    out = list(groups.values())
    _label(out)
    for g in out:
        _check_folds(g)
    return out, without


def _label(groups: list[Group]) -> None:
    """The model's name, then the settings that tell groups of the same model apart."""
    for g in groups:
        g.label = str(g.setting.get("model.name", "?"))
    by_label: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        by_label[g.label].append(g)
    for same in by_label.values():
        if len(same) < 2:
            continue
        keys = sorted({k for g in same for k in g.setting} - {"model.name"})
        value = {(id(g), k): json.dumps(g.setting.get(k), default=str) for g in same for k in keys}
        differ = [k for k in keys if len({value[id(g), k] for g in same}) > 1]
        # each group by what sets it apart from the most common value of every differing key (a
        # baseline then reads "common settings"); spelled out in full where that is still ambiguous
        common = {k: Counter(value[id(g), k] for g in same).most_common(1)[0][0] for k in differ}
        labels = {id(g): [k for k in differ if value[id(g), k] != common[k]] for g in same}
        if len({tuple((k, value[id(g), k]) for k in labels[id(g)]) for g in same}) < len(same):
            labels = {id(g): differ for g in same}
        for g in same:
            own = ", ".join(f"{k.removeprefix('model.')}={g.setting.get(k)}" for k in labels[id(g)])
            g.label += f" ({own or 'the common settings'})"


def _check_folds(g: Group) -> None:
    folds = g.setting.get("data.folds")
    if not folds:
        return
    seen: dict[int, set[int]] = defaultdict(set)
    for run in g.runs:
        flat = _flat(run.config)
        seen[int(flat.get("trainer.seed", 0))].add(int(flat.get("data.fold", 0)))
    for seed, done in sorted(seen.items()):
        missing = sorted(set(range(int(folds))) - done)
        if missing:
            g.notes.append(f"seed {seed}: fold(s) {', '.join(map(str, missing))} of {folds} missing; its "
                           "accuracy covers only the images of the folds present")


def summarize_group(g: Group) -> dict[str, Any]:
    """Pooled accuracy (every prediction of every fold and seed), its 95% interval, balanced
    accuracy, and the mean and standard deviation over seeds."""
    seeds = g.seeds
    per_seed = []
    for s in seeds:
        y, y_hat = g.classes_of(s)
        per_seed.append((int((y == y_hat).sum()), len(y), stats.balanced_accuracy(y, y_hat)))
    k, n = sum(c for c, _, _ in per_seed), sum(m for _, m, _ in per_seed)
    if len(seeds) == 1:
        lo, hi = stats.wilson_interval(k, n)
        method = "Wilson"
    else:  # one value per image: its correctness averaged over seeds, images resampled
        per_image: dict[str, list[int]] = defaultdict(list)
        for (s, image), (y, y_hat) in g.predictions.items():
            per_image[image].append(int(y == y_hat))
        lo, hi = stats.bootstrap_interval([np.mean(v) for v in per_image.values()])
        method = "bootstrap over images"
    accs = [c / m for c, m, _ in per_seed]
    return {
        "group": g.label, "runs": len(g.runs), "seeds": len(seeds), "folds": g.setting.get("data.folds") or "-",
        "images": len({image for _, image in g.predictions}), "predictions": n, "correct": k,
        "accuracy": 100.0 * k / n if n else float("nan"), "ci_low": 100.0 * lo, "ci_high": 100.0 * hi,
        "interval": method, "balanced_accuracy": 100.0 * float(np.mean([b for _, _, b in per_seed])),
        "seed_mean": 100.0 * float(np.mean(accs)) if len(accs) > 1 else None,
        "seed_sd": 100.0 * float(np.std(accs, ddof=1)) if len(accs) > 1 else None,
    }


def compare(a: Group, b: Group) -> Optional[dict[str, Any]]:
    """A - B on the (seed, image) pairs both hold with the same true label; None if there are none."""
    common = [k for k in a.predictions if k in b.predictions and a.predictions[k][0] == b.predictions[k][0]]
    if not common:
        return None
    per_image: dict[str, list[int]] = defaultdict(list)
    for key in common:
        (y, pa), (_, pb) = a.predictions[key], b.predictions[key]
        per_image[key[1]].append(int(pa == y) - int(pb == y))
    d = np.array([np.mean(v) for v in per_image.values()])
    single = all(len(v) == 1 for v in per_image.values())
    if single:
        only_a, only_b = int((d == 1).sum()), int((d == -1).sum())
        p, test = stats.mcnemar_exact(only_a, only_b), f"exact McNemar ({only_a} vs {only_b} discordant)"
    else:
        p, test = stats.sign_flip_test(d), "paired sign-flip permutation"
    lo, hi = stats.bootstrap_interval(d)
    return {"a": a.label, "b": b.label, "images": len(per_image), "predictions": len(common),
            "difference": 100.0 * float(d.mean()), "ci_low": 100.0 * lo, "ci_high": 100.0 * hi, "test": test,
            "p": p}


def compare_all(groups: list[Group]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every pair (the more accurate first), Holm-corrected; and the pairs that share no images."""
    pairs, apart = [], []
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            result = compare(a, b)
            if result is None:
                apart.append(f"{a.label} and {b.label} were not evaluated on the same images with the same classes: not compared")
                continue
            if result["difference"] < 0:
                result = compare(b, a)
            pairs.append(result)
    adjusted, reject = stats.holm([r["p"] for r in pairs])
    for r, p_holm, significant in zip(pairs, adjusted, reject):
        r["p_holm"], r["significant"] = p_holm, significant
        r["verdict"] = "better, significant" if significant else "not significant"
        r["sentence"] = verdict_words(r)
    return pairs, apart


def verdict_words(r: dict[str, Any]) -> str:
    ci = f"{r['difference']:+.1f} points, 95% CI {r['ci_low']:+.1f} to {r['ci_high']:+.1f}"
    if r["significant"]:
        return f"{r['a']} is more accurate than {r['b']} ({ci}); significant after Holm's correction"
    return f"no significant difference between {r['a']} and {r['b']} ({ci}); these runs cannot tell them apart"
