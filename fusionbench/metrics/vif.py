"""VIF: multi-scale pixel-domain visual information fidelity, summed over the two sources.

``VIF = VIF(A, F) + VIF(B, F)`` with each source as reference R and the fused image as distorted D
(float 0..255), pooled over four scales s = 1..4 before dividing:

* window: Gaussian of size ``N_s = 2^(5-s) + 1`` (17, 9, 5, 3), ``sigma = N_s / 5`` (MATLAB
  ``fspecial``; separable here, exact up to rounding);
* for s > 1, R and D are filtered ('valid') with the current window and subsampled by 2;
* ``mu = filter_valid(w, X)``, ``sigma_R^2 = filter_valid(w, R^2) - mu_R^2`` (and D, RD alike);
* ``g = sigma_RD / (sigma_R^2 + 1e-10)``, ``sv^2 = sigma_D^2 - g sigma_RD`` with the LIVE code's
  guards (sigma_R^2 < 1e-10, sigma_D^2 < 1e-10, g < 0, sv^2 <= 1e-10);
* ``num += sum log10(1 + g^2 sigma_R^2 / (sv^2 + 2))``, ``den += sum log10(1 + sigma_R^2 / 2)``.

This is ``vifp_mscale`` of the LIVE lab (H. R. Sheikh, A. C. Bovik, "Image information and visual
quality", IEEE TIP 15(2), 2006), as used by TANG and CDD (whose ``VIFF`` is this, not Han et al.'s
VIFF). A constant source gives ``den = 0`` and a NaN score (CDD replaces it by 1.0:
``vif_nan_to_one``). The pre-refactor TANG toolkit (``tang-old``) passed uint8 images, so at
scale 1 its products R.R, D.D and R.D saturated at 255 (``vif_uint8_products``), which raises VIF
by 15-35 % on TNO. torchmetrics' ``visual_information_fidelity(F, R)`` computes the same VIF(R, F).
"""

from __future__ import annotations

import functools
from typing import Any

from fusionbench.metrics import _backend
from fusionbench.metrics._common import gaussian_1d
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

SIGMA_N_SQ = 2.0
EPS = 1e-10
SCALES = 4


def _window(scale: int) -> Any:
    size = 2 ** (SCALES - scale + 1) + 1
    return gaussian_1d(size, size / 5.0)


def _valid(x: Any, w: Any) -> Any:
    return _backend.sep_filter(x, w, w, "valid")


def _downsample(x: Any, scale: int) -> Any:
    """The next level of ``vifp_mscale``'s pyramid: filter 'valid' with this scale's window and keep
    every second row and column (band by band on the CPU: no full-size filter output)."""
    w = _window(scale)
    xp = _backend.namespace(x)
    parts = [_valid(x[:, rows], w)[:, ::2, ::2] for rows in _backend.row_bands(x, w.size - 1)]
    return xp.concat(parts, axis=1) if len(parts) > 1 else xp.asarray(parts[0], copy=True)


def _product(x: Any, y: Any, saturate: bool) -> Any:
    """``x * y``; with ``saturate`` the uint8 product of the old TANG toolkit, ``min(x y, 255)``."""
    p = x * y
    return _backend.namespace(p).clip(p, None, 255.0) if saturate else p


def _moments(x: Any, w: Any, saturate: bool = False) -> tuple[Any, Any]:
    """Local mean ``mu = filter_valid(w, X)`` and second moment ``filter_valid(w, X^2)``."""
    return _valid(x, w), _valid(_product(x, x, saturate), w)


def _scale_terms(mu1: Any, e11: Any, mu2: Any, e22: Any, e12: Any) -> tuple[Any, Any]:
    """Per-pixel numerator and denominator terms of one scale, from the local moments.

    ``s1 = max(E[R^2] - mu_R^2, 0)``, ``s2`` alike for D, ``s12 = E[RD] - mu_R mu_D``,
    ``g = s12 / (s1 + eps)``, ``sv = max(s2 - g s12, eps)``;
    ``num = log10(1 + g^2 s1 / (sv + sigma_n^2))``, ``den = log10(1 + s1 / sigma_n^2)``.

    The LIVE code's guards, folded in without changing any value: s1 < eps sets s1 = 0 (both
    terms) and g = 0 (here g stays finite and the zero s1 zeroes the numerator); s2 < eps and
    g < 0 set g = 0, which zeroes the numerator whatever sv is.
    """
    xp = _backend.namespace(mu1)
    s1 = _backend.clamp_min(e11 - mu1 * mu1, 0.0)
    s1 = s1 * (s1 >= EPS)
    s2 = _backend.clamp_min(e22 - mu2 * mu2, 0.0)
    s12 = e12 - mu1 * mu2
    g = _backend.clamp_min(s12 / (s1 + EPS), 0.0) * (s2 >= EPS)
    sv = _backend.clamp_min(s2 - g * s12, EPS)
    num = xp.log10(1.0 + g * g * s1 / (sv + SIGMA_N_SQ))
    den = xp.log10(1.0 + s1 / SIGMA_N_SQ)
    return num, den


def vif_pairs(dist: Any, refs: list[Any], uint8_products: bool = False) -> list[Any]:
    """``[VIF(R, D) for R in refs]`` per image (stacks (M, H, W)), sharing D's moments.

    Per reference, the sums of :func:`_scale_terms`'s numerator and denominator terms are
    accumulated over the four scales and divided at the end, as ``vifp_mscale`` does. Work goes
    scale by scale and, on the CPU, image by image and band by band of rows, so that only one
    band's moments are alive at a time.
    """
    stack = functools.partial(_vif_pairs_stack, uint8_products=uint8_products)
    return _backend.map_images(stack, dist, *refs)


def _vif_pairs_stack(dist: Any, *refs: Any, uint8_products: bool = False) -> list[Any]:
    num = [0.0] * len(refs)
    den = [0.0] * len(refs)
    for scale in range(1, SCALES + 1):
        w = _window(scale)
        if scale > 1:
            dist = _downsample(dist, scale)
            refs = tuple(_downsample(r, scale) for r in refs)
        saturate = uint8_products and scale == 1  # later scales are filtered doubles
        for rows in _backend.row_bands(dist, w.size - 1):
            d = dist[:, rows]
            mu2, e22 = _moments(d, w, saturate)
            for k, ref in enumerate(refs):
                r = ref[:, rows]
                mu1, e11 = _moments(r, w, saturate)
                e12 = _valid(_product(r, d, saturate), w)
                num_s, den_s = _backend.pixel_sums(_scale_terms, mu1, e11, mu2, e22, e12)
                num[k] = num[k] + num_s
                den[k] = den[k] + den_s
    return [n / d for n, d in zip(num, den, strict=True)]


def vif_single(ref: Any, dist: Any) -> Any:
    """VIF(R, D) (``vifp_mscale(ref, dist)``) per image of two stacks (M, H, W) on 0..255."""
    return vif_pairs(dist, [ref])[0]


@register(
    dict(
        id="vif",
        name="VIF",
        latex="VIF",
        higher_is_better=True,
        value_range=(0.0, None),
        paper="Sheikh & Bovik, IEEE TIP 2006 (vifp_mscale); fusion use: Han et al., Inf. Fusion 2013",
        toolkits="TANG, CDD (VIFB has none)",
        tolerance=1e-6,
        symmetric=True,
        summary="vifp_mscale(IR,F) + vifp_mscale(VIS,F), four scales, sigma_n^2 = 2",
    )
)
def vif_kernel(batch: Any) -> Any:
    xp = batch.xp
    total = 0.0
    for score in vif_pairs(batch.f, [batch.a, batch.b], batch.convention.vif_uint8_products):
        if batch.convention.vif_nan_to_one:
            score = xp.where(xp.isnan(score), 1.0, score)
        total = total + score
    return total


def vif(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """VIF(IR, F) + VIF(VIS, F) (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("vif", fused, ir, vis, convention, data_range)
