"""``table --ci`` and ``--versus``: bootstrap intervals and paired Wilcoxon tests, checked against scipy.stats."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from fusionbench.cli import main
from fusionbench.reports.stats import SEED, add_statistics, bootstrap_ci, holm, paired_test
from fusionbench.reports.tables import render


def _parts(rng: np.random.Generator, n: int = 30) -> dict[int, pd.DataFrame]:
    images = [f"{i:02d}" for i in range(n)]
    base = rng.normal(5.0, 1.0, n)
    lower = rng.normal(300.0, 20.0, n)
    return {
        0: pd.DataFrame({"image": images, "en": base, "qcv": lower}),  # the reference
        1: pd.DataFrame({"image": images, "en": base + rng.normal(0.6, 0.3, n), "qcv": lower - 30.0}),
        2: pd.DataFrame({"image": images, "en": base + rng.normal(0.0, 0.3, n), "qcv": lower}),
    }


def _summary(parts: dict[int, pd.DataFrame]) -> pd.DataFrame:
    rows = [
        {"dataset": "tno", "method": name, "method_id": name.lower(), "n": len(parts[i])}
        | {m: parts[i][m].mean() for m in ("en", "qcv")}
        | {f"{m}_std": parts[i][m].std() for m in ("en", "qcv")}
        for i, name in enumerate(["Average", "Better", "Same"])
    ]
    frame = pd.DataFrame(rows)
    frame.attrs.update(metrics=["en", "qcv"], by=None)
    return frame


def test_bootstrap_ci_equals_scipy_bootstrap():
    values = np.random.default_rng(1).gamma(2.0, 1.5, 40)
    expected = stats.bootstrap(
        (values,), np.mean, confidence_level=0.95, n_resamples=9999, method="BCa", rng=np.random.default_rng(SEED)
    ).confidence_interval
    low, high = bootstrap_ci(values)
    assert (low, high) == pytest.approx((expected.low, expected.high), rel=1e-12)
    assert low < values.mean() < high


def test_bootstrap_ci_degenerate_inputs():
    assert bootstrap_ci([2.0, 2.0, 2.0]) == (2.0, 2.0)
    assert all(np.isnan(bootstrap_ci([1.0])))
    assert bootstrap_ci([1.0, np.nan, 3.0, 2.0])[0] < 2.0  # NaN left out


def test_paired_test_equals_scipy_wilcoxon_and_counts_in_the_metric_direction():
    rng = np.random.default_rng(2)
    a = pd.Series(rng.normal(0.2, 1.0, 25), index=[f"p{i}" for i in range(25)])
    b = pd.Series(rng.normal(0.0, 1.0, 25), index=a.index[::-1]).sort_index()  # aligned by image, not position
    b.loc[a.index[3]] = a.iloc[3]  # one tie
    result = paired_test(a, b)
    aligned = b.reindex(a.index)
    assert result.p == pytest.approx(stats.wilcoxon(a, aligned).pvalue, rel=1e-12)
    assert (result.wins, result.ties, result.losses) == (
        int((a > aligned).sum()),
        1,
        int((a < aligned).sum()),
    )
    lower = paired_test(a, b, higher_is_better=False)
    assert (lower.wins, lower.losses) == (result.losses, result.wins)
    assert lower.p == result.p and lower.direction == -result.direction
    assert paired_test(a, a).p == 1.0


def test_holm_matches_the_step_down_definition():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    # sorted: 0.005*4, 0.01*3, 0.03*2, 0.04*1 -> 0.02, 0.03, 0.06, max(0.06, 0.04)
    np.testing.assert_allclose(holm(p), [0.03, 0.06, 0.06, 0.02, np.nan])


def test_add_statistics_columns_against_scipy():
    parts = _parts(np.random.default_rng(3))
    summary = add_statistics(_summary(parts), parts, ["en", "qcv"], ["dataset"], ci=True, versus="AVERAGE")
    ref = parts[0].set_index("image")
    raw = []
    for i in (1, 2):
        own = parts[i].set_index("image")
        for m in ("en", "qcv"):
            identical = bool((own[m] == ref[m]).all())  # scipy: nan (no nonzero difference); we: 1
            expected = 1.0 if identical else stats.wilcoxon(own[m], ref[m]).pvalue
            assert summary.at[i, f"{m}_p"] == pytest.approx(expected, rel=1e-12)
            raw.append(summary.at[i, f"{m}_p"])
            low, high = bootstrap_ci(own[m])
            assert (summary.at[i, f"{m}_ci_low"], summary.at[i, f"{m}_ci_high"]) == (low, high)
    holm_values = [summary.at[i, f"{m}_p_holm"] for i in (1, 2) for m in ("en", "qcv")]
    np.testing.assert_allclose(holm_values, holm(raw))
    assert summary.at[1, "qcv_win"] == 30  # lower is better and every value is lower
    assert summary[["en_p", "en_win"]].iloc[0].isna().all()  # the reference's own row is blank
    with pytest.raises(ValueError, match="--versus 'nope'"):
        add_statistics(_summary(parts), parts, ["en"], ["dataset"], versus="nope")


def test_render_shows_intervals_and_marks_significant_differences():
    parts = _parts(np.random.default_rng(4))
    summary = add_statistics(_summary(parts), parts, ["en", "qcv"], ["dataset"], ci=True, versus="average")
    latex = render(summary, "latex")
    better = summary.loc[1]
    assert better["en_p_holm"] < 0.05 and better["qcv_p_holm"] < 0.05
    assert latex.count("$^{+}$") == 2  # both of Better's metrics, nothing for Same or the reference
    assert r"{\scriptsize [" in latex
    markdown = render(summary, "markdown")
    assert f"[{better['en_ci_low']:.2f}, {better['en_ci_high']:.2f}]" in markdown
    assert "W/T/L" in markdown and "Wilcoxon" in markdown
    plain = render(_summary(parts), "markdown")
    assert "[" not in plain.replace("<u>", "") and "W/T/L" not in plain


@pytest.mark.slow
def test_cli_table_versus_and_ci_on_demo(tmp_path):
    args = "table --methods average,max,gff --datasets demo --versus average --ci --format csv --metrics en,qabf"
    result = CliRunner().invoke(main, [*args.split(), "--cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(io.StringIO(result.output))
    for m in ("en", "qabf"):
        for suffix in ("_ci_low", "_ci_high", "_p", "_p_holm", "_win", "_tie", "_loss"):
            assert f"{m}{suffix}" in frame.columns
    assert (frame["en_ci_low"] <= frame["en"]).all() and (frame["en"] <= frame["en_ci_high"]).all()
    assert frame.loc[frame["method"] == "Average", "en_p"].isna().all()
    assert frame.loc[frame["method"] == "Max", ["en_win", "en_tie", "en_loss"]].sum(axis=1).item() == 6


def test_html_table1_shows_intervals_marks_and_win_tie_loss():
    from fusionbench.reports.html import marked_table

    parts = _parts(np.random.default_rng(5))
    summary = add_statistics(_summary(parts), parts, ["en", "qcv"], ["dataset"], ci=True, versus="average")
    html = str(marked_table(summary, ["en", "qcv"]))
    assert f"[{summary.at[1, 'en_ci_low']:.2f}, {summary.at[1, 'en_ci_high']:.2f}]" in html
    assert html.split("<p")[0].count(" (+)") == 2 and "W/T/L" in html and "Wilcoxon" in html
    assert "W/T/L" not in str(marked_table(_summary(parts), ["en", "qcv"]))
