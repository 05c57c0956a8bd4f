"""SF: spatial frequency of the fused image.

``SF = sqrt(RF^2 + CF^2)`` with ``RF^2`` the mean squared difference between vertically adjacent
pixels and ``CF^2`` between horizontally adjacent ones.

* ``tang``/``cdd`` (``sf_denominator="differences"``): each mean over its (M-1) N or M (N-1) differences;
* ``vifb`` (``"pixels"``): both sums divided by M N (slightly smaller); a colour fused image is
  scored as the H x 3W matrix [R G B] (VIFB's ``size`` quirk), not per channel;
* ``tang-old``: computed on 0..1 data (``gradient_data_scale = 1``).

Reference: A. M. Eskicioglu, P. S. Fisher, "Image quality measures and their performance",
IEEE Trans. Commun. 43(12), 1995.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._common import mean_hw, sum_hw
from fusionbench.metrics._shared import integer_levels
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register


@register(
    dict(
        id="sf",
        name="SF",
        latex="SF",
        higher_is_better=True,
        value_range=(0.0, None),
        paper="Eskicioglu & Fisher, IEEE Trans. Commun. 1995",
        toolkits="TANG, CDD (VIFB divides by M N)",
        tolerance=1e-12,
        symmetric=True,
        summary="sqrt(mean vertical diff^2 + mean horizontal diff^2) of the fused image",
    )
)
def sf_kernel(batch: Any) -> Any:
    xp = batch.xp
    levels = integer_levels(batch, "f")
    if levels is not None and batch.n_channels == 1 and batch.convention.gradient_data_scale == 255.0:
        return np.array([_sf_integer(x, batch.convention.sf_denominator) for x in levels])
    f = batch.f * (batch.convention.gradient_data_scale / 255.0)
    if batch.n_channels == 3:
        # VIFB quirk: size() of an H x W x 3 array gives n = 3W, so the code scores the H x 3W matrix
        # [R G B] (channels side by side, seams included), not each channel. Same value per channel.
        n, h, w = batch.n_images, batch.height, batch.width
        side = xp.reshape(xp.permute_dims(xp.reshape(f, (n, 3, h, w)), (0, 2, 1, 3)), (n, h, 3 * w))
        value = _sf(side, batch.convention.sf_denominator)
        return xp.reshape(xp.stack([value] * 3, axis=1), (n * 3,))
    return _sf(f, batch.convention.sf_denominator)


def _sf_integer(levels: np.ndarray, denominator: str) -> float:
    """SF of one uint8 image (H, W): the sums of squared differences of adjacent levels are exact
    integers (OpenCV's ``norm(x, y, NORM_L2SQR)`` of the image against itself shifted by one row or
    column), so only the final divisions and square root round."""
    h, w = levels.shape
    rows = cv2.norm(levels[1:], levels[:-1], cv2.NORM_L2SQR) if h > 1 else 0.0
    cols = cv2.norm(levels[:, 1:], levels[:, :-1], cv2.NORM_L2SQR) if w > 1 else 0.0
    if denominator == "pixels":
        return float(np.sqrt((rows + cols) / (h * w)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sqrt(np.float64(rows) / ((h - 1) * w) + np.float64(cols) / (h * (w - 1))))


def _sf(f: Any, denominator: str) -> Any:
    xp = _backend.namespace(f)
    rows = f[:, 1:, :] - f[:, :-1, :]
    cols = f[:, :, 1:] - f[:, :, :-1]
    if denominator == "pixels":
        pixels = f.shape[-2] * f.shape[-1]
        return xp.sqrt((sum_hw(rows * rows) + sum_hw(cols * cols)) / pixels)
    return xp.sqrt(mean_hw(rows * rows) + mean_hw(cols * cols))


def sf(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Spatial frequency of the fused image (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("sf", fused, ir, vis, convention, data_range)
