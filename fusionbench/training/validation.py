"""Model selection for SIDM-Fusion training: score a snapshot on the held-out validation pairs.

The validation pairs are carved from ``msrs/trainpool`` (half day, half night; see
:func:`fusionbench.training.data.validation_ids`) and left out of training; MSRS-142 and TNO-42
are never looked at. A snapshot's row holds, over those pairs (luminance only, convention
``tang``): the means of the six seed metrics, the mean of the per-image target contrast kept and
the mean roughness on infrared-bright target pixels (:mod:`fusionbench.metrics.objects`), next to
the same for plain averaging ``(IR + VIS) / 2`` (the fixed reference) and the IR image's own
roughness.

Selection (:func:`select`): a snapshot qualifies when it keeps at least
:data:`MIN_TARGET_CONTRAST` of the targets' infrared contrast and its roughness is at most
:data:`MAX_ROUGHNESS_RATIO` x the IR image's own; among those the highest
``score = sum over the six metrics of mean / mean of averaging`` wins. If none qualifies, the one
keeping the most target contrast wins among the snapshots taken after training began (step > 0):
the step-0 network of a fresh fusion network outputs almost nothing, whose target contrast of
about 0 would otherwise beat a trained model that inverts its targets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionbench.datasets.boxes import Box, pair_boxes

SEED_SIX = ("mi", "vif", "ag", "scd", "en", "qabf")
MIN_TARGET_CONTRAST = 0.5
MAX_ROUGHNESS_RATIO = 1.5


@dataclass(frozen=True)
class ValidationPair:
    id: str
    ir: np.ndarray  # float32 (H, W) on [0, 1]
    vis: np.ndarray  # float32 (H, W) on [0, 1], luminance
    boxes: list[Box] | None


def load_validation(ids: list[str], data_root: Any) -> list[ValidationPair]:
    """The validation pairs (luminance, on [0, 1]) with their infrared boxes."""
    from fusionbench.datasets import resolve_data_root
    from fusionbench.training.data import VALIDATION_SOURCE, load_pool

    if not ids:
        return []
    root = resolve_data_root(data_root)
    dataset, split = VALIDATION_SOURCE.split("/")
    pool = load_pool([VALIDATION_SOURCE], root, use_masks=False, only=ids)
    return [ValidationPair(p.id, p.ir, p.vis, pair_boxes(dataset, split, p.id, root)) for p in pool]


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def score_images(fused: list[np.ndarray], pairs: list[ValidationPair]) -> dict[str, float]:
    """Means over the pairs of the six metrics and the two object measures of ``fused`` (float on [0, 1])."""
    from fusionbench.metrics import compute
    from fusionbench.metrics.objects import ir_roughness, target_contrast

    rows = []
    for image, pair in zip(fused, pairs, strict=True):
        f, ir, vis = _to_uint8(image), _to_uint8(pair.ir), _to_uint8(pair.vis)
        row = compute(f, ir, vis, metrics=list(SEED_SIX), convention="tang")
        boxes = pair.boxes or []
        row["target_contrast"] = target_contrast(f, ir, boxes)
        row["ir_roughness"] = ir_roughness(f, ir, boxes)
        row["ir_self_roughness"] = ir_roughness(ir, ir, boxes)
        rows.append(row)
    return {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}


def fuse_all(model: Any, pairs: list[ValidationPair]) -> list[np.ndarray]:
    """The model's fused luminance of every pair (eval mode, no gradients)."""
    import torch

    was_training = model.training
    model.eval()
    out = []
    with torch.inference_mode():
        for pair in pairs:
            ir = torch.from_numpy(pair.ir)[None, None]
            vis = torch.from_numpy(pair.vis)[None, None]
            out.append(model(ir, vis)[0, 0].numpy())
    model.train(was_training)
    return out


def reference_scores(pairs: list[ValidationPair]) -> dict[str, float]:
    """The scores of plain averaging, the fixed reference of the selection score."""
    return score_images([(p.ir + p.vis) / 2 for p in pairs], pairs)


def selection_score(scores: dict[str, float], reference: dict[str, float]) -> float:
    """``sum over the six metrics of score / reference`` (all six are higher-is-better)."""
    return float(sum(scores[m] / reference[m] for m in SEED_SIX))


def qualifies(scores: dict[str, float]) -> bool:
    """Targets kept (contrast >= MIN_TARGET_CONTRAST) and no ridges (roughness <= MAX_ROUGHNESS_RATIO x IR's)."""
    contrast, rough, floor = scores["target_contrast"], scores["ir_roughness"], scores["ir_self_roughness"]
    if any(math.isnan(v) for v in (contrast, rough, floor)):
        return False
    return contrast >= MIN_TARGET_CONTRAST and rough <= MAX_ROUGHNESS_RATIO * floor


def select(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The chosen row of ``validation.csv`` rows (each with ``step``, ``score`` and the scores); see module doc."""
    if not rows:
        raise ValueError("no validated snapshot to choose from")
    eligible = [r for r in rows if qualifies(r)]
    if eligible:
        return max(eligible, key=lambda r: (float(r["score"]), int(r["step"])))
    trained = [r for r in rows if int(r["step"]) > 0] or rows
    return max(trained, key=lambda r: (float(r["target_contrast"]), int(r["step"])))
