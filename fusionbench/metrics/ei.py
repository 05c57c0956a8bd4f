"""EI: edge intensity of the fused image.

Mean Sobel gradient magnitude, ``mean(sqrt(gx^2 + gy^2))``, with MATLAB ``fspecial('sobel')`` and its
transpose applied by correlation with replicate padding (VIFB ``metricsEdge_intensity``).

Reference: B. Rajalingam, R. Priya, "Hybrid multimodality medical image fusion technique for
feature enhancement in medical diagnosis", IJESI 2018; VIFB (Zhang et al., CVPRW 2020).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._shared import integer_levels
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
    levels = integer_levels(batch, "f")
    if levels is not None:
        return np.array([_magnitude_sum_integer(x) for x in levels]) / (batch.height * batch.width)
    (total,) = _backend.pixel_sums(_magnitude, batch.f, per_band=_sobel, halo=1)
    return total / (batch.height * batch.width)


def _magnitude_sum_integer(levels: np.ndarray) -> float:
    """``sum(sqrt(gx^2 + gy^2))`` of a uint8 image (H, W): the Sobel responses are exact in int16
    (OpenCV, replicate padding), so each term is one correctly rounded square root. Band by band."""
    h, w = levels.shape
    total = 0.0
    for read, keep in _backend.bands(h, w, halo=1):
        band = levels[read]
        shape = (keep.stop - keep.start, w)
        gx, gy = (_backend.scratch(f"ei_g{k}", shape) for k in "xy")
        for out, (rows, cols) in ((gx, (_DIFF, _SMOOTH)), (gy, (_SMOOTH, _DIFF))):
            np.copyto(out, cv2.sepFilter2D(band, cv2.CV_16S, cols, rows, borderType=cv2.BORDER_REPLICATE)[keep])
        total += float(cv2.magnitude(gx, gy, magnitude=gx).sum())
    return total


def _sobel(f: Any) -> tuple[Any, Any]:
    return _backend.sep_filter(f, _DIFF, _SMOOTH, "replicate"), _backend.sep_filter(f, _SMOOTH, _DIFF, "replicate")


def _magnitude(gx: Any, gy: Any) -> tuple[Any]:
    xp = _backend.namespace(gx)
    return (xp.sqrt(gx * gx + gy * gy),)


def ei(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Edge intensity of the fused image (see the module docstring)."""
    return _functional("ei", fused, ir, vis, convention, data_range)
