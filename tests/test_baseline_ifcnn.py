"""IFCNN-MAX baseline: weights, structure, bad weight files, and fidelity to the published TNO images.

Full TNO-42 run (2 CPU threads, via ``fusionbench.methods.fuse``): PSNR against
``results/tno/test/ifcnn`` min 90.1 / median 96.4 / max inf dB (4 pairs identical, elsewhere a few
pixels off by one grey level). Here a subset of the small pairs keeps the test fast.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import fusionbench.methods.ifcnn  # noqa: F401  (registers "ifcnn")
from fusionbench.io import read_image
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.ifcnn import IFCNN, WEIGHTS
from fusionbench.methods.weights import WeightFile, WeightsError

#: Small TNO pairs (<= 360 px wide) used for the fidelity check.
FIDELITY_PAIRS = ["05", "08", "11", "34", "35", "36", "37"]


@pytest.fixture(scope="module")
def weights_dir(request) -> Path:
    env = os.environ.get("FUSIONBENCH_WEIGHTS")
    if env:
        return Path(env)
    return request.getfixturevalue("shared_root") / "weights"


@pytest.fixture(scope="module")
def method(weights_dir) -> IFCNN:
    return get_method("ifcnn", weights=weights_dir)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def tno_pair(shared_root: Path, pair: str) -> tuple[np.ndarray, np.ndarray]:
    folder = shared_root / "datasets" / "tno" / "test"
    return read_image(folder / "ir" / f"{pair}.png"), read_image(folder / "vi" / f"{pair}.png")


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, IFCNN)
    row = method.as_row()
    assert row["id"] == "ifcnn" and row["name"] == "IFCNN" and row["kind"] == "learned"
    assert method.config() == {"normalization": "imagenet", "truncate_channels": True}
    assert method.weights_sha256() == WEIGHTS.sha256


def test_bad_option_is_a_method_error():
    with pytest.raises(MethodError, match="normalization must be one of"):
        get_method("ifcnn", normalization="bgr")


def test_options_change_the_cache_key(weights_dir):
    keys = {
        get_method("ifcnn", weights=weights_dir, **opts).cache_key()
        for opts in ({}, {"normalization": "none"}, {"truncate_channels": False})
    }
    assert len(keys) == 3


# -- weights --------------------------------------------------------------------------------


def test_sha256_matches_manifest(shared_root):
    manifest = json.loads((shared_root / "weights" / "MANIFEST.json").read_text())
    entry = next(f for f in manifest["files"] if f["path"] == "weights/ifcnn/IFCNN-MAX.pth")
    assert entry["sha256"] == WEIGHTS.sha256


def test_every_tensor_loaded_and_parameter_count(method, weights_dir):
    stored = torch.load(weights_dir / "ifcnn" / "IFCNN-MAX.pth", map_location="cpu", weights_only=True)
    state = method.network().state_dict()
    for key, value in stored.items():
        assert torch.equal(state[key], value), key
    # The only keys not in the file: BatchNorm's num_batches_tracked (the file predates it).
    assert sorted(set(state) - set(stored)) == [
        "conv2.bn.num_batches_tracked",
        "conv3.bn.num_batches_tracked",
    ]
    assert method.parameter_count() == 83587  # weights/MANIFEST.json total_parameters


# -- bad weight files: one clear WeightsError, no network kept --------------------------------


def test_missing_file_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSIONBENCH_WEIGHTS", str(tmp_path))
    method = IFCNN()
    with pytest.raises(WeightsError, match=r"IFCNN-MAX\.pth.*ifcnn[/\\]IFCNN-MAX\.pth"):
        method.fuse(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32))
    assert method._network is None


def test_truncated_file_is_refused(tmp_path, weights_dir):
    data = (weights_dir / "ifcnn" / "IFCNN-MAX.pth").read_bytes()
    (tmp_path / "ifcnn").mkdir()
    (tmp_path / "ifcnn" / "IFCNN-MAX.pth").write_bytes(data[: len(data) // 2])
    method = IFCNN(weights=tmp_path / "ifcnn" / "IFCNN-MAX.pth")
    with pytest.raises(WeightsError, match=r"does not match the published IFCNN-MAX\.pth"):
        method.network()
    assert method._network is None


def test_wrong_file_is_refused_by_hash(tmp_path, weights_dir):
    target = tmp_path / "ifcnn" / "IFCNN-MAX.pth"
    target.parent.mkdir()
    shutil.copy(weights_dir / "tardal" / "tardal.pt", target)  # a valid checkpoint, but another one
    with pytest.raises(WeightsError, match="sha256"):
        IFCNN(weights=tmp_path).network()


def _with_own_hash(path: Path) -> type[IFCNN]:
    """An IFCNN whose registered file is ``path`` (so the hash passes and loading is tested)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    class Patched(IFCNN):
        weight_files = (WeightFile("ifcnn", path.name, digest, "test"),)

    return Patched


def test_renamed_keys_are_refused(tmp_path, weights_dir):
    state = torch.load(weights_dir / "ifcnn" / "IFCNN-MAX.pth", map_location="cpu", weights_only=True)
    renamed = {k.replace("conv2.", "block2."): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    method = _with_own_hash(tmp_path / "renamed.pth")(weights=tmp_path / "renamed.pth")
    expected = r"do not fit the IFCNNNetwork architecture \(missing \d+ keys, e\.g\. \['conv2\.conv\.weight'"
    with pytest.raises(WeightsError, match=expected):
        method.fuse(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32))
    assert method._network is None


def test_wrong_shape_is_refused(tmp_path, weights_dir):
    state = torch.load(weights_dir / "ifcnn" / "IFCNN-MAX.pth", map_location="cpu", weights_only=True)
    state["conv4.weight"] = torch.zeros(1, 64, 1, 1)  # a one-channel head
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(WeightsError, match=r"conv4\.weight has shape \(1, 64, 1, 1\)"):
        _with_own_hash(tmp_path / "shape.pth")(weights=tmp_path / "shape.pth").network()


def test_pickled_code_is_refused(tmp_path):
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)), tmp_path / "module.pth")  # pickled code
    with pytest.raises(WeightsError, match="weights-only"):
        _with_own_hash(tmp_path / "module.pth")(weights=tmp_path / "module.pth").network()


# -- behaviour ------------------------------------------------------------------------------


def test_deterministic_and_batch_equals_loop(method):
    rng = np.random.default_rng(0)
    ir = rng.random((2, 40, 52), dtype=np.float32)
    vis = rng.random((2, 40, 52), dtype=np.float32)
    batch = method.fuse_batch(ir, vis)
    assert batch.shape == (2, 40, 52) and batch.dtype == np.float32
    loop = np.stack([method.fuse(a, b) for a, b in zip(ir, vis, strict=True)])
    np.testing.assert_allclose(batch, loop, atol=1e-6)
    np.testing.assert_array_equal(method.fuse(ir[0], vis[0]), loop[0])


def test_truncation_lowers_gray_by_under_one_level(method, weights_dir):
    ir = np.linspace(0, 1, 30 * 30, dtype=np.float32).reshape(30, 30)
    vis = ir.T.copy()
    exact = get_method("ifcnn", weights=weights_dir, truncate_channels=False).fuse(ir, vis)
    truncated = method.fuse(ir, vis)
    # Truncating each channel to 8 bits lowers the gray value by less than one level.
    assert np.all(truncated <= exact + 1e-6)
    assert np.all(exact - truncated < 1 / 255 + 1e-6)


def test_colour_vis_keeps_its_chroma(method, shared_root):
    ir, _ = tno_pair(shared_root, "08")
    vis = np.stack([ir, np.full_like(ir, 90), 255 - ir], axis=-1)
    out = fuse(method, ir, vis)
    assert out.shape == (*ir.shape, 3) and out.dtype == np.uint8


def test_fidelity_to_published_tno_images(method, shared_root):
    reached = {}
    for pair in FIDELITY_PAIRS:
        ir, vis = tno_pair(shared_root, pair)
        published = read_image(shared_root / "results" / "tno" / "test" / "ifcnn" / f"{pair}.png")
        ours = fuse(method, ir, vis)
        assert np.abs(ours.astype(int) - published).max() <= 1, pair
        reached[pair] = psnr(ours, published)
    assert min(reached.values()) >= 85.0, reached  # measured 90.1 dB (pair 11); 4 of 7 identical
    assert sum(np.isinf(v) for v in reached.values()) >= 3, reached


def test_author_demo_normalisation_is_not_what_was_published(weights_dir, shared_root):
    # The authors' IFCNN_Main.py uses mean 0 / std 1 for infrared-visible pairs; the published TNO
    # images were made with the ImageNet constants (pair 08: 99 dB vs far below 35 dB).
    ir, vis = tno_pair(shared_root, "08")
    published = read_image(shared_root / "results" / "tno" / "test" / "ifcnn" / "08.png")
    plain = fuse(get_method("ifcnn", weights=weights_dir, normalization="none"), ir, vis)
    assert psnr(plain, published) < 35.0
