"""Qcv: Chen & Varshney's human-perception-inspired metric (lower is better).

As VIFB computes it: images min-max stretched to 0..255 and rounded; Sobel magnitude ``g``
(``filter2``, zero padding); per 16 x 16 block (zero-padded at the bottom/right border)
``lambda = sum g^5``; the difference images A - F and B - F filtered in the Fourier domain by
``2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)`` (Mannos-Sakrison CSF) with axes scaled by (W/8, H/8);
``D`` = mean of the squared filtered difference per block (padding zeros count: always / 256);
``Qcv = sum(lambda_A D_A + lambda_B D_B) / sum(lambda_A + lambda_B)``. Real part of the inverse FFT.

Reference: H. Chen, P. K. Varshney, "A human perception inspired quality metric for image fusion
based on regional information", Information Fusion 8(2), 2007.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._common import sum_hw
from fusionbench.metrics._frequency import (
    block_reduce,
    filter_spectrum,
    freqspace_radius,
    half_spectrum,
    minmax_stretch,
)
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

BLOCK = 16
_SMOOTH = np.array([1.0, 2.0, 1.0])
_DIFF = np.array([-1.0, 0.0, 1.0])


def _sobel_strength(x: Any) -> Any:
    xp = _backend.namespace(x)
    gx = _backend.sep_filter(x, _SMOOTH, _DIFF, "zero")
    gy = _backend.sep_filter(x, _DIFF, _SMOOTH, "zero")
    return xp.sqrt(gx * gx + gy * gy)


@functools.lru_cache(maxsize=8)
def _csf_spectrum(height: int, width: int) -> np.ndarray:
    """Half spectrum of the Mannos-Sakrison CSF ``2.6 (0.0192 + 0.144 r) exp(-(0.144 r)^1.1)``, axes
    scaled by (W/8, H/8)."""
    r = freqspace_radius(height, width, width / 8.0, height / 8.0)
    return half_spectrum(2.6 * (0.0192 + 0.144 * r) * np.exp(-((0.144 * r) ** 1.1)))


@register(
    dict(
        id="qcv",
        name="Qcv",
        latex="$Q_{CV}$",
        higher_is_better=False,
        value_range=(0.0, None),
        paper="Chen & Varshney, Information Fusion 2007",
        toolkits="VIFB (metricsQcv)",
        tolerance=1e-12,
        symmetric=True,
        summary="edge-weighted, CSF-filtered squared difference between F and each source per block",
    )
)
def qcv_kernel(batch: Any) -> Any:
    return _backend.map_images(_qcv_stack, batch.a, batch.b, batch.f)[0]


def _qcv_stack(a: Any, b: Any, f: Any) -> tuple[Any]:
    a, b, f = (minmax_stretch(x) for x in (a, b, f))
    csf = _csf_spectrum(*f.shape[-2:])
    num = 0.0
    den = 0.0
    for src in (a, b):
        weight = block_reduce(_sobel_strength(src) ** 5, BLOCK, "sum")
        diff = filter_spectrum(src - f, csf)
        distortion = block_reduce(diff * diff, BLOCK, "mean")
        num = num + sum_hw(weight * distortion)
        den = den + sum_hw(weight)
    return (num / den,)


def qcv(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """Chen-Varshney Qcv of the fused image (see the module docstring); lower is better."""
    return _functional("qcv", fused, ir, vis, convention, data_range)
