"""CC: correlation coefficient between the fused image and each source, averaged.

``CC = (corr(A, F) + corr(B, F)) / 2`` (Pearson over all pixels, float 0..255). The TANG code
subtracts mean(A) instead of mean(B) in the numerator of the B term; as sum(F - mean F) = 0 this is
a no-op up to rounding (~1e-15) and is not reproduced.

Reference: the fusion surveys' correlation coefficient (e.g. Ma et al., Inf. Fusion 45, 2019).
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
        id="cc",
        name="CC",
        latex="CC",
        higher_is_better=True,
        value_range=(-1.0, 1.0),
        paper="Ma et al., Inf. Fusion 2019 (survey)",
        toolkits="TANG, CDD (VIFB has none)",
        tolerance=1e-12,
        symmetric=True,
        summary="mean of corr(IR, F) and corr(VIS, F)",
    )
)
def cc_kernel(batch: Any) -> Any:
    exact = moments(batch)
    if exact is not None:  # integer levels: exact covariances
        var_f = exact.scaled_cov("f", "f")
        c_a = correlation(exact.scaled_cov("a", "f"), exact.scaled_cov("a", "a"), var_f)
        c_b = correlation(exact.scaled_cov("b", "f"), exact.scaled_cov("b", "b"), var_f)
        return (c_a + c_b) / 2.0
    c_a, c_b = correlations(lambda f, a, b: [(a, f), (b, f)], batch.f, batch.a, batch.b)
    return (c_a + c_b) / 2.0


def cc(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Mean correlation of the fused image with the sources (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("cc", fused, ir, vis, convention, data_range)
