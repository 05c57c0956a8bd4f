"""Method options in table specs: ``id[key=value,...]`` builds the method with those options."""

from __future__ import annotations

from pathlib import Path

import pytest

from fusionbench.api import table
from fusionbench.reports.tables import split_method_options


def test_split_method_options_reads_json_values() -> None:
    assert split_method_options("seafusion[stretch=false]") == ("seafusion", {"stretch": False})
    assert split_method_options("sidm[ablation=g3,width=lite]") == ("sidm", {"ablation": "g3", "width": "lite"})
    assert split_method_options("lp[levels=3]") == ("lp", {"levels": 3})
    assert split_method_options("gff") == ("gff", {})
    with pytest.raises(ValueError, match=r"expected 'id\[key=value"):
        split_method_options("lp[levels]")


def test_a_row_per_option_set_with_its_own_values(tmp_path: Path) -> None:
    frame = table(["lp[levels=1]", "lp[levels=4]"], "demo", metrics=["en", "ag"], out=tmp_path)
    assert list(frame["method_id"]) == ["lp[levels=1]", "lp[levels=4]"]
    assert list(frame["method"]) == ["LP (levels=1)", "LP (levels=4)"]
    assert frame["ag"].iloc[0] != frame["ag"].iloc[1]  # two configurations, two runs


def test_lists_keep_commas_inside_brackets_and_figures_take_options() -> None:
    from fusionbench.reports.figures import panel_specs
    from fusionbench.reports.tables import split_list

    assert split_list("a,sidm[x=1,y=2],seafusion[stretch=true]@tno") == [
        "a",
        "sidm[x=1,y=2]",
        "seafusion[stretch=true]@tno",
    ]
    specs = panel_specs("ir,seafusion[stretch=true],sidm[ablation=g3,width=lite]")
    assert [(s.name, s.options) for s in specs] == [
        ("ir", {}),
        ("seafusion", {"stretch": True}),
        ("sidm", {"ablation": "g3", "width": "lite"}),
    ]
