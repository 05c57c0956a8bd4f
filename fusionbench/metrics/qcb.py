"""Qcb: Chen & Blum's perceptual fusion metric (contrast preservation under a CSF model).

As VIFB computes it (from Z. Liu's ``metricChenBlum``): each image min-max stretched to 0..255 and
rounded; filtered in the Fourier domain by the CSF ``S(r) = exp(-(r/15.3870)^2) - 0.7622
exp(-(r/1.3456)^2)`` with frequency axes scaled by (W/30, H/30) on the ``freqspace`` grid; local
contrast ``C = |(G_2 * I) / (G_4 * I) - 1|`` with un-normalised 31 x 31 Gaussians sigma 2 and 4
('same', zero padding); masked contrast ``C' = C^3 / (C^2 + 1e-4)``; preservation
``Q_XF = min(C'_X / C'_F, C'_F / C'_X)``; saliency ``lambda_X = C'_X^2 / (C'_A^2 + C'_B^2)``;
``Qcb = mean(lambda_A Q_AF + lambda_B Q_BF)``. NaN where both sources have zero contrast at a pixel.

Reference: Y. Chen, R. S. Blum, "A new automated quality assessment algorithm for image fusion",
Image and Vision Computing 27(10), 2009; Z. Liu et al., IEEE TPAMI 34(1), 2012.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._frequency import filter_spectrum, freqspace_radius, half_spectrum, minmax_stretch
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register


def _unnormalised_gaussian(sigma: float) -> np.ndarray:
    """1-D factor of ``exp(-(x^2 + y^2) / (2 s^2)) / (2 pi s^2)`` on the grid -15..15."""
    x = np.arange(-15, 16, dtype=np.float64)
    return np.exp(-(x * x) / (2 * sigma * sigma)) / math.sqrt(2 * math.pi * sigma * sigma)


_G2, _G4 = _unnormalised_gaussian(2.0), _unnormalised_gaussian(4.0)


@functools.lru_cache(maxsize=8)
def _csf_spectrum(height: int, width: int) -> np.ndarray:
    """Half spectrum of the CSF ``S(r) = exp(-(r/15.3870)^2) - 0.7622 exp(-(r/1.3456)^2)``, axes
    scaled by (W/30, H/30)."""
    r = freqspace_radius(height, width, width / 30.0, height / 30.0)
    return half_spectrum(np.exp(-((r / 15.3870) ** 2)) - 0.7622 * np.exp(-((r / 1.3456) ** 2)))


def _contrast_responses(x: Any, csf: np.ndarray) -> tuple[Any, Any]:
    """``G_2 * I`` and ``G_4 * I`` of the CSF-filtered, stretched image ``I``."""
    filtered = filter_spectrum(minmax_stretch(x), csf)
    return _backend.sep_filter(filtered, _G2, _G2, "zero"), _backend.sep_filter(filtered, _G4, _G4, "zero")


def _masked_contrast(g2: Any, g4: Any) -> Any:
    """``C' = C^3 / (C^2 + 1e-4)`` with ``C = |G_2 * I / G_4 * I - 1|``."""
    xp = _backend.namespace(g2)
    c = xp.abs(g2 / g4 - 1.0)
    return c**3 / (c**2 + 1e-4)


def _qcb_terms(g2a: Any, g4a: Any, g2b: Any, g4b: Any, g2f: Any, g4f: Any) -> tuple[Any]:
    """Per-pixel ``lambda_A Q_AF + lambda_B Q_BF``."""
    xp = _backend.namespace(g2a)
    with np.errstate(divide="ignore", invalid="ignore"):
        ca, cb, cf = _masked_contrast(g2a, g4a), _masked_contrast(g2b, g4b), _masked_contrast(g2f, g4f)
        # Literal MATLAB form: a zero contrast gives Inf * 0 = NaN, as in the reference.
        m_a = xp.astype(ca < cf, ca.dtype)
        m_b = xp.astype(cb < cf, cb.dtype)
        q_af = (ca / cf) * m_a + (cf / ca) * (1 - m_a)
        q_bf = (cb / cf) * m_b + (cf / cb) * (1 - m_b)
        den = ca * ca + cb * cb
        return ((ca * ca) / den * q_af + (cb * cb) / den * q_bf,)


@register(
    dict(
        id="qcb",
        name="Qcb",
        latex="$Q_{CB}$",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        paper="Chen & Blum, Image and Vision Computing 2009",
        toolkits="VIFB (metricsQcb)",
        tolerance=1e-12,
        symmetric=True,
        summary="saliency-weighted preservation of CSF-filtered local contrast",
    )
)
def qcb_kernel(batch: Any) -> Any:
    return _backend.map_images(_qcb_stack, batch.a, batch.b, batch.f)[0]


def _qcb_stack(a: Any, b: Any, f: Any) -> tuple[Any]:
    h, w = f.shape[-2:]
    csf = _csf_spectrum(h, w)
    responses = [g for x in (a, b, f) for g in _contrast_responses(x, csf)]
    (total,) = _backend.pixel_sums(_qcb_terms, *responses)
    return (total / (h * w),)


def qcb(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """Chen-Blum Qcb of the fused image (see the module docstring)."""
    return _functional("qcb", fused, ir, vis, convention, data_range)
