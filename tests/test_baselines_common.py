"""The checks every learned baseline passes, run once per baseline (table in ``baseline_support``):
weights against ``weights/MANIFEST.json`` and the ``*.keys.txt`` listings, batching and determinism,
and one clear :class:`WeightsError` (no network kept) for each kind of bad weight file.
"""

from __future__ import annotations

import shutil
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from fusionbench.methods import get_method
from tests.baseline_support import (
    BASELINES,
    Baseline,
    assert_refused,
    keys_listing,
    load_state,
    manifest_entries,
    own_file,
)

every_baseline = pytest.mark.parametrize("baseline", list(BASELINES.values()), ids=list(BASELINES))
with_reshape = pytest.mark.parametrize(
    "baseline", [b for b in BASELINES.values() if b.reshape], ids=[i for i, b in BASELINES.items() if b.reshape]
)


@cache
def loaded(method_id: str, weights_dir: Path) -> Any:
    return get_method(method_id, weights=weights_dir)


def spoiled_copy(baseline: Baseline, weights_dir: Path, tmp_path: Path, data: bytes) -> Path:
    """``tmp_path/<method>/`` with the published files, the first replaced by ``data``."""
    folder = tmp_path / baseline.id
    folder.mkdir()
    for weight in baseline.weights[1:]:
        shutil.copy(weights_dir / weight.relative, folder / weight.filename)
    target = folder / baseline.weights[0].filename
    target.write_bytes(data)
    return target


def own_state(baseline: Baseline, weights_dir: Path, tmp_path: Path, name: str, state: Any) -> Any:
    """The method with ``state`` saved as its first file, registered with its own hash."""
    path = tmp_path / (name + Path(baseline.weights[0].filename).suffix)
    torch.save(state, path)
    for weight in baseline.weights[1:]:
        shutil.copy(weights_dir / weight.relative, tmp_path / weight.filename)
    cls = own_file(baseline.cls, path, baseline.weights[1:])
    return cls(weights=path if baseline.weights_arg_is_file else tmp_path)


# -- weights --------------------------------------------------------------------------------


@every_baseline
def test_sha256_matches_manifest(baseline, shared_root):
    manifest = manifest_entries(shared_root)
    assert baseline.cls.weight_files == baseline.weights
    for weight in baseline.weights:
        assert manifest[f"weights/{weight.relative}"]["sha256"] == weight.sha256


@every_baseline
def test_state_dict_matches_the_published_key_listing(baseline, weights_dir):
    expected = baseline.expected_listing(loaded(baseline.id, weights_dir))
    assert sorted(expected) == sorted(w.filename for w in baseline.weights)
    for weight in baseline.weights:
        listing = keys_listing(weights_dir / weight.method / f"{weight.filename}.keys.txt")
        assert expected[weight.filename] == listing, weight.filename


@every_baseline
def test_parameter_count_matches_manifest(baseline, weights_dir, shared_root):
    manifest = manifest_entries(shared_root)
    total = sum(manifest[f"weights/{w.relative}"]["total_parameters"] for w in baseline.weights)
    assert loaded(baseline.id, weights_dir).parameter_count() == total == baseline.parameters


# -- behaviour ------------------------------------------------------------------------------


@every_baseline
def test_deterministic_and_batch_equals_loop(baseline, weights_dir):
    method = loaded(baseline.id, weights_dir)
    case = baseline.batch
    rng = np.random.default_rng(case.seed)
    ir = rng.random((case.n, *case.shape), dtype=np.float32)
    vis = rng.random((case.n, *case.shape), dtype=np.float32)
    if case.scale_second_vis is not None:
        vis[1] *= case.scale_second_vis
    batch = method.fuse_batch(ir, vis)
    assert batch.shape == (case.n, *case.shape) and batch.dtype == np.float32
    loop = np.stack([method.fuse(a, b) for a, b in zip(ir, vis, strict=True)])
    np.testing.assert_allclose(batch, loop, atol=case.atol)
    np.testing.assert_array_equal(method.fuse(ir[0], vis[0]), loop[0])


# -- bad weight files: one clear WeightsError, no network kept --------------------------------


@every_baseline
def test_missing_file_says_where_to_put_it(baseline, tmp_path, monkeypatch, weights_dir):
    folder = tmp_path / baseline.id
    folder.mkdir()
    for weight in baseline.weights[1:]:
        shutil.copy(weights_dir / weight.relative, folder / weight.filename)
    if baseline.missing_from_env:
        monkeypatch.setenv("FUSIONBENCH_WEIGHTS", str(tmp_path))
        method = baseline.cls()
    else:
        monkeypatch.setenv("FUSIONBENCH_WEIGHTS", str(tmp_path / "elsewhere"))
        method = baseline.cls(weights=tmp_path)
    assert_refused(method, baseline.missing_match)


@every_baseline
def test_truncated_file_is_refused(baseline, tmp_path, weights_dir):
    data = (weights_dir / baseline.weights[0].relative).read_bytes()
    target = spoiled_copy(baseline, weights_dir, tmp_path, baseline.truncate(data))
    weights = target if baseline.weights_arg_is_file else tmp_path
    name = baseline.weights[0].filename.replace(".", r"\.")
    assert_refused(baseline.cls(weights=weights), f"does not match the published {name}")
    # Even with a matching hash registered, the truncated file cannot be loaded.
    method = own_file(baseline.cls, target, baseline.weights[1:])(weights=weights)
    assert_refused(method, "cannot be loaded as a weights-only checkpoint")


@every_baseline
def test_wrong_hash_is_refused(baseline, tmp_path, weights_dir):
    # A valid file of another release, but not the registered one.
    spoiled_copy(baseline, weights_dir, tmp_path, (weights_dir / baseline.impostor).read_bytes())
    assert_refused(baseline.cls(weights=tmp_path), r"sha256 .* does not match")


@every_baseline
def test_renamed_keys_are_refused(baseline, tmp_path, weights_dir):
    state = baseline.rename(load_state(weights_dir / baseline.weights[0].relative))
    method = own_state(baseline, weights_dir, tmp_path, "renamed", state)
    assert_refused(method, baseline.renamed_match)


@with_reshape
def test_wrong_shape_is_refused(baseline, tmp_path, weights_dir):
    state = baseline.reshape(load_state(weights_dir / baseline.weights[0].relative), weights_dir)
    method = own_state(baseline, weights_dir, tmp_path, "reshaped", state)
    assert_refused(method, baseline.reshaped_match)
