"""SD: standard deviation of the fused image.

``SD = sqrt(mean((F - mean F)^2))`` (population SD, float 0..255). TANG, VIFB ("Variance", per
channel) and CDD agree. TANG-old applied it to the uint8 image in saturating integer arithmetic
(values about 9 in ``Metric_TNO.xlsx``); ``tang-old`` reproduces it (``sd_uint8``), nothing else does.

Reference: Y.-J. Rao, "In-fibre Bragg grating sensors", Meas. Sci. Technol. 8(4), 1997 (as cited
by the fusion surveys, e.g. Ma et al., Inf. Fusion 45, 2019).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.metrics._common import centred, mean_hw
from fusionbench.metrics._shared import moments
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register


@register(
    dict(
        id="sd",
        name="SD",
        latex="SD",
        higher_is_better=True,
        value_range=(0.0, 127.5),
        paper="Rao, Meas. Sci. Technol. 1997; Ma et al., Inf. Fusion 2019 (survey)",
        toolkits="TANG, VIFB, CDD",
        tolerance=1e-12,
        symmetric=True,
        summary="population standard deviation of the fused image",
    )
)
def sd_kernel(batch: Any) -> Any:
    xp = batch.xp
    if batch.convention.sd_uint8:
        # TANG-old: uint8(F - mean) rounds and clips at 0, and .^2 saturates at 255.
        deviation = xp.clip(xp.floor(centred(batch.f) + 0.5), 0.0, 255.0)
        return xp.sqrt(mean_hw(xp.clip(deviation * deviation, None, 255.0)))
    exact = moments(batch)
    if exact is not None:  # integer levels: SD = sqrt(n^2 var) / n from the exact scaled variance
        return np.sqrt(np.array(exact.scaled_cov("f", "f"), dtype=np.float64)) / exact.n
    c = centred(batch.f)
    return xp.sqrt(mean_hw(c * c))


def sd(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Standard deviation of the fused image (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("sd", fused, ir, vis, convention, data_range)
