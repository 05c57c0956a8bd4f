"""Bad input gets a clear, typed error naming the problem; never a crash trace or silent garbage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fusionbench.metrics import compute, compute_batch, create_metric, get_convention, qabf
from fusionbench.registry import UnknownNameError
from tests.metric_fixtures import synthetic_triple

FUSED, IR, VIS = synthetic_triple(0, shape=(40, 48))


def _with(role: str, value):
    triple = {"fused": FUSED, "ir": IR, "vis": VIS}
    triple[role] = value
    return triple["fused"], triple["ir"], triple["vis"]


@pytest.mark.parametrize(
    ("role", "bad", "error", "message"),
    [
        ("vis", VIS[:-1], ValueError, "image sizes differ: fused 40x48, ir 40x48, vis 39x48"),
        ("ir", IR.astype(np.float64) * np.nan, ValueError, "ir: contains NaN or infinite values"),
        ("fused", np.where(FUSED > 100, np.inf, FUSED.astype(float)), ValueError, "fused: contains NaN"),
        ("fused", np.zeros((0, 48), np.uint8), ValueError, "fused: empty image"),
        ("ir", IR.astype(np.uint16) * 257, ValueError, "ir: uint16 pixels need an explicit data range"),
        ("ir", IR.astype(np.int32), ValueError, "ir: int32 pixels need an explicit data range"),
        ("vis", VIS > 128, TypeError, "vis: expected uint8 or floating-point pixels, got dtype bool"),
        ("vis", VIS.astype(np.complex128), TypeError, "expected uint8 or floating-point pixels"),
        (
            "fused",
            FUSED / 255.0,
            ValueError,
            "looks like a 0..1 image; metrics expect 0..255: pass data_range=1.0",
        ),
        ("fused", FUSED.astype(float) - 10, ValueError, "fused: values must lie in 0..255"),
        ("fused", FUSED.astype(float) * 2, ValueError, "fused: values must lie in 0..255"),
        ("vis", np.dstack([VIS] * 4), ValueError, "vis: expected 1 or 3 channels, got 4"),
        ("fused", FUSED.ravel(), ValueError, "fused: expected an image with at least 2 dimensions"),
        ("fused", FUSED[None, None], ValueError, "fused: expected a (H, W) or (H, W, C) array"),
        ("ir", "ir.png", TypeError, "ir: expected a numpy array or torch tensor, got str"),
        ("vis", torch.from_numpy(VIS), TypeError, "must all be numpy arrays or all torch tensors"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 12 else None,
)
def test_bad_input_raises_clear_error(role, bad, error, message):
    with pytest.raises(error) as info:
        compute(*_with(role, bad))
    assert message in str(info.value)


def test_data_range_must_be_positive_and_keys_known():
    with pytest.raises(ValueError, match="data_range must be positive"):
        compute(FUSED, IR, VIS, data_range=0)
    with pytest.raises(ValueError, match="data_range keys must be among"):
        compute(FUSED, IR, VIS, data_range={"infrared": 65535})


def test_per_role_data_range_for_a_sixteen_bit_ir():
    ir16 = IR.astype(np.uint16) * 257
    assert compute(FUSED, ir16, VIS, data_range={"ir": 65535}) == pytest.approx(compute(FUSED, IR, VIS))


def test_unknown_metric_and_convention_name_close_matches():
    with pytest.raises(KeyError) as info:
        compute(FUSED, IR, VIS, metrics=["qbaf"])
    assert isinstance(info.value, UnknownNameError)
    assert "unknown metric 'qbaf'; did you mean 'qabf'" in str(info.value)
    with pytest.raises(KeyError, match="did you mean 'vifb'"):
        compute(FUSED, IR, VIS, convention="vifv")
    with pytest.raises(KeyError, match="unknown metric 'psnrr'"):
        create_metric("psnrr")
    with pytest.raises(TypeError, match="convention must be a name or a Convention"):
        get_convention(3)


def test_empty_metric_selection_is_an_error():
    with pytest.raises(ValueError, match="no metrics selected"):
        compute(FUSED, IR, VIS, metrics=" , ")


def test_repeated_metric_ids_are_scored_once():
    assert list(compute(FUSED, IR, VIS, metrics="en,EN,mi")) == ["en", "mi"]


def test_compute_refuses_a_batch_and_batch_checks_lengths():
    stack = torch.from_numpy(np.stack([FUSED, FUSED]))[:, None]
    with pytest.raises(ValueError, match="use compute_batch"):
        compute(stack, stack, stack)
    with pytest.raises(ValueError, match="sequence lengths differ: fused 2, ir 1, vis 2"):
        compute_batch([FUSED, FUSED], [IR], [VIS, VIS])
    with pytest.raises(ValueError, match="no triples given"):
        compute_batch([], [], [])
    with pytest.raises(TypeError, match="expects sequences of images"):
        compute_batch(FUSED, IR, VIS)
    with pytest.raises(ValueError, match="backend must be 'numpy' or 'torch'"):
        compute_batch([FUSED], [IR], [VIS], backend="jax")


def test_batch_error_names_the_triple():
    with pytest.raises(ValueError, match="triple b: ir: contains NaN"):
        compute_batch([FUSED, FUSED], [IR, IR * np.nan], [VIS, VIS], names=["a", "b"])
    with pytest.raises(ValueError, match="triple 1: image sizes differ"):
        compute_batch([FUSED, FUSED], [IR, IR], [VIS, VIS[:30]])


def test_tensor_batch_sizes_and_devices_must_agree():
    f = torch.from_numpy(np.stack([FUSED, FUSED]))[:, None]
    with pytest.raises(ValueError, match="batch sizes differ"):
        qabf(f, f[:1], f)
    with pytest.raises(ValueError, match=r"expected a \(H, W\), \(C, H, W\) or \(N, C, H, W\) tensor"):
        qabf(f[None], f[None], f[None])


def test_ag_needs_two_by_two():
    line = np.arange(10, dtype=np.uint8)[None, :]
    with pytest.raises(ValueError, match="AG needs an image of at least 2 x 2 pixels, got 1 x 10"):
        compute(line, line, line, metrics=["ag"])
