"""AG: average gradient of the fused image.

Per pixel ``(gx, gy)`` = MATLAB/numpy ``gradient`` (central differences inside, one-sided at the
first and last row/column) and ``s = sqrt((gx^2 + gy^2) / 2)``.

* ``tang``/``vifb`` (``ag_denominator="interior"``): ``AG = sum(s) / ((M-1)(N-1))`` over all M N pixels;
* ``cdd`` (``"all"``): ``AG = mean(s)``, i.e. TANG x (M-1)(N-1)/(M N).

Reference: G. Cui et al., "Detail preserved fusion of visible and infrared images using regional
saliency extraction and multi-scale image decomposition", Optics Communications 341, 2015.
Needs M, N >= 2.
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


def matlab_gradient(x: Any, axis: int) -> Any:
    """``numpy.gradient`` with unit spacing along ``axis`` (-1 columns, -2 rows), for numpy and torch."""
    xp = _backend.namespace(x)
    n = x.shape[axis]

    def take(start: int, stop: int) -> Any:
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, stop)
        return x[tuple(index)]

    first = take(1, 2) - take(0, 1)
    last = take(n - 1, n) - take(n - 2, n - 1)
    if n == 2:
        return xp.concat([first, last], axis=axis)
    inner = (take(2, n) - take(0, n - 2)) / 2.0
    return xp.concat([first, inner, last], axis=axis)


@register(
    dict(
        id="ag",
        name="AG",
        latex="AG",
        higher_is_better=True,
        value_range=(0.0, None),
        paper="Cui et al., Optics Communications 2015",
        toolkits="TANG, VIFB ((M-1)(N-1) denominator), CDD (mean over M N)",
        tolerance=1e-12,
        symmetric=True,
        summary="sum over pixels of sqrt((gx^2 + gy^2)/2) / ((M-1)(N-1)), central differences",
    )
)
def ag_kernel(batch: Any) -> Any:
    m, n = batch.height, batch.width
    if m < 2 or n < 2:
        raise ValueError(f"AG needs an image of at least 2 x 2 pixels, got {m} x {n}")
    levels = integer_levels(batch, "f")
    if levels is not None:
        total = np.array([_doubled_gradient_magnitude_sum(x) for x in levels]) / (2.0 * math.sqrt(2.0))
    else:
        (total,) = _backend.pixel_sums(_gradient_magnitude, batch.f, per_band=_gradients, halo=1)
    if batch.convention.ag_denominator == "all":
        return total / (m * n)
    return total / ((m - 1) * (n - 1))


def _doubled_gradient_magnitude_sum(levels: np.ndarray) -> float:
    """``sum(sqrt((2 gx)^2 + (2 gy)^2))`` of a uint8 image (H, W), gx, gy as ``numpy.gradient``.

    ``2 gx`` is the integer ``x[j+1] - x[j-1]`` inside (OpenCV's ``Sobel`` with ``ksize=1``, exact in
    int16) and twice the one-sided difference on the first and last column (where replicate
    padding gives the one-sided difference itself), likewise down the rows; the squares and their sum
    are exact integers, so each term is one correctly rounded square root. Band by band (halo 1).
    """
    h, w = levels.shape
    total = 0.0
    for read, keep in _backend.bands(h, w, halo=1):
        band = levels[read]
        shape = (keep.stop - keep.start, w)
        dx, dy = (_backend.scratch(f"ag_d{k}", shape) for k in "xy")
        for out, order in ((dx, (1, 0)), (dy, (0, 1))):
            sobel = cv2.Sobel(band, cv2.CV_16S, *order, ksize=1, borderType=cv2.BORDER_REPLICATE)
            np.copyto(out, sobel[keep])
        dx[:, 0] *= 2.0
        dx[:, -1] *= 2.0
        if read.start == 0:
            dy[0] *= 2.0
        if read.stop == h:
            dy[-1] *= 2.0
        total += float(cv2.magnitude(dx, dy, magnitude=dx).sum())
    return total


def _gradients(f: Any) -> tuple[Any, Any]:
    return matlab_gradient(f, -1), matlab_gradient(f, -2)


def _gradient_magnitude(gx: Any, gy: Any) -> tuple[Any]:
    """Per pixel ``sqrt((gx^2 + gy^2) / 2)``."""
    xp = _backend.namespace(gx)
    return (xp.sqrt((gx * gx + gy * gy) / 2.0),)


def ag(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Average gradient of the fused image (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("ag", fused, ir, vis, convention, data_range)
