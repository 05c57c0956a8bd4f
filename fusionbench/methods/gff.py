"""GFF: image fusion with guided filtering (Li, Kang & Hu, IEEE TIP 22(7), 2013).

For sources ``I_n`` (here VIS first, then IR, the order VIFB runs the authors' code in; it only
decides ties):

1. two-scale decomposition: base ``B_n = I_n * Z`` with ``Z`` a 31x31 mean filter, detail
   ``D_n = I_n - B_n``;
2. saliency ``S_n = |I_n * L| * g``: the absolute 3x3 Laplacian (4-neighbour) smoothed by an
   11x11 Gaussian (radius 5, sigma 5);
3. weight maps ``P_n = 1`` where ``S_n`` is the largest saliency, else 0 (first source on ties);
4. ``W_n^B = G_{r1,eps1}(P_n, I_n)`` and ``W_n^D = G_{r2,eps2}(P_n, I_n)``: guided filtering of
   each weight map with its own source as guide (He et al.'s filter, :func:`guided_filter`),
   r1 = 45, eps1 = 0.3, r2 = 7, eps2 = 1e-6 on [0, 1] images; weights clipped to [0, 1] and
   normalised to sum to one at each pixel;
5. ``F = sum_n W_n^B B_n + W_n^D D_n``.

Borders: replicate for the mean, Laplacian and Gaussian filters (MATLAB ``imfilter(...,
'replicate')``, as in the authors' code); the guided filter averages over the part of each window
inside the image, as He's ``boxfilter`` does. Known deviation from the authors' MATLAB code: it
quantises the filtered weights to multiples of 1/255 (``uint8(W*255)``) before normalising;
fusionbench only clips them to [0, 1], as the paper describes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from fusionbench.methods.base import ClassicMethod, MethodError, register_method

_LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64)
#: Added to every weight before normalising, so that pixels where all weights are 0 share equally.
_WEIGHT_FLOOR = 1e-12


def box_mean(x: np.ndarray, radius: int, count: np.ndarray | None = None) -> np.ndarray:
    """Mean over the ``(2r+1) x (2r+1)`` window, counting only the pixels inside the image.

    ``count`` (the number of such pixels, :func:`window_count`) may be passed to save recomputing it.
    """
    size = (2 * radius + 1, 2 * radius + 1)
    if count is None:
        count = window_count(x.shape, radius)
    return cv2.boxFilter(x, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT) / count


def window_count(shape: tuple[int, ...], radius: int) -> np.ndarray:
    """How many pixels of each ``(2r+1)``-square window lie inside an image of ``shape``."""
    size = (2 * radius + 1, 2 * radius + 1)
    return cv2.boxFilter(np.ones(shape), -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He, Sun & Tang's guided filter (ECCV 2010 / TPAMI 2013) with a gray guide, in float64.

    ``q = mean(a) * guide + mean(b)`` with ``a = cov(guide, src) / (var(guide) + eps)`` and
    ``b = mean(src) - a * mean(guide)`` over ``(2r+1)``-square windows.
    """
    guide = np.asarray(guide, dtype=np.float64)
    src = np.asarray(src, dtype=np.float64)
    count = window_count(guide.shape, radius)

    def mean(x: np.ndarray) -> np.ndarray:
        return box_mean(x, radius, count)

    mean_i = mean(guide)
    mean_p = mean(src)
    cov_ip = mean(guide * src) - mean_i * mean_p
    var_i = mean(guide * guide) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return mean(a) * guide + mean(b)


@register_method
@dataclass(frozen=True)
class GuidedFilterFusion(ClassicMethod):
    """Two-scale fusion with guided-filtered saliency weights (see the module docstring)."""

    average_size: int = 31
    saliency_radius: int = 5
    saliency_sigma: float = 5.0
    r1: int = 45
    eps1: float = 0.3
    r2: int = 7
    eps2: float = 1e-6

    id = "gff"
    name = "GFF"
    description = "guided filtering fusion: two-scale decomposition, saliency weights refined by guided filters"
    reference = "Li, Kang & Hu, Image fusion with guided filtering, IEEE TIP 22(7), 2013"

    def __post_init__(self) -> None:
        for field_name in ("average_size", "saliency_radius", "r1", "r2"):
            value = getattr(self, field_name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise MethodError(f"gff: {field_name} must be a positive integer, got {value!r}")
        for field_name in ("saliency_sigma", "eps1", "eps2"):
            value = getattr(self, field_name)
            if not isinstance(value, (int, float)) or not value > 0:
                raise MethodError(f"gff: {field_name} must be a positive number, got {value!r}")

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        sources = [vis_y.astype(np.float64), ir.astype(np.float64)]
        saliency = np.stack([self.saliency(s) for s in sources])
        winner = np.argmax(saliency, axis=0)  # first source on ties
        masks = [(winner == n).astype(np.float64) for n in range(len(sources))]
        base_weights = _normalise(
            [guided_filter(s, p, self.r1, self.eps1) for s, p in zip(sources, masks, strict=True)]
        )
        detail_weights = _normalise(
            [guided_filter(s, p, self.r2, self.eps2) for s, p in zip(sources, masks, strict=True)]
        )

        size = (self.average_size, self.average_size)
        fused = np.zeros_like(sources[0])
        for source, wb, wd in zip(sources, base_weights, detail_weights, strict=True):
            base = cv2.blur(source, size, borderType=cv2.BORDER_REPLICATE)
            fused += wb * base + wd * (source - base)
        return fused

    def saliency(self, image: np.ndarray) -> np.ndarray:
        """``|Laplacian(image)|`` smoothed by a Gaussian of radius ``saliency_radius``."""
        high_pass = np.abs(cv2.filter2D(image, -1, _LAPLACIAN, borderType=cv2.BORDER_REPLICATE))
        size = 2 * self.saliency_radius + 1
        return cv2.GaussianBlur(high_pass, (size, size), self.saliency_sigma, borderType=cv2.BORDER_REPLICATE)


def _normalise(weights: list[np.ndarray]) -> list[np.ndarray]:
    clipped = [np.clip(w, 0.0, 1.0) + _WEIGHT_FLOOR for w in weights]
    total = sum(clipped)
    return [w / total for w in clipped]
