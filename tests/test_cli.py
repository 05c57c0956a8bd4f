"""The ``fusionbench`` command line: eval, list, errors, and the generated metric card."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fusionbench import __version__
from fusionbench.cli import main
from fusionbench.io import read_image, write_image_atomic
from fusionbench.metrics import compute, list_metrics
from fusionbench.metrics.cards import CARD_COMMAND, render_metrics_markdown

REPO_ROOT = Path(__file__).resolve().parents[1]


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not a handled user error
    return result


def read_csv(path):
    return pd.read_csv(path, dtype={"image": str})


@pytest.fixture
def folders(tmp_path):
    """Three triples named 1, 2, 10 (sizes differ between triples; triple 2's fused image is RGB)."""
    rng = np.random.default_rng(0)
    dirs = {role: tmp_path / role for role in ("ir", "vi", "fused")}
    for d in dirs.values():
        d.mkdir()
    for stem, shape in (("1", (32, 40)), ("2", (24, 24)), ("10", (32, 40))):
        ir = rng.integers(0, 256, shape, dtype=np.uint8)
        vi = rng.integers(0, 256, shape, dtype=np.uint8)
        fused = ((ir.astype(float) + vi) / 2).round().astype(np.uint8)
        if stem == "2":
            fused = np.dstack([fused, vi, ir])
        write_image_atomic(dirs["ir"] / f"{stem}.png", ir)
        write_image_atomic(dirs["vi"] / f"{stem}.png", vi)
        write_image_atomic(dirs["fused"] / f"{stem}.png", fused)
    return dirs


def eval_args(folders, *extra):
    return ("eval", "--ir", folders["ir"], "--vi", folders["vi"], "--fused", folders["fused"], *extra)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# eval ------------------------------------------------------------------------------------------


def test_eval_prints_table_with_mean_and_writes_csv_equal_to_compute(folders, tmp_path):
    out = tmp_path / "scores.csv"
    result = run(*eval_args(folders, "--metrics", "mi,en,qabf", "--out", out))

    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # no progress bar when stderr is not a terminal
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["image", "mi", "en", "qabf"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "10", "mean"]

    table = read_csv(out)
    assert list(table.columns) == ["image", "mi", "en", "qabf"]
    assert list(table["image"]) == ["1", "2", "10"]
    for row in table.itertuples(index=False):
        images = [read_image(folders[role] / f"{row.image}.png") for role in ("fused", "ir", "vi")]
        expected = compute(*images, metrics=["mi", "en", "qabf"])
        assert {k: getattr(row, k) for k in expected} == expected

    mean_row = [float(x) for x in lines[-1].split()[1:]]
    np.testing.assert_allclose(mean_row, table[["mi", "en", "qabf"]].mean(), atol=5e-5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fused", "ir", "scores.csv", "vi"]


def test_eval_mean_skips_nan(folders, tmp_path):
    write_image_atomic(folders["ir"] / "2.png", np.full((24, 24), 100, np.uint8))  # VIF undefined
    out = tmp_path / "scores.csv"
    result = run(*eval_args(folders, "--metrics", "vif", "--out", out))

    assert result.exit_code == 0, result.output
    table = read_csv(out)
    assert math.isnan(table.loc[table["image"] == "2", "vif"].item())
    mean = float(result.stdout.strip().splitlines()[-1].split()[1])
    assert mean == pytest.approx(np.nanmean(table["vif"]), abs=5e-5)


def test_eval_defaults_to_the_seed_metrics(folders):
    result = run(*eval_args(folders))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == ["image", "mi", "vif", "ag", "scd", "en", "qabf"]


def test_eval_sixteen_bit_needs_data_range(folders, tmp_path):
    for role in ("ir", "vi", "fused"):
        image = read_image(folders[role] / "1.png")
        write_image_atomic(folders[role] / "1.png", image.astype(np.uint16) * 257)

    refused = run(*eval_args(folders, "--metrics", "en"))
    assert_one_line_error(refused, "1: ", "data_range")

    # Mixing 8- and 16-bit files under one --data-range would rescale the 8-bit ones: keep one depth.
    for stem in ("2", "10"):
        for role in ("ir", "vi", "fused"):
            image = read_image(folders[role] / f"{stem}.png")
            write_image_atomic(folders[role] / f"{stem}.png", image.astype(np.uint16) * 257)
    out = tmp_path / "deep.csv"
    accepted = run(*eval_args(folders, "--metrics", "en", "--data-range", "65535", "--out", out))
    assert accepted.exit_code == 0, accepted.output
    assert read_csv(out)["en"].notna().all()


def test_eval_repeated_metric_is_one_column(folders):
    result = run(*eval_args(folders, "--metrics", "en,EN,en"))

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].split() == ["image", "en"]


def test_eval_images_of_a_triple_must_share_a_size(folders):
    write_image_atomic(folders["vi"] / "10.png", np.zeros((8, 8), np.uint8))
    assert_one_line_error(run(*eval_args(folders)), "10: ", "sizes differ")


# user errors -----------------------------------------------------------------------------------


def test_unknown_metric_is_one_line_with_the_close_match(folders):
    result = run(*eval_args(folders, "--metrics", "mi,qbaf"))
    assert_one_line_error(result, "unknown metric 'qbaf'", "did you mean 'qabf'")


def test_unknown_convention_is_one_line_with_the_close_match(folders):
    result = run(*eval_args(folders, "--convention", "tnag"))
    assert_one_line_error(result, "unknown convention 'tnag'", "'tang'")


def test_missing_folder(folders, tmp_path):
    folders["vi"] = tmp_path / "nowhere"
    assert_one_line_error(run(*eval_args(folders)), "vi folder not found", "nowhere")


def test_unpaired_files(folders):
    (folders["fused"] / "10.png").unlink()
    assert_one_line_error(run(*eval_args(folders)), "'10' (not in fused)")


def test_unreadable_image_is_named(folders):
    path = folders["fused"] / "2.png"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_one_line_error(run(*eval_args(folders)), str(path))


def test_csv_folder_must_exist(folders, tmp_path):
    result = run(*eval_args(folders, "--out", tmp_path / "missing" / "out.csv"))
    assert_one_line_error(result, "does not exist")


def test_version():
    result = run("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


# list ------------------------------------------------------------------------------------------


def test_list_metrics_markdown_is_the_card():
    result = run("list", "metrics", "--format", "markdown")

    assert result.exit_code == 0, result.output
    assert result.stdout == render_metrics_markdown()
    assert CARD_COMMAND in result.stdout
    for spec in list_metrics():
        assert f"| {spec.id} | {spec.name} |" in result.stdout


def test_list_metrics_csv_has_one_row_per_metric():
    result = run("list", "metrics", "--format", "csv")

    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == ",".join(list_metrics()[0].as_row())
    assert [line.split(",")[0] for line in lines[1:]] == [spec.id for spec in list_metrics()]


def test_list_conventions_shows_what_differs_from_the_defaults():
    result = run("list", "conventions")

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert list(rows) == ["tang", "tang-corrected", "tang-old", "vifb", "cdd"]
    assert "mi_joint_saturation=True" in rows["tang"]
    assert "colour=per_channel" in rows["vifb"]


def test_metric_card_is_current():
    card = REPO_ROOT / "docs" / "metrics.md"
    assert card.exists() and card.read_text(encoding="utf-8") == render_metrics_markdown(), (
        f"docs/metrics.md is stale or missing; regenerate it from the repository root with: {CARD_COMMAND}"
    )


# shared data -----------------------------------------------------------------------------------


def test_eval_on_shared_tno_piafusion(shared_root, tmp_path):
    ir = shared_root / "datasets" / "tno" / "test" / "ir"
    vi = shared_root / "datasets" / "tno" / "test" / "vi"
    fused = shared_root / "results" / "tno" / "test" / "piafusion"
    if not (ir.is_dir() and vi.is_dir() and fused.is_dir()):
        pytest.skip(f"TNO test images or PIAFusion results not found under {shared_root}")
    out = tmp_path / "tno.csv"

    result = run("eval", "--ir", ir, "--vi", vi, "--fused", fused, "--metrics", "en", "--out", out)

    assert result.exit_code == 0, result.output
    table = read_csv(out)
    assert len(table) == 42
    assert table["en"].between(0, 8).all()
    assert result.stdout.strip().splitlines()[-1].split()[0] == "mean"


def test_run_pairs_option_scores_only_the_pairs_named(tmp_path):
    result = run("run", "--method", "max", "--dataset", "demo", "--metrics", "en", "--cache", tmp_path,
                 "--pairs", "demo_03,demo_01", "--per-image")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 pairs;" in result.output and "demo_01" in result.output and "demo_04" not in result.output
    bad = run("run", "--method", "max", "--dataset", "demo", "--cache", tmp_path, "--pairs", "nope")
    assert bad.exit_code != 0 and "no pair(s) ['nope']" in bad.output
