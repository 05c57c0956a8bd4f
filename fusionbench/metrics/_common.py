"""Building blocks shared by several metrics: entropies, windows, Sobel responses, correlations."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from fusionbench.metrics import _backend


def entropy_from_counts(counts: Any, log_base: float) -> Any:
    """Shannon entropy ``-sum p log p`` of each row of a count table (M, K); empty bins skipped."""
    xp = _backend.namespace(counts)
    total = xp.sum(counts, axis=-1, keepdims=True)
    p = counts / total
    safe = xp.where(p > 0, p, xp.ones_like(p))
    return -xp.sum(p * xp.log(safe), axis=-1) / math.log(log_base)


def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """1-D factor of MATLAB ``fspecial('gaussian', size, sigma)``, normalised to sum 1.

    The 2-D window is ``outer(g, g)``; ``fspecial``'s eps-truncation removes nothing for the
    windows used here (checked in the tests), so separable filtering is exact up to rounding.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def fspecial_gaussian(size: int, sigma: float) -> np.ndarray:
    """The full 2-D MATLAB ``fspecial('gaussian', size, sigma)`` window (for tests and checks)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    h = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2.0 * sigma * sigma))
    h[h < np.finfo(np.float64).eps * h.max()] = 0
    return h / h.sum()


#: Separable factors of the Sobel kernels as correlation (rows factor, columns factor).
_SMOOTH = np.array([1.0, 2.0, 1.0])
_DIFF = np.array([-1.0, 0.0, 1.0])


def sobel_conv2_same(x: Any) -> tuple[Any, Any]:
    """MATLAB ``conv2(X, [-1 0 1;-2 0 2;-1 0 1], 'same')`` and ``conv2(X, [1 2 1;0 0 0;-1 -2 -1], 'same')``.

    Zero padding. Convolution flips the kernel, so as correlations these are
    ``outer([1 2 1], [1 0 -1])`` and ``outer([-1 0 1], [1 2 1])``.
    """
    sx = _backend.sep_filter(x, _SMOOTH, -_DIFF, "zero")
    sy = _backend.sep_filter(x, _DIFF, _SMOOTH, "zero")
    return sx, sy


def centred(x: Any) -> Any:
    xp = _backend.namespace(x)
    return x - xp.mean(x, axis=(-2, -1), keepdims=True)


def corr2(x: Any, y: Any) -> Any:
    """MATLAB ``corr2``: Pearson correlation of two images over all pixels, per image (M,)."""
    return correlations(lambda x, y: [(x, y)], x, y)[0]


def correlations(pairs: Callable[..., list[tuple[Any, Any]]], *arrays: Any) -> list[Any]:
    """MATLAB ``corr2`` of each image pair (X, Y) that ``pairs(*arrays)`` forms pixel by pixel.

    ``corr2(X, Y) = sum(Xc Yc) / sqrt(sum(Xc^2) sum(Yc^2))`` with ``Xc = X - mean(X)``; e.g.
    ``pairs = lambda f, a, b: [(f - b, a)]``. Two passes of :func:`_backend.pixel_sums` (the means,
    then the centred sums), so the pair images are never built whole on the CPU. Returns one (M,)
    array per pair.
    """
    xp = _backend.namespace(arrays[0])
    m, h, w = arrays[0].shape
    n_arrays = len(arrays)

    def flat(*strips: Any) -> list[Any]:
        return [z for pair in pairs(*strips) for z in pair]

    means = [xp.reshape(s / (h * w), (m, 1, 1)) for s in _backend.pixel_sums(flat, *arrays)]

    def centred_products(*args: Any) -> list[Any]:
        strips, mu = args[:n_arrays], args[n_arrays:]
        out = []
        for k, (x, y) in enumerate(pairs(*strips)):
            xc, yc = x - mu[2 * k], y - mu[2 * k + 1]
            out += [xc * yc, xc * xc, yc * yc]
        return out

    sums = _backend.pixel_sums(centred_products, *arrays, *means)
    return [sums[k] / xp.sqrt(sums[k + 1] * sums[k + 2]) for k in range(0, len(sums), 3)]


def sum_hw(x: Any) -> Any:
    xp = _backend.namespace(x)
    return xp.sum(x, axis=(-2, -1))


def mean_hw(x: Any) -> Any:
    xp = _backend.namespace(x)
    return xp.mean(x, axis=(-2, -1))


#: The Sobel kernels of the Q^AB/F reference code, as given to MATLAB ``conv2``.
SOBEL_X_CONV2 = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
SOBEL_Y_CONV2 = ((1.0, 2.0, 1.0), (0.0, 0.0, 0.0), (-1.0, -2.0, -1.0))


def conv2_same_matlab_order(x: Any, kernel: tuple[tuple[float, ...], ...]) -> Any:
    """MATLAB ``conv2(X, kernel, 'same')`` (zero padding) for a 3 x 3 kernel, summed in MATLAB's order.

    ``out(i, j) = sum_{l, k} h(k, l) X(i + 1 - k, j + 1 - l)`` accumulated over the kernel in
    column-major order (k fastest). On integer data any order gives the same value; on 0..1 data
    (``X / 255``) rounding depends on the order, and Q^AB/F's exact-equality rule ``gA == gF``
    depends on it: this order reproduces the pre-refactor TANG values to 1e-15.
    """
    xp = _backend.namespace(x)
    m, h, w = x.shape
    padded = xp.zeros((m, h + 2, w + 2), dtype=x.dtype, device=getattr(x, "device", None))
    padded[:, 1:-1, 1:-1] = x
    out = xp.zeros_like(x)
    for col in range(3):
        for row in range(3):
            out = out + kernel[row][col] * padded[:, 2 - row : 2 - row + h, 2 - col : 2 - col + w]
    return out
