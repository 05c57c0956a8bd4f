"""CE: cross entropy between each source's and the fused image's gray-level distribution (lower is better).

``CE = (KL(A || F) + KL(B || F)) / 2`` in bits, ``KL(X || F) = sum_i p_X(i) log2(p_X(i) / p_F(i))``
over the 256-bin histograms, skipping bins where either probability is zero (VIFB
``metricsCross_entropy``).

Reference: D. M. Bulanon, T. F. Burks, V. Alchanatis, "Image fusion of visible and thermal images
for fruit detection", Biosystems Engineering 103(1), 2009; VIFB (Zhang et al., CVPRW 2020).
"""

from __future__ import annotations

from typing import Any

from fusionbench.metrics import _backend
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.en import level_histogram
from fusionbench.metrics.spec import register


def _kl_bits(p_counts: Any, q_counts: Any) -> Any:
    xp = _backend.namespace(p_counts)
    total = xp.sum(p_counts, axis=-1, keepdims=True)
    p, q = p_counts / total, q_counts / total
    both = (p > 0) & (q > 0)
    ratio = xp.where(both, p, xp.ones_like(p)) / xp.where(both, q, xp.ones_like(q))
    return xp.sum(xp.where(both, p * xp.log2(ratio), 0.0), axis=-1)


@register(
    dict(
        id="ce",
        name="CE",
        latex="CE",
        higher_is_better=False,
        value_range=(0.0, None),
        paper="Bulanon, Burks & Alchanatis, Biosystems Engineering 2009",
        toolkits="VIFB (metricsCross_entropy)",
        tolerance=1e-12,
        symmetric=True,
        summary="mean KL divergence (bits) of the sources' histograms from the fused image's",
    )
)
def ce_kernel(batch: Any) -> Any:
    hf, ha, hb = (level_histogram(batch, r) for r in "fab")
    return (_kl_bits(ha, hf) + _kl_bits(hb, hf)) / 2.0


def ce(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None) -> Any:
    """Cross entropy of the sources against the fused image (see the module docstring)."""
    return _functional("ce", fused, ir, vis, convention, data_range)
