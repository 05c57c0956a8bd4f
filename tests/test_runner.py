"""The runner: end-to-end runs, caching and resume, the Python API contract."""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fusionbench
from fusionbench.engine.backends import local_threads
from fusionbench.engine.store import STORE_NAME
from fusionbench.io import write_image_atomic
from fusionbench.metrics import compute
from tests.metric_fixtures import synthetic_triple
from tests.run_support import (
    finish,
    make_pair_folders,
    per_image_csv,
    progress,
    run_args,
    run_cli,
    score_rows,
    temp_files,
)


def test_run_returns_one_row_per_pair_with_tags(tmp_path):
    frame = fusionbench.run("average", "demo", out=tmp_path, metrics=["en", "qabf"])
    assert list(frame.columns) == ["image", "en", "qabf", "tag"]
    assert len(frame) == 6 and set(frame["tag"]) == {"day", "night"}
    run_dir = Path(frame.attrs["run_dir"])
    on_disk = pd.read_csv(run_dir / "per_image.csv", dtype={"image": str})
    pd.testing.assert_frame_equal(on_disk, frame, check_dtype=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["method"]["id"] == "average" and manifest["pairs"] == 6
    assert manifest["dataset"]["version"] and manifest["convention"]["name"] == "tang"
    assert set(manifest["stage_seconds"]) == {"io", "fuse", "metrics"}
    assert manifest["environment"]["numpy"] == np.__version__


def test_runner_values_equal_direct_metric_calls(tmp_path):
    dirs = make_pair_folders(tmp_path / "data", 3)
    frame = fusionbench.run(
        "gff",
        "folder",
        out=tmp_path / "out",
        metrics="all",
        dataset_options={"ir": dirs["ir"], "vi": dirs["vi"]},
    )
    from fusionbench.io import read_image

    for _, row in frame.iterrows():
        ir = read_image(dirs["ir"] / f"{row['image']}.png")
        vis = read_image(dirs["vi"] / f"{row['image']}.png")
        fused = fusionbench.fuse("gff", ir, vis)
        expected = compute(fused, ir, vis, metrics="all")
        for key, value in expected.items():
            assert row[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key


def test_second_run_uses_the_cache_and_changed_metrics_recompute(tmp_path):
    first = fusionbench.run("lp", "demo", out=tmp_path, metrics=["en"])
    again = fusionbench.run("lp", "demo", out=tmp_path, metrics=["en"])
    assert again.attrs["manifest"]["fused_from_cache"] == 6
    assert again.attrs["manifest"]["metrics_from_cache"] == 6
    pd.testing.assert_frame_equal(first, again)
    wider = fusionbench.run("lp", "demo", out=tmp_path, metrics=["en", "mi"])
    assert wider.attrs["manifest"]["fused_from_cache"] == 6
    assert wider.attrs["manifest"]["metrics_from_cache"] == 0
    other = fusionbench.run("lp", "demo", out=tmp_path, metrics=["en"], convention="vifb")
    assert other.attrs["manifest"]["metrics_from_cache"] == 0


def test_pairs_runs_only_those_and_the_whole_split_reuses_them(tmp_path):
    subset = fusionbench.run("average", "demo", out=tmp_path, metrics=["en"], pairs=["demo_05", "demo_02"])
    assert list(subset["image"]) == ["demo_02", "demo_05"]  # the dataset's order, not the order asked
    whole = fusionbench.run("average", "demo", out=tmp_path, metrics=["en"])
    assert whole.attrs["manifest"]["fused_from_cache"] == 2
    assert whole.attrs["manifest"]["metrics_from_cache"] == 2
    pd.testing.assert_frame_equal(whole[whole["image"].isin(["demo_02", "demo_05"])].reset_index(drop=True), subset)


def test_pairs_naming_an_unknown_id_is_a_dataset_error(tmp_path):
    from fusionbench.datasets import DatasetError

    with pytest.raises(DatasetError, match=r"no pair\(s\) \['demo_5'\]"):
        fusionbench.run("average", "demo", out=tmp_path, pairs=["demo_02", "demo_5"])


def test_stale_temp_files_are_removed(tmp_path):
    fusionbench.run("max", "demo", out=tmp_path, metrics=["en"])
    fused_dirs = list((tmp_path / "fused").glob("max__*"))
    assert len(fused_dirs) == 1
    stale = fused_dirs[0] / ".demo_01.png.deadbeef.tmp"
    stale.write_bytes(b"half a png")
    fusionbench.run("max", "demo", out=tmp_path, metrics=["en"])
    assert not stale.exists()


def test_fuse_api_returns_uint8_as_written(tmp_path):
    _, ir, vis = synthetic_triple(3, colour=True)
    out = fusionbench.fuse("average", ir, vis)
    assert out.dtype == np.uint8 and out.shape == vis.shape
    gray = fusionbench.fuse("average", ir, vis[..., 0])
    assert gray.shape == ir.shape


def test_unknown_method_and_dataset_errors_name_close_matches(tmp_path):
    with pytest.raises(KeyError, match="did you mean 'gff'"):
        fusionbench.run("gfff", "demo", out=tmp_path)
    with pytest.raises(KeyError, match="did you mean 'msrs'"):
        fusionbench.run("gff", "mrss", out=tmp_path)


@pytest.mark.slow
def test_sigkill_part_way_then_resume_gives_identical_results(tmp_path):
    """Kill a run with SIGKILL after some pairs, rerun it: same per-image CSV, no partial files."""
    dirs = make_pair_folders(tmp_path / "data", 40, shape=(160, 200))
    args = run_args(dirs, method="gff", metrics="all")
    killed_out = tmp_path / "killed"
    proc = run_cli([*args, "--cache", str(killed_out)])
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        done = progress(killed_out)
        if done >= 48:  # all 40 fused, 8 scored
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 48 <= done < 80
    assert not list(killed_out.glob("runs/**/per_image.csv"))

    finish(run_cli([*args, "--cache", str(killed_out)]))
    clean_out = tmp_path / "clean"
    finish(run_cli([*args, "--cache", str(clean_out)]))

    assert per_image_csv(killed_out) == per_image_csv(clean_out)
    manifest = json.loads(next(killed_out.glob("runs/**/manifest.json")).read_text())
    assert manifest["fused_from_cache"] == 40
    assert manifest["metrics_from_cache"] >= 8
    assert temp_files(killed_out) == []


@pytest.mark.slow
def test_sigkill_at_ten_random_points_every_resume_matches_an_uninterrupted_run(tmp_path):
    """Ten runs killed with SIGKILL at random points (seeded): each resumed run ends with the per-image
    CSV and store rows of an uninterrupted run, and no temp file is left."""
    pairs = 12
    dirs = make_pair_folders(tmp_path / "data", pairs, shape=(120, 160))
    args = run_args(dirs, method="average", metrics="en,ag,qabf,mi")
    clean = tmp_path / "clean"
    finish(run_cli([*args, "--cache", str(clean)]))
    expected_csv, expected_rows = per_image_csv(clean), score_rows(clean)
    assert len(expected_rows) == pairs * 4

    rng = random.Random(7)
    points = []
    for round_ in range(10):
        out = tmp_path / f"round{round_}"
        # Progress is counted in units: fused PNGs, then scored pairs (2 * pairs in all).
        point, jitter = rng.randrange(0, 2 * pairs - 1), rng.uniform(0.0, 0.01)
        proc = run_cli([*args, "--cache", str(out)])
        deadline = time.monotonic() + 120
        while proc.poll() is None and progress(out) < point and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(jitter)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL, f"round {round_}: the run ended before the kill at unit {point}"
        points.append(progress(out))
        assert not list(out.glob("runs/**/per_image.csv"))

        finish(run_cli([*args, "--cache", str(out)]))
        assert per_image_csv(out) == expected_csv, f"round {round_} (killed at unit {point})"
        assert score_rows(out) == expected_rows, f"round {round_} (killed at unit {point})"
        assert temp_files(out) == []
    assert len(set(points)) >= 4, f"the kills did not land at different points: {points}"


@pytest.mark.slow
def test_two_runs_on_one_output_folder_neither_corrupt_nor_duplicate_rows(tmp_path):
    pairs = 16
    dirs = make_pair_folders(tmp_path / "data", pairs, shape=(120, 160))
    args = run_args(dirs, method="gff", metrics="en,ag,qabf")
    shared = tmp_path / "shared"
    procs = [run_cli([*args, "--cache", str(shared)]) for _ in range(2)]
    for proc in procs:
        finish(proc)
    alone = tmp_path / "alone"
    finish(run_cli([*args, "--cache", str(alone)]))

    rows = score_rows(shared)
    keys = [row[:10] for row in rows]
    assert len(keys) == len(set(keys)) == pairs * 3  # one row per (pair, metric): none duplicated
    assert rows == score_rows(alone)  # and none corrupted
    assert per_image_csv(shared) == per_image_csv(alone)
    con = sqlite3.connect(shared / STORE_NAME)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT count(*) FROM fused").fetchone()[0] == pairs
    con.close()
    assert temp_files(shared) == []


def test_changed_method_config_or_input_file_recomputes_only_what_changed(tmp_path):
    dirs = make_pair_folders(tmp_path / "data", 3, shape=(48, 64))
    options = {"ir": dirs["ir"], "vi": dirs["vi"]}
    first = fusionbench.run("lp", "folder", out=tmp_path / "out", metrics=["en"], dataset_options=options)
    other = fusionbench.run(
        "lp", "folder", out=tmp_path / "out", metrics=["en"], dataset_options=options, method_options={"levels": 2}
    )
    assert other.attrs["manifest"]["fused_from_cache"] == 0 and other.attrs["manifest"]["metrics_from_cache"] == 0
    _, ir, _ = synthetic_triple(99, shape=(48, 64))
    write_image_atomic(dirs["ir"] / "p001.png", ir)
    again = fusionbench.run("lp", "folder", out=tmp_path / "out", metrics=["en"], dataset_options=options)
    # A new file is a new dataset version: every key changes, so nothing stale is reused.
    assert again.attrs["manifest"]["dataset"]["version"] != first.attrs["manifest"]["dataset"]["version"]
    assert again.attrs["manifest"]["metrics_from_cache"] == 0
    assert again.set_index("image").loc["p000", "en"] == first.set_index("image").loc["p000", "en"]
    assert again.set_index("image").loc["p001", "en"] != first.set_index("image").loc["p001", "en"]


@pytest.mark.slow
def test_workers_and_scheduler_are_recorded_and_give_the_serial_values(tmp_path):
    serial = fusionbench.run("gff", "demo", out=tmp_path / "serial", metrics=["en", "qabf"])
    parallel = fusionbench.run("gff", "demo", out=tmp_path / "parallel", metrics=["en", "qabf"], workers=2)
    pd.testing.assert_frame_equal(serial, parallel)
    assert serial.attrs["manifest"]["backend"]["name"] == "serial"
    threads = local_threads(2)
    assert parallel.attrs["manifest"]["backend"] == {"name": "processes", "workers": 2, "threads_per_worker": threads}
    with pytest.raises(ValueError, match="workers must be an integer >= 1, got 0"):
        fusionbench.run("gff", "demo", out=tmp_path / "bad", workers=0)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    ["densefuse", "fusiongan", "ifcnn", "piafusion", "pmgi", "rfn-nest", "sdnet", "seafusion", "u2fusion"],
)
def test_published_tno_runs_reproduce_the_toolkit_csv(shared_root, tmp_path, method):
    """``run --method published:X --dataset tno`` adds no error to the metric library's values.

    The CSV was produced by the pre-refactor TANG toolkit, which the ``tang-old`` convention
    reproduces (see tests/calibration/test_tno_toolkit_csv.py and docs/calibration.md).
    """
    seed = ["mi", "vif", "ag", "scd", "en", "qabf"]
    frame = fusionbench.run(
        f"published:{method}", "tno", metrics=seed, convention="tang-old", data_root=shared_root, out=tmp_path
    )
    assert len(frame) == 42
    table = pd.read_csv(shared_root / "results/metrics/tno_test_Metric_TNO.csv", dtype={"image": str})
    reference = table[table["method"] == method].pivot(index="image", columns="metric", values="value")
    ours = frame.set_index("image")
    names = {"mi": "MI", "vif": "VIF", "ag": "AG", "scd": "SCD", "en": "EN", "qabf": "Qabf"}
    tolerance = {"mi": 1e-10, "vif": 5e-8, "ag": 1e-12, "scd": 1e-11, "en": 1e-12, "qabf": 1e-12}
    for metric_id, column in names.items():
        rel = ((ours[metric_id] - reference[column]) / reference[column]).abs()
        assert rel.max() <= tolerance[metric_id], f"{method} {column}: worst {rel.max():.2e} at {rel.idxmax()}"
