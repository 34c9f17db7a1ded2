"""The report's statistics agree with SciPy and textbook formulas on hand-made tables; pooled
accuracy over folds is the size-weighted mean of the folds; groups, pairs and verdicts."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("statsmodels")
from scipy.stats import binom, binomtest  # noqa: E402

from artgenre.evaluation import stats  # noqa: E402
from artgenre.evaluation.claims import compare_all, group_runs, summarize_group  # noqa: E402
from artgenre.evaluation.claims_report import claims_section  # noqa: E402
from artgenre.rundir.predictions import FILE_NAME, read_val_predictions, write_val_predictions  # noqa: E402
from artgenre.rundir.runs import read_run  # noqa: E402

CLASSES = ["a", "b", "c"]


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The Wilson score interval, written out (Wilson 1927)."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("k, n", [(105, 144), (0, 20), (20, 20), (1, 3), (530, 1916)])
def test_wilson_interval_matches_formula_and_scipy(k: int, n: int) -> None:
    lo, hi = stats.wilson_interval(k, n)
    assert (lo, hi) == pytest.approx(_wilson(k, n), abs=1e-12)
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize("only_a, only_b", [(10, 3), (0, 0), (7, 7), (25, 4), (0, 9)])
def test_exact_mcnemar_matches_binomial_test_and_hand_sum(only_a: int, only_b: int) -> None:
    p = stats.mcnemar_exact(only_a, only_b)
    n = only_a + only_b
    if n == 0:
        assert p == 1.0
        return
    assert p == pytest.approx(binomtest(only_a, n, 0.5).pvalue, abs=1e-12)
    by_hand = min(1.0, 2 * binom.cdf(min(only_a, only_b), n, 0.5))
    assert p == pytest.approx(by_hand, abs=1e-12)


def test_sign_flip_test_on_one_seed_is_exact_mcnemar() -> None:
    d = [1] * 9 + [-1] * 2 + [0] * 40
    assert stats.sign_flip_test(d) == pytest.approx(stats.mcnemar_exact(9, 2), abs=1e-12)


def test_holm_by_hand() -> None:
    adjusted, reject = stats.holm([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, max(0.06, 0.04*1)=0.06
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert reject == [True, False, False, True]


def test_bootstrap_interval_contains_the_mean_and_narrows_with_more_images() -> None:
    rng = np.random.default_rng(1)
    small, large = rng.integers(0, 2, 50), rng.integers(0, 2, 2000)
    lo, hi = stats.bootstrap_interval(small)
    assert lo < small.mean() < hi
    lo2, hi2 = stats.bootstrap_interval(large)
    assert hi2 - lo2 < hi - lo
    assert stats.bootstrap_interval([1, 1, 1]) == (1.0, 1.0)


def _run(root: Path, name: str, model: str, seed: int, fold: int, folds: int, labels, predicted, paths) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "metrics.csv").write_text("epoch,val_acc\n1,50.0\n")
    (d / ".hydra").mkdir()
    config = {"model": {"name": model}, "data": {"folds": folds, "fold": fold, "root": f"/x/{name}"},
              "trainer": {"seed": seed, "num_workers": fold}}
    (d / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    probs = np.full((len(paths), len(CLASSES)), 1 / len(CLASSES))
    write_val_predictions(d / FILE_NAME, paths, np.asarray(labels), np.asarray(predicted), probs, CLASSES, 1)
    return d


def _cross_validated(root: Path, model: str, accuracy: float, seeds=(1,), folds: int = 4, n: int = 120):
    """K runs per seed; fold f holds images f, f+K, ...; a model right on a seeded share of them."""
    labels = np.arange(n) % 3
    dirs = []
    for seed in seeds:
        rng = np.random.default_rng([seed, int(accuracy * 100)])
        right = rng.random(n) < accuracy
        predicted = np.where(right, labels, (labels + 1) % 3)
        for f in range(folds):
            idx = np.arange(f, n, folds)
            dirs.append(_run(root, f"{model}_s{seed}_f{f}", model, seed, f, folds, labels[idx], predicted[idx],
                             [f"img{i}.jpg" for i in idx]))
    return dirs, labels


def test_predictions_file_round_trip(tmp_path: Path) -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]])
    write_val_predictions(tmp_path / FILE_NAME, ["x.jpg", "y.jpg"], np.array([0, 1]), np.array([0, 2]), probs,
                          CLASSES, 7)
    p = read_val_predictions(tmp_path / FILE_NAME)
    assert p.paths == ["x.jpg", "y.jpg"] and p.epoch == 7 and p.correct.tolist() == [1, 0]
    assert np.allclose(p.probabilities, probs)


def test_pooled_accuracy_is_the_size_weighted_mean_of_the_folds(tmp_path: Path) -> None:
    dirs, _ = _cross_validated(tmp_path, "resnet50", 0.7, folds=4, n=122)  # folds of 31, 31, 30, 30 images
    groups, without = group_runs([read_run(d) for d in dirs])
    assert len(groups) == 1 and not without and not groups[0].notes
    s = summarize_group(groups[0])
    per_fold = [read_val_predictions(d / FILE_NAME) for d in dirs]
    sizes = np.array([len(p.paths) for p in per_fold])
    accs = np.array([p.correct.mean() for p in per_fold])
    assert s["images"] == 122 and s["seeds"] == 1
    assert s["accuracy"] == pytest.approx(100 * (accs * sizes).sum() / sizes.sum(), abs=1e-12)
    assert (s["ci_low"], s["ci_high"]) == pytest.approx(tuple(100 * v for v in _wilson(s["correct"], 122)))


def test_pairs_are_tested_on_shared_images_and_holm_corrected(tmp_path: Path) -> None:
    good, _ = _cross_validated(tmp_path, "resnet50", 0.9)
    bad, _ = _cross_validated(tmp_path, "vit_scratch", 0.4)
    same, _ = _cross_validated(tmp_path, "vit_timm", 0.89)
    groups, _ = group_runs([read_run(d) for d in good + bad + same])
    assert sorted(g.label for g in groups) == ["resnet50", "vit_scratch", "vit_timm"]
    pairs, apart = compare_all(groups)
    assert len(pairs) == 3 and not apart
    by = {(r["a"], r["b"]): r for r in pairs}
    strong = by[("resnet50", "vit_scratch")]
    assert strong["significant"] and strong["test"].startswith("exact McNemar") and strong["images"] == 120
    assert strong["ci_low"] < strong["difference"] < strong["ci_high"]
    # McNemar straight from the two prediction sets
    a = {k: v for k, v in next(g for g in groups if g.label == "resnet50").predictions.items()}
    b = next(g for g in groups if g.label == "vit_scratch").predictions
    only_a = sum(1 for k, (y, p) in a.items() if p == y and b[k][1] != y)
    only_b = sum(1 for k, (y, p) in a.items() if p != y and b[k][1] == y)
    assert strong["p"] == pytest.approx(binomtest(only_a, only_a + only_b).pvalue)
    raw = sorted(r["p"] for r in pairs)
    assert sorted(r["p_holm"] for r in pairs)[0] == pytest.approx(min(1.0, 3 * raw[0]))
    assert "is more accurate than" in strong["sentence"] and strong["verdict"] == "better, significant"


def test_several_seeds_get_mean_sd_and_a_bootstrap_interval(tmp_path: Path) -> None:
    a, _ = _cross_validated(tmp_path, "resnet50", 0.8, seeds=(1, 2, 3), folds=2)
    b, _ = _cross_validated(tmp_path, "iformer_small", 0.5, seeds=(1, 2, 3), folds=2)
    groups, _ = group_runs([read_run(d) for d in a + b])
    s = summarize_group(next(g for g in groups if g.label == "resnet50"))
    assert s["seeds"] == 3 and s["runs"] == 6 and s["predictions"] == 360 and s["images"] == 120
    per_seed = []
    for seed in (1, 2, 3):
        ps = [read_val_predictions(d / FILE_NAME) for d in a if f"_s{seed}_" in d.name]
        per_seed.append(100 * sum(p.correct.sum() for p in ps) / sum(len(p.paths) for p in ps))
    assert s["seed_mean"] == pytest.approx(np.mean(per_seed)) and s["seed_sd"] == pytest.approx(np.std(per_seed, ddof=1))
    assert s["interval"] == "bootstrap over images" and s["ci_low"] < s["accuracy"] < s["ci_high"]
    pairs, _ = compare_all(groups)
    assert pairs[0]["test"] == "paired sign-flip permutation" and pairs[0]["significant"]


def test_missing_folds_are_named_and_report_section_is_written(tmp_path: Path) -> None:
    dirs, _ = _cross_validated(tmp_path / "runs", "resnet50", 0.7, folds=4)
    other, _ = _cross_validated(tmp_path / "runs", "vit_scratch", 0.6, folds=4)
    runs = [read_run(d) for d in dirs[:3] + other]
    out = tmp_path / "out"
    out.mkdir()
    md = "\n".join(claims_section(runs, out))
    assert "fold(s) 3 of 4 missing" in md and "### Verdicts" in md and "Holm" in md and "Wilson" in md
    assert (out / "groups.csv").is_file() and (out / "comparisons.csv").is_file()
    # the pair is compared on the 90 images both have, not on all 120
    assert "| resnet50 | vit_scratch | 90 |" in md or "| vit_scratch | resnet50 | 90 |" in md


def test_a_single_run_still_gets_an_interval(tmp_path: Path) -> None:
    d = _run(tmp_path, "one", "resnet50", 9, 0, None, [0, 1, 2, 0], [0, 1, 0, 0], ["a", "b", "c", "d"])
    groups, _ = group_runs([read_run(d)])
    s = summarize_group(groups[0])
    assert s["accuracy"] == 75.0 and (s["ci_low"], s["ci_high"]) == pytest.approx(tuple(100 * v for v in _wilson(3, 4)))


def test_settings_with_other_classes_are_not_compared(tmp_path: Path) -> None:
    paths = ["a.jpg", "b.jpg", "c.jpg"]
    artist = _run(tmp_path, "artist", "resnet50", 9, 0, None, [0, 1, 2], [0, 1, 2], paths)
    genre = _run(tmp_path, "genre", "vit_scratch", 9, 0, None, [0, 1, 2], [0, 1, 1], paths)
    # the same label numbers, other class names: as if trained with data.label=genre
    text = (genre / FILE_NAME).read_text().replace(",a,", ",Cubism,").replace(",b,", ",Baroque,")
    (genre / FILE_NAME).write_text(text.replace(",c,", ",Pop Art,"))
    groups, _ = group_runs([read_run(artist), read_run(genre)])
    pairs, apart = compare_all(groups)
    assert not pairs and len(apart) == 1 and "not evaluated on the same images" in apart[0]


def test_without_the_stats_extra_the_report_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    import sys

    d = _run(tmp_path, "one", "resnet50", 9, 0, None, [0, 1], [0, 1], ["a", "b"])
    monkeypatch.setitem(sys.modules, "statsmodels", None)  # as if not installed
    md = "\n".join(claims_section([read_run(d)], tmp_path))
    assert "pip install 'artgenre[stats]'" in md
