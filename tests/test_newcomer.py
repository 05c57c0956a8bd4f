"""A newcomer's path (issue 15): weights, progress, partial fused folders, names, list width.

Each test reproduces one friction point seen from a fresh clone with only the README.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.methods.weights import WEIGHTS_ENV


@pytest.fixture
def restore_weights_env(monkeypatch):
    """``--weights`` sets ``$FUSIONBENCH_WEIGHTS`` in this process: put it back after the test."""
    monkeypatch.setenv(WEIGHTS_ENV, "/nonexistent-weights-before")
    monkeypatch.delenv(WEIGHTS_ENV)


def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# -- 1. weights --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["run", "table", "report", "figure", "plot"])
def test_every_command_that_runs_a_learned_method_takes_weights(command):
    result = _invoke(command, "--help")
    assert result.exit_code == 0 and "--weights" in result.output


@pytest.mark.parametrize(
    "args",
    [
        ("run", "--method", "seafusion", "--dataset", "demo"),
        ("table", "--methods", "seafusion", "--datasets", "demo"),
    ],
)
def test_weights_folder_is_honoured_by_the_runs_a_command_starts(args, tmp_path, restore_weights_env):
    empty = tmp_path / "no-weights-here"
    empty.mkdir()
    result = _invoke(*args, "--weights", str(empty), "--cache", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert str(empty) in result.output and "SeAFusion.pth" in result.output


def test_doctor_says_how_to_fix_missing_weights(tmp_path):
    from fusionbench.engine.doctor import check_weights

    (warning,) = [c for c in check_weights(tmp_path) if c.name == "weights"]
    assert "--weights DIR" in warning.detail and WEIGHTS_ENV in warning.detail


# -- 2. progress -------------------------------------------------------------------------------


def test_progress_bar_on_request_and_none_on_a_non_terminal_by_default(tmp_path):
    args = ("run", "--method", "average", "--dataset", "demo", "--metrics", "en", "--cache", str(tmp_path))
    quiet = CliRunner().invoke(main, list(args))
    assert quiet.exit_code == 0 and "it/s" not in quiet.stderr and "unit/s" not in quiet.stderr
    shown = CliRunner().invoke(main, [*args, "--progress"])
    assert shown.exit_code == 0, shown.output
    assert "100%" in shown.stderr and "average on demo" in shown.stderr  # the bar stays as its summary
    for command in ("table", "report", "eval", "train", "ablate"):
        assert "--progress / --no-progress" in _invoke(command, "--help").output


def test_ablate_shows_the_evaluation_progress_only_when_asked(tmp_path):
    from fusionbench.training.ablation import shipped_rows

    if ("g7", 0) not in shipped_rows("lite"):
        pytest.skip("no shipped sidm-lite-g7 checkpoint")
    args = ["ablate", "--shipped", "--groups", "g7", "--seeds", "0", "--dataset", "demo", "--metrics", "en"]
    args += ["--format", "csv", "--cache", str(tmp_path)]
    quiet = CliRunner().invoke(main, args)  # not a terminal: no bar by default
    assert quiet.exit_code == 0, quiet.output
    assert "unit/s" not in quiet.stderr and quiet.stdout.startswith("group,")
    shown = CliRunner().invoke(main, [*args, "--progress"])
    assert shown.exit_code == 0, shown.output
    assert "100%" in shown.stderr and "sidm on demo" in shown.stderr and "12/12" in shown.stderr
    assert shown.stdout == quiet.stdout
    hidden = CliRunner().invoke(main, [*args, "--no-progress"])
    assert hidden.exit_code == 0 and hidden.stderr == "" and hidden.stdout == quiet.stdout


# -- 3. eval --allow-missing -------------------------------------------------------------------


def test_eval_scores_a_partial_fused_folder_only_when_asked(shared_root, tmp_path):
    tno = shared_root / "datasets" / "tno" / "test"
    published = shared_root / "results" / "tno" / "test" / "densefuse"
    fused = tmp_path / "fused"
    fused.mkdir()
    present = sorted(published.iterdir())[:2]
    for path in present:
        shutil.copy(path, fused / path.name)
    args = ["eval", "--ir", str(tno / "ir"), "--vi", str(tno / "vi"), "--fused", str(fused), "--metrics", "en"]
    refused = _invoke(*args)
    assert refused.exit_code == 2 and "--allow-missing" in refused.output
    scored = _invoke(*args, "--allow-missing")
    assert scored.exit_code == 0, scored.output
    total = len(list((tno / "ir").iterdir()))
    assert f"scoring 2 of {total} pairs; missing {total - 2}" in scored.stderr
    rows = [line.split()[0] for line in scored.stdout.splitlines()[1:]]
    assert rows == [p.stem for p in present] + ["mean"]


# -- 4. names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sidm", "SIDM", "sidm-fusion", "SIDM-Fusion", "sidm_fusion"])
def test_method_aliases_and_case(name):
    from fusionbench.methods import get_method

    assert get_method(name).id == "sidm"


def test_display_names_of_baselines_are_aliases():
    from fusionbench.methods import get_method

    assert get_method("SeAFusion").id == "seafusion" and get_method("GFF").id == "gff"


def test_unknown_method_with_published_images_suggests_published():
    result = _invoke("run", "--method", "piafusion", "--dataset", "demo")
    assert result.exit_code == 2 and "published:piafusion" in result.output


@pytest.mark.parametrize("name", ["MSRS", "Demo", "DEMO", "tno"])
def test_dataset_ids_are_case_insensitive(name):
    from fusionbench.datasets import get_dataset

    assert get_dataset(name).name == name.lower()


def test_registry_still_names_close_matches():
    from fusionbench.methods import get_method

    with pytest.raises(KeyError, match="did you mean 'gff'"):
        get_method("gfff")


# -- 5. list methods fits 100 columns ----------------------------------------------------------


def test_list_methods_fits_100_columns_and_long_gives_everything():
    short = _invoke("list", "methods")
    assert short.exit_code == 0
    assert max(len(line) for line in short.output.splitlines()) <= 100
    assert "published:piafusion" in short.output
    long = _invoke("list", "methods", "--long")
    assert "reference" in long.output.splitlines()[0]
    shown = _invoke("show", "method", "SIDM-Fusion")
    assert shown.exit_code == 0 and shown.output.startswith("id:          sidm\n") and "reference:" in shown.output


def test_readme_commands_are_one_command_per_line():
    """The README once had ``fusionbench data list | data verify msrs | data download roadscene``."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert "| data verify" not in readme


# -- 5. the report's "Started" times -----------------------------------------------------------


def test_manifest_started_is_when_the_results_were_computed_not_when_the_cache_was_read(tmp_path):
    import json

    import fusionbench

    first = fusionbench.run("average", "demo", metrics="en", out=tmp_path)
    manifest = Path(first.attrs["run_dir"]) / "manifest.json"
    recorded = json.loads(manifest.read_text())
    recorded.update(started="2020-01-02T03:04:05+00:00", wall_seconds=12.5)
    manifest.write_text(json.dumps(recorded))
    cached = fusionbench.run("average", "demo", metrics="en", out=tmp_path)  # everything from the cache
    assert cached.attrs["manifest"]["started"] == "2020-01-02T03:04:05+00:00"
    assert json.loads(manifest.read_text())["wall_seconds"] == 12.5
    next(iter((tmp_path / "fused").rglob("*.png"))).unlink()  # one image to fuse again: a new time
    computed = fusionbench.run("average", "demo", metrics="en", out=tmp_path)
    assert computed.attrs["run_dir"] == first.attrs["run_dir"]
    assert computed.attrs["manifest"]["started"] != "2020-01-02T03:04:05+00:00"


# -- 1. weights download -----------------------------------------------------------------------


def test_weights_download_offline_names_url_file_and_variable(tmp_path, monkeypatch):
    import pooch
    import requests

    def offline(*args, **kwargs):
        raise requests.ConnectionError("Name or service not known")

    monkeypatch.setattr(pooch, "retrieve", offline)
    result = _invoke("weights", "download", "TarDAL", "--weights", str(tmp_path))
    assert result.exit_code == 2
    message = " ".join(result.output.split())
    url = "https://github.com/Linfeng-Tang/VIF-Benchmark/raw/23f2e51f/Checkpoint/TarDAL/tardal.pt"
    assert url in message and str(tmp_path / "tardal" / "tardal.pt") in message and WEIGHTS_ENV in message


def test_weights_download_verifies_the_pinned_sha256(tmp_path, monkeypatch, weights_dir):
    import pooch

    from fusionbench.methods.weights import WEIGHT_FILES, weight_key

    def fetch(url, known_hash, fname, path, progressbar):  # as pooch does once the bytes are in
        source = weights_dir / "ifcnn" / fname
        if not source.is_file():
            pytest.skip(f"{source} not in the shared data")
        assert url == WEIGHT_FILES.get(weight_key("ifcnn", "IFCNN-MAX.pth")).url and known_hash.startswith("sha256:")
        Path(path).mkdir(parents=True, exist_ok=True)
        return shutil.copy(source, Path(path) / fname)

    monkeypatch.setattr(pooch, "retrieve", fetch)
    result = _invoke("weights", "download", "ifcnn", "--weights", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ifcnn" / "IFCNN-MAX.pth").is_file() and "sha256 verified" in result.output
    (tmp_path / "ifcnn" / "IFCNN-MAX.pth").write_bytes(b"not the published file")
    tampered = _invoke("weights", "download", "ifcnn", "--weights", str(tmp_path))
    assert tampered.exit_code == 2 and "sha256" in tampered.output


@pytest.mark.slow
def test_ablate_decimals_sets_the_digits_of_table_2(tmp_path):
    from fusionbench.training.ablation import shipped_rows

    if ("g7", 0) not in shipped_rows("lite"):
        pytest.skip("no shipped sidm-lite-g7 checkpoint")
    args = ["ablate", "--shipped", "--groups", "g7", "--dataset", "demo", "--metrics", "en", "--cache", str(tmp_path)]
    missing = CliRunner().invoke(main, [*args, "--seeds", "7"])
    assert missing.exit_code != 0 and "no shipped lite checkpoint with seed(s) [7] for row(s) ['g7']" in missing.output
    args += ["--seeds", "0", "--format", "markdown"]
    two = CliRunner().invoke(main, args)
    four = CliRunner().invoke(main, [*args, "--decimals", "4"])
    assert two.exit_code == 0 and four.exit_code == 0, four.output
    last_cell = re.compile(r"\| \**(\d+)\.(\d+)\** \|$", re.MULTILINE)  # EN, the row's only metric
    assert len(last_cell.search(two.stdout).group(2)) == 2
    assert len(last_cell.search(four.stdout).group(2)) == 4
