"""DIDFuse baseline: weights, structure, fusion rules and bad weight files.

No fused images by the authors are in the shared data, so fidelity is checked through the
network's own property: the decoder reconstructs a source from its encoder features.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import fusionbench.methods.didfuse  # noqa: F401  (registers "didfuse")
from fusionbench.methods import MethodError, fuse, get_method
from fusionbench.methods.didfuse import DECODER_WEIGHTS, DIDFuse
from fusionbench.methods.weights import WeightsError
from tests.baseline_support import method_fixture, own_file, psnr_unit, tno_pair

FILES = {"encoder": "Encoder.pkl", "decoder": "Decoder.pkl"}


method = method_fixture("didfuse")


# -- registration and options ---------------------------------------------------------------


def test_registered_with_card_fields(method):
    assert isinstance(method, DIDFuse)
    row = method.as_row()
    assert row["id"] == "didfuse" and row["name"] == "DIDFuse" and row["kind"] == "learned"
    assert method.config() == {"rule": "sum"}
    assert len(method.weights_sha256()) == 64


def test_bad_rule_is_a_method_error():
    with pytest.raises(MethodError, match="rule must be one of"):
        get_method("didfuse", rule="max")


# -- weights --------------------------------------------------------------------------------


def test_every_tensor_loaded_strictly_and_parameter_count(method, weights_dir):
    network = method.network()
    for part, filename in FILES.items():
        checkpoint = torch.load(weights_dir / "didfuse" / filename, map_location="cpu", weights_only=True)
        assert sorted(checkpoint) == ["epoch", "weight"] and checkpoint["epoch"] == 120
        state = network[part].state_dict()
        assert sorted(state) == sorted(checkpoint["weight"])  # same key set: strict
        for key, value in checkpoint["weight"].items():
            assert torch.equal(state[key], value), key
    encoder = sum(p.numel() for p in network["encoder"].parameters())
    decoder = sum(p.numel() for p in network["decoder"].parameters())
    assert (encoder, decoder) == (111938, 148997)  # weights/MANIFEST.json total_parameters


# -- bad weight files -----------------------------------------------------------------------


def test_missing_decoder_says_where_to_put_it(tmp_path, monkeypatch, weights_dir):
    (tmp_path / "didfuse").mkdir()
    shutil.copy(weights_dir / "didfuse" / "Encoder.pkl", tmp_path / "didfuse")
    monkeypatch.setenv("FUSIONBENCH_WEIGHTS", str(tmp_path / "elsewhere"))
    method = DIDFuse(weights=tmp_path)
    with pytest.raises(WeightsError, match=r"put Decoder\.pkl .* at .*didfuse[/\\]Decoder\.pkl"):
        method.fuse(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.float32))
    assert method._network is None


def test_swapped_files_are_refused_by_hash(tmp_path, weights_dir):
    (tmp_path / "didfuse").mkdir()
    shutil.copy(weights_dir / "didfuse" / "Decoder.pkl", tmp_path / "didfuse" / "Encoder.pkl")
    shutil.copy(weights_dir / "didfuse" / "Encoder.pkl", tmp_path / "didfuse" / "Decoder.pkl")
    with pytest.raises(WeightsError, match="sha256"):
        DIDFuse(weights=tmp_path).network()


def _with_own_encoder(path: Path, weights_dir: Path, tmp_path: Path) -> DIDFuse:
    """A DIDFuse whose encoder file is ``path`` (registered with its own hash) beside the real decoder."""
    shutil.copy(weights_dir / "didfuse" / "Decoder.pkl", tmp_path / "Decoder.pkl")
    return own_file(DIDFuse, path, (DECODER_WEIGHTS,))(weights=tmp_path)


def test_bare_state_dict_is_refused_with_the_expected_layout(tmp_path, weights_dir):
    checkpoint = torch.load(weights_dir / "didfuse" / "Encoder.pkl", map_location="cpu", weights_only=True)
    torch.save(checkpoint["weight"], tmp_path / "bare.pkl")  # not wrapped in {'weight': ...}
    method = _with_own_encoder(tmp_path / "bare.pkl", weights_dir, tmp_path)
    with pytest.raises(WeightsError, match=r"expected the authors' checkpoint layout \{'weight'"):
        method.network()


# -- behaviour ------------------------------------------------------------------------------


@pytest.mark.slow
def test_decoder_reconstructs_a_source(weights_dir, shared_root):
    # Averaging a source with itself leaves its features unchanged, so the output is the
    # auto-encoder's reconstruction: close to the input if every layer is wired and loaded right.
    method = get_method("didfuse", weights=weights_dir, rule="average")
    for pair in ("05", "08"):
        for image in tno_pair(shared_root, pair):
            x = image.astype(np.float32) / 255
            assert psnr_unit(method.fuse(x, x), x) > 30.0, pair


@pytest.mark.slow
def test_rules_differ_and_stay_in_range(weights_dir, shared_root):
    ir, vis = (x.astype(np.float32) / 255 for x in tno_pair(shared_root, "08"))
    outputs = {
        rule: get_method("didfuse", weights=weights_dir, rule=rule).fuse(ir, vis)
        for rule in ("sum", "average", "l1_norm")
    }
    for rule, out in outputs.items():
        assert out.min() > 0.0 and out.max() < 1.0, rule  # sigmoid output, not clipped
    assert np.abs(outputs["sum"] - outputs["average"]).mean() > 0.01
    assert np.abs(outputs["l1_norm"] - outputs["average"]).mean() > 1e-3


def test_l1_norm_rule_handles_zero_activity(weights_dir):
    method = get_method("didfuse", weights=weights_dir, rule="l1_norm")
    a = torch.zeros(1, 4, 5, 5)
    b = torch.zeros(1, 4, 5, 5)
    b[..., 2, 2] = 1.0
    combined = method._combine(a, b)
    assert torch.isfinite(combined).all()
    assert combined[0, 0, 2, 2] == 1.0 and combined[0, 0, 0, 0] == 0.0


@pytest.mark.slow
def test_fused_tno_pair_follows_both_sources(method, shared_root):
    ir, vis = tno_pair(shared_root, "34")  # sources nearly uncorrelated (r = 0.05)
    out = fuse(method, ir, vis)
    assert out.shape == ir.shape and out.dtype == np.uint8
    for source in (ir, vis):  # measured r = 0.58 (IR), 0.82 (VIS)
        assert np.corrcoef(out.ravel(), source.ravel())[0, 1] > 0.4
