"""SIDM-Fusion training data: the pair pool, target masks and random patch batches.

Spec sections 0, 4.2 and 5. The pool is a list of ``dataset/split[:count]`` sources; the default is
``msrs/trainpool`` (219 crops of official MSRS test ids outside the 142-pair evaluation split),
``msrs/train`` (4 pairs) and the first 45 pairs (sorted names) of ``roadscene/train`` standing in
for the paper's 45 TNO training pairs (no TNO pairs are disjoint from TNO-42, which stays
evaluation-only).

Target mask M of a pair, in order of preference: a label PNG ``<masks_dir>/<id>.png`` (MSRS
9-class segmentation: M = label in {1 car, 2 person, 3 bike}); the MSRS *infrared* detection boxes
(``datasets/msrs/detection/infrared/{test,train}/<id>.txt`` under the data root, YOLO ``class cx cy w h`` normalised to
640x480; M = 1 inside every box, shifted and clipped with ``msrs/trainpool/crops.json`` for the
pool crops); otherwise no mask (``has_mask = 0``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fusionbench.io import read_image
from fusionbench.methods.colour import split_y

DEFAULT_SOURCES = ("msrs/trainpool", "msrs/train", "roadscene/train:45")
#: MSRS segmentation classes that are thermal targets: car, person, bike.
TARGET_CLASSES = (1, 2, 3)
MSRS_FRAME = (480, 640)


class TrainingDataError(ValueError):
    """A training source, mask or image that cannot be used."""


@dataclass
class TrainingPair:
    """One training pair in memory: IR and VIS luminance float32 ``(H, W)`` on [0, 1], mask or None."""

    id: str
    source: str
    ir: np.ndarray
    vis: np.ndarray
    mask: np.ndarray | None


def box_mask(box_file: Path, shape: tuple[int, int], window: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """Binary mask ``(H, W)`` of the YOLO boxes in ``box_file`` (normalised to the 640x480 MSRS frame).

    ``window`` = (top, left, height, width) of a crop of that frame: boxes are shifted and clipped.
    """
    frame_h, frame_w = MSRS_FRAME
    full = np.zeros(MSRS_FRAME, dtype=np.float32)
    for number, line in enumerate(box_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 5:
            raise TrainingDataError(f"{box_file}:{number}: expected 'class cx cy w h', got {line!r}")
        cx, cy, w, h = (float(v) for v in parts[1:])
        x0, x1 = round((cx - w / 2) * frame_w), round((cx + w / 2) * frame_w)
        y0, y1 = round((cy - h / 2) * frame_h), round((cy + h / 2) * frame_h)
        full[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
    if window is not None:
        top, left, height, width = window
        full = full[top : top + height, left : left + width]
    if full.shape != tuple(shape):
        raise TrainingDataError(f"{box_file}: mask of shape {full.shape} does not fit an image of shape {shape}")
    return full


def label_mask(label_file: Path, shape: tuple[int, int]) -> np.ndarray:
    """Binary mask from an MSRS segmentation label PNG: 1 where the class is car, person or bike."""
    labels = read_image(label_file)
    if labels.ndim != 2 or labels.shape != tuple(shape):
        raise TrainingDataError(
            f"{label_file}: expected a one-channel label image of shape {shape}, got {labels.shape}"
        )
    return np.isin(labels, TARGET_CLASSES).astype(np.float32)


def _mask_for(
    pair_id: str, dataset: str, split: str, shape: tuple[int, int], data_root: Path, masks_dir: Path | None
) -> np.ndarray | None:
    if masks_dir is not None and (masks_dir / f"{pair_id}.png").is_file():
        return label_mask(masks_dir / f"{pair_id}.png", shape)
    if dataset != "msrs":
        return None
    detection = data_root / "datasets" / "msrs" / "detection" / "infrared"
    if split == "trainpool":
        crops_file = data_root / "datasets" / "msrs" / "trainpool" / "crops.json"
        crops = json.loads(crops_file.read_text())
        if pair_id not in crops:
            raise TrainingDataError(f"{crops_file}: no crop window for {pair_id}")
        box_file = detection / "test" / f"{pair_id}.txt"
        return box_mask(box_file, shape, tuple(crops[pair_id])) if box_file.is_file() else None
    for folder in ("train", "test"):
        box_file = detection / folder / f"{pair_id}.txt"
        if box_file.is_file():
            return box_mask(box_file, shape)
    return None


def parse_source(source: str) -> tuple[str, str, int | None]:
    """``"roadscene/train:45"`` -> ``("roadscene", "train", 45)``."""
    name, _, count = source.partition(":")
    dataset, slash, split = name.partition("/")
    if not slash or not dataset or not split:
        raise TrainingDataError(f"training source {source!r}: expected 'dataset/split' or 'dataset/split:count'")
    if count and not count.isdigit():
        raise TrainingDataError(f"training source {source!r}: the count after ':' must be a whole number")
    return dataset, split, int(count) if count else None


def load_pool(
    sources: tuple[str, ...] | list[str] = DEFAULT_SOURCES,
    data_root: str | os.PathLike[str] | None = None,
    masks_dir: str | os.PathLike[str] | None = None,
    use_masks: bool = True,
) -> list[TrainingPair]:
    """Read every pair of ``sources`` into memory with its target mask (or None)."""
    from fusionbench.datasets import get_dataset, resolve_data_root

    root = resolve_data_root(data_root)
    masks = Path(masks_dir) if masks_dir is not None else None
    if masks is not None and not masks.is_dir():
        raise TrainingDataError(f"--masks {masks}: not a folder")
    pool: list[TrainingPair] = []
    for source in sources:
        dataset, split, count = parse_source(source)
        pairs = sorted(get_dataset(dataset).pairs(split, data_root=root), key=lambda p: p.id)
        for record in pairs[:count]:
            ir = read_image(record.ir)
            vis = read_image(record.vis)
            if ir.ndim != 2 or ir.dtype != np.uint8:
                raise TrainingDataError(
                    f"{record.ir}: expected an 8-bit one-channel IR image, got {ir.dtype} {ir.shape}"
                )
            vis_y = split_y(vis)[0] if vis.ndim == 3 else (vis.astype(np.float32) / 255.0)
            if vis_y.shape != ir.shape:
                raise TrainingDataError(f"{record.id}: IR {ir.shape} and VIS {vis_y.shape[:2]} differ in size")
            mask = _mask_for(record.id, dataset, split, ir.shape, root, masks) if use_masks else None
            pool.append(TrainingPair(record.id, f"{dataset}/{split}", ir.astype(np.float32) / 255.0, vis_y, mask))
    if not pool:
        raise TrainingDataError(f"training sources {list(sources)} hold no pairs")
    return pool


class PatchSampler:
    """Random batches: a pair drawn uniformly, a P x P crop at one location in IR, VIS and mask, random h-flip.

    Pairs smaller than P are reflect-padded up to P. The generator is a seeded
    :class:`numpy.random.Generator`; :attr:`state` / :meth:`restore` make batches resumable.
    """

    def __init__(self, pool: list[TrainingPair], patch: int, batch: int, seed: int) -> None:
        self.pool = pool
        self.patch = patch
        self.batch = batch
        self.rng = np.random.default_rng(seed)

    @property
    def state(self) -> dict:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def _crop(self, image: np.ndarray, top: int, left: int) -> np.ndarray:
        p = self.patch
        h, w = image.shape
        if h < p or w < p:
            image = np.pad(image, ((0, max(p - h, 0)), (0, max(p - w, 0))), mode="reflect")
        return image[top : top + p, left : left + p]

    def sample(self) -> dict[str, np.ndarray]:
        """``ir``, ``vis``, ``mask`` float32 ``(B, 1, P, P)`` and ``has_mask`` float32 ``(B,)``."""
        p = self.patch
        out: dict[str, list[np.ndarray]] = {"ir": [], "vis": [], "mask": [], "has_mask": []}
        for index in self.rng.integers(0, len(self.pool), size=self.batch):
            pair = self.pool[int(index)]
            h, w = pair.ir.shape
            top = int(self.rng.integers(0, max(h - p, 0) + 1))
            left = int(self.rng.integers(0, max(w - p, 0) + 1))
            flip = bool(self.rng.integers(0, 2))
            mask = pair.mask if pair.mask is not None else np.zeros_like(pair.ir)
            for key, image in (("ir", pair.ir), ("vis", pair.vis), ("mask", mask)):
                crop = self._crop(image, top, left)
                out[key].append(np.ascontiguousarray(crop[:, ::-1] if flip else crop)[None])
            out["has_mask"].append(np.float32(pair.mask is not None))
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}
