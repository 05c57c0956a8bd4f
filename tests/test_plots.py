"""Plots: sorted per-image curves with the mean in the legend, bars of the means, per-tag bars."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.reports.plots import metric_bars, metric_curves, tag_bars


def frames() -> dict[str, pd.DataFrame]:
    return {
        "A": pd.DataFrame(
            {
                "image": list("pqrs"),
                "mi": [3.0, 1.0, 2.0, 6.0],
                "en": [5.0, 5.5, 6.0, 6.5],
                "tag": ["day", "night", "day", "night"],
            }
        ),
        "B": pd.DataFrame(
            {
                "image": list("pqrs"),
                "mi": [2.0, 2.0, 4.0, np.nan],
                "en": [7.0, 7.0, 7.0, 7.0],
                "tag": ["day", "night", "day", "night"],
            }
        ),
    }


def test_curves_are_sorted_per_method_with_the_mean_in_the_legend():
    fig = metric_curves(frames(), ["mi", "en"])
    ax = fig.axes[0]
    assert ax.get_title() == "MI ↑"
    lines = ax.get_lines()
    assert lines[0].get_ydata().tolist() == [1.0, 2.0, 3.0, 6.0]
    assert lines[1].get_ydata().tolist() == [2.0, 2.0, 4.0]  # NaN left out
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["A (3.000)", "B (2.667)"]


def test_bars_are_the_means_with_std_error_bars():
    fig = metric_bars(frames(), ["mi", "en"])
    heights = [p.get_height() for p in fig.axes[1].patches]
    assert heights == pytest.approx([5.75, 7.0])
    assert [t.get_text() for t in fig.axes[1].get_xticklabels()] == ["A", "B"]


def test_tag_bars_split_each_method_by_tag():
    fig = tag_bars(frames(), ["mi"])
    ax = fig.axes[0]
    day, night = ax.containers
    assert [p.get_height() for p in day] == pytest.approx([2.5, 3.0])
    assert [p.get_height() for p in night] == pytest.approx([3.5, 2.0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["day", "night"]


def test_plot_errors_name_what_is_missing():
    with pytest.raises(ValueError, match="qabf"):
        metric_curves(frames(), ["qabf"])
    with pytest.raises(ValueError, match="tag column 'scene'"):
        tag_bars(frames(), ["mi"], by="scene")
    with pytest.raises(ValueError, match="no methods"):
        metric_bars({}, ["mi"])


def test_plot_command_writes_both_files(tmp_path):
    out = tmp_path / "tags.png"
    args = ["plot", "--dataset", "demo", "--methods", "average,max", "--kind", "tags", "--metrics", "en,ag"]
    result = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0 and out.with_suffix(".pdf").read_bytes().startswith(b"%PDF")
