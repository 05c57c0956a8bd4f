"""``fusionbench doctor``: one screen that says what works and what is broken."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.engine.doctor import FAIL, OK, WARN, run_checks
from fusionbench.engine.store import STORE_NAME, ResultsStore


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_complete_environment_is_all_ok(shared_root, tmp_path):
    ResultsStore(tmp_path / STORE_NAME).close()
    checks = by_name(run_checks(data_root=shared_root, out=tmp_path, weights=shared_root / "weights"))
    assert {name: c.status for name, c in checks.items() if c.status != OK} == {}
    for dataset, files in (("tno", 84), ("msrs", 284), ("roadscene", 100)):
        assert f"{files} files OK (sha256 matches the pin)" in checks[f"dataset {dataset}"].detail
    assert checks["weights"].detail.endswith("found and sha256-verified")
    assert checks["results store"].detail == f"{tmp_path / STORE_NAME}: integrity ok, 0 scores"


def test_broken_parts_fail_and_absent_parts_warn(shared_root, tmp_path):
    weights = tmp_path / "weights"
    shutil.copytree(shared_root / "weights" / "seafusion", weights / "seafusion")
    (weights / "seafusion" / "SeAFusion.pth").write_bytes(b"not the published file")
    blocker = tmp_path / "file"
    blocker.write_text("")
    (tmp_path / "data" / "datasets").mkdir(parents=True)

    checks = by_name(run_checks(data_root=tmp_path / "data", out=blocker / "out", weights=weights))

    assert checks["weights seafusion/SeAFusion.pth"].status == FAIL
    assert "sha256" in checks["weights seafusion/SeAFusion.pth"].detail
    assert checks["weights"].status == WARN and "7 of 8 not found" in checks["weights"].detail
    assert checks["dataset tno"].status == WARN and "84 missing" in checks["dataset tno"].detail
    assert checks["output"].status == FAIL
    assert checks["output"].detail == f"{blocker / 'out'}: cannot be created ({blocker} is not a folder)"


def test_no_data_root_is_a_warning_that_says_what_to_do(tmp_path):
    checks = by_name(run_checks(data_root=tmp_path, out=tmp_path / "out", weights=tmp_path))
    assert checks["data root"].status == WARN
    assert "pass --data-root or set FUSIONBENCH_DATA" in checks["data root"].detail
    assert checks["output"].status == OK and checks["output"].detail.endswith("(will be created)")
    assert not (tmp_path / "out").exists()  # the doctor only looks


def test_cli_prints_one_screen_and_exits_1_on_a_failure(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    good = CliRunner().invoke(main, ["doctor", "--data-root", str(tmp_path), "--cache", str(tmp_path / "out")])
    assert good.exit_code == 0, good.output
    assert len(good.output.splitlines()) <= 24
    assert good.output.splitlines()[0].startswith("OK    versions")
    bad = CliRunner().invoke(main, ["doctor", "--data-root", str(tmp_path), "--cache", str(blocker / "out")])
    assert bad.exit_code == 1
    assert "FAIL  output" in bad.output and bad.output.rstrip().endswith("1 failures")
