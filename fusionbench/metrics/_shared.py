"""Intermediates that several metrics share within one ``compute`` call, kept on the batch.

A :class:`~fusionbench.metrics._inputs.FusionBatch` is the per-call cache: every helper here stores
its result with ``batch.cached(key, ...)``, so that the metrics of one call compute each thing once
(the gray levels and 256-bin histograms for EN, MI and CE; the exact pixel moments for SCD, CC, SD,
MSE and PSNR; the Sobel responses for Q^AB/F).

Exact integer moments. When an image holds integer levels 0..255 (uint8 input, or a gray
conversion, which rounds), every sum of pixel values and of products of two images is an integer
below ``2^53`` (``65025 * H * W`` for any image under 1.3e11 pixels), so float64 sums and dot
products of such images are exact whatever their order. Covariances then follow without rounding
from ``n * sum(x y) - sum(x) * sum(y)`` in Python integers; only the final division rounds. This is
one pass over the pixels instead of the two-pass centred formula, and at least as accurate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

ROLES = "fab"
_PRODUCTS = ("ff", "aa", "bb", "fa", "fb", "ab")


def integer_levels(batch: Any, role: str) -> np.ndarray | None:
    """The uint8 levels (M, H, W) of ``role`` (``f``, ``a`` or ``b``) when its values are exactly
    those integers (numpy batch, role in ``batch.integer_roles``); None otherwise."""
    if role not in batch.integer_roles or not isinstance(getattr(batch, role), np.ndarray):
        return None
    return batch.levels(role)


def all_integer(batch: Any, roles: str = ROLES) -> bool:
    """True when every role in ``roles`` holds integer levels on a numpy batch."""
    return all(integer_levels(batch, r) is not None for r in roles)


@dataclass(frozen=True)
class Moments:
    """Exact first and second pixel moments of the images of an integer batch, per image.

    ``sums[r][i] = sum(x)`` and ``products[rs][i] = sum(x y)`` over the pixels of image ``i`` for
    roles ``r`` in ``fab`` and pairs ``rs`` in ``ff, aa, bb, fa, fb, ab``, as Python integers.
    """

    n: int
    sums: dict[str, list[int]]
    products: dict[str, list[int]]

    def scaled_cov(self, x: Combination, y: Combination) -> list[int]:
        """``n^2 cov(X, Y)`` per image, exact, for X and Y a role (``"f"``) or an integer linear
        combination of roles (``{"f": 1, "b": -1}`` for F - B): by bilinearity, from
        ``n^2 cov(R, S) = n sum(r s) - sum(r) sum(s)``."""
        xs, ys = _terms(x), _terms(y)
        out = [0] * len(self.sums["f"])
        for r, alpha in xs.items():
            for s, beta in ys.items():
                key = r + s if r + s in self.products else s + r
                for i, (p, sr, ss) in enumerate(zip(self.products[key], self.sums[r], self.sums[s], strict=True)):
                    out[i] += alpha * beta * (self.n * p - sr * ss)
        return out

    def sum_sq_diff(self, x: str, y: str) -> list[int]:
        """``sum((x - y)^2) = sum(x x) - 2 sum(x y) + sum(y y)`` per image, exact."""
        key = x + y if x + y in self.products else y + x
        pairs = zip(self.products[x + x], self.products[key], self.products[y + y], strict=True)
        return [xx - 2 * xy + yy for xx, xy, yy in pairs]


Combination = str | dict[str, int]


def _terms(x: Combination) -> dict[str, int]:
    return {x: 1} if isinstance(x, str) else x


def moments(batch: Any) -> Moments | None:
    """The exact :class:`Moments` of ``f``, ``a`` and ``b`` (cached), or None unless all three
    hold integer levels on a numpy batch (then callers use the two-pass float formulas)."""
    if not all_integer(batch):
        return None
    return batch.cached("moments", lambda: _exact_moments(batch.f, batch.a, batch.b))


def _exact_moments(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> Moments:
    m, h, w = f.shape
    images = {"f": f.reshape(m, h * w), "a": a.reshape(m, h * w), "b": b.reshape(m, h * w)}
    sums = {r: [int(s) for s in images[r].sum(axis=1)] for r in ROLES}
    # einsum's own loop (one thread), not BLAS: a threaded dot product waits for a second core
    # that a busy machine may not give it (milliseconds per call); the sums are exact either way.
    products = {key: [int(v) for v in np.einsum("ij,ij->i", images[key[0]], images[key[1]])] for key in _PRODUCTS}
    return Moments(n=h * w, sums=sums, products=products)


def correlation(num: list[int], var_x: list[int], var_y: list[int]) -> np.ndarray:
    """MATLAB ``corr2`` per image from exact scaled (co)variances: ``num / sqrt(var_x var_y)``.

    A zero variance gives NaN (0/0, as ``corr2``): the covariance is then exactly 0 too.
    """
    out = np.empty(len(num), dtype=np.float64)
    for i, (c, vx, vy) in enumerate(zip(num, var_x, var_y, strict=True)):
        den = math.sqrt(float(vx)) * math.sqrt(float(vy))
        out[i] = float(c) / den if den > 0 else math.nan
    return out
