"""Multi-scale baselines: Laplacian pyramid (``lp``) and discrete wavelet transform (``dwt``).

Both decompose each source into a coarse approximation and detail bands, fuse the approximation
by averaging and every detail coefficient by taking the one of larger magnitude ("max-abs";
IR wins ties), and invert the transform. Computation is in float64.

References: P. J. Burt, E. H. Adelson, "The Laplacian pyramid as a compact image code", IEEE
Trans. Communications 31(4), 1983; A. Toet, "Image fusion by a ratio of low-pass pyramid",
Pattern Recognition Letters 9(4), 1989; H. Li, B. S. Manjunath, S. K. Mitra, "Multisensor image
fusion using the wavelet transform", Graphical Models and Image Processing 57(3), 1995.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from fusionbench.methods.base import ClassicMethod, MethodError, register_method

#: The coarsest pyramid level keeps at least this many pixels on its shorter side.
MIN_PYRAMID_SIDE = 4


def max_abs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The coefficient of larger magnitude at each position (``a`` on ties)."""
    return np.where(np.abs(a) >= np.abs(b), a, b)


def pyramid_depth(shape: tuple[int, int], levels: int) -> int:
    """How many of ``levels`` reductions fit: each ``cv2.pyrDown`` halves a side (rounding up),
    and the coarsest level keeps at least :data:`MIN_PYRAMID_SIDE` pixels on its shorter side."""
    h, w = shape
    depth = 0
    while depth < levels and min((h + 1) // 2, (w + 1) // 2) >= MIN_PYRAMID_SIDE:
        h, w = (h + 1) // 2, (w + 1) // 2
        depth += 1
    return depth


def laplacian_pyramid(image: np.ndarray, depth: int) -> tuple[list[np.ndarray], np.ndarray]:
    """``(details, base)``: ``depth`` band-pass levels, finest first, and the Gaussian top level."""
    details = []
    current = image
    for _ in range(depth):
        smaller = cv2.pyrDown(current)
        details.append(current - cv2.pyrUp(smaller, dstsize=(current.shape[1], current.shape[0])))
        current = smaller
    return details, current


def collapse_pyramid(details: list[np.ndarray], base: np.ndarray) -> np.ndarray:
    """Invert :func:`laplacian_pyramid` (exact up to rounding)."""
    current = base
    for detail in reversed(details):
        current = cv2.pyrUp(current, dstsize=(detail.shape[1], detail.shape[0])) + detail
    return current


@register_method
@dataclass(frozen=True)
class LaplacianPyramid(ClassicMethod):
    """Laplacian pyramid fusion: average the top (low-pass) level, max-abs every band-pass level.

    Pyramids are built with ``cv2.pyrDown``/``cv2.pyrUp`` (5-tap binomial kernel, reflect-101
    borders). ``levels`` is the number of band-pass levels; small images get fewer (see
    :func:`pyramid_depth`), down to 0, where the method is the average.
    """

    levels: int = 4

    id = "lp"
    name = "LP"
    description = "Laplacian pyramid; average of the low-pass level, max-abs of the band-pass levels"
    reference = "Burt & Adelson, IEEE Trans. Communications 1983; Toet, Pattern Recognition Letters 1989"

    def __post_init__(self) -> None:
        if not isinstance(self.levels, int) or isinstance(self.levels, bool) or self.levels < 1:
            raise MethodError(f"lp: levels must be a positive integer, got {self.levels!r}")

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        depth = pyramid_depth(ir.shape, self.levels)
        ir_details, ir_base = laplacian_pyramid(ir.astype(np.float64), depth)
        vis_details, vis_base = laplacian_pyramid(vis_y.astype(np.float64), depth)
        details = [max_abs(a, b) for a, b in zip(ir_details, vis_details, strict=True)]
        return collapse_pyramid(details, (ir_base + vis_base) / 2)


@register_method
@dataclass(frozen=True)
class Wavelet(ClassicMethod):
    """Discrete wavelet fusion with PyWavelets: ``wavedec2`` of both sources, average of the
    approximation, max-abs of every detail sub-band, ``waverec2``, crop to the input size.

    ``level`` is lowered to ``pywt.dwt_max_level`` for small images (0: the average).
    """

    wavelet: str = "db2"
    level: int = 3
    mode: str = "symmetric"

    id = "dwt"
    name = "DWT"
    description = "discrete wavelet transform; average of the approximation, max-abs of the details"
    reference = "Li, Manjunath & Mitra, Graphical Models and Image Processing 1995"

    def __post_init__(self) -> None:
        pywt = _pywt()
        if not isinstance(self.level, int) or isinstance(self.level, bool) or self.level < 1:
            raise MethodError(f"dwt: level must be a positive integer, got {self.level!r}")
        _check_choice("dwt: wavelet", self.wavelet, pywt.wavelist(kind="discrete"))
        _check_choice("dwt: mode", self.mode, pywt.Modes.modes)

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        pywt = _pywt()
        wavelet = pywt.Wavelet(self.wavelet)
        level = min(self.level, pywt.dwt_max_level(min(ir.shape), wavelet.dec_len))
        if level < 1:
            return (ir.astype(np.float64) + vis_y) / 2
        ir_coeffs = pywt.wavedec2(ir.astype(np.float64), wavelet, mode=self.mode, level=level)
        vis_coeffs = pywt.wavedec2(vis_y.astype(np.float64), wavelet, mode=self.mode, level=level)
        fused: list[Any] = [(ir_coeffs[0] + vis_coeffs[0]) / 2]
        for ir_bands, vis_bands in zip(ir_coeffs[1:], vis_coeffs[1:], strict=True):
            fused.append(tuple(max_abs(a, b) for a, b in zip(ir_bands, vis_bands, strict=True)))
        out = pywt.waverec2(fused, wavelet, mode=self.mode)
        return out[: ir.shape[0], : ir.shape[1]]


def _pywt() -> Any:
    try:
        import pywt
    except ImportError:  # pragma: no cover - PyWavelets is a dependency
        raise MethodError("dwt needs PyWavelets: pip install PyWavelets") from None
    return pywt


def _check_choice(what: str, value: object, choices: list[str]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise MethodError(f"{what} {value!r} is not available{hint}")
