"""Scoring on several processes: ``compute_batch(..., workers=N)``, ``fusionbench eval --workers N``
and :func:`fusionbench.metrics.parallel.imap` give exactly what one process gives, in order."""

from __future__ import annotations

import math
import operator
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.io import write_image_atomic
from fusionbench.metrics import compute_batch, parallel
from tests.metric_fixtures import synthetic_triple

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_imap_keeps_the_order_and_raises_what_the_function_raised():
    items = list(range(-3, 9))
    for workers in (1, 2):
        assert list(parallel.imap(operator.neg, items, workers)) == [-i for i in items]
        with pytest.raises(ValueError, match="math domain error"):
            list(parallel.imap(math.sqrt, items, workers))
    with pytest.raises(ValueError, match="workers must be >= 1"):
        list(parallel.imap(operator.neg, items, 0))


def test_start_method_forks_only_a_process_without_threads_or_torch(monkeypatch):
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert parallel.start_method() == "fork"
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 2)
    assert parallel.start_method() == "loky"
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)
    monkeypatch.setitem(sys.modules, "torch", object())
    assert parallel.start_method() == "loky"


FORKED_RUN = """
import cv2, numpy as np, operator
from fusionbench.metrics import compute_batch, parallel
from tests.metric_fixtures import synthetic_triple
cv2.setNumThreads(2)
cv2.GaussianBlur(np.zeros((2000, 2000)), (31, 31), 5)  # OpenCV's thread pool is up before the fork
assert parallel.start_method() == "fork", parallel.start_method()
assert list(parallel.imap(operator.neg, range(20), 2)) == [-i for i in range(20)]
assert cv2.getNumThreads() == 2
triples = [synthetic_triple(s, shape=(300, 260)) for s in range(4)]
fused, ir, vis = zip(*triples)
one = compute_batch(fused, ir, vis, metrics="all")
two = compute_batch(fused, ir, vis, metrics="all", workers=2)
assert one.equals(two)
print("ok")
"""


@pytest.mark.slow
def test_workers_forked_from_a_fresh_process_after_opencv_used_its_threads():
    """The command line's case: a fresh single-threaded process forks (in a subprocess, since this
    test session may hold threads); must not hang, and gives the values of one process."""
    done = subprocess.run(
        [sys.executable, "-c", FORKED_RUN], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_compute_batch_on_two_workers_equals_one_worker_exactly():
    shapes = [(300, 260), (48, 64), (48, 64), (72, 96), (300, 260), (33, 41), (48, 64)]
    triples = [synthetic_triple(s, shape=shape, colour=s % 2 == 0) for s, shape in enumerate(shapes)]
    fused, ir, vis = zip(*triples, strict=True)
    names = [f"t{i}" for i in range(len(triples))]
    one = compute_batch(fused, ir, vis, metrics="all", names=names, batch_size=2)
    two = compute_batch(fused, ir, vis, metrics="all", names=names, batch_size=2, workers=2)
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert list(two["image"]) == names


def test_compute_batch_workers_errors_name_the_triple_and_need_numpy():
    triples = [synthetic_triple(s) for s in range(5)]
    fused, ir, vis = (list(z) for z in zip(*triples, strict=True))
    vis[3] = vis[3][:10]
    with pytest.raises(ValueError, match="triple 3: image sizes differ"):
        compute_batch(fused, ir, vis, workers=2)
    with pytest.raises(ValueError, match="backend='numpy'"):
        compute_batch(fused, ir, vis, backend="torch", workers=2)


@pytest.fixture
def folders(tmp_path):
    """Six triples as PNG files (one 300 x 260, the rest small; triple 4's fused image is RGB)."""
    dirs = {role: tmp_path / role for role in ("ir", "vi", "fused")}
    for d in dirs.values():
        d.mkdir()
    for i in range(6):
        fused, ir, vis = synthetic_triple(i, shape=(300, 260) if i == 0 else (40, 56), colour=i == 4)
        for role, image in (("ir", ir), ("vi", vis), ("fused", fused)):
            write_image_atomic(dirs[role] / f"{i}.png", image)
    return dirs


def run_eval(folders, *extra):
    args = ["eval", "--ir", folders["ir"], "--vi", folders["vi"], "--fused", folders["fused"], *extra]
    return CliRunner().invoke(main, [str(a) for a in args])


def test_eval_with_two_workers_writes_the_same_csv_and_table(folders, tmp_path):
    outputs = {}
    for workers in (1, 2):
        csv = tmp_path / f"w{workers}.csv"
        result = run_eval(folders, "--metrics", "all", "--out", csv, "--workers", workers)
        assert result.exit_code == 0, result.output
        outputs[workers] = (csv.read_text(), result.stdout)
    assert outputs[1] == outputs[2]
    assert len(outputs[2][0].splitlines()) == 7  # header + six images


def test_eval_with_two_workers_reports_the_first_bad_pair_as_one_worker_does(folders):
    write_image_atomic(folders["vi"] / "3.png", np.zeros((8, 8), np.uint8))  # sizes differ
    (folders["fused"] / "5.png").write_bytes(b"not an image")
    errors = {workers: run_eval(folders, "--workers", workers) for workers in (1, 2)}
    for result in errors.values():
        assert result.exit_code == 2, result.output
    assert errors[1].stderr == errors[2].stderr
    assert errors[2].stderr.startswith("Error: 3: ") and "sizes differ" in errors[2].stderr


def test_eval_workers_must_be_positive(folders):
    result = run_eval(folders, "--workers", 0)
    assert result.exit_code == 2 and "--workers" in result.output
