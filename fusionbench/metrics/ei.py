"""EI: edge intensity of the fused image.

Mean Sobel gradient magnitude, ``mean(sqrt(gx^2 + gy^2))``, with MATLAB ``fspecial('sobel')`` and its
transpose applied by correlation with replicate padding (VIFB ``metricsEdge_intensity``).

Reference: B. Rajalingam, R. Priya, "Hybrid multimodality medical image fusion technique for
feature enhancement in medical diagnosis", IJESI 2018; VIFB (Zhang et al., CVPRW 2020).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

_SMOOTH = np.array([1.0, 2.0, 1.0])
_DIFF = np.array([1.0, 0.0, -1.0])


@register(
    dict(
        id="ei",
        name="EI",
        latex="EI",
        higher_is_better=True,
        value_range=(0.0, None),
        paper="Rajalingam & Priya, IJESI 2018",
        toolkits="VIFB (metricsEdge_intensity)",
        tolerance=1e-12,
        symmetric=True,
        summary="mean Sobel gradient magnitude of the fused image (replicate padding)",
    )
)
def ei_kernel(batch: Any) -> Any:
    (total,) = _backend.pixel_sums(_magnitude, batch.f, per_band=_sobel, halo=1)
    return total / (batch.height * batch.width)


def _sobel(f: Any) -> tuple[Any, Any]:
    return _backend.sep_filter(f, _DIFF, _SMOOTH, "replicate"), _backend.sep_filter(f, _SMOOTH, _DIFF, "replicate")


def _magnitude(gx: Any, gy: Any) -> tuple[Any]:
    xp = _backend.namespace(gx)
    return (xp.sqrt(gx * gx + gy * gy),)


def ei(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Edge intensity of the fused image (see the module docstring)."""
    return _functional("ei", fused, ir, vis, convention, data_range)
