"""Nabf: the rate of fusion artefacts (Shreyamsha Kumar's modified N^{AB/F}; lower is better).

Sobel kernels / 8 by correlation on the image mirrored without repeating the edge; strength
``g = sqrt(gh^2 + gv^2)``, orientation ``alpha = atan(gv / gh)`` (0 where both are 0). For each
source X: ``G = min(gX, gF) / max(gX, gF)`` (0 if either is 0), ``A = | |aX - aF| - pi/2 | 2/pi``,
``Q_XF = sqrt(0.9999 / (1 + exp(-19 (G - 0.5))) * 0.9995 / (1 + exp(-22 (A - 0.5))))``;
weights ``w_X = gX^1.5`` where ``gX >= 2`` else 0.001; artefact mask ``na = gF > gA and gF > gB``;
``Nabf = sum(na ((1 - Q_AF) w_A + (1 - Q_BF) w_B)) / sum(w_A + w_B)``.

TANG's ``analysis_Reference.m`` calls ``analysis_nabf(IR, VI, F)`` although the signature is
``(F, A, B)``, so the value it prints treats the IR image as the fused one. fusionbench passes the
fused image in the fused slot in every convention; ``nabf_swapped_args=True`` reproduces the bug.

Reference: B. K. Shreyamsha Kumar, "Multifocus and multispectral image fusion based on pixel
significance using discrete cosine harmonic wavelet transform", SIViP 7, 2013 (the modified
artefact measure); V. Petrovic, C. Xydeas, "Objective image fusion performance characterisation",
ICCV 2005 (N^{AB/F}).
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._shared import integer_levels
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

_SMOOTH = np.array([1.0, 2.0, 1.0]) / 8.0
_DIFF = np.array([-1.0, 0.0, 1.0])


def _responses(*images: Any) -> list[Any]:
    """(gv, gh) of each image: Sobel kernels / 8, correlation, mirrored border (reflect101)."""
    responses = []
    for x in images:
        responses.append(_backend.sep_filter(x, _SMOOTH, _DIFF, "reflect101"))
        responses.append(_backend.sep_filter(x, _DIFF, _SMOOTH, "reflect101"))
    return responses


def _strength_angle(gv: Any, gh: Any) -> tuple[Any, Any]:
    xp = _backend.namespace(gv)
    strength = xp.sqrt(gh * gh + gv * gv)
    both_zero = (gv == 0) & (gh == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        angle = xp.where(both_zero, 0.0, xp.atan(gv / gh))
    return strength, angle


def nabf_core(f: Any, a: Any, b: Any) -> Any:
    """Nabf of fused ``f`` against sources ``a`` and ``b`` (stacks (M, H, W), 0..255)."""
    num, den = _backend.pixel_sums(_nabf_terms, f, a, b, per_band=_responses, halo=1)
    return num / den


def _nabf_terms(*responses: Any) -> tuple[Any, Any]:
    """Per-pixel numerator ``na ((1 - Q_AF) w_A + (1 - Q_BF) w_B)`` and denominator ``w_A + w_B``
    from the (gv, gh) responses of F, A and B."""
    xp = _backend.namespace(responses[0])
    g_f, a_f = _strength_angle(responses[0], responses[1])
    strengths = []
    qualities = []
    for gv, gh in ((responses[2], responses[3]), (responses[4], responses[5])):
        g_x, a_x = _strength_angle(gv, gh)
        hi = xp.maximum(g_x, g_f)
        lo = xp.minimum(g_x, g_f)
        g_rel = lo / xp.where(hi == 0, 1.0, hi)  # 0 where either strength is 0 (strengths are >= 0)
        a_rel = xp.abs(xp.abs(a_x - a_f) - math.pi / 2) * 2 / math.pi
        q = xp.sqrt(0.9999 / (1 + xp.exp(-19 * (g_rel - 0.5))) * (0.9995 / (1 + xp.exp(-22 * (a_rel - 0.5)))))
        strengths.append(g_x)
        qualities.append(q)
    g_a, g_b = strengths
    artefact = (g_f > g_a) & (g_f > g_b)
    num = 0.0
    den = 0.0
    for g_x, q in zip(strengths, qualities, strict=True):
        w = xp.where(g_x >= 2, g_x**1.5, 0.001)
        num = num + xp.where(artefact, (1 - q) * w, 0.0)
        den = den + w
    return num, den


@register(
    dict(
        id="nabf",
        name="Nabf",
        latex="$N^{AB/F}$",
        higher_is_better=False,
        value_range=(0.0, 1.0),
        paper="Shreyamsha Kumar, SIViP 2013; Petrovic & Xydeas, ICCV 2005",
        toolkits="TANG analysis_nabf (fused image in the fused slot)",
        tolerance=1e-12,
        symmetric=True,
        summary="weighted rate of fused gradients stronger than both sources' (artefacts)",
    )
)
def nabf_kernel(batch: Any) -> Any:
    roles = "abf" if batch.convention.nabf_swapped_args else "fab"
    levels = [integer_levels(batch, r) for r in roles]
    if all(lv is not None for lv in levels):
        return np.array([_nabf_integer_image(f, a, b) for f, a, b in zip(*levels, strict=True)])
    return nabf_core(*(getattr(batch, r) for r in roles))


# Integer fast path (numpy, uint8 levels): the Sobel responses are 1/8 of int16 integers (exact),
# band by band; the per-pixel formula of _nabf_terms then runs in place in scratch buffers.

#: (kernelX along a row, kernelY down a column) of 8 x the (gv, gh) kernels of _responses.
_SOBEL8 = (
    (np.array([-1.0, 0.0, 1.0]), np.array([1.0, 2.0, 1.0])),
    (np.array([1.0, 2.0, 1.0]), np.array([-1.0, 0.0, 1.0])),
)


def _nabf_integer_image(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Nabf of one triple of uint8 level images (H, W), fused image ``f``."""
    h, w = f.shape
    num = den = 0.0
    for read, keep in _backend.bands(h, w, halo=1):
        shape = (keep.stop - keep.start, w)
        (gf, af), (ga, aa), (gb, ab) = (
            _strength_angle_integer(x[read], keep, shape, k) for k, x in enumerate((f, a, b))
        )
        artefact = (gf > ga) & (gf > gb)
        for gx, ax in ((ga, aa), (gb, ab)):
            n, d = _artefact_sums(gx, ax, gf, af, artefact)
            num += n
            den += d
    return num / den if den != 0 else math.nan


def _strength_angle_integer(
    band: np.ndarray, keep: slice, shape: tuple[int, int], k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Strength and angle (as :func:`_strength_angle`) of the kept rows of a uint8 band."""
    gv, gh, g = (_backend.scratch(f"nabf_{name}{k}", shape) for name in ("v", "h", "g"))
    for out, (kx, ky) in zip((gv, gh), _SOBEL8, strict=True):
        np.copyto(out, cv2.sepFilter2D(band, cv2.CV_16S, kx, ky, borderType=cv2.BORDER_REFLECT_101)[keep])
        out *= 0.125  # exact: the /8 of the kernels
    cv2.magnitude(gh, gv, magnitude=g)
    both_zero = (gv == 0) & (gh == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(gv, gh, out=gv)
    np.arctan(gv, out=gv)
    np.putmask(gv, both_zero, 0.0)
    return g, gv


def _artefact_sums(
    gx: np.ndarray, ax: np.ndarray, gf: np.ndarray, af: np.ndarray, artefact: np.ndarray
) -> tuple[float, float]:
    """``sum(na (1 - Q_XF) w_X)`` and ``sum(w_X)`` over a band, in place (see :func:`_nabf_terms`)."""
    g_rel, a_rel, weight = (_backend.scratch(f"nabf_t{k}", gx.shape) for k in range(3))
    np.maximum(gx, gf, out=a_rel)
    np.minimum(gx, gf, out=g_rel)
    with np.errstate(divide="ignore", invalid="ignore"):
        g_rel /= a_rel
    np.putmask(g_rel, a_rel == 0, 0.0)  # 0 where either strength is 0
    np.subtract(ax, af, out=a_rel)
    np.abs(a_rel, out=a_rel)
    a_rel -= math.pi / 2
    np.abs(a_rel, out=a_rel)
    a_rel *= 2
    a_rel /= math.pi
    for t, gain, top in ((g_rel, -19.0, 0.9999), (a_rel, -22.0, 0.9995)):
        t -= 0.5
        t *= gain
        cv2.exp(t, dst=t)  # OpenCV: as accurate as numpy (<= 1 ulp), faster
        t += 1.0
        np.divide(top, t, out=t)
    g_rel *= a_rel
    np.sqrt(g_rel, out=g_rel)  # Q_XF
    np.power(gx, 1.5, out=weight)
    np.putmask(weight, gx < 2, 0.001)
    np.subtract(1.0, g_rel, out=g_rel)
    g_rel *= weight
    np.multiply(g_rel, artefact, out=g_rel)  # 0 outside the artefact mask
    return float(g_rel.sum()), float(weight.sum())


def nabf(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """Nabf artefact rate of the fused image (see the module docstring); lower is better."""
    return _functional("nabf", fused, ir, vis, convention, data_range)
