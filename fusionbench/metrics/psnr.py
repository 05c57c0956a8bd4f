"""PSNR and MSE between the fused image and the two sources (three incompatible definitions).

With ``MSE_X = mean((F - X)^2)`` on 0..255 data and ``MSE = (MSE_A + MSE_B) / 2``:

* ``standard`` (``tang-corrected``): ``PSNR = 10 log10(255^2 / MSE)``, MSE on 0..255;
* ``tang``: the toolkit computes MSE on 0..1 data and ``PSNR = 20 log10(255 / sqrt(MSE_01))``,
  i.e. the standard value **plus 20 log10(255) = 48.13 dB**; its MSE is on the 0..1 scale;
* ``vifb``: VIFB's "mse" of a pair is ``sqrt(sum((X - F)^2)) / (M N)`` (neither MSE nor RMSE); its
  ``mse``/RMSE metric is the mean of the two, and ``PSNR = 20 log10(255 / sqrt(that mean))``;
* ``cdd``: MSE on 0..255, ``PSNR = 10 log10(max(F)^2 / MSE)`` (peak = the fused image's maximum).

Reference: the PSNR of the fusion surveys (e.g. Ma et al., Inf. Fusion 45, 2019); definitions read
from TANG ``PSNR_evaluation.m``/``MSE_evaluation.m``, VIFB ``metricsPsnr.m``/``metricsRmse.m`` and
CDD ``Evaluator.PSNR``/``MSE``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fusionbench.metrics._common import mean_hw, sum_hw
from fusionbench.metrics._shared import moments
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register


def _pair_sse(batch: Any) -> tuple[Any, ...] | None:
    """Exact ``sum((F - A)^2)`` and ``sum((F - B)^2)`` per image for integer levels, else None."""
    exact = moments(batch)
    if exact is None:
        return None
    return tuple(np.array(exact.sum_sq_diff("f", x), dtype=np.float64) for x in "ab")


def _mse_255(batch: Any) -> Any:
    def make() -> Any:
        sse = _pair_sse(batch)
        if sse is not None:
            pixels = batch.height * batch.width
            return (sse[0] / pixels + sse[1] / pixels) / 2.0
        da, db = batch.f - batch.a, batch.f - batch.b
        return (mean_hw(da * da) + mean_hw(db * db)) / 2.0

    return batch.cached("mse_255", make)


def _vifb_pair_error(batch: Any) -> Any:
    xp = batch.xp
    pixels = batch.height * batch.width
    sse = _pair_sse(batch)
    if sse is not None:
        return (np.sqrt(sse[0]) / pixels + np.sqrt(sse[1]) / pixels) / 2.0
    da, db = batch.f - batch.a, batch.f - batch.b
    return (xp.sqrt(sum_hw(da * da)) / pixels + xp.sqrt(sum_hw(db * db)) / pixels) / 2.0


@register(
    dict(
        id="mse",
        name="MSE",
        latex="MSE",
        higher_is_better=False,
        value_range=(0.0, None),
        paper="Ma et al., Inf. Fusion 2019 (survey)",
        toolkits="TANG (0..1 scale), VIFB (its RMSE variant), CDD (0..255)",
        tolerance=1e-12,
        symmetric=True,
        summary="mean of MSE(F, IR) and MSE(F, VIS); scale per convention",
    )
)
def mse_kernel(batch: Any) -> Any:
    variant = batch.convention.psnr
    if variant == "tang":
        return _mse_255(batch) / (255.0 * 255.0)
    if variant == "vifb":
        return _vifb_pair_error(batch)
    return _mse_255(batch)


@register(
    dict(
        id="psnr",
        name="PSNR",
        latex="PSNR",
        higher_is_better=True,
        value_range=(0.0, None),
        paper="Ma et al., Inf. Fusion 2019 (survey)",
        toolkits="TANG (+48.13 dB), VIFB, CDD (peak = max F)",
        tolerance=1e-12,
        symmetric=True,
        summary="peak signal-to-noise ratio of F against the two sources (dB)",
    )
)
def psnr_kernel(batch: Any) -> Any:
    xp = batch.xp
    variant = batch.convention.psnr
    if variant == "vifb":
        return 20.0 * xp.log10(255.0 / xp.sqrt(_vifb_pair_error(batch)))
    mse = _mse_255(batch)
    if variant == "cdd":
        peak = xp.max(batch.f, axis=(-2, -1))
        return 10.0 * xp.log10(peak * peak / mse)
    standard = 10.0 * xp.log10(255.0 * 255.0 / mse)
    if variant == "tang":
        return standard + 20.0 * math.log10(255.0)
    return standard


def mse(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """MSE of the fused image against the two sources (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("mse", fused, ir, vis, convention, data_range)


def psnr(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """PSNR of the fused image against the two sources (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("psnr", fused, ir, vis, convention, data_range)
