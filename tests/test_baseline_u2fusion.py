"""U2Fusion baseline: TF weight conversion, fidelity to the published TNO images, bad weight files.

The published images were written with ``scipy.misc.imsave`` (min-max stretched), so fidelity is
checked with ``stretch=True``. One pair at 480x640 takes about 8 s on two CPU cores, so the test
runs the three smallest TNO pairs; the full 42-pair numbers (92.8 dB to identical, median 95.6 dB,
at most one grey level apart) are in the module docstring and were measured with the same code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusionbench.methods.u2fusion  # noqa: F401  (registers "u2fusion")
from fusionbench.io import read_image
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.colour import to_uint8
from fusionbench.methods.tf_checkpoint import TFConv, load_tf_convs, tf_same_padding
from fusionbench.methods.u2fusion import TF_CONVS, WEIGHTS, U2Fusion
from tests.baseline_support import method_fixture, psnr_8bit, tno_pair

FILE = "model.ckpt.tf2torch.pth"
#: The smallest TNO pairs (247x359, 256x256, 280x280).
SMALL_PAIRS = ("37", "08", "05")


method = method_fixture("u2fusion", stretch=False)  # the network's own output
stretched = method_fixture("u2fusion", name="stretched")  # the default: the authors' published pipeline


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, U2Fusion)
    row = method.as_row()
    assert row["id"] == "u2fusion" and row["name"] == "U2Fusion" and row["kind"] == "learned"
    assert method.config() == {"source_order": "ir_vis", "stretch": False}
    assert get_method("u2fusion").config() == {"source_order": "ir_vis", "stretch": True}
    assert method.weights_sha256() == WEIGHTS.sha256
    assert method.cache_key() != get_method("u2fusion", stretch=True).cache_key()


def test_bad_source_order_is_a_method_error():
    with pytest.raises(MethodError, match="source_order must be one of"):
        get_method("u2fusion", source_order="ir")


def test_without_colour_a_colour_vis_gives_the_fused_luminance_gray(weights_dir):
    """``colour=False`` (the ``cddfuse`` protocol, as the authors' test_main.py wrote RoadScene): the fused
    Y saved gray, not merged with the VIS chrominance; gray VIS images give the same either way."""
    from fusionbench.methods import split_y

    rng = np.random.default_rng(0)
    ir = rng.integers(0, 256, (12, 10), dtype=np.uint8)
    vis = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
    gray = get_method("u2fusion", weights=weights_dir, colour=False)
    rgb = get_method("u2fusion", weights=weights_dir)
    assert gray.config() == {"source_order": "ir_vis", "stretch": True, "colour": False}
    assert "colour" not in rgb.config() and rgb.cache_key() != gray.cache_key()  # default: its old key
    out = fuse(gray, ir, vis)
    assert out.shape == (12, 10) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, to_uint8(gray.fuse(ir.astype(np.float32) / 255, split_y(vis)[0])))
    assert fuse(rgb, ir, vis).shape == (12, 10, 3)
    np.testing.assert_array_equal(fuse(gray, ir, vis[..., 0]), fuse(rgb, ir, vis[..., 0]))


# -- TF conversion --------------------------------------------------------------------------


def test_every_tf_variable_loaded_and_parameter_count(method, weights_dir):
    state = torch.load(weights_dir / "u2fusion" / FILE, map_location="cpu", weights_only=True)
    assert sorted(state) == sorted(n for c in TF_CONVS for n in (c.kernel, c.bias))
    layers = dict(method.network().named_modules())
    for conv in TF_CONVS:
        layer = layers[conv.module]
        assert torch.equal(layer.weight, state[conv.kernel].permute(3, 2, 0, 1)), conv.kernel
        assert torch.equal(layer.bias, state[conv.bias]), conv.bias


def test_tf_kernel_layout_is_converted_to_a_cross_correlation():
    # A TF kernel [kh, kw, in, out] applied as TF does: out[y, x, o] = sum k[i, j, c, o] x[y+i, x+j, c].
    rng = np.random.default_rng(0)
    kernel = rng.standard_normal((3, 2, 2, 4)).astype(np.float32)
    bias = rng.standard_normal(4).astype(np.float32)
    image = rng.standard_normal((2, 6, 5)).astype(np.float32)  # (in, H, W)
    module = torch.nn.ModuleDict({"conv": torch.nn.Conv2d(2, 4, (3, 2))})
    load_tf_convs(
        module,
        {"k": torch.from_numpy(kernel), "b": torch.from_numpy(bias)},
        [TFConv("conv", "k", "b")],
        "t",
        "test",
    )
    expected = np.zeros((4, 4, 4), np.float32)
    for y in range(4):
        for x in range(4):
            patch = image[:, y : y + 3, x : x + 2]  # (in, kh, kw)
            expected[:, y, x] = np.einsum("cij,ijco->o", patch, kernel) + bias
    got = module["conv"](torch.from_numpy(image)[None])[0].detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_tf_same_padding_puts_the_extra_pixel_after():
    assert tf_same_padding(10, 5) == (2, 2)
    assert tf_same_padding(10, 4) == (1, 2)
    assert tf_same_padding(10, 3, stride=2) == (0, 1)
    assert tf_same_padding(9, 3, stride=2) == (1, 1)
    assert tf_same_padding(4, 1) == (0, 0)


def test_padding_is_reflect_not_zero(method):
    # A constant image stays constant through reflect-padded convolutions (zero padding would
    # darken the border), so the fused image of two constant planes is constant.
    plane = np.full((12, 17), 0.6, np.float32)
    out = method.fuse(plane, plane)
    assert np.ptp(out) < 1e-6


# -- fidelity -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("pair", SMALL_PAIRS)
def test_reproduces_published_tno_images(stretched, shared_root, pair):
    ir, vis = tno_pair(shared_root, pair)
    published = read_image(shared_root / "results" / "tno" / "test" / "u2fusion" / f"{pair}.png")
    ours = fuse(stretched, ir, vis)
    assert ours.shape == published.shape and ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - published).max() <= 1
    assert psnr_8bit(ours, published) >= 90.0


@pytest.mark.slow
def test_without_stretch_only_the_range_differs(method, stretched, shared_root):
    ir, vis = (x.astype(np.float32) / 255 for x in tno_pair(shared_root, "08"))
    raw = method.fuse(ir, vis)
    assert raw.min() > 0.0 and raw.max() < 1.0  # tanh / 2 + 0.5, not stretched
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(stretched.fuse(ir, vis), expected, atol=2e-6)


@pytest.mark.slow
def test_source_order_matters(weights_dir, method, shared_root):
    ir, vis = (x.astype(np.float32) / 255 for x in tno_pair(shared_root, "37"))
    swapped = get_method("u2fusion", weights=weights_dir, source_order="vis_ir", stretch=False)
    assert np.abs(swapped.fuse(ir, vis) - method.fuse(ir, vis)).mean() > 0.01
    np.testing.assert_array_equal(swapped.fuse(vis, ir), method.fuse(ir, vis))


def test_too_small_image_is_a_method_error(method):
    with pytest.raises(MethodError, match="at least 2x2"):
        method.fuse(np.zeros((1, 5), np.float32), np.zeros((1, 5), np.float32))


# -- bad weight files -----------------------------------------------------------------------


def test_output_is_uint8_gray_for_gray_vis_and_rgb_for_colour(method):
    rng = np.random.default_rng(2)
    ir = rng.integers(0, 256, (16, 20), dtype=np.uint8)
    vis_rgb = rng.integers(0, 256, (16, 20, 3), dtype=np.uint8)
    assert fuse(method, ir, ir).shape == (16, 20)
    assert fuse(method, ir, vis_rgb).shape == (16, 20, 3)
    assert to_uint8(method.fuse(ir / 255.0, ir / 255.0)).dtype == np.uint8
