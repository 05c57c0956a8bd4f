"""Colour policy of the methods: fuse the luminance, keep the VIS chrominance.

BT.601 full-range YCbCr on [0, 1], as ``cv2.COLOR_RGB2YCrCb`` computes it on float images and as
SeAFusion and PIAFusion write it::

    Y  = 0.299 R + 0.587 G + 0.114 B
    Cr = (R - Y) * 0.713 + 0.5
    Cb = (B - Y) * 0.564 + 0.5

and back (``cv2.COLOR_YCrCb2RGB``)::

    R = Y + 1.403 (Cr - 0.5)
    G = Y - 0.714 (Cr - 0.5) - 0.344 (Cb - 0.5)
    B = Y + 1.773 (Cb - 0.5)

The rounded coefficients make the round trip inexact by at most about 0.1 grey level, so
``merge_y(*split_y(rgb))`` returns ``rgb`` within one level. The RGB result is clipped to [0, 1]
and rounded half up to ``uint8``; it is never min-max stretched (SeAFusion's test script stretches
its output; fusionbench does not, so that a method's output is not rescaled per image).

>>> import numpy as np
>>> rgb = np.array([[[255, 0, 0], [10, 200, 30]]], dtype=np.uint8)
>>> y, cb, cr = split_y(rgb)
>>> merge_y(y, cb, cr)
array([[[255,   0,   0],
        [ 10, 200,  30]]], dtype=uint8)
"""

from __future__ import annotations

import numpy as np

from fusionbench.methods.base import MethodError

#: BT.601 luma weights for R, G, B.
LUMA = (0.299, 0.587, 0.114)
CR_SCALE, CB_SCALE = 0.713, 0.564
R_FROM_CR, G_FROM_CR, G_FROM_CB, B_FROM_CB = 1.403, -0.714, -0.344, 1.773


def split_y(vis_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split an RGB image into ``(y, cb, cr)``, each float32 ``(H, W)`` on [0, 1].

    ``vis_rgb`` is ``(H, W, 3)`` in RGB order: ``uint8`` (divided by 255) or float on [0, 1].
    """
    rgb = _unit_rgb(vis_rgb)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    cr = (r - y) * CR_SCALE + 0.5
    cb = (b - y) * CB_SCALE + 0.5
    return y.astype(np.float32), cb.astype(np.float32), cr.astype(np.float32)


def merge_y(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Rebuild ``uint8`` RGB ``(H, W, 3)`` from a fused luminance ``y`` and the VIS ``cb``, ``cr``.

    All three are ``(H, W)`` on [0, 1]. RGB is clipped to [0, 1] and rounded half up to 0..255.
    """
    y, cb, cr = (np.asarray(c, dtype=np.float64) for c in (y, cb, cr))
    if not (y.ndim == 2 and y.shape == cb.shape == cr.shape):
        raise MethodError(f"merge_y: expected three (H, W) planes of one shape, got {y.shape}, {cb.shape}, {cr.shape}")
    dcr, dcb = cr - 0.5, cb - 0.5
    rgb = np.stack(
        [y + R_FROM_CR * dcr, y + G_FROM_CR * dcr + G_FROM_CB * dcb, y + B_FROM_CB * dcb],
        axis=-1,
    )
    return to_uint8(rgb)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] and round half up to ``uint8`` 0..255 (no stretching)."""
    return np.floor(np.clip(np.asarray(x, dtype=np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _unit_rgb(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != 3:
        raise MethodError(f"split_y: expected an RGB image of shape (H, W, 3), got shape {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    if x.dtype.kind != "f":
        raise MethodError(f"split_y: expected uint8 or float pixels on [0, 1], got dtype {x.dtype}")
    if not np.isfinite(x).all():
        raise MethodError("split_y: the RGB image contains NaN or infinite values")
    if x.size and (x.min() < 0.0 or x.max() > 1.0):
        raise MethodError(f"split_y: expected float values in [0, 1], got {x.min():.6g}..{x.max():.6g}")
    return x.astype(np.float64)
