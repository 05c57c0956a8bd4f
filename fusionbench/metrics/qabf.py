"""Q^AB/F: Xydeas & Petrovic's edge-information preservation.

Sobel responses by 2-D convolution with zero padding ('same'), strength ``g = sqrt(Sx^2 + Sy^2)``,
orientation ``alpha = atan(Sy / Sx)`` (atan, not atan2; ``pi/2`` where Sx = 0). For each source X:

* relative strength ``G_XF = gF/gX`` if gX > gF, ``gX/gF`` if gX < gF, and where gX == gF the
  reference code's **quirk** ``G = gF`` (``qabf_equal_strength="raw"``; ``"one"`` uses 1);
* relative orientation ``A_XF = 1 - |alpha_X - alpha_F| / (pi/2)``;
* ``Q_XF = Tg / (1 + exp(kg (G - Dg))) * Ta / (1 + exp(ka (A - Da)))`` with Tg = 0.9994, kg = -15,
  Dg = 0.5, Ta = 0.9879, ka = -22, Da = 0.8;

``Qabf = sum(Q_AF gA + Q_BF gB) / sum(gA + gB)``; NaN when both sources are flat.
TANG-old computed it on 0..1 data (``gradient_data_scale = 1``), where the ``G = gF`` quirk bites.

Reference: C. S. Xydeas, V. Petrovic, "Objective image fusion performance measure", Electronics
Letters 36(4), 2000; code: the "Richang Hong 2007" implementation shared by TANG, VIFB and CDD.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._common import (
    SOBEL_X_CONV2,
    SOBEL_Y_CONV2,
    conv2_same_matlab_order,
    sobel_conv2_same,
)
from fusionbench.metrics._shared import integer_levels
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

TG, KG, DG = 0.9994, -15.0, 0.5
TA, KA, DA = 0.9879, -22.0, 0.8


def strength_and_orientation(sx: Any, sy: Any) -> tuple[Any, Any]:
    """Strength ``g = sqrt(Sx^2 + Sy^2)`` and orientation ``alpha = atan(Sy / Sx)`` (pi/2 where Sx = 0)."""
    xp = _backend.namespace(sx)
    g = xp.sqrt(sx * sx + sy * sy)
    alpha = xp.where(sx == 0, math.pi / 2, xp.atan(sy / sx))  # (the 0-division results are replaced)
    return g, alpha


def _preservation(gx: Any, ax: Any, gf: Any, af: Any, equal_rule: str) -> Any:
    """``Q_XF`` per pixel: relative strength and orientation through the two sigmoids."""
    xp = _backend.namespace(gx)
    equal_value = gf if equal_rule == "raw" else 1.0
    ratio = xp.minimum(gx, gf) / xp.maximum(gx, gf)  # gF/gX if gX > gF, gX/gF if gX < gF
    g_rel = xp.where(gx == gf, equal_value, ratio)
    a_rel = 1.0 - xp.abs(ax - af) / (math.pi / 2)
    q_g = TG / (1.0 + xp.exp(KG * (g_rel - DG)))
    q_a = TA / (1.0 + xp.exp(KA * (a_rel - DA)))
    return q_g * q_a


def _qabf_terms(equal_rule: str, *sobel: Any) -> tuple[Any, Any]:
    """Per-pixel numerator ``Q_AF gA + Q_BF gB`` and denominator ``gA + gB`` from the Sobel
    responses (Sx, Sy) of F, A and B."""
    gf, af = strength_and_orientation(sobel[0], sobel[1])
    ga, aa = strength_and_orientation(sobel[2], sobel[3])
    gb, ab = strength_and_orientation(sobel[4], sobel[5])
    q_af = _preservation(ga, aa, gf, af, equal_rule)
    q_bf = _preservation(gb, ab, gf, af, equal_rule)
    return q_af * ga + q_bf * gb, ga + gb


def _sobel_responses(scale: float, matlab_order: bool, *images: Any) -> list[Any]:
    """(Sx, Sy) of each image on the 0..``scale`` data scale (``gradient_data_scale``).

    With ``matlab_order`` the data is divided as MATLAB ``im2double`` does (``x / 255``) and the
    Sobel sums follow ``conv2``'s order (see :func:`conv2_same_matlab_order`).
    """
    responses = []
    for x in images:
        if scale != 255.0:
            x = x / (255.0 / scale)
        if matlab_order:
            responses += [conv2_same_matlab_order(x, SOBEL_X_CONV2), conv2_same_matlab_order(x, SOBEL_Y_CONV2)]
        else:
            responses.extend(sobel_conv2_same(x))
    return responses


@register(
    dict(
        id="qabf",
        name="Qabf",
        latex="$Q^{AB/F}$",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        paper="Xydeas & Petrovic, Electronics Letters 2000",
        toolkits="TANG, VIFB, CDD (same code)",
        tolerance=1e-12,
        symmetric=True,
        summary="Sobel edge strength/orientation preservation, weighted by source edge strength",
    )
)
def qabf_kernel(batch: Any) -> Any:
    conv = batch.convention
    levels = [integer_levels(batch, r) for r in "fab"]
    if conv.gradient_data_scale == 255.0 and not conv.qabf_conv2_order and all(lv is not None for lv in levels):
        scores = [_qabf_integer_image(f, a, b, conv.qabf_equal_strength) for f, a, b in zip(*levels, strict=True)]
        return np.array(scores)
    num, den = _backend.pixel_sums(
        functools.partial(_qabf_terms, conv.qabf_equal_strength),
        batch.f,
        batch.a,
        batch.b,
        per_band=functools.partial(_sobel_responses, conv.gradient_data_scale, conv.qabf_conv2_order),
        halo=1,
    )
    return num / den


# Integer fast path (numpy, levels 0..255 on the 0..255 scale, as in TANG, VIFB and CDD): the Sobel
# responses of 8-bit images are integers below 1021 in magnitude, computed exactly in int16 by
# OpenCV band by band; the per-pixel formula then runs on each band in float64, in place, in reused
# scratch buffers. Same formula as _qabf_terms; only the rounding order
# of the sums differs (< 1e-15 relative).

#: Correlation factors of the conv2 Sobel kernels for cv2.sepFilter2D (kernelX along a row, kernelY down a column).
_SOBEL_X = (np.array([1.0, 0.0, -1.0]), np.array([1.0, 2.0, 1.0]))
_SOBEL_Y = (np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0]))


def _sobel_int16(levels: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``conv2(X, Sobel, 'same')`` (zero padding) of a uint8 image (or band), exact in int16."""
    out = []
    for k, (kx, ky) in enumerate((_SOBEL_X, _SOBEL_Y)):
        dst = _backend.scratch(f"{name}{k}", levels.shape, np.int16)
        out.append(cv2.sepFilter2D(levels, cv2.CV_16S, kx, ky, dst=dst, borderType=cv2.BORDER_CONSTANT))
    return out[0], out[1]


def _qabf_integer_image(f: np.ndarray, a: np.ndarray, b: np.ndarray, equal_rule: str) -> float:
    """Q^AB/F of one triple of uint8 level images (H, W)."""
    h, w = f.shape
    num = den = 0.0
    for read, keep in _backend.bands(h, w, halo=1):
        sobel = [_sobel_int16(x[read], f"qabf_sobel{k}_") for k, x in enumerate((f, a, b))]
        (gf, af), (ga, aa), (gb, ab) = (
            _strength_orientation(sx[keep], sy[keep], f"qabf_so{k}_") for k, (sx, sy) in enumerate(sobel)
        )
        num += _weighted_preservation(ga, aa, gf, af, equal_rule) + _weighted_preservation(gb, ab, gf, af, equal_rule)
        den += float(ga.sum()) + float(gb.sum())
    return num / den if den != 0 else math.nan


def _strength_orientation(sx: np.ndarray, sy: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``g = sqrt(Sx^2 + Sy^2)`` and ``alpha = atan(Sy / Sx)`` (pi/2 where Sx = 0) of int16 arrays.

    The pi/2 rule without a masked assignment: where Sx = 0 the numerator is raised by 8 * 255 (from
    OpenCV's 255/0 comparison mask, in the same pass that converts Sy), so that it is positive
    (|Sy| <= 1020) and the quotient is +inf, whose atan is exactly pi/2.
    """
    x, y, g = (_backend.scratch(name + k, sx.shape) for k in "xyg")
    np.copyto(x, sx)
    np.copyto(y, sy)
    cv2.magnitude(x, y, magnitude=g)
    # OpenCV takes a scalar as src2; its stubs allow arrays only.
    vertical = cv2.compare(sx, 0, cv2.CMP_EQ, dst=_backend.scratch(name + "v", sx.shape, np.uint8))  # type: ignore[call-overload]
    cv2.addWeighted(sy, 1.0, vertical, 8.0, 0.0, dst=y, dtype=cv2.CV_64F)
    with np.errstate(divide="ignore"):
        np.divide(y, x, out=y)
    np.arctan(y, out=y)
    return g, y


def _weighted_preservation(gx: np.ndarray, ax: np.ndarray, gf: np.ndarray, af: np.ndarray, equal_rule: str) -> float:
    """``sum(Q_XF gX)`` over a band: :func:`_preservation` evaluated in place.

    Each sigmoid's exponent is one affine pass (``cv2.addWeighted``): ``kg (G - Dg) = kg G - kg Dg``
    and ``ka (A - Da) = -ka |alpha_X - alpha_F| / (pi/2) + ka (1 - Da)``; the last step is
    ``cv2.divide``'s ``gX Tg Ta / ((1 + e_g)(1 + e_a))``. Same formula, rounded in another order
    (< 1e-15 relative per pixel).
    """
    g_rel, a_rel = (_backend.scratch(f"qabf_q{k}", gx.shape) for k in range(2))
    np.minimum(gx, gf, out=g_rel)
    np.maximum(gx, gf, out=a_rel)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_rel /= a_rel
    # Equal strengths are rare (a few % of pixels): a masked copy skips the others (putmask visits all).
    np.copyto(g_rel, gf if equal_rule == "raw" else 1.0, where=gx == gf)
    cv2.addWeighted(g_rel, KG, g_rel, 0.0, -KG * DG, dst=g_rel)
    cv2.exp(g_rel, dst=g_rel)  # OpenCV: as accurate as numpy (<= 1 ulp), faster
    g_rel += 1.0  # 1 + exp(kg (G - Dg))
    cv2.absdiff(ax, af, dst=a_rel)
    cv2.addWeighted(a_rel, -KA / (math.pi / 2), a_rel, 0.0, KA * (1.0 - DA), dst=a_rel)
    cv2.exp(a_rel, dst=a_rel)
    a_rel += 1.0  # 1 + exp(ka (A - Da))
    g_rel *= a_rel
    cv2.divide(gx, g_rel, dst=g_rel, scale=TG * TA)  # Q_XF gX
    return float(g_rel.sum())  # numpy's pairwise sum, not BLAS: the same value on any thread count


def qabf(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """Q^AB/F edge preservation (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("qabf", fused, ir, vis, convention, data_range)
