"""DenseFuse baseline: architecture against the published state dict, fusion strategies, fidelity to
the published TNO images, bad weight files.

The published images were written by the TensorFlow release with ``scipy.misc.imsave`` (min-max
stretched), so fidelity is checked with ``stretch=True``. The test runs the three smallest TNO pairs
and pair 04, the worst of the 42 (its minimum lies on the border, where our output and the published
one differ, see the module docstring); the full 42-pair numbers (39.1 / 55.5 / 67.9 dB) are in the
module docstring and were measured with the same code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusionbench.methods.densefuse  # noqa: F401  (registers "densefuse")
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.densefuse import WEIGHTS, DenseFuse, fuse_l1, stretch
from fusionbench.methods.weights import WEIGHT_FILES, weight_key
from tests.baseline_support import method_fixture, psnr_8bit, published, tno_pair

FILE = "densefuse_gray.model"
#: The smallest TNO pairs (247x359, 256x256, 280x280), with the PSNR reached on each (dB).
SMALL_PAIRS = {"37": 53.0, "08": 54.0, "05": 57.0}


method = method_fixture("densefuse", stretch=False)  # the network's own output
stretched = method_fixture("densefuse", name="stretched")  # the default: the authors' published pipeline


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, DenseFuse)
    row = method.as_row()
    assert row["id"] == "densefuse" and row["name"] == "DenseFuse" and row["kind"] == "learned"
    assert method.config() == {"strategy": "addition", "stretch": False}
    assert get_method("densefuse").config() == {"strategy": "addition", "stretch": True}
    assert WEIGHTS is WEIGHT_FILES.get(weight_key("densefuse", FILE))
    assert method.weights_sha256() == WEIGHTS.sha256
    keys = {get_method("densefuse", **opts).cache_key() for opts in ({}, {"strategy": "l1"}, {"stretch": False})}
    assert len(keys) == 3


def test_bad_strategy_is_a_method_error():
    with pytest.raises(MethodError, match=r"strategy must be one of \('addition', 'l1'\), got 'max'"):
        get_method("densefuse", strategy="max")


# -- architecture ---------------------------------------------------------------------------


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


@pytest.mark.slow
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
    expected = published(shared_root, "densefuse", pair)
    ours = fuse(stretched, ir, vis)
    assert ours.shape == expected.shape and ours.dtype == np.uint8
    assert psnr_8bit(ours, expected) >= SMALL_PAIRS[pair]
    # Away from the border the match is closer still.
    assert psnr_8bit(ours[4:-4, 4:-4], expected[4:-4, 4:-4]) >= SMALL_PAIRS[pair]


@pytest.mark.slow
def test_worst_published_pair(stretched, shared_root):
    ir, vis = tno_pair(shared_root, "04")
    assert psnr_8bit(fuse(stretched, ir, vis), published(shared_root, "densefuse", "04")) >= 39.0  # 39.1 dB


@pytest.mark.slow
def test_published_images_were_made_by_addition_not_l1(stretched, weights_dir, shared_root):
    ir, vis = tno_pair(shared_root, "37")
    expected = published(shared_root, "densefuse", "37")
    l1 = get_method("densefuse", weights=weights_dir, strategy="l1", stretch=True)
    assert psnr_8bit(fuse(l1, ir, vis), expected) < 20.0  # 18.9 dB, against 53.5 dB for addition
    assert np.abs(fuse(stretched, ir, vis).astype(int) - expected).max() <= 2


@pytest.mark.slow
def test_stretch_false_keeps_the_network_output(method, stretched, shared_root):
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
