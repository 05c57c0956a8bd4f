"""Comparison figures (the paper's Figures 5-7): one panel per source or method, zoom boxes and insets.

Each panel shows an image with one or two coloured boxes (red, green) and, in a corner, each box's
region magnified (a matplotlib inset axes showing the crop with nearest-neighbour upscaling and a
frame of the box's colour). Labels sit under the panels.

Boxes are given as ``x,y,w,h`` in pixels, or chosen by :func:`auto_boxes`: the regions where the
methods disagree most, measured as the variance across methods of the local contrast (the local
standard deviation of the luminance), summed over the box.

:func:`comparison` builds the figure for one dataset pair from a result source
(:class:`fusionbench.reports.sources.ResultSource`); :func:`save_figure` writes it as PDF and PNG.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fusionbench.reports.sources import PanelSpec, ResultSource

#: Box colours, in order: red, green (as in the paper's figures).
BOX_COLOURS = ("#e41a1c", "#1fb31f")
#: At most this many boxes per figure.
MAX_BOXES = len(BOX_COLOURS)
#: Inset width as a fraction of the panel width (reduced when the inset would be too tall).
INSET_FRACTION = 0.36
#: Name of the method option that selects an ablation variant (``sidm``'s ``g1`` .. ``g7``).
ABLATION_OPTION = "ablation"


@dataclass(frozen=True)
class Box:
    """A rectangle in pixel coordinates: top-left corner ``(x, y)``, width ``w`` and height ``h``."""

    x: int
    y: int
    w: int
    h: int

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The pixels inside the box."""
        return image[self.y : self.y + self.h, self.x : self.x + self.w]

    def overlaps(self, other: Box) -> bool:
        return not (
            self.x + self.w <= other.x
            or other.x + other.w <= self.x
            or self.y + self.h <= other.y
            or other.y + other.h <= self.y
        )

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"


def parse_boxes(text: str, shape: tuple[int, ...]) -> list[Box]:
    """Parse ``"x,y,w,h;x,y,w,h"`` (one or two boxes) and check each lies inside an image of ``shape``."""
    parts = [p.strip() for p in text.split(";") if p.strip()]
    if not 1 <= len(parts) <= MAX_BOXES:
        raise ValueError(f"--boxes: expected 1 or {MAX_BOXES} boxes 'x,y,w,h;x,y,w,h', got {len(parts)} in {text!r}")
    height, width = shape[:2]
    boxes = []
    for part in parts:
        fields = part.split(",")
        if len(fields) != 4 or not all(re.fullmatch(r"\s*\d+\s*", f) for f in fields):
            raise ValueError(f"--boxes: {part!r} is not 'x,y,w,h' with four whole numbers of pixels")
        box = Box(*(int(f) for f in fields))
        if box.w < 2 or box.h < 2:
            raise ValueError(f"--boxes: box {box} is smaller than 2x2 pixels")
        if box.x + box.w > width or box.y + box.h > height:
            raise ValueError(f"--boxes: box {box} reaches outside the {width}x{height} (width x height) image")
        boxes.append(box)
    return boxes


def luminance(image: np.ndarray) -> np.ndarray:
    """Float64 luminance of a gray or RGB image (ITU-R BT.601 weights for RGB)."""
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3:
        return image[..., :3] @ np.array([0.299, 0.587, 0.114])
    return image


def local_contrast(image: np.ndarray, window: int = 9) -> np.ndarray:
    """Standard deviation of the luminance in a ``window`` x ``window`` neighbourhood of each pixel."""
    y = luminance(image)
    mean = cv2.blur(y, (window, window), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.blur(y * y, (window, window), borderType=cv2.BORDER_REFLECT)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))


def disagreement(images: Sequence[np.ndarray], window: int = 9) -> np.ndarray:
    """Per-pixel variance across ``images`` of their local contrast (0 where all agree)."""
    if len(images) < 2:
        raise ValueError("disagreement needs at least two images")
    shapes = {np.asarray(i).shape[:2] for i in images}
    if len(shapes) != 1:
        raise ValueError(f"images to compare must share one size, got {sorted(shapes)}")
    return np.stack([local_contrast(i, window) for i in images]).var(axis=0)


def default_box_size(shape: tuple[int, ...]) -> tuple[int, int]:
    """``(w, h)`` of an automatic box: a fifth of the image in each direction (at least 8 pixels)."""
    height, width = shape[:2]
    return max(8, width // 5), max(8, height // 5)


def auto_boxes(
    images: Sequence[np.ndarray], count: int = 2, size: tuple[int, int] | None = None, window: int = 9
) -> list[Box]:
    """The ``count`` non-overlapping boxes of ``size`` (w, h) where ``images`` disagree most.

    The score of a box is the sum over it of :func:`disagreement`; boxes are picked greedily, best
    first, each not overlapping those already picked.
    """
    if not 1 <= count <= MAX_BOXES:
        raise ValueError(f"count must be 1..{MAX_BOXES}, got {count}")
    score_map = disagreement(images, window)
    height, width = score_map.shape
    bw, bh = size or default_box_size(score_map.shape)
    if not (0 < bw <= width and 0 < bh <= height):
        raise ValueError(f"box size {bw}x{bh} does not fit the {width}x{height} images")
    integral = cv2.integral(score_map)  # (H+1, W+1)
    # scores[y, x] = sum of score_map over the box whose top-left corner is (x, y)
    scores = integral[bh:, bw:] - integral[:-bh, bw:] - integral[bh:, :-bw] + integral[:-bh, :-bw]
    boxes: list[Box] = []
    for _ in range(count):
        if not np.isfinite(scores).any():
            break
        y, x = np.unravel_index(int(np.argmax(scores)), scores.shape)
        box = Box(int(x), int(y), bw, bh)
        boxes.append(box)
        # No later box may overlap this one: rule out every top-left corner that would.
        scores[max(0, y - bh + 1) : y + bh, max(0, x - bw + 1) : x + bw] = -np.inf
    return boxes


def parse_ablation(text: str) -> list[str]:
    """``"g1..g7"`` -> ``["g1", ..., "g7"]``; ``"g1,g3"`` -> ``["g1", "g3"]``."""
    variants: list[str] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        match = re.fullmatch(r"([A-Za-z_-]*)(\d+)\.\.([A-Za-z_-]*)(\d+)", part)
        if match:
            prefix, first, prefix2, last = match.groups()
            if prefix2 not in ("", prefix) or int(first) > int(last):
                raise ValueError(f"--ablation: {part!r} is not a range such as 'g1..g7'")
            variants.extend(f"{prefix}{i}" for i in range(int(first), int(last) + 1))
        else:
            variants.append(part)
    if not variants:
        raise ValueError(f"--ablation: no variants in {text!r}; expected e.g. 'g1..g7' or 'g1,g3'")
    return list(dict.fromkeys(variants))


def panel_specs(methods: str | Sequence[str], ablation: Sequence[str] | None = None) -> list[PanelSpec]:
    """The panels named by ``--methods`` (``ir``/``vis`` are the sources); with ``ablation``, one panel
    per variant of each method (built with ``ablation=<variant>``), labelled by the variant."""
    from fusionbench.reports.tables import split_list, split_method_options

    names = [n.strip() for n in (split_list(methods) if isinstance(methods, str) else methods) if n.strip()]
    if not names:
        raise ValueError("--methods: no methods given")
    specs = []
    for name in dict.fromkeys(names):
        method_id, options = split_method_options(name)
        specs.append(PanelSpec(method_id, options))
    if not ablation:
        return specs
    fused = [s for s in specs if not s.is_source]
    if not fused:
        raise ValueError("--ablation needs a method in --methods (e.g. sidm) to build the variants of")
    result = [s for s in specs if s.is_source]
    for spec in fused:
        for variant in ablation:
            label = variant if len(fused) == 1 else f"{spec.name} {variant}"
            result.append(PanelSpec(spec.name, {ABLATION_OPTION: variant}, label))
    return result


@dataclass
class Panel:
    """A picture and the label under it."""

    image: np.ndarray
    label: str


def load_panels(source: ResultSource, dataset: str, pair_id: str, specs: Sequence[PanelSpec]) -> list[Panel]:
    """The pictures of ``specs`` for one pair, from the dataset (sources) and the runs (methods)."""
    panels = []
    for spec in specs:
        image, label = source.panel(spec.name, spec.options, dataset, pair_id)
        panels.append(Panel(image, spec.label or label))
    shapes = {p.image.shape[:2] for p in panels}
    if len(shapes) != 1:
        sizes = ", ".join(f"{p.label}: {p.image.shape[1]}x{p.image.shape[0]}" for p in panels)
        raise ValueError(f"pair {pair_id!r}: the panels differ in size ({sizes})")
    return panels


def choose_boxes(panels: Sequence[Panel], specs: Sequence[PanelSpec], boxes: str | None) -> list[Box]:
    """``boxes`` as given (``"x,y,w,h;..."``), ``"auto"`` (where the methods' panels disagree most;
    all panels when fewer than two are methods), or none for ``None``/``"none"``."""
    if boxes is None or boxes.strip().lower() == "none":
        return []
    shape = panels[0].image.shape
    if boxes.strip().lower() == "auto":
        fused = [p.image for p, s in zip(panels, specs, strict=True) if not s.is_source]
        compared = fused if len(fused) >= 2 else [p.image for p in panels]
        if len(compared) < 2:
            raise ValueError("--boxes auto needs at least two panels to compare")
        return auto_boxes(compared)
    return parse_boxes(boxes, shape)


def comparison_figure(
    panels: Sequence[Panel], boxes: Sequence[Box] = (), *, cols: int | None = None, panel_width: float = 2.4
) -> Figure:
    """A grid of ``panels`` (row-major, ``cols`` per row), each with ``boxes`` and their insets.

    By default the panels fill as few rows of at most 5 as they can, spread evenly over them.
    """
    if not panels:
        raise ValueError("a comparison figure needs at least one panel")
    if len(boxes) > MAX_BOXES:
        raise ValueError(f"at most {MAX_BOXES} boxes, got {len(boxes)}")
    height, width = panels[0].image.shape[:2]
    if cols is None:
        rows = -(-len(panels) // 5)
        cols = -(-len(panels) // rows)
    rows = -(-len(panels) // cols)
    label_space = 0.3  # inches under each panel for its label
    panel_height = panel_width * height / width
    fig = Figure(figsize=(cols * panel_width, rows * (panel_height + label_space)))
    fig.subplots_adjust(left=0.005, right=0.995, top=0.995, bottom=label_space / (rows * (panel_height + label_space)))
    grid = fig.add_gridspec(rows, cols, wspace=0.03, hspace=label_space / panel_height)
    corners = inset_corners(boxes, (height, width))
    for index, panel in enumerate(panels):
        ax = fig.add_subplot(grid[index // cols, index % cols])
        draw_panel(ax, panel, boxes, corners)
    return fig


def inset_corners(boxes: Sequence[Box], shape: tuple[int, int]) -> list[tuple[float, float, float, float]]:
    """Where each box's inset goes, as ``(x0, y0, w, h)`` in axes fractions (y up).

    Every inset has the box's aspect ratio and the same size; each takes the first free corner
    (bottom-left, bottom-right, top-left, top-right; the second box starts at bottom-right) whose
    area hides none of the boxes, else the first free corner.
    """
    height, width = shape
    placed: list[tuple[float, float, float, float]] = []
    for i, box in enumerate(boxes):
        fw = INSET_FRACTION
        fh = fw * (width / height) * (box.h / box.w)
        if fh > INSET_FRACTION:
            fw, fh = fw * INSET_FRACTION / fh, INSET_FRACTION
        candidates = [(0.0, 0.0), (1.0 - fw, 0.0), (0.0, 1.0 - fh), (1.0 - fw, 1.0 - fh)]
        if i % 2:
            candidates[0], candidates[1] = candidates[1], candidates[0]
        free = [(x0, y0, fw, fh) for x0, y0 in candidates if not any(_overlap((x0, y0, fw, fh), p) for p in placed)]
        clear = [c for c in free if not any(_hides(c, b, shape) for b in boxes)]
        placed.append((clear or free or [(*candidates[0], fw, fh)])[0])
    return placed


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def _hides(inset: tuple[float, ...], box: Box, shape: tuple[int, int]) -> bool:
    """Whether an inset (axes fractions, y up) covers part of ``box`` (pixels, y down)."""
    height, width = shape
    as_fraction = (box.x / width, 1.0 - (box.y + box.h) / height, box.w / width, box.h / height)
    return _overlap(inset, as_fraction)


def draw_panel(
    ax: Axes, panel: Panel, boxes: Sequence[Box], corners: Sequence[tuple[float, float, float, float]]
) -> list[Axes]:
    """Draw one panel on ``ax``: the image, its label below, each box and its magnified inset."""
    image = panel.image
    full_scale = np.iinfo(image.dtype).max if image.dtype.kind in "ui" else 1.0
    gray: dict[str, Any] = {"cmap": "gray", "vmin": 0, "vmax": full_scale} if image.ndim == 2 else {}
    ax.imshow(image, interpolation="antialiased", **gray)
    _bare(ax)
    ax.set_xlabel(panel.label, fontsize=9, labelpad=3)
    insets = []
    for box, corner, colour in zip(boxes, corners, BOX_COLOURS, strict=False):
        ax.add_patch(Rectangle((box.x - 0.5, box.y - 0.5), box.w, box.h, fill=False, edgecolor=colour, linewidth=1.2))
        inset = ax.inset_axes(corner)
        inset.imshow(box.crop(image), interpolation="nearest", **gray)
        _bare(inset)
        for spine in inset.spines.values():
            spine.set_visible(True)
            spine.set_edgecolor(colour)
            spine.set_linewidth(1.5)
        insets.append(inset)
    return insets


def _bare(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def comparison(
    source: ResultSource,
    dataset: str,
    pair_id: str,
    methods: str | Sequence[str],
    *,
    boxes: str | None = "auto",
    ablation: Sequence[str] | None = None,
    cols: int | None = None,
) -> tuple[Figure, list[Box]]:
    """The comparison figure of one pair (sources and methods named by ``methods``) and its boxes."""
    specs = panel_specs(methods, ablation)
    panels = load_panels(source, dataset, pair_id, specs)
    chosen = choose_boxes(panels, specs, boxes)
    return comparison_figure(panels, chosen, cols=cols), chosen


def save_figure(fig: Figure, path: str | Path, dpi: int = 200) -> list[Path]:
    """Write ``fig`` as PDF and PNG: ``path`` and its sibling with the other suffix. Returns both paths."""
    path = Path(path)
    if path.suffix.lower() not in (".pdf", ".png"):
        raise ValueError(f"{path}: the figure is written as .pdf and .png; give a path ending in one of them")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    written = []
    for suffix in (".pdf", ".png"):
        target = path.with_suffix(suffix)
        fig.savefig(target, dpi=dpi, metadata=_metadata(suffix))
        written.append(target)
    return written


def _metadata(suffix: str) -> dict[str, str | None]:
    """No creation date in the files, so that regenerating an unchanged figure changes no bytes (PDF)."""
    return {"CreationDate": None} if suffix == ".pdf" else {}
