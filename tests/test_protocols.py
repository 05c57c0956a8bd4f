"""Named paper protocols (issue 15, item 6): convention, method options and pair subsets of a paper's table."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.protocols import CDDFUSE, Protocol, get_protocol, list_protocols


def test_protocols_are_registered_case_insensitively():
    assert [p.name for p in list_protocols()] == ["tang", "cddfuse"]
    assert get_protocol("CDDFuse") is CDDFUSE and get_protocol("tang").convention == "tang"
    with pytest.raises(KeyError, match="did you mean 'cddfuse'"):
        get_protocol("cdfuse")


def test_cddfuse_scores_its_25_tno_pairs(shared_root, tmp_path):
    ids = CDDFUSE.pair_ids("tno", shared_root)
    assert len(ids) == 25 and ids[:5] == ["01", "02", "03", "04", "06"] and ids[-1] == "42"
    assert CDDFUSE.pair_ids("roadscene", shared_root) is None  # RoadScene-50 is the whole test split
    from fusionbench.api import table

    row = table("average", "tno", metrics="en", protocol="cddfuse", data_root=shared_root, out=tmp_path)
    assert row["n"].item() == 25
    fused = list((tmp_path / "fused").glob("average__*/*.png"))
    assert len(fused) == 25  # only the protocol's pairs were fused, not the whole split
    assert CDDFUSE.pairs_to_run("tno", shared_root) == ids
    assert CDDFUSE.pairs_to_run("tno", shared_root, ["02", "01"]) == ["02", "01"]
    assert CDDFUSE.pairs_to_run("roadscene", shared_root) is None
    with pytest.raises(ValueError, match=r"does not score pairs \['05'\] of 'tno'"):
        CDDFUSE.pairs_to_run("tno", shared_root, ["01", "05"])


def test_method_options_given_win_over_the_protocol():
    paper = Protocol("p", "d", "cdd", "s", method_options={"u2fusion": {"stretch": False, "source_order": "ir_vis"}})
    assert paper.options_for("U2Fusion", {"stretch": True}) == {"stretch": True, "source_order": "ir_vis"}
    assert paper.options_for("gff", {}) == {}


def test_table_under_a_protocol_uses_its_convention(tmp_path):
    from fusionbench.api import table

    under = table("average", "demo", metrics="mi,ag", protocol="cddfuse", out=tmp_path)
    direct = table("average", "demo", metrics="mi,ag", convention="cdd", out=tmp_path)
    tang = table("average", "demo", metrics="mi,ag", out=tmp_path)
    assert under["mi"].item() == direct["mi"].item() != tang["mi"].item()
    assert under.attrs["protocol"] == "cddfuse"


def test_cli_protocol_and_a_different_convention_is_an_error(tmp_path):
    args = ["table", "--methods", "average", "--datasets", "demo", "--cache", str(tmp_path)]
    result = CliRunner().invoke(main, [*args, "--protocol", "cddfuse", "--convention", "vifb"])
    assert result.exit_code == 2 and "fixes the convention (cdd)" in result.output
    for command in ("run", "table"):
        assert "--protocol" in CliRunner().invoke(main, [command, "--help"]).output


def test_report_and_run_under_a_protocol(tmp_path):
    from fusionbench.engine.results import CachedResults
    from fusionbench.reports.html import build_report

    ctx = CachedResults(out=tmp_path, metrics=["en"])
    html = build_report(ctx, "average", "demo", efficiency="none", protocol="cddfuse")
    assert "cdd" in html
    (run,) = ctx._runs.values()  # the report's one run was made under the protocol's convention
    assert run.manifest["convention"]["name"] == "cdd", run.manifest["convention"]
    args = ["run", "--method", "average", "--dataset", "demo", "--metrics", "mi", "--cache", str(tmp_path)]
    under = CliRunner().invoke(main, [*args, "--protocol", "cddfuse"])
    direct = CliRunner().invoke(main, [*args, "--convention", "cdd"])
    assert under.exit_code == 0, under.output
    assert under.output.splitlines()[2] == direct.output.splitlines()[2]  # the same MI row


def test_cddfuse_runs_u2fusion_as_its_authors_test_script():
    from fusionbench.methods import get_method

    options = CDDFUSE.options_for("u2fusion", {})
    method = get_method("u2fusion", **options)
    assert method.config() == {"source_order": "vis_ir", "stretch": True, "colour": False}
    assert not method.colour_output
    # the default lists no colour option, so its cache key is the one it always had
    assert get_method("u2fusion").config() == {"source_order": "ir_vis", "stretch": True}


#: CDDFuse README (image/Quantitative_IVF.png), U2Fusion on its 25 TNO pairs and on RoadScene-50.
CDDFUSE_U2FUSION = {
    "tno": {"en": 6.83, "sd": 34.55, "sf": 11.52, "mi": 1.37, "scd": 1.71, "vif": 0.58, "qabf": 0.44, "ssim": 0.99},
    "roadscene": {
        "en": 7.09, "sd": 38.12, "sf": 13.25, "mi": 1.87, "scd": 1.70, "vif": 0.60, "qabf": 0.51, "ssim": 0.97
    },
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("dataset", "pairs"), [("tno", 25), ("roadscene", 50)])
def test_cddfuse_protocol_reproduces_cddfuse_u2fusion_row(
    dataset, pairs, shared_root, weights_dir, tmp_path, monkeypatch
):
    """U2Fusion fused and scored on the protocol's pairs only (TNO: 25 of the 42; RoadScene: all 50), a few
    minutes each on two CPU cores. Every value rounds to the printed one (docs/protocols.md)."""
    from fusionbench.api import table
    from fusionbench.methods.weights import WEIGHTS_ENV

    monkeypatch.setenv(WEIGHTS_ENV, str(weights_dir))
    printed = CDDFUSE_U2FUSION[dataset]
    row = table("u2fusion", dataset, metrics=list(printed), protocol="cddfuse", data_root=shared_root, out=tmp_path)
    assert row["n"].item() == pairs
    for metric, value in printed.items():
        assert abs(row[metric].item() - value) <= 0.005, metric
