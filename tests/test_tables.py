"""Table 1 rendering: best bold and second underlined per dataset and metric, in each metric's direction."""

from __future__ import annotations

import re

import pandas as pd
import pytest

import fusionbench
from fusionbench.methods import PUBLISHED
from fusionbench.reports.tables import rank_marks, render


def _frame() -> pd.DataFrame:
    rows = [
        # dataset, method, mi (higher better), qcv (lower better)
        ("tno", "A", 2.10, 300.0),
        ("tno", "B", 3.40, 250.0),
        ("tno", "C", 2.95, 410.0),
        ("msrs", "A", 4.00, 100.0),
        ("msrs", "B", 3.00, 120.0),
        ("msrs", "C", 3.50, 90.0),
    ]
    frame = pd.DataFrame(rows, columns=["dataset", "method", "mi", "qcv"])
    frame["method_id"] = frame["method"].str.lower()
    frame["n"] = 10
    frame["mi_std"] = 0.1
    frame["qcv_std"] = 5.0
    frame.attrs["metrics"] = ["mi", "qcv"]
    frame.attrs["by"] = None
    return frame


def test_marks_follow_metric_direction_per_dataset():
    frame = _frame()
    marks = rank_marks(frame, ["mi", "qcv"], ["dataset"])
    assert marks["mi"].tolist() == ["", "best", "second", "best", "", "second"]
    assert marks["qcv"].tolist() == ["second", "best", "", "second", "", "best"]


def test_equal_shown_values_share_the_mark():
    frame = _frame()
    frame.loc[0, "mi"] = 3.401  # rounds to 3.40 like B
    marks = rank_marks(frame, ["mi"], ["dataset"])
    assert marks["mi"].tolist()[:3] == ["best", "best", "second"]


def test_markdown_and_latex_render_the_marks():
    frame = _frame()
    md = render(frame, "markdown")
    assert "|  | B | **3.40** | **250.00** |" in md and "| tno | A | 2.10 | <u>300.00</u> |" in md
    assert "|  | C | <u>2.95</u> | 410.00 |" in md
    latex = render(frame, "latex", std=True)
    assert r"\textbf{3.40 $\pm$ 0.10}" in latex and r"\underline{2.95 $\pm$ 0.10}" in latex
    _check_booktabs(latex, columns=4)


def test_csv_has_plain_numbers():
    csv = render(_frame(), "csv", std=True)
    header, first = csv.splitlines()[:2]
    assert header == "dataset,method,n,mi,mi_std,qcv,qcv_std"
    assert first == "tno,A,10,2.1,0.1,300,5"


def _check_booktabs(latex: str, columns: int) -> None:
    """A structural parse of a booktabs tabular: rules in order, every row with the right cell count."""
    lines = [line.strip() for line in latex.strip().splitlines()]
    assert lines[0].startswith(r"\begin{tabular}{") and lines[-1] == r"\end{tabular}"
    spec = re.match(r"\\begin\{tabular\}\{([lcr]+)\}", lines[0]).group(1)
    assert len(spec) == columns
    rules = [line for line in lines if line in (r"\toprule", r"\midrule", r"\bottomrule")]
    assert rules[0] == r"\toprule" and rules[-1] == r"\bottomrule" and r"\midrule" in rules
    body = [line for line in lines[1:-1] if line not in rules]
    for row in body:
        assert row.endswith(r"\\"), row
        cells = re.split(r"(?<!\\)&", row[:-2])
        assert len(cells) == columns, row
    assert latex.count("{") == latex.count("}")


@pytest.mark.slow
def test_tno_table_of_the_nine_published_methods(shared_root, tmp_path):
    methods = list(PUBLISHED)  # the nine published TNO result sets
    frame = fusionbench.table([f"published:{m}" for m in methods], "tno", data_root=shared_root, out=tmp_path)
    assert len(frame) == 9 and (frame["n"] == 42).all()
    marks = rank_marks(frame, frame.attrs["metrics"], ["dataset"])
    for metric in frame.attrs["metrics"]:
        shown = frame[metric].round(2)
        best = shown.max() if metric != "qcv" else shown.min()
        assert set(shown[marks[metric] == "best"]) == {best}
        second = sorted(set(shown), reverse=True)[1]
        assert set(shown[marks[metric] == "second"]) == {second}
    md = render(frame, "markdown")
    assert md.count("**") == 2 * (marks.values == "best").sum()
    _check_booktabs(render(frame, "latex"), columns=2 + 6)


def test_a_method_can_be_limited_to_some_datasets(tmp_path):
    from fusionbench.api import table
    from fusionbench.reports.tables import split_dataset_limit

    assert split_dataset_limit("published:piafusion@tno") == ("published:piafusion", {"tno"})
    assert split_dataset_limit("gff@tno+msrs") == ("gff", {"tno", "msrs"})
    assert split_dataset_limit("gff") == ("gff", None)
    with pytest.raises(ValueError, match="expected 'id@dataset"):
        split_dataset_limit("gff@")
    frame = table("average,max@tno", "demo", metrics="en", out=tmp_path)
    assert list(frame["method_id"]) == ["average"]
    frame = table("average,max@demo", "demo", metrics="en", out=tmp_path)
    assert list(frame["method_id"]) == ["average", "max"]
