"""Q^AB/F: Xydeas & Petrovic's edge-information preservation.

Sobel responses by 2-D convolution with zero padding ('same'), strength ``g = sqrt(Sx^2 + Sy^2)``,
orientation ``alpha = atan(Sy / Sx)`` (atan, not atan2; ``pi/2`` where Sx = 0). For each source X:

* relative strength ``G_XF = gF/gX`` if gX > gF, ``gX/gF`` if gX < gF, and where gX == gF the
  reference code's **quirk** ``G = gF`` (``qabf_equal_strength="raw"``; ``"one"`` uses 1);
* relative orientation ``A_XF = 1 - |alpha_X - alpha_F| / (pi/2)``;
* ``Q_XF = Tg / (1 + exp(kg (G - Dg))) * Ta / (1 + exp(ka (A - Da)))`` with Tg = 0.9994, kg = -15,
  Dg = 0.5, Ta = 0.9879, ka = -22, Da = 0.8;

``Qabf = sum(Q_AF gA + Q_BF gB) / sum(gA + gB)``; NaN when both sources are flat.
TANG-old computed it on 0..1 data (``gradient_data_scale = 1``), where the ``G = gF`` quirk bites.

Reference: C. S. Xydeas, V. Petrovic, "Objective image fusion performance measure", Electronics
Letters 36(4), 2000; code: the "Richang Hong 2007" implementation shared by TANG, VIFB and CDD.
"""

from __future__ import annotations

import math
from typing import Any

from fusionbench.metrics import _backend
from fusionbench.metrics._common import sobel_conv2_same, sum_hw
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

TG, KG, DG = 0.9994, -15.0, 0.5
TA, KA, DA = 0.9879, -22.0, 0.8


def strength_and_orientation(batch: Any, role: str) -> tuple[Any, Any]:
    """Sobel strength and atan orientation of one role, computed once per batch."""

    def make() -> tuple[Any, Any]:
        xp = batch.xp
        x = getattr(batch, role)
        scale = batch.convention.gradient_data_scale
        if scale != 255.0:
            x = x * (scale / 255.0)
        sx, sy = sobel_conv2_same(x)
        g = xp.sqrt(sx * sx + sy * sy)
        zero = sx == 0
        alpha = xp.where(zero, math.pi / 2, xp.atan(sy / xp.where(zero, 1.0, sx)))
        return g, alpha

    return batch.cached(f"sobel_{role}", make)


def _preservation(gx: Any, ax: Any, gf: Any, af: Any, equal_rule: str) -> Any:
    xp = _backend.namespace(gx)
    equal_value = gf if equal_rule == "raw" else xp.ones_like(gf)
    ratio = xp.where(gx > gf, gf / xp.where(gx > gf, gx, 1.0), gx / xp.where(gx < gf, gf, 1.0))
    g_rel = xp.where(gx == gf, equal_value, ratio)
    a_rel = 1.0 - xp.abs(ax - af) / (math.pi / 2)
    q_g = TG / (1.0 + xp.exp(KG * (g_rel - DG)))
    q_a = TA / (1.0 + xp.exp(KA * (a_rel - DA)))
    return q_g * q_a


@register(
    dict(
        id="qabf",
        name="Qabf",
        latex="$Q^{AB/F}$",
        higher_is_better=True,
        value_range=(0.0, 1.0),
        paper="Xydeas & Petrovic, Electronics Letters 2000",
        toolkits="TANG, VIFB, CDD (same code)",
        tolerance=1e-12,
        symmetric=True,
        summary="Sobel edge strength/orientation preservation, weighted by source edge strength",
    )
)
def qabf_kernel(batch: Any) -> Any:
    rule = batch.convention.qabf_equal_strength
    gf, af = strength_and_orientation(batch, "f")
    ga, aa = strength_and_orientation(batch, "a")
    gb, ab = strength_and_orientation(batch, "b")
    q_af = _preservation(ga, aa, gf, af, rule)
    q_bf = _preservation(gb, ab, gf, af, rule)
    return sum_hw(q_af * ga + q_bf * gb) / sum_hw(ga + gb)


def qabf(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang",
        data_range: float | None = None) -> Any:
    """Q^AB/F edge preservation (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("qabf", fused, ir, vis, convention, data_range)
