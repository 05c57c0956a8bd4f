"""Statistics for the tables: bootstrap confidence intervals of the means and paired tests between methods.

* :func:`bootstrap_ci` -- the 95 % bootstrap confidence interval of a mean (``scipy.stats.bootstrap``,
  BCa, 9 999 resamples, a fixed seed so a table is reproducible).
* :func:`paired_test` -- the paired Wilcoxon signed-rank test (``scipy.stats.wilcoxon``, two-sided) of
  one method's per-image values against another's on the same images, with win/tie/loss counts in the
  metric's direction.
* :func:`holm` -- Holm's step-down adjustment of a family of p-values.
* :func:`add_statistics` -- the columns ``<id>_ci_low``/``<id>_ci_high`` and ``<id>_p``/``<id>_p_holm``/
  ``<id>_win``/``<id>_tie``/``<id>_loss`` of a :func:`fusionbench.table` result.

The family of the Holm adjustment is one dataset (and tag, with ``--by``): every (method, metric)
compared with the reference method there.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from fusionbench.metrics import get_spec

#: Confidence level, resamples and seed of :func:`bootstrap_ci` (fixed: the same table twice gives the same CIs).
CONFIDENCE = 0.95
N_RESAMPLES = 9999
SEED = 0
#: Significance level of the Holm-adjusted p-values, for the marks in Markdown/LaTeX/HTML.
ALPHA = 0.05


def bootstrap_ci(
    values: ArrayLike,
    confidence: float = CONFIDENCE,
    n_resamples: int = N_RESAMPLES,
    seed: int = SEED,
) -> tuple[float, float]:
    """The bootstrap (BCa) confidence interval of the mean of ``values`` (NaN values left out).

    Fewer than two values give ``(nan, nan)``; values all equal give ``(value, value)`` (every
    resample has that mean). Otherwise ``scipy.stats.bootstrap`` with ``method="BCa"``.

    >>> low, high = bootstrap_ci([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> bool(low < 3.0 < high)
    True
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size < 2:
        return float("nan"), float("nan")
    if np.all(x == x[0]):
        return float(x[0]), float(x[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=stats.DegenerateDataWarning)
        result = stats.bootstrap(
            (x,),
            np.mean,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


@dataclass(frozen=True)
class PairedResult:
    """One paired comparison: the p-value, the win/tie/loss counts and which way the ranks lean."""

    p: float
    wins: int
    ties: int
    losses: int
    #: +1 where the signed ranks favour the method (in the metric's direction), -1 the reference, 0 neither.
    direction: int


def paired_test(values: pd.Series, reference: pd.Series, higher_is_better: bool = True) -> PairedResult:
    """Two-sided Wilcoxon signed-rank p of ``values`` against ``reference``, paired by index (image).

    Pairs where either value is NaN are left out. A win is a value better than the reference in the
    metric's direction. All differences zero give ``p = 1``; no pairs give ``p = nan``.
    """
    joined = pd.concat([values.rename("a"), reference.rename("b")], axis=1, join="inner").dropna()
    diff = (joined["a"] - joined["b"]).to_numpy(dtype=np.float64)
    if not higher_is_better:
        diff = -diff
    counts = int((diff > 0).sum()), int((diff == 0).sum()), int((diff < 0).sum())
    nonzero = diff[diff != 0]
    if nonzero.size == 0:
        return PairedResult(float("nan") if diff.size == 0 else 1.0, *counts, direction=0)
    ranks = stats.rankdata(np.abs(nonzero))
    direction = int(np.sign(ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()))
    p = float(stats.wilcoxon(joined["a"], joined["b"]).pvalue)
    return PairedResult(p, *counts, direction=direction)


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN values stay NaN and do not count in the family).

    The i-th smallest of m p-values becomes ``max_{j<=i} min(1, (m - j + 1) p_(j))``.

    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid], kind="stable")]
    m = order.size
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def add_statistics(
    summary: pd.DataFrame,
    parts: Mapping[Any, pd.DataFrame],
    metric_ids: Sequence[str],
    group_cols: Sequence[str],
    *,
    ci: bool = False,
    versus: str | None = None,
) -> pd.DataFrame:
    """Add CI and/or paired-test columns to ``summary`` (a :func:`fusionbench.table` result).

    ``parts`` maps each row index of ``summary`` to that row's per-image frame (column ``image`` and
    one column per metric). ``versus`` names the reference method by ``method_id`` or display name
    (case-insensitive); each group of ``group_cols`` must hold it.
    """
    summary = summary.copy()
    if ci:
        for m in metric_ids:
            bounds = [bootstrap_ci(parts[i][m]) for i in summary.index]
            summary[f"{m}_ci_low"] = [b[0] for b in bounds]
            summary[f"{m}_ci_high"] = [b[1] for b in bounds]
    if versus is not None:
        summary = _add_paired_tests(summary, parts, metric_ids, group_cols, versus)
    summary.attrs["ci"] = ci
    summary.attrs["versus"] = versus
    return summary


def _reference_row(group: pd.DataFrame, versus: str) -> Any:
    key = versus.strip().lower()
    hits = [
        i for i in group.index if key in (str(group.at[i, "method_id"]).lower(), str(group.at[i, "method"]).lower())
    ]
    if not hits:
        where = ", ".join(f"{c}={group[c].iloc[0]}" for c in group.columns if c in ("dataset", "tag"))
        shown = ", ".join(map(str, group["method_id"]))
        raise ValueError(f"--versus {versus!r}: no such method among the rows for {where} (methods: {shown})")
    return hits[0]


def _add_paired_tests(
    summary: pd.DataFrame,
    parts: Mapping[Any, pd.DataFrame],
    metric_ids: Sequence[str],
    group_cols: Sequence[str],
    versus: str,
) -> pd.DataFrame:
    for suffix in ("_p", "_p_holm", "_win", "_tie", "_loss", "_direction"):  # NaN on the reference's rows
        for m in metric_ids:
            summary[f"{m}{suffix}"] = np.nan
    for _, group in summary.groupby(list(group_cols), sort=False):
        ref = _reference_row(group, versus)
        reference = parts[ref].set_index("image")
        cells: list[tuple[Any, str]] = []
        pvalues: list[float] = []
        for i in group.index:
            if i == ref:
                continue
            own = parts[i].set_index("image")
            for m in metric_ids:
                r = paired_test(own[m], reference[m], get_spec(m).higher_is_better)
                summary.loc[i, [f"{m}_p", f"{m}_win", f"{m}_tie", f"{m}_loss", f"{m}_direction"]] = [
                    r.p,
                    r.wins,
                    r.ties,
                    r.losses,
                    r.direction,
                ]
                cells.append((i, m))
                pvalues.append(r.p)
        adjusted = holm(pvalues)
        for (i, m), value in zip(cells, adjusted, strict=True):
            summary.at[i, f"{m}_p_holm"] = value
    return summary


def significance(row: pd.Series, metric: str, alpha: float = ALPHA) -> str:
    """``"better"``/``"worse"`` where the Holm-adjusted p is below ``alpha``, else ``""``."""
    p = row.get(f"{metric}_p_holm", np.nan)
    if p is None or pd.isna(p) or p >= alpha:
        return ""
    direction = row.get(f"{metric}_direction", 0)
    return "better" if direction > 0 else "worse" if direction < 0 else ""
