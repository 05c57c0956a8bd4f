"""The runner: end-to-end runs, caching and resume, the Python API contract."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fusionbench
from fusionbench.io import write_image_atomic
from fusionbench.metrics import compute
from tests.metric_fixtures import synthetic_triple


def make_pair_folders(root: Path, count: int, shape=(96, 128)) -> dict[str, Path]:
    dirs = {"ir": root / "ir", "vi": root / "vi"}
    for d in dirs.values():
        d.mkdir(parents=True)
    for i in range(count):
        _, ir, vis = synthetic_triple(i, shape=shape, colour=i % 2 == 0)
        write_image_atomic(dirs["ir"] / f"p{i:03d}.png", ir)
        write_image_atomic(dirs["vi"] / f"p{i:03d}.png", vis)
    return dirs


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


def test_stale_temp_files_are_removed(tmp_path):
    fusionbench.run("max", "demo", out=tmp_path, metrics=["en"])
    fused_dirs = list((tmp_path / "fused").glob("max__*/demo/test"))
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


def _run_cli(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "fusionbench.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def test_sigkill_part_way_then_resume_gives_identical_results(tmp_path):
    """Kill a run with SIGKILL after some pairs, rerun it: same per-image CSV, no partial files."""
    dirs = make_pair_folders(tmp_path / "data", 40, shape=(160, 200))
    args = [
        "run",
        "--method",
        "gff",
        "--dataset",
        "folder",
        "--ir",
        str(dirs["ir"]),
        "--vi",
        str(dirs["vi"]),
        "--metrics",
        "all",
    ]
    killed_out = tmp_path / "killed"
    proc = _run_cli([*args, "--out", str(killed_out)])
    deadline = time.monotonic() + 120
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        done = len(list(killed_out.glob("metrics/*/*/*/*/*.json")))
        if done >= 8:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.01)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert 8 <= done < 40
    assert not list(killed_out.glob("runs/**/per_image.csv"))

    resumed = _run_cli([*args, "--out", str(killed_out)])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()
    clean_out = tmp_path / "clean"
    clean = _run_cli([*args, "--out", str(clean_out)])
    assert clean.wait(timeout=300) == 0, clean.stderr.read().decode()

    def per_image(root: Path) -> str:
        (csv,) = root.glob("runs/**/per_image.csv")
        return csv.read_text()

    assert per_image(killed_out) == per_image(clean_out)
    manifest = json.loads(next(killed_out.glob("runs/**/manifest.json")).read_text())
    assert manifest["metrics_from_cache"] >= 8
    leftovers = [p for p in killed_out.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


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
