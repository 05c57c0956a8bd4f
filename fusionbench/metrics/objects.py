"""Object-level measures: does a fused image keep the infrared targets, and without artefacts?

Pixel metrics (MI, AG, EN, Qabf, ...) can reward a fused image that draws thin bright lines along
a dark target's outline; these two measures look at the targets themselves, for datasets with
object boxes (MSRS infrared detection labels, :mod:`fusionbench.datasets.boxes`). Both are new in
this benchmark; neither toolkit of the literature has them.

``target_contrast`` (higher is better; 1 = the infrared contrast kept in full)
    For each box of a person or car, ``c_X = mean_box(X) - mean_ring(X)``, where the ring is the
    box grown by ``max(5, round(0.25 min(h, w)))`` pixels on every side, less every box of the
    image. The box's value is ``c_F / c_IR``; boxes whose infrared contrast ``c_IR`` is below
    :data:`MIN_CONTRAST` grey levels (targets not brighter than their surroundings in IR) are
    left out. The image's value is the median over its boxes; NaN when no box qualifies.

``ir_roughness`` (lower is better; the infrared image's own value is the natural floor)
    The mean absolute 4-neighbour Laplacian of ``F / 255`` over the infrared-bright target pixels:
    box pixels whose IR value exceeds ``mean_ring(IR) + c_IR / 2``, grown by one pixel (3 x 3) so
    the outline is included, over the qualifying boxes. Thin ridges and dots along outlines raise
    it; a smooth bright target does not. NaN when no box qualifies.

>>> import numpy as np
>>> from fusionbench.datasets.boxes import Box
>>> ir = np.full((64, 64), 40, np.uint8); ir[20:40, 20:40] = 200
>>> fused = (ir // 2).astype(np.uint8)          # half the contrast everywhere
>>> round(target_contrast(fused, ir, [Box("person", 20, 20, 40, 40)]), 3)
0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from fusionbench.datasets.boxes import Box
from fusionbench.registry import Registry

#: Smallest infrared contrast (grey levels, box mean minus ring mean) for a box to count.
MIN_CONTRAST = 8.0
#: Classes measured by default (the issue's "persons and cars").
TARGET_CLASSES = ("person", "car")


@dataclass(frozen=True)
class ObjectMetricSpec:
    """Metadata of an object-level measure (the pixel metrics' :class:`MetricSpec` fields that apply)."""

    id: str
    name: str
    latex: str
    higher_is_better: bool
    summary: str


OBJECT_METRICS: Registry[ObjectMetricSpec] = Registry("object metric")
OBJECT_METRICS.add(
    "target_contrast",
    ObjectMetricSpec(
        "target_contrast",
        "Target contrast kept",
        r"$C_{t}$",
        True,
        "median over IR boxes of (box - ring contrast in F) / (same in IR)",
    ),
)
OBJECT_METRICS.add(
    "ir_roughness",
    ObjectMetricSpec(
        "ir_roughness",
        "Roughness on IR targets",
        r"$R_{ir}$",
        False,
        "mean |Laplacian(F/255)| on infrared-bright target pixels",
    ),
)


@dataclass(frozen=True)
class _Region:
    box: Box
    ring: np.ndarray  # bool (H, W)
    ir_contrast: float
    ring_mean: float


def _gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return image.astype(np.float64)


def _regions(ir: np.ndarray, boxes: Sequence[Box], classes: Sequence[str]) -> list[_Region]:
    """The qualifying boxes with their rings and infrared contrast."""
    h, w = ir.shape
    covered = np.zeros((h, w), bool)
    for box in boxes:
        covered[box.top : box.bottom, box.left : box.right] = True
    regions = []
    for box in boxes:
        if box.label not in classes or box.area == 0:
            continue
        grow = max(5, round(0.25 * min(box.bottom - box.top, box.right - box.left)))
        ring = np.zeros((h, w), bool)
        ring[max(box.top - grow, 0) : box.bottom + grow, max(box.left - grow, 0) : box.right + grow] = True
        ring &= ~covered
        if not ring.any():
            continue
        ring_mean = float(ir[ring].mean())
        contrast = float(ir[box.top : box.bottom, box.left : box.right].mean()) - ring_mean
        if contrast >= MIN_CONTRAST:
            regions.append(_Region(box, ring, contrast, ring_mean))
    return regions


def _check(fused: np.ndarray, ir: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f, i = _gray(np.asarray(fused)), _gray(np.asarray(ir))
    if f.shape != i.shape:
        raise ValueError(f"fused image is {f.shape[0]}x{f.shape[1]} but IR is {i.shape[0]}x{i.shape[1]}")
    return f, i


def target_contrast(
    fused: np.ndarray, ir: np.ndarray, boxes: Sequence[Box], classes: Sequence[str] = TARGET_CLASSES
) -> float:
    """Median over qualifying boxes of ``c_F / c_IR`` (box mean minus ring mean); NaN if none (module doc)."""
    f, i = _check(fused, ir)
    ratios = []
    for region in _regions(i, boxes, classes):
        b = region.box
        c_fused = float(f[b.top : b.bottom, b.left : b.right].mean()) - float(f[region.ring].mean())
        ratios.append(c_fused / region.ir_contrast)
    return float(np.median(ratios)) if ratios else float("nan")


def bright_target_pixels(ir: np.ndarray, boxes: Sequence[Box], classes: Sequence[str] = TARGET_CLASSES) -> np.ndarray:
    """Boolean mask of infrared-bright target pixels, grown by one pixel (see ``ir_roughness``)."""
    i = _gray(np.asarray(ir))
    mask = np.zeros(i.shape, np.uint8)
    for region in _regions(i, boxes, classes):
        b = region.box
        inside = i[b.top : b.bottom, b.left : b.right] > region.ring_mean + region.ir_contrast / 2
        mask[b.top : b.bottom, b.left : b.right] |= inside.astype(np.uint8)
    return cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)


def ir_roughness(
    fused: np.ndarray, ir: np.ndarray, boxes: Sequence[Box], classes: Sequence[str] = TARGET_CLASSES
) -> float:
    """Mean ``|Laplacian(F / 255)|`` (4-neighbour) over :func:`bright_target_pixels`; NaN if there are none."""
    f, i = _check(fused, ir)
    pixels = bright_target_pixels(i, boxes, classes)
    if not pixels.any():
        return float("nan")
    laplacian = cv2.Laplacian(f / 255.0, cv2.CV_64F, ksize=1, borderType=cv2.BORDER_REPLICATE)
    return float(np.abs(laplacian[pixels]).mean())


def object_measures(
    fused: np.ndarray, ir: np.ndarray, boxes: Sequence[Box] | None, metrics: Sequence[str] | None = None
) -> dict[str, float]:
    """``{id: value}`` for the object measures ``metrics`` (default both); NaN everywhere without boxes."""
    wanted = list(metrics) if metrics is not None else list(OBJECT_METRICS.names())
    functions = {"target_contrast": target_contrast, "ir_roughness": ir_roughness}
    out = {}
    for metric_id in wanted:
        OBJECT_METRICS.get(metric_id)  # unknown ids raise KeyError with close matches
        out[metric_id] = float("nan") if boxes is None else functions[metric_id](fused, ir, boxes)
    return out
