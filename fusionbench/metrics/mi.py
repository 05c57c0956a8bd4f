"""MI: mutual information between each source and the fused image, summed.

``MI = MI(A, F) + MI(B, F)``, ``MI(X, F) = H(X) + H(F) - H(X, F)`` from 256-bin marginal and
256 x 256 joint histograms of integer gray levels.

Conventions:

* ``tang``: bits; raw uint8 levels; **quirk** ``mi_joint_saturation``: the toolkit's joint histogram
  indexes with ``uint8(x) + 1``, which saturates at 255, so levels 254 and 255 share a joint bin
  while the marginals keep them apart (MI is +0.0004 to +0.23 bits larger; reproduced by clamping
  both images to 254 for the joint histogram only).
* ``vifb``: nats; each image first min-max stretched to 0..255 and rounded
  (``int16(255 (x - min)/(max - min))``, a constant image becomes 0); per channel.
* ``cdd``: nats (``sklearn.metrics.mutual_info_score`` on the raw levels), exact histogram.

Reference: G. Qu, D. Zhang, P. Yan, "Information measure for performance of image fusion",
Electronics Letters 38(7), 2002.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._common import entropy_from_counts
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.en import level_histogram
from fusionbench.metrics.spec import register


def _stretched_levels(x: Any) -> Any:
    """VIFB's normalisation: ``int16(255 * ((x - min) / (max - min)))`` (round half away), 0 if constant."""
    xp = _backend.namespace(x)
    lo = xp.min(x, axis=(-2, -1), keepdims=True)
    hi = xp.max(x, axis=(-2, -1), keepdims=True)
    span = hi - lo
    scaled = (x - lo) / xp.where(span > 0, span, xp.ones_like(span)) * 255.0
    scaled = xp.where(span > 0, scaled, xp.zeros_like(scaled))
    return xp.astype(xp.floor(scaled + 0.5), xp.uint8)


def _mi_terms(batch: Any) -> list[tuple[Any, Any]]:
    """(levels, 256-bin histogram) of F, A and B."""
    if batch.convention.mi_minmax_stretch:
        levels = [batch.cached(f"stretched_{r}", lambda r=r: _stretched_levels(getattr(batch, r))) for r in "fab"]
        return [(lv, _backend.histogram256(lv)) for lv in levels]
    return [(batch.levels(r), level_histogram(batch, r)) for r in "fab"]


def _mutual_information(x_levels: Any, x_hist: Any, f_levels: Any, f_hist: Any, conv: Any) -> Any:
    xp = _backend.namespace(x_hist)
    if conv.mi_joint_saturation:
        x_levels = xp.clip(x_levels, 0, 254)
        f_levels = xp.clip(f_levels, 0, 254)
    joint = _backend.joint_histogram256(x_levels, f_levels)
    base = conv.log_base
    return entropy_from_counts(x_hist, base) + entropy_from_counts(f_hist, base) - entropy_from_counts(joint, base)


@register(
    dict(
        id="mi",
        name="MI",
        latex="MI",
        higher_is_better=True,
        value_range=(0.0, 16.0),
        paper="Qu, Zhang & Yan, Electronics Letters 2002",
        toolkits="TANG (bits, 254/255 quirk), VIFB (nats, stretched), CDD (nats)",
        tolerance=1e-12,
        symmetric=True,
        summary="MI(IR,F) + MI(VIS,F) from 256-bin joint histograms",
    )
)
def mi_kernel(batch: Any) -> Any:
    (lf, hf), (la, ha), (lb, hb) = _mi_terms(batch)
    conv = batch.convention
    if isinstance(lf, np.ndarray) and lf.dtype == np.uint8 and lf[0].size < _backend.CALC_HIST_MAX_PIXELS:
        return np.array([_mi_image(conv, *images) for images in zip(lf, la, lb, hf, ha, hb, strict=True)])
    return _mutual_information(la, ha, lf, hf, conv) + _mutual_information(lb, hb, lf, hf, conv)


def _mi_image(conv: Any, lf: np.ndarray, la: np.ndarray, lb: np.ndarray, hf: Any, ha: Any, hb: Any) -> float:
    """MI(A, F) + MI(B, F) of one image from its uint8 levels and marginal histograms (numpy).

    The joint histogram is OpenCV's ``calcHist`` (float32 counts, exact below 2^24 pixels) of the
    exact levels; the TANG quirk merges row and column 255 into 254 afterwards, which is the
    histogram of the levels clamped at 254 (the reference's saturating ``uint8(x) + 1`` index).
    """
    h_f = _entropy(hf, conv.log_base)
    total = 0.0
    for lx, hx in ((la, ha), (lb, hb)):
        joint: np.ndarray = cv2.calcHist(
            [lx, lf],
            [0, 1],
            None,
            [256, 256],
            [0, 256, 0, 256],
            hist=_backend.scratch("mi_joint", (256, 256), np.float32),
        )
        if conv.mi_joint_saturation:
            joint[254] += joint[255]
            joint[:, 254] += joint[:, 255]
            joint = joint[:255, :255]
        total += _entropy(hx, conv.log_base) + h_f - _entropy(joint, conv.log_base)
    return total


def _entropy(counts: Any, base: float) -> float:
    """``-sum p log p`` over the non-empty bins of a count table (any shape), in log ``base``."""
    c = np.asarray(counts, dtype=np.float64)
    p = c[c > 0]
    p /= c.sum()
    return float(-(p * np.log(p)).sum() / math.log(base))


def mi(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """MI(IR, F) + MI(VIS, F) (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("mi", fused, ir, vis, convention, data_range)
