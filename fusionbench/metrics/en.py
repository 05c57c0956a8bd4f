"""EN: Shannon entropy of the fused image.

``EN(F) = -sum_{i=0}^{255} p_i log2 p_i`` with ``p`` the normalised 256-bin histogram of the uint8
fused image (empty bins skipped). Bits in every convention.

Reference: J. W. Roberts et al., "Assessment of image fusion procedures using entropy, image quality,
and multispectral classification", J. Appl. Remote Sens. 2(1), 2008. TANG: MATLAB ``entropy``
(``imhist`` with 256 bins); VIFB: the same loop, per channel for colour fused images.

Example
-------
>>> import numpy as np
>>> from fusionbench.metrics import en
>>> f = np.array([[0, 0], [255, 255]], dtype=np.uint8)
>>> en(f, f, f)
1.0
"""

from __future__ import annotations

from typing import Any

from fusionbench.metrics import _backend
from fusionbench.metrics._common import entropy_from_counts
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register


def level_histogram(batch: Any, role: str) -> Any:
    """256-bin histogram of the uint8 levels of ``f``, ``a`` or ``b``, computed once per batch
    (shared by EN, MI and CE)."""
    return batch.cached(f"hist_{role}", lambda: _backend.histogram256(batch.levels(role)))


def fused_histogram(batch: Any) -> Any:
    """256-bin histogram of the fused image's uint8 levels, shared by EN, MI and CE."""
    return level_histogram(batch, "f")


@register(
    dict(
        id="en",
        name="EN",
        latex="EN",
        higher_is_better=True,
        value_range=(0.0, 8.0),
        paper="Roberts et al., J. Appl. Remote Sens. 2008",
        toolkits="TANG, VIFB, CDD",
        tolerance=1e-12,
        symmetric=True,
        summary="Shannon entropy (bits) of the fused image's 256-bin histogram",
    )
)
def en_kernel(batch: Any) -> Any:
    return entropy_from_counts(fused_histogram(batch), 2.0)


def en(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """EN of the fused image (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("en", fused, ir, vis, convention, data_range)
