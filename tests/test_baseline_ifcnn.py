"""IFCNN-MAX baseline: weights, structure, bad weight files, and fidelity to the published TNO images.

Full TNO-42 run (2 CPU threads, via ``fusionbench.methods.fuse``): PSNR against
``results/tno/test/ifcnn`` min 90.1 / median 96.4 / max inf dB (4 pairs identical, elsewhere a few
pixels off by one grey level). Here a subset of the small pairs keeps the test fast.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import fusionbench.methods.ifcnn  # noqa: F401  (registers "ifcnn")
from fusionbench.io import read_image
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.ifcnn import IFCNN, WEIGHTS
from fusionbench.methods.weights import WeightsError
from tests.baseline_support import method_fixture, own_file, psnr_8bit, tno_pair

#: Small TNO pairs (<= 360 px wide) used for the fidelity check.
FIDELITY_PAIRS = ["05", "08", "11", "34", "35", "36", "37"]


method = method_fixture("ifcnn")


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


# -- bad weight files: one clear WeightsError, no network kept --------------------------------


def test_pickled_code_is_refused(tmp_path):
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1)), tmp_path / "module.pth")  # pickled code
    with pytest.raises(WeightsError, match="weights-only"):
        own_file(IFCNN, tmp_path / "module.pth")(weights=tmp_path / "module.pth").network()


# -- behaviour ------------------------------------------------------------------------------


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


@pytest.mark.slow
def test_fidelity_to_published_tno_images(method, shared_root):
    reached = {}
    for pair in FIDELITY_PAIRS:
        ir, vis = tno_pair(shared_root, pair)
        published = read_image(shared_root / "results" / "tno" / "test" / "ifcnn" / f"{pair}.png")
        ours = fuse(method, ir, vis)
        assert np.abs(ours.astype(int) - published).max() <= 1, pair
        reached[pair] = psnr_8bit(ours, published)
    assert min(reached.values()) >= 85.0, reached  # measured 90.1 dB (pair 11); 4 of 7 identical
    assert sum(np.isinf(v) for v in reached.values()) >= 3, reached


def test_author_demo_normalisation_is_not_what_was_published(weights_dir, shared_root):
    # The authors' IFCNN_Main.py uses mean 0 / std 1 for infrared-visible pairs; the published TNO
    # images were made with the ImageNet constants (pair 08: 99 dB vs far below 35 dB).
    ir, vis = tno_pair(shared_root, "08")
    published = read_image(shared_root / "results" / "tno" / "test" / "ifcnn" / "08.png")
    plain = fuse(get_method("ifcnn", weights=weights_dir, normalization="none"), ir, vis)
    assert psnr_8bit(plain, published) < 35.0
