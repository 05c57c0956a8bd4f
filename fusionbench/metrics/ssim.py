"""SSIM between the fused image and the two sources (three reference definitions).

For images X, Y: local means, variances and covariance from a window ``w``, and
``SSIM(X, Y) = mean over the map of (2 mu_X mu_Y + C1)(2 s_XY + C2) / ((mu_X^2 + mu_Y^2 + C1)(s_X^2 + s_Y^2 + C2))``
with ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` (Wang et al., "Image quality assessment: from error
visibility to structural similarity", IEEE TIP 13(4), 2004).

* ``matlab`` (TANG): ``0.5 SSIM(F, A) + 0.5 SSIM(F, B)`` with MATLAB's built-in ``ssim``: 11 x 11
  Gaussian, sigma 1.5, replicate padding, full-size map. TANG calls it on 0..255 doubles with the
  class default ``DynamicRange = 1`` (C1 = 1e-4, C2 = 9e-4, ``ssim_dynamic_range=1``);
  ``tang-corrected`` uses L = 255. Octave has no ``ssim``: the calibration compares with a stand-in
  written from MATLAB's documentation, not with MATLAB itself.
* ``wang_valid_sum`` (VIFB): ``SSIM(A, F) + SSIM(B, F)`` (a **sum**, 0..2), Gaussian 11/1.5 'valid',
  L = 255, no downsampling.
* ``skimage_sum`` (CDD): ``structural_similarity(F, A) + (F, B)`` with a 7 x 7 uniform window, sample
  covariance (x 49/48), mean over the map without its 3-pixel border, and ``data_range = 2`` as the
  scikit-image 0.19 that CDDFuse pinned used for float input.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._common import gaussian_1d
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

_GAUSS_11 = gaussian_1d(11, 1.5)
_UNIFORM_7 = np.full(7, 1.0 / 7.0)


def ssim_map_mean(
    x: Any, y: Any, window: np.ndarray, border: str, dynamic_range: float, covariance_scale: float = 1.0
) -> Any:
    """Mean SSIM of two image stacks (M, H, W) with a separable ``window`` and ``border`` rule."""
    return ssim_map_means(x, [y], window, border, dynamic_range, covariance_scale)[0]


def ssim_map_means(
    x: Any, ys: list[Any], window: np.ndarray, border: str, dynamic_range: float, covariance_scale: float = 1.0
) -> list[Any]:
    """``[mean SSIM(x, y) for y in ys]`` (stacks (M, H, W)), sharing x's local moments.

    Computed block by block of rows on the CPU ('valid': bands overlapping by the window size - 1;
    other borders: bands with a halo of half the window), never as whole-image maps. The SSIM map
    is symmetric in its two images, so SSIM(y, x) is the same number.
    """
    xp = _backend.namespace(x)
    h, w = x.shape[-2:]
    k = window.size
    moments = functools.partial(_local_moments, window, border)
    ssim = functools.partial(_ssim_maps, dynamic_range, covariance_scale)
    if border == "valid":
        totals: list[Any] = [0.0] * len(ys)
        for rows in _backend.row_bands(x, k - 1):
            maps = ssim(*moments(x[:, rows], *(y[:, rows] for y in ys)))
            totals = [t + xp.sum(m, axis=(-2, -1)) for t, m in zip(totals, maps, strict=True)]
        return [t / (max(h - k + 1, 0) * max(w - k + 1, 0)) for t in totals]
    sums = _backend.pixel_sums(ssim, x, *ys, per_band=moments, halo=k // 2)
    return [t / (h * w) for t in sums]


def _local_moments(window: np.ndarray, border: str, x: Any, *ys: Any) -> tuple[Any, ...]:
    """Window means of X and X^2, then of Y, Y^2 and XY for each Y (one band: on the CPU into
    reused scratch buffers, which the caller reads before the next band)."""
    cpu = isinstance(x, np.ndarray)
    names = iter(range(3 * len(ys) + 2))

    def filt(z: Any, y: Any = None) -> Any:
        k = next(names)
        if y is not None:  # the product z * y, in scratch on the CPU
            z = np.multiply(z, y, out=_backend.scratch("ssim_product", z.shape)) if cpu else z * y
        out = _backend.scratch(f"ssim_moment{k}", x.shape) if cpu else None
        return _backend.sep_filter(z, window, window, border, out=out)  # type: ignore[arg-type]

    return filt(x), filt(x, x), *(m for y in ys for m in (filt(y), filt(y, y), filt(x, y)))


def _ssim_maps(dynamic_range: float, covariance_scale: float, mx: Any, exx: Any, *per_y: Any) -> list[Any]:
    """The SSIM map of X with each Y from :func:`_local_moments`' window means."""
    return [
        _ssim_map(dynamic_range, covariance_scale, mx, my, exx, eyy, exy)[0]
        for my, eyy, exy in zip(per_y[0::3], per_y[1::3], per_y[2::3], strict=True)
    ]


def _ssim_map(
    dynamic_range: float, covariance_scale: float, mx: Any, my: Any, exx: Any, eyy: Any, exy: Any
) -> tuple[Any]:
    """The SSIM map ``(2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``."""
    c1 = (0.01 * dynamic_range) ** 2
    c2 = (0.03 * dynamic_range) ** 2
    mxx, myy, mxy = mx * mx, my * my, mx * my
    vx = covariance_scale * (exx - mxx)
    vy = covariance_scale * (eyy - myy)
    vxy = covariance_scale * (exy - mxy)
    return (((2 * mxy + c1) * (2 * vxy + c2)) / ((mxx + myy + c1) * (vx + vy + c2)),)


@register(
    dict(
        id="ssim",
        name="SSIM",
        latex="SSIM",
        higher_is_better=True,
        value_range=(-1.0, 1.0),
        paper="Wang, Bovik, Sheikh & Simoncelli, IEEE TIP 2004",
        toolkits="TANG (MATLAB ssim, mean), VIFB (sum, valid), CDD (skimage, sum)",
        tolerance=1e-9,
        symmetric=True,
        summary="SSIM of F with each source: mean of the two (TANG) or their sum (VIFB, CDD)",
    )
)
def ssim_kernel(batch: Any) -> Any:
    conv = batch.convention
    f, a, b = batch.f, batch.a, batch.b
    dr = conv.ssim_dynamic_range
    if conv.ssim == "wang_valid_sum":  # VIFB: SSIM(A, F) + SSIM(B, F), the same numbers as SSIM(F, .)
        s_a, s_b = ssim_map_means(f, [a, b], _GAUSS_11, "valid", 255.0)
        return s_a + s_b
    if conv.ssim == "skimage_sum":
        s_a, s_b = ssim_map_means(f, [a, b], _UNIFORM_7, "valid", dr, 49.0 / 48.0)
        return s_a + s_b
    s_a, s_b = ssim_map_means(f, [a, b], _GAUSS_11, "replicate", dr)
    return 0.5 * s_a + 0.5 * s_b


def ssim(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """SSIM of the fused image with the sources (see the module docstring for the three definitions).

    numpy input returns a float; torch input ``(N, C, H, W)`` returns a float64 tensor ``(N,)``.
    """
    return _functional("ssim", fused, ir, vis, convention, data_range)
