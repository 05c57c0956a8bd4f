"""DenseFuse baseline: architecture against the published state dict, fusion strategies, fidelity to
the published TNO images, bad weight files.

The published images were written by the TensorFlow release with ``scipy.misc.imsave`` (min-max
stretched), so fidelity is checked with ``stretch=True``. The test runs the three smallest TNO pairs
and pair 04, the worst of the 42 (its minimum lies on the border, where our output and the published
one differ, see the module docstring); the full 42-pair numbers (39.1 / 55.5 / 67.9 dB) are in the
module docstring and were measured with the same code.
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

import fusionbench.methods.densefuse  # noqa: F401  (registers "densefuse")
from fusionbench.io import read_image
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.densefuse import WEIGHTS, DenseFuse, densefuse_network, fuse_l1, stretch
from fusionbench.methods.weights import WEIGHT_FILES, WeightFile, WeightsError

FILE = "densefuse_gray.model"
#: The smallest TNO pairs (247x359, 256x256, 280x280), with the PSNR reached on each (dB).
SMALL_PAIRS = {"37": 53.0, "08": 54.0, "05": 57.0}


@pytest.fixture(scope="module")
def weights_dir(request) -> Path:
    env = os.environ.get("FUSIONBENCH_WEIGHTS")
    if env:
        return Path(env)
    return request.getfixturevalue("shared_root") / "weights"


@pytest.fixture(scope="module")
def method(weights_dir) -> DenseFuse:
    return get_method("densefuse", weights=weights_dir)


@pytest.fixture(scope="module")
def stretched(weights_dir) -> DenseFuse:
    return get_method("densefuse", weights=weights_dir, stretch=True)


def tno_pair(shared_root: Path, pair: str) -> tuple[np.ndarray, np.ndarray]:
    folder = shared_root / "datasets" / "tno" / "test"
    return read_image(folder / "ir" / f"{pair}.png"), read_image(folder / "vi" / f"{pair}.png")


def published(shared_root: Path, pair: str) -> np.ndarray:
    return read_image(shared_root / "results" / "tno" / "test" / "densefuse" / f"{pair}.png")


def psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def own_file(path: Path) -> type[DenseFuse]:
    """DenseFuse registered with ``path``'s name and hash (to reach the checks after the hash)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    class Patched(DenseFuse):
        weight_files = (WeightFile("densefuse", path.name, digest, "test"),)

    return Patched


def zeros() -> np.ndarray:
    return np.zeros((8, 8), np.float32)


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, DenseFuse)
    row = method.as_row()
    assert row["id"] == "densefuse" and row["name"] == "DenseFuse" and row["kind"] == "learned"
    assert method.config() == {"strategy": "addition", "stretch": False}
    assert WEIGHTS is WEIGHT_FILES[("densefuse", FILE)]
    assert method.weights_sha256() == WEIGHTS.sha256
    keys = {get_method("densefuse", **opts).cache_key() for opts in ({}, {"strategy": "l1"}, {"stretch": True})}
    assert len(keys) == 3


def test_bad_strategy_is_a_method_error():
    with pytest.raises(MethodError, match=r"strategy must be one of \('addition', 'l1'\), got 'max'"):
        get_method("densefuse", strategy="max")


def test_sha256_matches_manifest(shared_root):
    files = json.loads((shared_root / "weights" / "MANIFEST.json").read_text())["files"]
    manifest = {f["path"]: f for f in files}
    assert manifest[f"weights/densefuse/{FILE}"]["sha256"] == WEIGHTS.sha256


# -- architecture ---------------------------------------------------------------------------


def test_state_dict_matches_the_published_key_listing(weights_dir):
    listing = {}
    for line in (weights_dir / "densefuse" / f"{FILE}.keys.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape, _dtype, _numel = line.split("\t")
            listing[key] = json.loads(shape)
    ours = {k: list(v.shape) for k, v in densefuse_network().state_dict().items()}
    assert ours == listing


def test_parameter_count_matches_manifest(method, shared_root):
    files = json.loads((shared_root / "weights" / "MANIFEST.json").read_text())["files"]
    entry = next(f for f in files if f["path"] == f"weights/densefuse/{FILE}")
    assert method.parameter_count() == entry["total_parameters"] == 74193


def test_padding_is_reflect(method):
    # A constant image stays constant through reflect-padded convolutions (zero padding would
    # change the border), so the fused image of two constant planes is constant.
    plane = np.full((12, 17), 0.6, np.float32)
    assert np.ptp(method.fuse(plane, plane)) < 1e-6


def test_auto_encoder_reconstructs_its_input(method):
    # Addition of a source with itself is the plain auto-encoder, trained to reconstruct (0..255 scale).
    rng = np.random.default_rng(4)
    image = np.kron(rng.random((6, 8)), np.ones((8, 8))).astype(np.float32) * 0.6 + 0.2
    assert np.abs(method.fuse(image, image) - image).mean() < 0.02


# -- strategies -----------------------------------------------------------------------------


def test_l1_weights_by_channel_l1_norm():
    a = torch.tensor([[3.0, 0.0], [0.0, 0.0]]).reshape(1, 2, 1, 2)  # activities 3, 0
    b = torch.tensor([[-1.0, 0.0], [0.0, 0.0]]).reshape(1, 2, 1, 2)  # activities 1, 0
    fused = fuse_l1(a, b)
    # Pixel 0: weights 3/4 and 1/4; pixel 1: no activity at all, weights 1/2 (not 0/0).
    np.testing.assert_allclose(fused[0, :, 0, 0], [0.75 * 3 + 0.25 * -1, 0.0])
    np.testing.assert_allclose(fused[0, :, 0, 1], [0.0, 0.0])
    same = torch.randn(1, 4, 3, 3)
    torch.testing.assert_close(fuse_l1(same, same), same)


def test_strategies_differ(method, weights_dir):
    rng = np.random.default_rng(5)
    ir, vis = rng.random((2, 20, 24), dtype=np.float32)
    l1 = get_method("densefuse", weights=weights_dir, strategy="l1")
    assert np.abs(l1.fuse(ir, vis) - method.fuse(ir, vis)).mean() > 1e-3
    # Both strategies are symmetric in the two sources (one encoder for both).
    np.testing.assert_allclose(method.fuse(vis, ir), method.fuse(ir, vis), atol=1e-6)


# -- fidelity -------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", sorted(SMALL_PAIRS))
def test_reproduces_published_tno_images(stretched, shared_root, pair):
    ir, vis = tno_pair(shared_root, pair)
    expected = published(shared_root, pair)
    ours = fuse(stretched, ir, vis)
    assert ours.shape == expected.shape and ours.dtype == np.uint8
    assert psnr_8bit(ours, expected) >= SMALL_PAIRS[pair]
    # Away from the border the match is closer still.
    assert psnr_8bit(ours[4:-4, 4:-4], expected[4:-4, 4:-4]) >= SMALL_PAIRS[pair]


def test_worst_published_pair(stretched, shared_root):
    ir, vis = tno_pair(shared_root, "04")
    assert psnr_8bit(fuse(stretched, ir, vis), published(shared_root, "04")) >= 39.0  # 39.1 dB


def test_published_images_were_made_by_addition_not_l1(stretched, weights_dir, shared_root):
    ir, vis = tno_pair(shared_root, "37")
    expected = published(shared_root, "37")
    l1 = get_method("densefuse", weights=weights_dir, strategy="l1", stretch=True)
    assert psnr_8bit(fuse(l1, ir, vis), expected) < 20.0  # 18.9 dB, against 53.5 dB for addition
    assert np.abs(fuse(stretched, ir, vis).astype(int) - expected).max() <= 2


def test_default_does_not_stretch(method, stretched, shared_root):
    ir, vis = (x.astype(np.float32) / 255 for x in tno_pair(shared_root, "37"))
    raw = method.fuse(ir, vis)
    assert raw.min() > 0.0 and raw.max() < 1.0  # the decoder's own range on this pair
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(stretched.fuse(ir, vis), expected, atol=2e-6)


def test_stretch_is_per_image():
    x = torch.stack([torch.linspace(10, 20, 6), torch.linspace(-1, 3, 6)]).reshape(2, 1, 2, 3)
    out = stretch(x)
    assert out.amin(dim=(1, 2, 3)).tolist() == [0.0, 0.0] and out.amax(dim=(1, 2, 3)).tolist() == [1.0, 1.0]
    assert stretch(torch.full((1, 1, 2, 2), 7.0)).abs().max() == 0  # constant image, as bytescale


def test_batch_equals_loop(method):
    rng = np.random.default_rng(1)
    ir = rng.random((2, 21, 30), dtype=np.float32)
    vis = rng.random((2, 21, 30), dtype=np.float32)
    loop = np.stack([method.fuse(a, b) for a, b in zip(ir, vis, strict=True)])
    np.testing.assert_allclose(method.fuse_batch(ir, vis), loop, atol=1e-6)


def test_too_small_image_is_a_method_error(method):
    with pytest.raises(MethodError, match="at least 2x2"):
        method.fuse(np.zeros((1, 5), np.float32), np.zeros((1, 5), np.float32))


def test_output_is_uint8_gray_for_gray_vis_and_rgb_for_colour(method):
    rng = np.random.default_rng(2)
    ir = rng.integers(0, 256, (16, 20), dtype=np.uint8)
    vis_rgb = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    assert fuse(method, ir, ir).shape == (16, 20)
    out = fuse(method, ir, vis_rgb)
    assert out.shape == (16, 20, 3) and out.dtype == np.uint8


# -- bad weight files -----------------------------------------------------------------------


def test_missing_file_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSIONBENCH_WEIGHTS", str(tmp_path / "elsewhere"))
    method = DenseFuse(weights=tmp_path)
    with pytest.raises(WeightsError, match=r"put densefuse_gray\.model .* at .*densefuse"):
        method.fuse(zeros(), zeros())
    assert method._network is None


def test_truncated_file_is_refused(tmp_path, weights_dir):
    (tmp_path / "densefuse").mkdir()
    data = (weights_dir / "densefuse" / FILE).read_bytes()
    (tmp_path / "densefuse" / FILE).write_bytes(data[: len(data) // 2])
    method = DenseFuse(weights=tmp_path)
    with pytest.raises(WeightsError, match=r"does not match the published densefuse_gray\.model"):
        method.fuse(zeros(), zeros())
    assert method._network is None
    # Even with a matching hash registered, the truncated file cannot be loaded.
    method = own_file(tmp_path / "densefuse" / FILE)(weights=tmp_path)
    with pytest.raises(WeightsError, match="cannot be loaded as a weights-only checkpoint"):
        method.fuse(zeros(), zeros())
    assert method._network is None


def test_wrong_hash_is_refused(tmp_path, weights_dir):
    # The RGB model of the same release: a valid file, but not the registered one.
    (tmp_path / "densefuse").mkdir()
    shutil.copy(weights_dir / "densefuse" / "densefuse_rgb.model", tmp_path / "densefuse" / FILE)
    method = DenseFuse(weights=tmp_path)
    with pytest.raises(WeightsError, match=r"sha256 .* does not match"):
        method.fuse(zeros(), zeros())
    assert method._network is None


def test_renamed_keys_are_refused(tmp_path, weights_dir):
    state = torch.load(weights_dir / "densefuse" / FILE, map_location="cpu", weights_only=True)
    state = {k.replace("DB1.", "DB1_"): v for k, v in state.items()}
    torch.save(state, tmp_path / "renamed.model")
    method = own_file(tmp_path / "renamed.model")(weights=tmp_path)
    with pytest.raises(
        WeightsError,
        match=r"DenseFuse gray auto-encoder\): the weights do not fit .* \(missing 6 keys.*DB1\.denseblock",
    ):
        method.fuse(zeros(), zeros())
    assert method._network is None


def test_rgb_model_is_refused_by_shape(tmp_path, weights_dir):
    # The RGB model has the same keys but 3-channel input/output convolutions.
    shutil.copy(weights_dir / "densefuse" / "densefuse_rgb.model", tmp_path / "rgb.model")
    with pytest.raises(WeightsError, match=r"conv1\.conv2d\.weight has shape \(16, 3, 3, 3\)"):
        own_file(tmp_path / "rgb.model")(weights=tmp_path).network()
