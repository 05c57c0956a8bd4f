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

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.datasets.boxes import Box, BoxError, pair_boxes
from fusionbench.io import read_image
from fusionbench.methods.colour import split_y

DEFAULT_SOURCES = ("msrs/trainpool", "msrs/train", "roadscene/train:45")
#: The split the validation pairs are carved from (and then left out of training).
VALIDATION_SOURCE = "msrs/trainpool"
#: MSRS segmentation classes that are thermal targets: car, person, bike.
TARGET_CLASSES = (1, 2, 3)


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


def box_mask(boxes: list[Box], shape: tuple[int, int]) -> np.ndarray:
    """Binary float32 mask ``(H, W)``: 1 inside every box (any class: person, bicycle, car)."""
    mask = np.zeros(shape, dtype=np.float32)
    for box in boxes:
        mask[box.top : box.bottom, box.left : box.right] = 1.0
    return mask


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
    try:
        boxes = pair_boxes(dataset, split, pair_id, data_root)
    except BoxError as exc:
        raise TrainingDataError(str(exc)) from None
    return None if boxes is None else box_mask(boxes, shape)


def validation_ids(data_root: str | os.PathLike[str] | None, count: int) -> list[str]:
    """``count`` ids of :data:`VALIDATION_SOURCE`, half day (``D``) and half night (``N``), evenly spaced.

    These pairs are held out of training and used for model selection only (never MSRS-142 or TNO-42).
    """
    from fusionbench.datasets import get_dataset, resolve_data_root

    if count <= 0:
        return []
    dataset, split, _ = parse_source(VALIDATION_SOURCE)
    ids = sorted(p.id for p in get_dataset(dataset).pairs(split, data_root=resolve_data_root(data_root)))
    chosen = []
    for suffix, share in (("D", count - count // 2), ("N", count // 2)):
        group = [i for i in ids if i.endswith(suffix)]
        step = max(len(group) // max(share, 1), 1)
        chosen += group[step // 2 :: step][:share]
    return sorted(chosen)


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
    exclude: tuple[str, ...] | list[str] = (),
    only: tuple[str, ...] | list[str] | None = None,
) -> list[TrainingPair]:
    """Read every pair of ``sources`` into memory with its target mask (or None).

    Pairs of :data:`VALIDATION_SOURCE` whose id is in ``exclude`` are left out (the validation
    pairs); with ``only``, just those ids of the sources are read.
    """
    from fusionbench.datasets import get_dataset, resolve_data_root

    root = resolve_data_root(data_root)
    masks = Path(masks_dir) if masks_dir is not None else None
    if masks is not None and not masks.is_dir():
        raise TrainingDataError(f"--masks {masks}: not a folder")
    pool: list[TrainingPair] = []
    for source in sources:
        dataset, split, count = parse_source(source)
        pairs = sorted(get_dataset(dataset).pairs(split, data_root=root), key=lambda p: p.id)
        if f"{dataset}/{split}" == VALIDATION_SOURCE:
            pairs = [p for p in pairs if p.id not in set(exclude)]
        if only is not None:
            pairs = [p for p in pairs if p.id in set(only)]
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

    With ``target_fraction`` > 0, that share of the samples is instead drawn from the pairs whose
    mask has a target and centred (up to the image border) on a random target pixel, so that the
    few target pixels (about 3 % of the pool's pixels are infrared-hot) reach most batches.
    Pairs smaller than P are reflect-padded up to P. The generator is a seeded
    :class:`numpy.random.Generator`; :attr:`state` / :meth:`restore` make batches resumable.
    """

    def __init__(
        self, pool: list[TrainingPair], patch: int, batch: int, seed: int, target_fraction: float = 0.0
    ) -> None:
        self.pool = pool
        self.patch = patch
        self.batch = batch
        self.rng = np.random.default_rng(seed)
        self.target_fraction = float(target_fraction)
        self.with_targets = [i for i, p in enumerate(pool) if p.mask is not None and p.mask.any()]

    @property
    def state(self) -> Mapping[str, Any]:
        return self.rng.bit_generator.state

    def restore(self, state: dict) -> None:
        self.rng.bit_generator.state = state

    def _window(self, pair: TrainingPair, centred_on_target: bool = False) -> tuple[int, int]:
        """Top-left corner of a crop: uniform, or centred on a random mask pixel (clipped to the image)."""
        p = self.patch
        h, w = pair.ir.shape
        if not centred_on_target:
            return int(self.rng.integers(0, max(h - p, 0) + 1)), int(self.rng.integers(0, max(w - p, 0) + 1))
        assert pair.mask is not None
        rows, cols = np.nonzero(pair.mask)
        pick = int(self.rng.integers(0, len(rows)))
        top = min(max(int(rows[pick]) - p // 2, 0), max(h - p, 0))
        left = min(max(int(cols[pick]) - p // 2, 0), max(w - p, 0))
        return top, left

    def _crop(self, image: np.ndarray, top: int, left: int) -> np.ndarray:
        p = self.patch
        h, w = image.shape
        if h < p or w < p:
            image = np.pad(image, ((0, max(p - h, 0)), (0, max(p - w, 0))), mode="reflect")
        return image[top : top + p, left : left + p]

    def sample(self) -> dict[str, np.ndarray]:
        """``ir``, ``vis``, ``mask`` float32 ``(B, 1, P, P)`` and ``has_mask`` float32 ``(B,)``."""
        out: dict[str, list[np.ndarray | np.float32]] = {"ir": [], "vis": [], "mask": [], "has_mask": []}
        for index in self.rng.integers(0, len(self.pool), size=self.batch):
            pair = self.pool[int(index)]
            top, left = self._window(pair)
            if self.target_fraction > 0 and self.with_targets and self.rng.random() < self.target_fraction:
                pair = self.pool[self.with_targets[int(self.rng.integers(0, len(self.with_targets)))]]
                top, left = self._window(pair, centred_on_target=True)
            flip = bool(self.rng.integers(0, 2))
            mask = pair.mask if pair.mask is not None else np.zeros_like(pair.ir)
            for key, image in (("ir", pair.ir), ("vis", pair.vis), ("mask", mask)):
                crop = self._crop(image, top, left)
                out[key].append(np.ascontiguousarray(crop[:, ::-1] if flip else crop)[None])
            out["has_mask"].append(np.float32(pair.mask is not None))
        return {k: np.stack(v).astype(np.float32) for k, v in out.items()}
