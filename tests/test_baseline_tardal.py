"""TarDAL baseline: weights, structure, BatchNorm statistics and bad weight files.

No fused images by the authors are in the shared data; the checks are structural: strict
loading, per-image BatchNorm equal to the authors' training-mode run, determinism, batching.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import fusionbench.methods.tardal  # noqa: F401  (registers "tardal")
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.tardal import WEIGHTS, TarDAL
from fusionbench.methods.weights import WeightsError
from tests.baseline_support import method_fixture, own_file, tno_pair


def as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255)[None, None]


def generator(network, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """The original ``Generator.forward``, run with the modules as they are (train or eval mode)."""
    x = network["encoder"](torch.cat([ir, vis], dim=1))
    for step in network["dense"]:
        x = torch.cat([x, step(x)], dim=1)
    return network["fuse"](x)


method = method_fixture("tardal")


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, TarDAL)
    row = method.as_row()
    assert row["id"] == "tardal" and row["name"] == "TarDAL" and row["kind"] == "learned"
    assert method.config() == {"batchnorm": "image"}
    assert method.weights_sha256() == WEIGHTS.sha256


def test_bad_option_is_a_method_error():
    with pytest.raises(MethodError, match="batchnorm must be one of"):
        get_method("tardal", batchnorm="eval")


# -- weights --------------------------------------------------------------------------------


def test_every_tensor_loaded_strictly_and_parameter_count(method, weights_dir):
    stored = torch.load(weights_dir / "tardal" / "tardal.pt", map_location="cpu", weights_only=True)
    state = method.network().state_dict()
    assert sorted(state) == sorted(stored)
    for key, value in stored.items():
        assert torch.equal(state[key], value), key


# -- bad weight files -----------------------------------------------------------------------


def test_checkpoint_wrapper_is_refused(tmp_path, weights_dir):
    # The authors' training checkpoints hold the generator under 'g' (fuse.py --from_checkpoint).
    state = torch.load(weights_dir / "tardal" / "tardal.pt", map_location="cpu", weights_only=True)
    torch.save({"g": state, "d": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(WeightsError, match=r"unexpected 2, e\.g\. \['g', 'd'\]"):
        own_file(TarDAL, tmp_path / "checkpoint.pt")(weights=tmp_path / "checkpoint.pt").network()


# -- behaviour ------------------------------------------------------------------------------


def test_image_statistics_equal_the_authors_training_mode_run(method, shared_root):
    ir, vis = tno_pair(shared_root, "34")
    a, b = as_tensor(ir), as_tensor(vis)
    reference = copy.deepcopy(method.network()).train()  # the authors' fuse.py without --eval
    with torch.no_grad():
        expected = generator(reference, a, b).clip(0.0, 1.0)[0, 0].numpy()
    np.testing.assert_allclose(method.fuse(ir / 255.0, vis / 255.0), expected, atol=1e-5)


@pytest.mark.slow
def test_running_statistics_option(weights_dir, shared_root):
    ir, vis = tno_pair(shared_root, "34")
    running = get_method("tardal", weights=weights_dir, batchnorm="running")
    with torch.no_grad():  # the network is in eval mode: BatchNorm uses the stored statistics
        expected = generator(running.network(), as_tensor(ir), as_tensor(vis)).clip(0.0, 1.0)[0, 0].numpy()
    ours = running.fuse(ir / 255.0, vis / 255.0)
    np.testing.assert_allclose(ours, expected, atol=1e-5)
    image = get_method("tardal", weights=weights_dir).fuse(ir / 255.0, vis / 255.0)
    assert np.abs(ours - image).mean() > 0.02


def test_fused_tno_pair_follows_both_sources(method, shared_root):
    ir, vis = tno_pair(shared_root, "34")  # sources nearly uncorrelated (r = 0.05)
    out = fuse(method, ir, vis)
    assert out.shape == ir.shape and out.dtype == np.uint8
    for source in (ir, vis):  # measured r = 0.50 (IR), 0.80 (VIS)
        assert np.corrcoef(out.ravel(), source.ravel())[0, 1] > 0.4
