"""The statistics behind artgenre-report's claims, from SciPy and statsmodels (``artgenre[stats]``).

* :func:`wilson_interval`      95% Wilson score interval of a proportion (statsmodels ``proportion_confint``)
* :func:`mcnemar_exact`        exact McNemar test of two classifiers on the same images (statsmodels
                               ``mcnemar(exact=True)``: a two-sided binomial test on the discordant pairs)
* :func:`sign_flip_test`       paired permutation test of per-image differences (SciPy ``permutation_test``,
                               sign flips); on 0/±1 differences it is the exact McNemar test
* :func:`bootstrap_interval`   percentile bootstrap interval of a mean over images (SciPy ``bootstrap``)
* :func:`holm`                 Holm's step-down correction of several p-values (statsmodels ``multipletests``)
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from artgenre.errors import ArtgenreError

LEVEL = 0.95
RESAMPLES = 9999
SEED = 0  # bootstrap and Monte Carlo permutations: the same report from the same runs


class MissingStatsPackage(ArtgenreError):
    pass


def _require():
    try:
        import scipy.stats  # noqa: F401
        import statsmodels  # noqa: F401
    except ImportError as e:
        raise MissingStatsPackage(f"the report's statistics need {e.name}: pip install 'artgenre[stats]'") from None


def wilson_interval(correct: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of ``correct / n`` (fractions); (nan, nan) for n = 0."""
    _require()
    from statsmodels.stats.proportion import proportion_confint

    if n == 0:
        return float("nan"), float("nan")
    lo, hi = proportion_confint(correct, n, alpha=1 - level, method="wilson")
    return float(lo), float(hi)


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts: images only A got right, only B."""
    _require()
    from statsmodels.stats.contingency_tables import mcnemar

    return float(mcnemar([[0, only_a], [only_b, 0]], exact=True).pvalue)


def sign_flip_test(differences: Sequence[float]) -> float:
    """Two-sided p-value that the mean per-image difference is 0, flipping each image's sign at
    random (exact up to 2^13 images with a non-zero difference, else 9,999 Monte Carlo draws)."""
    _require()
    from scipy.stats import permutation_test

    d = np.asarray(differences, dtype=float)
    d = d[d != 0]  # zeros flip to themselves: dropping them changes nothing but the run time
    if len(d) == 0:
        return 1.0
    res = permutation_test((d,), np.mean, permutation_type="samples", alternative="two-sided",
                           n_resamples=RESAMPLES if len(d) > 13 else np.inf, vectorized=True,
                           random_state=np.random.default_rng(SEED))
    return float(min(1.0, res.pvalue))


def bootstrap_interval(values: Sequence[float], level: float = LEVEL) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (one per image, resampled with
    replacement); a constant sample gets the degenerate interval (v, v)."""
    _require()
    from scipy.stats import bootstrap

    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return float("nan"), float("nan")
    if np.all(v == v[0]):
        return float(v[0]), float(v[0])
    res = bootstrap((v,), np.mean, confidence_level=level, n_resamples=RESAMPLES, method="percentile",
                    vectorized=True, random_state=np.random.default_rng(SEED))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def holm(pvalues: Sequence[float], level: float = LEVEL) -> tuple[list[float], list[bool]]:
    """(Holm-adjusted p-values, rejected at 1 - level) for a family of tests."""
    _require()
    from statsmodels.stats.multitest import multipletests

    if len(pvalues) == 0:
        return [], []
    reject, adjusted, _, _ = multipletests(list(pvalues), alpha=1 - level, method="holm")
    return [float(p) for p in adjusted], [bool(r) for r in reject]


def balanced_accuracy(labels: np.ndarray, predicted: np.ndarray) -> float:
    """Mean over the classes present of each class's recall (a fraction)."""
    classes = np.unique(labels)
    if len(classes) == 0:
        return float("nan")
    return float(np.mean([np.mean(predicted[labels == y] == y) for y in classes]))
