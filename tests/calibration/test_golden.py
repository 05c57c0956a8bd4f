"""Calibration against values computed by running the reference toolkits themselves.

../shared/golden holds, for 11 (fused, IR, VIS) triples of PIAFusion results on MSRS, TNO and
RoadScene, every metric as printed by TANG (Octave run of the MATLAB code), VIFB (Octave) and CDD
(Python). Each row of TOLERANCES names the golden key, our metric id, and the relative tolerance
this implementation is pinned to (the worst error measured is listed in docs/calibration.md).

Run alone with ``pytest -m calibration``.
"""

from __future__ import annotations

import pytest

from fusionbench.metrics import compute, get_convention

from .conftest import load_golden, read_rgb_or_gray

pytestmark = pytest.mark.calibration

TANG_SWAPPED_NABF = get_convention("tang").replace(nabf_swapped_args=True)

#: (golden file, convention, golden key, metric id, relative tolerance)
CASES = [
    # TANG (float64 MATLAB under Octave): everything to <= 1e-10 except where noted.
    ("tang_evaluation_octave.json", "tang", "EN", "en", 1e-12),
    ("tang_evaluation_octave.json", "tang", "MI", "mi", 1e-11),
    ("tang_evaluation_octave.json", "tang", "VIF", "vif", 1e-10),
    ("tang_evaluation_octave.json", "tang", "AG", "ag", 1e-12),
    ("tang_evaluation_octave.json", "tang", "SCD", "scd", 1e-11),
    ("tang_evaluation_octave.json", "tang", "Qabf", "qabf", 1e-12),
    ("tang_evaluation_octave.json", "tang", "SD", "sd", 1e-12),
    ("tang_evaluation_octave.json", "tang", "SF", "sf", 1e-12),
    ("tang_evaluation_octave.json", "tang", "PSNR", "psnr", 1e-12),
    ("tang_evaluation_octave.json", "tang", "MSE", "mse", 1e-12),
    ("tang_evaluation_octave.json", "tang", "CC", "cc", 1e-12),
    ("tang_evaluation_octave.json", "tang", "Nabf_fused_first", "nabf", 1e-12),
    ("tang_evaluation_octave.json", TANG_SWAPPED_NABF, "Nabf", "nabf", 1e-12),
    # Not a MATLAB value: a stand-in written from MATLAB's ssim documentation (Octave has none).
    ("tang_evaluation_octave.json", "tang", "SSIM_emulated_matlab_builtin", "ssim", 1e-10),
    # VIFB (float64 MATLAB under Octave), colour fused images scored per channel.
    ("vifb_metrics_octave.json", "vifb", "Entropy", "en", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Mutinf", "mi", 1e-11),
    ("vifb_metrics_octave.json", "vifb", "Avg_gradient", "ag", 1e-12),
    # VIFB multiplies the images by 255 once more before Q^AB/F; the G = gF rule then differs at 7e-11.
    ("vifb_metrics_octave.json", "vifb", "Qabf", "qabf", 1e-10),
    ("vifb_metrics_octave.json", "vifb", "Variance", "sd", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Spatial_frequency", "sf", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Psnr", "psnr", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Rmse", "mse", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Ssim", "ssim", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Cross_entropy", "ce", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Edge_intensity", "ei", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Qcb", "qcb", 1e-12),
    ("vifb_metrics_octave.json", "vifb", "Qcv", "qcv", 1e-12),
    # CDD computes in float32 (cv2 gray, float32 arrays): our float64 values agree to float32 precision.
    ("cddfuse_evaluator_python.json", "cdd", "EN", "en", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "MI", "mi", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "VIF", "vif", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "AG", "ag", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "SCD", "scd", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "Qabf", "qabf", 2e-6),
    ("cddfuse_evaluator_python.json", "cdd", "SD", "sd", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "SF", "sf", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "PSNR", "psnr", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "MSE", "mse", 1e-6),
    ("cddfuse_evaluator_python.json", "cdd", "CC", "cc", 1e-6),
    # skimage's float32 variance E[x^2] - E[x]^2 cancels badly in flat regions (C2 = 3.6e-3 is tiny).
    ("cddfuse_evaluator_python.json", "cdd", "SSIM", "ssim", 1e-4),
]


def _case_id(case: tuple) -> str:
    conv = case[1] if isinstance(case[1], str) else case[1].name
    return f"{conv}-{case[2]}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_metric_matches_reference_toolkit(shared_root, case):
    golden_file, convention, key, metric_id, tolerance = case
    golden = load_golden(str(shared_root), golden_file)
    assert len(golden["entries"]) == 11
    worst = (0.0, None)
    for entry in golden["entries"]:
        paths = entry["shared_paths"]
        fused, ir, vis = (read_rgb_or_gray(shared_root / paths[k]) for k in ("fused", "ir", "vi"))
        ours = compute(fused, ir, vis, metrics=[metric_id], convention=convention)[metric_id]
        reference = entry["metrics"][key]
        rel = abs(ours - reference) / abs(reference)
        if rel >= worst[0]:
            worst = (rel, f"{entry['dataset']} {entry['image_id']}: ours {ours!r}, reference {reference!r}")
    assert worst[0] <= tolerance, f"{key}: worst relative error {worst[0]:.2e} > {tolerance:.0e} ({worst[1]})"
