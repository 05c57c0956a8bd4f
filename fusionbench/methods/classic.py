"""Pixel-wise baselines: the average and the maximum of the two sources.

Both work on any shape, so a batch is fused in one call.

>>> import numpy as np
>>> ir, vis = np.float32([[0.2, 0.8]]), np.float32([[0.6, 0.4]])
>>> Average().fuse(ir, vis), Maximum().fuse(ir, vis)
(array([[0.4, 0.6]], dtype=float32), array([[0.6, 0.8]], dtype=float32))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fusionbench.methods.base import ClassicMethod, register_method


@register_method
@dataclass(frozen=True)
class Average(ClassicMethod):
    """``F = (IR + VIS) / 2``."""

    id = "average"
    name = "Average"
    description = "pixel-wise mean of IR and VIS"

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        return (ir + vis_y) / 2

    _fuse_batch = _fuse


@register_method
@dataclass(frozen=True)
class Maximum(ClassicMethod):
    """``F = max(IR, VIS)``, pixel by pixel."""

    id = "max"
    name = "Max"
    description = "pixel-wise maximum of IR and VIS"

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        return np.maximum(ir, vis_y)

    _fuse_batch = _fuse
