"""The report's "Claims" section: groups, comparisons and a verdict table in words, with the
methods written out beside them (claims.md; groups.csv and comparisons.csv)."""

from __future__ import annotations

import logging
from pathlib import Path

from artgenre.evaluation import stats
from artgenre.evaluation.claims import IGNORED_KEYS, compare_all, group_runs, summarize_group
from artgenre.evaluation.tables import markdown_table, write_csv
from artgenre.rundir.predictions import FILE_NAME
from artgenre.rundir.runs import Run

log = logging.getLogger("artgenre")

GROUP_COLUMNS = [  # (key, header, decimals)
    ("group", "setting", None), ("runs", "runs", None), ("seeds", "seeds", None), ("folds", "folds", None),
    ("images", "images", None), ("accuracy", "accuracy (%)", 2), ("ci_low", "95% CI low", 2),
    ("ci_high", "95% CI high", 2), ("interval", "interval", None), ("balanced_accuracy", "balanced acc (%)", 2),
    ("seed_mean", "mean over seeds (%)", 2), ("seed_sd", "sd over seeds", 2),
]
PAIR_COLUMNS = [
    ("a", "more accurate", None), ("b", "less accurate", None), ("images", "images", None),
    ("difference", "difference (points)", 2), ("ci_low", "95% CI low", 2), ("ci_high", "95% CI high", 2),
    ("test", "test", None), ("p", "p", 4), ("p_holm", "Holm p", 4), ("verdict", "verdict", None),
]

METHODS = f"""\
### Methods

- **Groups.** Runs with the same resolved configuration apart from `data.fold`, `trainer.seed`
  and bookkeeping ({', '.join(f'`{k}`' for k in IGNORED_KEYS[2:])}) form one setting.
- **Images.** Each run's `{FILE_NAME}`: the predictions of its best epoch on its validation
  images. With `data.folds=K` and all K folds run, every image is predicted once per seed, by
  the model that did not train on it (out-of-fold). The best epoch is chosen on these same
  images, which flatters every setting a little; a fixed epoch count or a held-out test split
  (`data.test_fraction`, `artgenre-eval split=test`) avoids it.
- **Accuracy** is pooled: correct predictions over all predictions, which equals the mean of
  the per-fold accuracies weighted by fold size. **Balanced accuracy**: the mean of the
  per-class recalls, averaged over seeds. Mean ± standard deviation (n - 1) over seeds of each
  seed's pooled accuracy, where there are several seeds.
- **95% interval of an accuracy.** One seed: the Wilson score interval of correct / images
  (statsmodels `proportion_confint`). Several seeds: a percentile bootstrap (SciPy `bootstrap`,
  9,999 resamples) of each image's correctness averaged over seeds, resampling images, since
  the seeds share the images and are not independent evidence.
- **Pairs.** Two settings are compared on the (seed, image) predictions both have. The
  difference is the mean over images of (A correct - B correct), averaged over seeds, with a
  percentile bootstrap interval over images (the paired bootstrap). Test: with one seed, the
  exact McNemar test (statsmodels `mcnemar(exact=True)`: a binomial test on the images exactly
  one of the two got right); with several, a paired sign-flip permutation test of the per-image
  differences (SciPy `permutation_test`), which reduces to exact McNemar for one seed.
- **Several comparisons.** p-values are adjusted with Holm's step-down method (statsmodels
  `multipletests`); a difference is called significant when its Holm-adjusted p is below 0.05.
  Not significant means these runs cannot tell the settings apart, not that they are equal."""


def claims_section(runs: list[Run], out: Path) -> list[str]:
    """Write groups.csv, comparisons.csv and claims.md into ``out``; the section's Markdown lines.
    Without SciPy/statsmodels the section says what to install; the rest of the report stands."""
    try:
        return _claims(runs, out)
    except stats.MissingStatsPackage as e:
        log.warning(f"warning: no claims section: {e}")
        return ["## Claims: which differences are real", "", f"Not computed: {e}."]


def _claims(runs: list[Run], out: Path) -> list[str]:
    groups, without = group_runs(runs)
    md = ["## Claims: which differences are real", ""]
    if not groups:
        md.append(f"No run has a `{FILE_NAME}` (runs trained before it existed): no per-image claims. "
                  "Retrain, or compare the best accuracies above with their uncertainty in mind.")
        return md
    summaries = [summarize_group(g) for g in groups]
    summaries.sort(key=lambda s: -s["accuracy"])
    rows = [[s[k] for k, _, _ in GROUP_COLUMNS] for s in summaries]
    write_csv(out / "groups.csv", [h for _, h, _ in GROUP_COLUMNS], rows)
    md += [markdown_table([h for _, h, _ in GROUP_COLUMNS], rows, [d for _, _, d in GROUP_COLUMNS]), ""]
    notes = [f"- {g.label}: {n}" for g in groups for n in dict.fromkeys(g.notes)]
    notes += [f"- `{r.path}`: no {FILE_NAME}, left out of the claims" for r in without]
    pairs, apart = compare_all(groups)
    pairs.sort(key=lambda r: r["p"])
    if pairs:
        prow = [[r[k] for k, _, _ in PAIR_COLUMNS] for r in pairs]
        write_csv(out / "comparisons.csv", [h for _, h, _ in PAIR_COLUMNS], prow)
        md += ["### Verdicts", "",
               markdown_table([h for _, h, _ in PAIR_COLUMNS], prow, [d for _, _, d in PAIR_COLUMNS]), ""]
        md += [f"- {r['sentence']}." for r in pairs] + [""]
    elif len(groups) == 1:
        md += ["One setting only: nothing to compare.", ""]
    notes += [f"- {line}" for line in apart]
    if notes:
        md += ["Notes:", "", *notes, ""]
    md += [METHODS]
    (out / "claims.md").write_text("\n".join(md).rstrip() + "\n")
    return md
