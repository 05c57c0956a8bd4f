"""Independent implementations as oracles: torchmetrics (VIF), scikit-image (SSIM), scikit-learn (MI),
scipy (entropy), MATLAB's fspecial window built in 2-D.

They share no code with fusionbench, so agreement checks the definitions, not just self-consistency.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy as scipy_entropy
from skimage.metrics import structural_similarity
from sklearn.metrics import mutual_info_score

from fusionbench.metrics import compute, en, mi, ssim, vif
from fusionbench.metrics._common import fspecial_gaussian, gaussian_1d
from tests.metric_fixtures import synthetic_triple

torchmetrics_image = pytest.importorskip(
    "torchmetrics.functional.image", reason="torchmetrics is a test extra (pip install -e .[test])"
)


@pytest.mark.parametrize("seed", [0, 1])
def test_vif_equals_torchmetrics_sum_over_sources(seed):
    fused, ir, vis = synthetic_triple(seed, shape=(64, 80))
    as_tensor = [torch.from_numpy(x.astype(np.float64))[None, None] for x in (fused, ir, vis)]
    oracle = sum(
        float(torchmetrics_image.visual_information_fidelity(as_tensor[0], src, sigma_n_sq=2.0))
        for src in as_tensor[1:]
    )
    assert vif(fused, ir, vis) == pytest.approx(oracle, rel=1e-10)


@pytest.mark.parametrize("seed", [2, 3])
def test_cdd_ssim_equals_scikit_image(seed):
    fused, ir, vis = (x.astype(np.float64) for x in synthetic_triple(seed, shape=(50, 70)))
    oracle = sum(structural_similarity(fused, src, data_range=2.0) for src in (ir, vis))
    assert ssim(fused, ir, vis, convention="cdd") == pytest.approx(oracle, rel=1e-10)


@pytest.mark.parametrize("seed", [4, 5])
def test_exact_mi_equals_scikit_learn(seed):
    fused, ir, vis = synthetic_triple(seed)
    oracle_nats = sum(mutual_info_score(src.ravel(), fused.ravel()) for src in (ir, vis))
    assert mi(fused, ir, vis, convention="cdd") == pytest.approx(oracle_nats, rel=1e-12)
    exact_bits = mi(fused, ir, vis, convention="tang-corrected")
    assert exact_bits == pytest.approx(oracle_nats / math.log(2), rel=1e-12)


def test_en_equals_scipy_entropy():
    fused, ir, vis = synthetic_triple(6)
    counts = np.bincount(fused.ravel(), minlength=256)
    assert en(fused, ir, vis) == pytest.approx(scipy_entropy(counts, base=2), rel=1e-13)


@pytest.mark.parametrize(("size", "sigma"), [(17, 3.4), (9, 1.8), (5, 1.0), (3, 0.6), (11, 1.5)])
def test_separable_window_equals_matlab_fspecial(size, sigma):
    g = gaussian_1d(size, sigma)
    np.testing.assert_allclose(np.outer(g, g), fspecial_gaussian(size, sigma), rtol=1e-13, atol=1e-18)


def test_matlab_gray_conversion_rounds_half_up_to_uint8():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], dtype=np.uint8)
    gray = np.array([[76, 150, 29, 18]], dtype=np.uint8)  # MATLAB rgb2gray(uint8(...))
    values_rgb = compute(rgb, gray, rgb, metrics=["en", "sd"])
    values_gray = compute(gray, gray, gray, metrics=["en", "sd"])
    assert values_rgb == values_gray
