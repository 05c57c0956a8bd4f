"""Properties every metric must have: hand-computed values, symmetry, batch/loop and numpy/torch agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from fusionbench.metrics import (
    ag,
    compute,
    compute_batch,
    create_metric,
    en,
    get_convention,
    list_conventions,
    list_metrics,
    mi,
    psnr,
    qabf,
    scd,
    sd,
    sf,
    vif,
)
from tests.metric_fixtures import synthetic_triple

ALL_IDS = [m.id for m in list_metrics()]
CONVENTIONS = [c.name for c in list_conventions()]


# -- tiny hand-computed cases -------------------------------------------------------------------


def test_en_of_two_equal_halves_is_one_bit():
    f = np.array([[0, 0], [255, 255]], dtype=np.uint8)
    assert en(f, f, f) == pytest.approx(1.0, abs=1e-15)


@pytest.mark.parametrize("value", [0, 17, 255])
def test_en_of_constant_image_is_zero(value):
    f = np.full((16, 16), value, dtype=np.uint8)
    ir = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert en(f, ir, ir) == 0.0


def test_mi_of_identical_two_level_images_is_twice_their_entropy():
    x = np.array([[0, 255, 0, 255]] * 4, dtype=np.uint8)  # H = 1 bit; MI(X, X) = H(X)
    assert mi(x, x, x) == pytest.approx(2.0, abs=1e-12)
    assert mi(x, x, x, convention="vifb") == pytest.approx(2 * math.log(2), abs=1e-12)


def test_mi_saturation_quirk_merges_254_and_255_only_in_the_joint_histogram():
    x = np.array([[254, 255] * 4] * 4, dtype=np.uint8)
    # Exact: MI(X, X) = H(X) = 1 bit per source. TANG's joint histogram puts 254 and 255 in one bin,
    # so H(X, F) = 0 and MI(X, F) = H(X) + H(F) = 2 bits per source.
    assert mi(x, x, x, convention="tang-corrected") == pytest.approx(2.0, abs=1e-12)
    assert mi(x, x, x, convention="tang") == pytest.approx(4.0, abs=1e-12)


def test_ag_of_a_horizontal_ramp():
    m, n = 5, 7
    f = np.tile(np.arange(n, dtype=np.float64) * 3, (m, 1))  # gx = 3 everywhere, gy = 0
    expected = m * n * math.sqrt(9 / 2) / ((m - 1) * (n - 1))
    assert ag(f, f, f) == pytest.approx(expected, rel=1e-14)
    assert ag(f, f, f, convention="cdd") == pytest.approx(math.sqrt(9 / 2), rel=1e-14)


def test_sd_and_sf_of_a_checkerboard():
    f = (np.indices((6, 8)).sum(axis=0) % 2 * 255).astype(np.uint8)
    assert sd(f, f, f) == pytest.approx(127.5, rel=1e-14)
    # Every adjacent difference is +-255: RF^2 = CF^2 = 255^2.
    assert sf(f, f, f) == pytest.approx(255 * math.sqrt(2), rel=1e-14)


def test_psnr_definitions_for_a_unit_error():
    rng = np.random.default_rng(3)
    a = rng.integers(10, 240, (20, 30)).astype(np.float64)
    f, b = a + 1, a + 2  # MSE(F, A) = 1, MSE(F, B) = 1
    standard = 10 * math.log10(255**2)
    assert psnr(f, a, b, convention="tang-corrected") == pytest.approx(standard, rel=1e-14)
    assert psnr(f, a, b, convention="tang") == pytest.approx(standard + 20 * math.log10(255), rel=1e-14)


def test_qabf_of_fused_equal_to_both_sources_is_maximal():
    _, ir, _ = synthetic_triple(1)
    # G = 1 and A = 1 everywhere with the corrected rule: Q = Tg/(1+e^{-7.5}) * Ta/(1+e^{-4.4}).
    q = qabf(ir, ir, ir, convention="tang-corrected")
    expected = 0.9994 / (1 + math.exp(-15 * 0.5)) * 0.9879 / (1 + math.exp(-22 * 0.2))
    assert q == pytest.approx(expected, rel=1e-12)


# -- NaN policy ----------------------------------------------------------------------------------


def test_constant_source_gives_nan_vif_and_scd_never_replaced():
    fused, ir, _ = synthetic_triple(2)
    flat = np.full_like(ir, 90)
    values = compute(fused, ir, flat, metrics=["vif", "scd", "en"])
    assert math.isnan(values["vif"]) and math.isnan(values["scd"])
    assert not math.isnan(values["en"])
    # CDD's compatibility mode replaces the NaN per-source VIF by 1.0.
    cdd = vif(fused, ir, flat, convention="cdd")
    assert cdd == pytest.approx(vif(fused, ir, ir, convention="cdd") / 2 + 1.0 - 0.0, rel=1) and not math.isnan(cdd)


def test_constant_fused_image_gives_zero_vif_and_en():
    _, ir, vis = synthetic_triple(4)
    flat = np.full_like(ir, 128)
    values = compute(flat, ir, vis, metrics=["vif", "en", "ag"])
    assert values == {"vif": 0.0, "en": 0.0, "ag": 0.0}


# -- ranges and symmetry -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_qabf_lies_in_unit_interval(seed):
    rng = np.random.default_rng(seed)
    if seed % 2:
        fused, ir, vis = (rng.integers(0, 256, (40, 50), dtype=np.uint8) for _ in range(3))
    else:
        fused, ir, vis = synthetic_triple(seed)
    for convention in CONVENTIONS:
        assert 0.0 <= qabf(fused, ir, vis, convention=convention) <= 1.0


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_symmetric_metrics_do_not_depend_on_source_order(convention):
    fused, ir, vis = synthetic_triple(5)
    forward = compute(fused, ir, vis, metrics="all", convention=convention)
    backward = compute(fused, vis, ir, metrics="all", convention=convention)
    for spec in list_metrics():
        if spec.symmetric:
            assert backward[spec.id] == pytest.approx(forward[spec.id], rel=1e-12, abs=1e-15), spec.id


def test_seed_metrics_rank_a_real_fusion_above_a_blank_image():
    fused, ir, vis = synthetic_triple(6)
    blank = np.full_like(fused, int(fused.mean()))
    good = compute(fused, ir, vis)
    bad = compute(blank, ir, vis)
    for metric_id in ("mi", "vif", "ag", "en", "qabf"):
        assert good[metric_id] > bad[metric_id], metric_id


# -- equivalences ------------------------------------------------------------------------------


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_uint8_and_float_inputs_agree(convention):
    fused, ir, vis = synthetic_triple(7, colour=True)
    as_uint8 = compute(fused, ir, vis, metrics="all", convention=convention)
    as_float = compute(*(x.astype(np.float32) for x in (fused, ir, vis)), metrics="all", convention=convention)
    as_unit = compute(*(x / 255.0 for x in (fused, ir, vis)), metrics="all", convention=convention, data_range=1.0)
    for key in as_uint8:
        assert as_float[key] == pytest.approx(as_uint8[key], rel=1e-12, nan_ok=True), key
        assert as_unit[key] == pytest.approx(as_uint8[key], rel=1e-9, nan_ok=True), key


def test_sixteen_bit_input_with_data_range_matches_eight_bit():
    fused, ir, vis = synthetic_triple(8)
    wide = [x.astype(np.uint16) * 257 for x in (fused, ir, vis)]
    assert compute(*wide, metrics="all", data_range=65535) == pytest.approx(compute(fused, ir, vis, metrics="all"))


def test_ir_stored_as_three_identical_channels_is_one_channel():
    fused, ir, vis = synthetic_triple(9, colour=True)
    ir3 = np.repeat(ir[..., None], 3, axis=2)
    for convention in ("tang", "vifb"):
        assert compute(fused, ir3, vis, metrics="all", convention=convention) == pytest.approx(
            compute(fused, ir, vis, metrics="all", convention=convention), nan_ok=True
        )


@pytest.mark.parametrize("convention", ["tang", "vifb"])
def test_batch_equals_loop_of_singles(convention):
    triples = [synthetic_triple(s, shape=(48 + 8 * (s % 2), 64), colour=s % 3 == 0) for s in range(5)]
    fused, ir, vis = zip(*triples, strict=True)
    frame = compute_batch(fused, ir, vis, metrics="all", convention=convention, batch_size=2)
    assert list(frame["image"]) == list(range(5))
    for i, triple in enumerate(triples):
        single = compute(*triple, metrics="all", convention=convention)
        for key, value in single.items():
            assert frame.loc[i, key] == pytest.approx(value, rel=1e-12, nan_ok=True), (i, key)


@pytest.mark.parametrize("convention", CONVENTIONS)
def test_torch_path_equals_numpy_path(convention):
    triples = [synthetic_triple(s, shape=(56, 80), colour=True) for s in range(3)]
    fused, ir, vis = zip(*triples, strict=True)
    numpy_frame = compute_batch(fused, ir, vis, metrics="all", convention=convention)
    torch_frame = compute_batch(fused, ir, vis, metrics="all", convention=convention, backend="torch")
    for key in numpy_frame.columns[1:]:
        np.testing.assert_allclose(torch_frame[key], numpy_frame[key], rtol=1e-9, atol=1e-12, err_msg=key)


def test_functional_metric_on_torch_batch_returns_per_image_tensor():
    triples = [synthetic_triple(s, shape=(40, 52)) for s in range(4)]
    stack = [torch.from_numpy(np.stack(x))[:, None] for x in zip(*triples, strict=True)]  # (N, 1, H, W) uint8
    values = qabf(*stack)
    assert isinstance(values, torch.Tensor) and values.shape == (4,) and values.dtype == torch.float64
    expected = [qabf(*t) for t in triples]
    np.testing.assert_allclose(values.numpy(), expected, rtol=1e-12)
    # float tensors on 0..255 give the same
    np.testing.assert_allclose(scd(*(s.double() for s in stack)).numpy(), [scd(*t) for t in triples], rtol=1e-12)


def test_compute_batch_names_and_torch_tensor_input():
    triples = [synthetic_triple(s, shape=(40, 52)) for s in range(3)]
    stack = [torch.from_numpy(np.stack(x))[:, None] for x in zip(*triples, strict=True)]
    frame = compute_batch(*stack, metrics=["en", "mi"], names=["a", "b", "c"])
    assert list(frame.columns) == ["image", "en", "mi"]
    assert list(frame["image"]) == ["a", "b", "c"]
    assert frame.loc[1, "mi"] == pytest.approx(mi(*triples[1]), rel=1e-12)


def test_create_metric_carries_metadata_and_computes():
    metric = create_metric("qcv", convention="vifb")
    assert metric.higher_is_better is False and metric.spec.latex == "$Q_{CV}$"
    fused, ir, vis = synthetic_triple(10)
    assert metric(fused, ir, vis) == pytest.approx(compute(fused, ir, vis, ["qcv"], "vifb")["qcv"])


def test_every_metric_spec_is_complete():
    for spec in list_metrics():
        assert spec.name and spec.latex and spec.paper and spec.toolkits and spec.summary, spec.id
        assert spec.tolerance > 0
    assert ALL_IDS[:6] == ["mi", "vif", "ag", "scd", "en", "qabf"]
    assert {"sd", "sf", "cc", "psnr", "mse", "ssim", "qcb", "qcv", "nabf"} <= set(ALL_IDS)


def test_convention_replace_switches_one_quirk():
    tang = get_convention("tang")
    exact = tang.replace(mi_joint_saturation=False)
    assert exact.mi_joint_saturation is False and exact.log_base == tang.log_base
    assert "mi_joint_saturation=False" in exact.name
