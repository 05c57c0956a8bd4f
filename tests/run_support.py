"""Helpers for the runner, store, backend and bad-input tests: tiny pair folders, ``fusionbench run``
in a subprocess, and what a run left in its output folder."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

from fusionbench.engine.store import STORE_NAME
from fusionbench.io import write_image_atomic
from tests.metric_fixtures import synthetic_triple

#: The score columns that identify a row and its value (everything but the time it was written).
SCORE_COLUMNS = (
    "dataset, split, dataset_version, pair_id, method_id, config_hash, weights_sha256, metric_id, convention, "
    "library, value, inputs_sha256"
)


def make_pair_folders(root: Path, count: int, shape=(96, 128)) -> dict[str, Path]:
    """``root/ir`` and ``root/vi`` with ``count`` registered pairs ``p000``... (every other VIS in colour)."""
    dirs = {"ir": root / "ir", "vi": root / "vi"}
    for d in dirs.values():
        d.mkdir(parents=True)
    for i in range(count):
        _, ir, vis = synthetic_triple(i, shape=shape, colour=i % 2 == 0)
        write_image_atomic(dirs["ir"] / f"p{i:03d}.png", ir)
        write_image_atomic(dirs["vi"] / f"p{i:03d}.png", vis)
    return dirs


def run_args(dirs: dict[str, Path], method: str = "average", metrics: str = "en,ag") -> list[str]:
    """``fusionbench run`` arguments for a folder dataset."""
    return [
        "run",
        "--method",
        method,
        "--dataset",
        "folder",
        "--ir",
        str(dirs["ir"]),
        "--vi",
        str(dirs["vi"]),
        "--metrics",
        metrics,
    ]


def run_cli(args: list[str], **kwargs) -> subprocess.Popen:
    """Start ``python -m fusionbench ARGS`` (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "fusionbench", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kwargs,
    )


def finish(proc: subprocess.Popen, timeout: float = 300) -> None:
    """Wait for ``proc``; fail with its stderr unless it exited 0."""
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err.decode()


def per_image_csv(out: Path) -> str:
    """The text of the one ``per_image.csv`` under ``out``."""
    (csv,) = out.glob("runs/**/per_image.csv")
    return csv.read_text()


def _connect(out: Path) -> sqlite3.Connection:
    return sqlite3.connect(out / STORE_NAME, timeout=30)


def score_rows(out: Path) -> list[tuple]:
    """Every score row (key, value, inputs digest), sorted."""
    con = _connect(out)
    try:
        return sorted(con.execute(f"SELECT {SCORE_COLUMNS} FROM scores").fetchall(), key=repr)
    finally:
        con.close()


def progress(out: Path) -> int:
    """Units a run has finished so far: fused PNGs written plus pairs with stored scores."""
    fused = sum(1 for p in out.glob("fused/**/*.png") if not p.name.startswith("."))
    if not (out / STORE_NAME).is_file():
        return fused
    try:
        con = _connect(out)
        try:
            scored = con.execute("SELECT count(DISTINCT pair_id) FROM scores").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:  # the writer is creating the database
        scored = 0
    return fused + scored


def temp_files(out: Path) -> list[Path]:
    """Temp files of atomic writes left anywhere under ``out``."""
    return [p for p in out.rglob("*.tmp")]
