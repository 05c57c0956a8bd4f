"""SDNet baseline: TF weight conversion, fidelity to the published TNO images, bad weight files.

The published images were written with ``scipy.misc.imsave`` (min-max stretched), so fidelity is
checked with ``stretch=True``, on all 42 TNO pairs (about 45 s on two CPU cores).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

import fusionbench.methods.sdnet  # noqa: F401  (registers "sdnet")
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.sdnet import TF_CONVS, WEIGHTS, SDNet, pillow_rgb_luma
from fusionbench.methods.weights import WeightsError
from tests.baseline_support import method_fixture, own_file, psnr_8bit, published, tno_pair

FILE = "SDNet.model.tf2torch.pth"
PAIRS = [f"{i:02d}" for i in range(1, 43)]


method = method_fixture("sdnet", stretch=False)  # the network's own output
stretched = method_fixture("sdnet", name="stretched")  # the default: the authors' published pipeline


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, SDNet)
    row = method.as_row()
    assert row["id"] == "sdnet" and row["name"] == "SDNet" and row["kind"] == "learned"
    assert method.config() == {"stretch": False}
    assert get_method("sdnet").config() == {"stretch": True}  # default: the published pipeline
    assert method.weights_sha256() == WEIGHTS.sha256
    assert method.cache_key() != get_method("sdnet", stretch=True).cache_key()


# -- TF conversion --------------------------------------------------------------------------


def test_every_tf_variable_loaded_and_parameter_count(method, weights_dir):
    state = torch.load(weights_dir / "sdnet" / FILE, map_location="cpu", weights_only=True)
    assert sorted(state) == sorted(n for c in TF_CONVS for n in (c.kernel, c.bias))
    network = method.network()
    for conv in TF_CONVS:
        assert torch.equal(network[conv.module].weight, state[conv.kernel].permute(3, 2, 0, 1)), conv.kernel
        assert torch.equal(network[conv.module].bias, state[conv.bias]), conv.bias


def test_same_padding_is_zero_padding(method):
    # TF "SAME" pads with zeros: a constant input gives a border that differs from the interior
    # (reflect or replicate padding would keep it constant).
    # The fusion path sees 5 pixels around each output pixel (5x5, then three 3x3 convolutions).
    plane = np.full((20, 20), 0.7, np.float32)
    out = method.fuse(plane, plane)
    assert np.ptp(out[5:-5, 5:-5]) < 1e-6
    assert abs(float(out[0, 0]) - float(out[10, 10])) > 1e-3


# -- fidelity -------------------------------------------------------------------------------


@pytest.mark.slow
def test_reproduces_published_tno_images(stretched, shared_root):
    scores = []
    for pair in PAIRS:
        ir, vis = tno_pair(shared_root, pair)
        ours = fuse(stretched, ir, vis)
        reference = published(shared_root, "sdnet", pair)
        assert ours.shape == reference.shape and ours.dtype == np.uint8, pair
        scores.append(psnr_8bit(ours, reference))
    # Measured: 51.26 min, 54.96 median (module docstring explains the remaining difference).
    assert min(scores) >= 50.0
    assert np.median(scores) >= 54.0


@pytest.mark.parametrize("pair", ["05", "17"])
def test_pillow_luma_of_rgb_sources_explains_the_difference(stretched, shared_root, pair):
    # The published TNO sources were RGB files read through Pillow's RGB -> YCbCr luma, which is
    # one level low for some grey values. With that applied to the inputs the match is exact up
    # to one grey level.
    lut = pillow_rgb_luma()
    assert lut.dtype == np.uint8 and lut.shape == (256,)
    assert set(np.arange(256) - lut.astype(int)) == {0, 1} and lut[11] == 10 and lut[12] == 12
    ir, vis = tno_pair(shared_root, pair)
    ours = fuse(stretched, lut[ir], lut[vis])
    reference = published(shared_root, "sdnet", pair)
    assert np.abs(ours.astype(int) - reference).max() <= 1
    assert psnr_8bit(ours, reference) >= 90.0


def test_without_stretch_only_the_range_differs(method, stretched, shared_root):
    ir, vis = (x.astype(np.float32) / 255 for x in tno_pair(shared_root, "05"))
    raw = method.fuse(ir, vis)
    assert raw.min() > 0.0 and raw.max() < 1.0  # (tanh + 1) / 2, not stretched
    expected = (raw - raw.min()) / (raw.max() - raw.min())
    np.testing.assert_allclose(stretched.fuse(ir, vis), expected, atol=2e-6)


def test_branches_are_not_interchangeable(method):
    rng = np.random.default_rng(3)
    ir = rng.random((20, 24), dtype=np.float32)
    vis = rng.random((20, 24), dtype=np.float32)
    assert np.abs(method.fuse(ir, vis) - method.fuse(vis, ir)).mean() > 1e-3


def test_constant_image_with_stretch_is_zero(stretched):
    # scipy's bytescale maps a constant image to 0; one pixel of input gives a constant output.
    out = stretched.fuse(np.full((1, 1), 0.5, np.float32), np.full((1, 1), 0.2, np.float32))
    assert out.shape == (1, 1) and out[0, 0] == 0.0


# -- bad weight files -----------------------------------------------------------------------


def test_other_tf_checkpoint_is_refused(tmp_path, weights_dir):
    # The U2Fusion file under a registered hash: right format, wrong architecture.
    shutil.copy(weights_dir / "u2fusion" / "model.ckpt.tf2torch.pth", tmp_path / "other.pth")
    with pytest.raises(WeightsError, match=r"unexpected 20, e\.g\. \['Generator"):
        own_file(SDNet, tmp_path / "other.pth")(weights=tmp_path).network()


def test_unknown_option_is_a_method_error():
    with pytest.raises(MethodError, match="does not take option"):
        get_method("sdnet", source_order="vis_ir")
