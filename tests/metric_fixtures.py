"""Small deterministic synthetic triples for the metric property tests."""

from __future__ import annotations

import numpy as np


def synthetic_triple(seed: int = 0, shape: tuple[int, int] = (72, 96), colour: bool = False):
    """A plausible (fused, ir, vis) uint8 triple: smooth structure, a hot target, noise.

    ``colour=True`` makes VIS and the fused image RGB.
    """
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    background = 60 + 40 * np.sin(xx / 7.0 + seed) * np.cos(yy / 11.0)
    target = 150 * np.exp(-((xx - w * 0.6) ** 2 + (yy - h * 0.4) ** 2) / (2 * (0.08 * w) ** 2))
    ir = np.clip(background * 0.5 + target + rng.normal(0, 6, shape), 0, 255)
    texture = 90 + 60 * np.sign(np.sin(xx / 3.0)) * np.sign(np.cos(yy / 5.0))
    vis = np.clip(texture + 30 * np.cos(yy / 9.0) + rng.normal(0, 8, shape), 0, 255)
    fused = np.clip(0.55 * ir + 0.45 * vis + rng.normal(0, 3, shape), 0, 255)
    ir_u8, vis_u8, fused_u8 = (np.round(x).astype(np.uint8) for x in (ir, vis, fused))
    if colour:
        tint = np.array([1.0, 0.92, 0.8])
        vis_rgb = np.clip(vis[..., None] * tint + rng.normal(0, 4, (*shape, 3)), 0, 255).round().astype(np.uint8)
        fused_rgb = np.clip(fused[..., None] * tint, 0, 255).round().astype(np.uint8)
        return fused_rgb, ir_u8, vis_rgb
    return fused_u8, ir_u8, vis_u8
