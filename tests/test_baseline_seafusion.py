"""SeAFusion baseline: architecture against the published state dict, fidelity to the published TNO
images, bad weight files.

The published images were min-max stretched and truncated by the authors' test script, so fidelity
is checked with ``stretch=True``, against the MATLAB ``rgb2gray`` of the published RGB files (their
channels differ by at most one grey level). A 576x768 pair takes a few seconds on two CPU cores, so
the test runs the three smallest TNO pairs; the full 42-pair numbers (89.0 / 93.1 / 97.8 dB) are in
the module docstring and were measured with the same code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusionbench.methods.seafusion  # noqa: F401  (registers "seafusion")
from fusionbench.io import read_image
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.seafusion import WEIGHTS, SeAFusion, stretch_truncate
from fusionbench.methods.weights import WEIGHT_FILES, weight_key
from tests.baseline_support import method_fixture, psnr_8bit, tno_pair

FILE = "SeAFusion.pth"
#: The smallest TNO pairs (247x359, 256x256, 280x280).
SMALL_PAIRS = ("37", "08", "05")
#: MATLAB rgb2gray weights (the TNO toolkit converts the published RGB files with it).
RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])


def matlab_rgb2gray(rgb: np.ndarray) -> np.ndarray:
    return np.floor(rgb.astype(np.float64) @ RGB2GRAY + 0.5).astype(np.uint8)


method = method_fixture("seafusion", stretch=False)  # the network's own output
stretched = method_fixture("seafusion", name="stretched")  # the default: the authors' published pipeline


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, SeAFusion)
    row = method.as_row()
    assert row["id"] == "seafusion" and row["name"] == "SeAFusion" and row["kind"] == "learned"
    assert method.config() == {"stretch": False}
    assert get_method("seafusion").config() == {"stretch": True}  # default: the published pipeline
    assert WEIGHTS is WEIGHT_FILES.get(weight_key("seafusion", FILE))
    assert method.weights_sha256() == WEIGHTS.sha256
    assert method.cache_key() != get_method("seafusion", stretch=True).cache_key()


def test_unknown_option_is_a_method_error():
    with pytest.raises(MethodError, match="does not take option"):
        get_method("seafusion", strategy="l1")


# -- architecture ---------------------------------------------------------------------------


def test_trained_sobel_kernels_are_loaded_not_reset(method):
    kernel = method.network().vis_rgbd1.sobelconv.convx.weight[0, 0]
    sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
    assert 0 < (kernel - sobel).abs().max() < 0.05


def test_padding_is_zero(method):
    # Zero padding (nn.Conv2d(padding=1)) makes the border of a constant pair differ from its centre;
    # beyond the receptive field of the border (9 layers of 3x3 convolutions) the output is constant.
    plane = np.full((40, 40), 0.5, np.float32)
    out = method.fuse(plane, plane)
    assert abs(float(out[0, 0]) - float(out[20, 20])) > 1e-3
    assert np.ptp(out[9:-9, 9:-9]) < 1e-6


# -- fidelity -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("pair", SMALL_PAIRS)
def test_reproduces_published_tno_images(stretched, shared_root, pair):
    ir, vis = tno_pair(shared_root, pair)
    published = read_image(shared_root / "results" / "tno" / "test" / "seafusion" / f"{pair}.png")
    assert published.shape == (*ir.shape, 3)
    assert np.abs(published.astype(int) - published[..., :1]).max() <= 1  # near-gray RGB
    ours = fuse(stretched, ir, vis)
    assert ours.shape == ir.shape and ours.dtype == np.uint8
    gray = matlab_rgb2gray(published)
    assert np.abs(ours.astype(int) - gray).max() <= 1
    assert psnr_8bit(ours, gray) >= 88.0
    for channel in range(3):
        assert psnr_8bit(ours, published[..., channel]) >= 88.0


@pytest.mark.slow
def test_stretch_false_keeps_the_network_output(method, stretched, shared_root):
    ir, vis = (x.astype(np.float32) / 255 for x in tno_pair(shared_root, "37"))
    raw = method.fuse(ir, vis)
    assert raw.min() > 0.2 and raw.max() < 0.9  # tanh / 2 + 0.5 on this pair, not stretched
    levels = np.floor(255 * (raw.astype(np.float64) - raw.min()) / (raw.max() - raw.min()))
    out = stretched.fuse(ir, vis)
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_array_equal(np.round(out.astype(np.float64) * 255), levels)


def test_stretch_truncate_levels():
    x = torch.tensor([0.2, 0.3, 0.6, 0.2 + 0.8 * 254.9 / 255, 1.0]).reshape(1, 1, 1, 5)
    levels = (stretch_truncate(x) * 255).round().flatten().tolist()
    assert levels == [0.0, 31.0, 127.0, 254.0, 255.0]
    assert stretch_truncate(torch.full((1, 1, 2, 2), 0.4)).abs().max() == 0  # constant image


@pytest.mark.slow
def test_inputs_are_vis_then_ir(method):
    # The two encoders differ, so swapping IR and VIS changes the result.
    rng = np.random.default_rng(3)
    a, b = rng.random((2, 24, 24), dtype=np.float32)
    assert np.abs(method.fuse(a, b) - method.fuse(b, a)).mean() > 1e-3


@pytest.mark.slow
def test_output_is_uint8_gray_for_gray_vis_and_rgb_for_colour(method):
    rng = np.random.default_rng(2)
    ir = rng.integers(0, 256, (16, 20), dtype=np.uint8)
    vis_rgb = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    assert fuse(method, ir, ir).shape == (16, 20)
    out = fuse(method, ir, vis_rgb)
    assert out.shape == (16, 20, 3) and out.dtype == np.uint8


# -- bad weight files -----------------------------------------------------------------------
