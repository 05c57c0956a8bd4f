"""Metric metadata (pyiqa-style) and the metric registry.

Every metric module defines a batch kernel ``kernel(batch: FusionBatch) -> (M,) array`` and
registers it with a :class:`MetricSpec`. The public functional form (``qabf(fused, ir, vis)``)
and :func:`fusionbench.metrics.compute` both go through :func:`evaluate`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fusionbench.registry import Registry

Kernel = Callable[[Any], Any]


@dataclass(frozen=True)
class MetricSpec:
    """What a user needs to know about a metric, and the kernel that computes it."""

    id: str
    name: str
    latex: str
    higher_is_better: bool
    #: Typical range of values under the default convention (None = unbounded on that side).
    value_range: tuple[float | None, float | None]
    #: The paper that defines the metric.
    paper: str
    #: The reference implementations it is calibrated against (see docs/calibration.md).
    toolkits: str
    #: Worst relative error reached against the reference values (float64), as pinned by the
    #: calibration tests; documents how far a number can be trusted.
    tolerance: float
    kernel: Kernel = field(repr=False, compare=False)
    #: The value does not change when IR and VIS are swapped.
    symmetric: bool = True
    #: One-line definition for the metric card.
    summary: str = ""

    def as_row(self) -> dict[str, object]:
        lo, hi = self.value_range
        return {
            "id": self.id,
            "name": self.name,
            "latex": self.latex,
            "better": "higher" if self.higher_is_better else "lower",
            "range": f"{'-inf' if lo is None else f'{lo:g}'} .. {'inf' if hi is None else f'{hi:g}'}",
            "definition": self.summary,
            "paper": self.paper,
            "calibrated against": self.toolkits,
            "tolerance": f"{self.tolerance:.0e}",
        }


METRICS: Registry[MetricSpec] = Registry("metric")


def register(spec_kwargs: dict[str, Any]) -> Callable[[Kernel], Kernel]:
    """Decorator: register ``kernel`` under ``spec_kwargs['id']`` with that metadata."""

    def wrap(kernel: Kernel) -> Kernel:
        METRICS.add(spec_kwargs["id"], MetricSpec(kernel=kernel, **spec_kwargs))
        return kernel

    return wrap
