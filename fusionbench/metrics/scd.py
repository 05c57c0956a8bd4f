"""SCD: the sum of the correlations of differences.

``SCD = corr2(F - B, A) + corr2(F - A, B)`` with ``corr2`` the Pearson correlation over all pixels
(float 0..255). Zero variance of a source or a difference image gives 0/0 = NaN, returned as NaN.

Reference: V. Aslantas, E. Bendes, "A new image quality metric for image fusion: the sum of the
correlations of differences", AEU Int. J. Electron. Commun. 69(12), 2015. TANG (``corr2``) and CDD.
"""

from __future__ import annotations

from typing import Any

from fusionbench.metrics._common import correlations
from fusionbench.metrics._shared import correlation, moments
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register


@register(
    dict(
        id="scd",
        name="SCD",
        latex="SCD",
        higher_is_better=True,
        value_range=(-2.0, 2.0),
        paper="Aslantas & Bendes, AEU 2015",
        toolkits="TANG, CDD (VIFB has none)",
        tolerance=1e-12,
        symmetric=True,
        summary="corr2(F - VIS, IR) + corr2(F - IR, VIS)",
    )
)
def scd_kernel(batch: Any) -> Any:
    exact = moments(batch)
    if exact is not None:  # integer levels: exact covariances
        f_minus_b, f_minus_a = {"f": 1, "b": -1}, {"f": 1, "a": -1}
        var_a, var_b = exact.scaled_cov("a", "a"), exact.scaled_cov("b", "b")
        c1 = correlation(exact.scaled_cov(f_minus_b, "a"), exact.scaled_cov(f_minus_b, f_minus_b), var_a)
        c2 = correlation(exact.scaled_cov(f_minus_a, "b"), exact.scaled_cov(f_minus_a, f_minus_a), var_b)
        return c1 + c2
    c1, c2 = correlations(lambda f, a, b: [(f - b, a), (f - a, b)], batch.f, batch.a, batch.b)
    return c1 + c2


def scd(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """Sum of the correlations of differences (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("scd", fused, ir, vis, convention, data_range)
