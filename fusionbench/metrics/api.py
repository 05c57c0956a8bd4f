"""The public entry points: ``compute``, ``compute_batch``, ``create_metric``, ``list_metrics``.

``compute(fused, ir, vis)`` scores one triple as read from disk and returns ``{metric id: float}``;
``compute_batch`` scores many triples (numpy or torch path, batched by image size, optionally on
several processes) and returns a DataFrame with one row per triple. Within one call the metrics
share intermediates through the batch's cache (:mod:`fusionbench.metrics._shared`): the gray
levels and 256-bin histograms (EN, MI, CE) and the exact pixel moments (SCD, CC, SD, MSE, PSNR);
VIF computes the distorted image's moments once for both sources, SSIM the fused image's.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fusionbench.datasets.boxes import Box
from fusionbench.metrics import _backend, parallel
from fusionbench.metrics._inputs import DataRange, FusionBatch, from_stacks, prepare, range_for, to_stack
from fusionbench.metrics.conventions import Convention, get_convention
from fusionbench.metrics.objects import OBJECT_METRICS, ObjectMetricSpec, object_measures
from fusionbench.metrics.spec import METRICS, MetricSpec

log = logging.getLogger(__name__)

#: The six metrics of the seed paper's Table 1, in its column order.
SEED_METRICS = ("mi", "vif", "ag", "scd", "en", "qabf")


#: Display order: the seed six, then the extras.
METRIC_ORDER = (*SEED_METRICS, "sd", "sf", "cc", "psnr", "mse", "ssim", "qcb", "qcv", "nabf", "ce", "ei")


def list_metrics() -> list[MetricSpec]:
    """Every registered metric's spec: the seed six first, then the extras (others last)."""
    rank = {m: i for i, m in enumerate(METRIC_ORDER)}
    names = sorted(METRICS, key=lambda n: (rank.get(n, len(rank)), n))
    return [METRICS.get(name) for name in names]


def get_spec(metric_id: str) -> MetricSpec | ObjectMetricSpec:
    """The spec of ``metric_id`` (a pixel metric's :class:`MetricSpec`, or an object-level measure's
    :class:`~fusionbench.metrics.objects.ObjectMetricSpec`); unknown ids raise ``KeyError`` naming close matches."""
    if metric_id in OBJECT_METRICS:
        return OBJECT_METRICS.get(metric_id)
    return METRICS.get(metric_id)


def resolve_metrics(metrics: str | Sequence[str] | None) -> list[str]:
    """Normalise a metric selection: None -> the six seed metrics, ``"all"`` -> every pixel metric,
    a comma-separated string or a sequence of ids -> those ids (validated); ``"objects"`` among
    them stands for the object-level measures (:mod:`fusionbench.metrics.objects`)."""
    if metrics is None:
        return list(SEED_METRICS)
    if isinstance(metrics, str):
        if metrics.strip().lower() == "all":
            return [spec.id for spec in list_metrics()]
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    expanded = (OBJECT_METRICS.names() if m.strip().lower() == "objects" else [m] for m in metrics)
    ids = list(dict.fromkeys(m.strip().lower() for group in expanded for m in group))  # drop repeats, keep order
    for m in ids:
        if m not in OBJECT_METRICS:
            METRICS.get(m)
    if not ids:
        raise ValueError("no metrics selected")
    return ids


def evaluate(batch: FusionBatch, metric_ids: Sequence[str]) -> dict[str, Any]:
    """Run the kernels on a prepared batch: ``{id: (n_images,) array}`` (per-channel values averaged)."""
    out: dict[str, Any] = {}
    xp = batch.xp
    with np.errstate(divide="ignore", invalid="ignore"):
        for metric_id in metric_ids:
            values = METRICS.get(metric_id).kernel(batch)
            if batch.n_channels > 1:
                values = xp.mean(xp.reshape(values, (batch.n_images, batch.n_channels)), axis=1)
            out[metric_id] = values
    return out


def prepare_batch(fused: Any, ir: Any, vis: Any, convention: Convention, data_range: DataRange) -> FusionBatch:
    """:func:`~fusionbench.metrics._inputs.prepare`, with the roles given as numpy uint8 images on
    0..255 marked as integer levels (``integer_roles``), which lets kernels use exact integer paths."""
    batch = prepare(fused, ir, vis, convention, data_range)
    unscaled = [range_for(role, data_range) in (None, 255.0) for role in ("fused", "ir", "vis")]
    _mark_integer_roles(batch, [x if keep else None for x, keep in zip((fused, ir, vis), unscaled, strict=True)])
    return batch


def _mark_integer_roles(batch: FusionBatch, images: Sequence[Any]) -> None:
    """Add the roles whose (fused, ir, vis) image is a numpy uint8 array to ``batch.integer_roles``."""
    uint8 = {r for r, x in zip("fab", images, strict=True) if isinstance(x, np.ndarray) and x.dtype == np.uint8}
    batch.integer_roles = batch.integer_roles | uint8


def _functional(
    metric_id: str, fused: Any, ir: Any, vis: Any, convention: str | Convention, data_range: DataRange
) -> Any:
    batch = prepare_batch(fused, ir, vis, get_convention(convention), data_range)
    values = evaluate(batch, [metric_id])[metric_id]
    if _backend.is_torch(values):
        return values
    return float(values[0])


def compute(
    fused: Any,
    ir: Any,
    vis: Any,
    metrics: str | Sequence[str] | None = None,
    convention: str | Convention = "tang",
    *,
    data_range: DataRange = None,
    boxes: Sequence[Box] | None = None,
) -> dict[str, float]:
    """Score one fused image against its IR and VIS sources.

    Parameters
    ----------
    fused, ir, vis
        Images as read from disk: uint8 (or float on 0..255) numpy arrays ``(H, W)`` or ``(H, W, 3)``
        RGB, or torch tensors ``(C, H, W)``/``(1, C, H, W)``. Colour is handled by the convention.
    metrics
        Metric ids (``["mi", "qabf"]`` or ``"mi,qabf"``), ``"all"``, or None for the seed six
        (MI, VIF, AG, SCD, EN, Q^AB/F).
    convention
        ``"tang"`` (default), ``"tang-corrected"``, ``"tang-old"``, ``"vifb"``, ``"cdd"`` or a
        :class:`~fusionbench.metrics.conventions.Convention`.
    data_range
        Full scale of the input values; required for 16-bit images (e.g. 65535). Values are mapped
        to 0..255. A mapping gives one value per role: ``{"ir": 65535}``.
    boxes
        The pair's object boxes (:class:`~fusionbench.datasets.boxes.Box`), for the object-level
        measures ``target_contrast`` and ``ir_roughness``; without boxes those are NaN.

    Returns
    -------
    dict
        ``{metric id: value}`` as Python floats; NaN where the metric is undefined (e.g. VIF with a
        constant source), never silently replaced.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ir, vis = (rng.integers(0, 256, (64, 64), dtype=np.uint8) for _ in range(2))
    >>> fused = ((ir.astype(float) + vis) / 2).round().astype(np.uint8)
    >>> sorted(compute(fused, ir, vis))
    ['ag', 'en', 'mi', 'qabf', 'scd', 'vif']
    """
    ids = resolve_metrics(metrics)
    pixel_ids = [m for m in ids if m not in OBJECT_METRICS]
    batch = prepare_batch(fused, ir, vis, get_convention(convention), data_range)
    if batch.n_images != 1:
        raise ValueError(f"compute() scores one triple, got a batch of {batch.n_images}: use compute_batch()")
    values = {k: float(_backend.to_numpy(v)[0]) for k, v in evaluate(batch, pixel_ids).items()}
    object_ids = [m for m in ids if m in OBJECT_METRICS]
    if object_ids:
        values.update(object_measures(_backend.to_numpy(fused), _backend.to_numpy(ir), boxes, object_ids))
    return {m: values[m] for m in ids}


@dataclass
class _Prepared:
    index: int
    fused: Any
    ir: Any
    vis: Any


def compute_batch(
    fused: Any,
    ir: Any,
    vis: Any,
    metrics: str | Sequence[str] | None = None,
    convention: str | Convention = "tang",
    *,
    backend: str = "numpy",
    device: str | None = None,
    batch_size: int = 16,
    workers: int = 1,
    names: Sequence[str] | None = None,
    data_range: DataRange = None,
) -> Any:
    """Score many triples; one row per triple, in input order.

    ``fused``, ``ir``, ``vis`` are equal-length sequences of images (sizes may differ between
    triples) or torch tensors ``(N, C, H, W)``. Triples of the same size are stacked and evaluated
    together, ``batch_size`` at a time; ``backend="torch"`` runs on ``device`` (default: the
    tensors' device, else CPU) in float64. ``workers > 1`` (numpy backend) scores on that many
    local processes (:mod:`fusionbench.metrics.parallel`), with the same values as one. Returns a
    ``pandas.DataFrame`` with column ``image`` (``names`` or the index) and one column per metric id.
    """
    import pandas as pd

    ids = resolve_metrics(metrics)
    conv = get_convention(convention)
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch', got {backend!r}")
    if workers < 1 or (workers > 1 and backend != "numpy"):
        raise ValueError(f"workers must be 1, or > 1 with backend='numpy'; got workers={workers}, backend={backend!r}")
    triples = _split_triples(fused, ir, vis)
    if names is not None and len(names) != len(triples):
        raise ValueError(f"names has {len(names)} entries for {len(triples)} triples")
    labels = list(names) if names is not None else list(range(len(triples)))
    score = functools.partial(
        _score_rows, ids=ids, conv=conv, data_range=data_range, backend=backend, device=device, batch_size=batch_size
    )
    if workers == 1:
        rows = score((triples, labels))
    else:
        step = -(-len(triples) // (4 * workers))  # about four chunks per worker, for balance
        chunks = [(triples[i : i + step], labels[i : i + step]) for i in range(0, len(triples), step)]
        rows = [row for part in parallel.imap(score, chunks, workers) for row in part]
    frame = pd.DataFrame(rows, columns=ids)
    frame.insert(0, "image", labels)
    return frame


def _score_rows(
    part: tuple[list[tuple[Any, Any, Any]], list[Any]],
    *,
    ids: list[str],
    conv: Convention,
    data_range: DataRange,
    backend: str,
    device: str | None,
    batch_size: int,
) -> list[dict[str, float]]:
    """The metric values of ``part = (triples, labels)``, one dict per triple in order: triples of
    one size are stacked ``batch_size`` at a time; ``labels`` name the triples in errors."""
    triples, labels = part
    groups: dict[tuple, list[_Prepared]] = {}
    for i, (f, a, b) in enumerate(triples):
        stacks = []
        for role, x in (("fused", f), ("ir", a), ("vis", b)):
            try:
                stacks.append(to_stack(x, role, range_for(role, data_range), keep_uint8=True).data)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"triple {labels[i]}: {exc}") from None
        key = tuple(tuple(s.shape[1:]) for s in stacks)
        groups.setdefault(key, []).append(_Prepared(i, *stacks))

    rows: dict[int, dict[str, float]] = {}
    for members in groups.values():
        for start in range(0, len(members), batch_size):
            chunk = members[start : start + batch_size]
            stacked = [_concat([getattr(p, r) for p in chunk]) for r in ("fused", "ir", "vis")]
            if backend == "torch":
                stacked = [_as_torch(s, device) for s in stacked]
            elif _backend.is_torch(stacked[0]):
                stacked = [_backend.to_numpy(s) for s in stacked]
            fused, ir, vis = stacked
            batch = from_stacks(fused, ir, vis, conv, label=f"triple {labels[chunk[0].index]}: ")
            _mark_integer_roles(batch, stacked)
            values = {k: _backend.to_numpy(v) for k, v in evaluate(batch, ids).items()}
            for j, p in enumerate(chunk):
                rows[p.index] = {k: float(v[j]) for k, v in values.items()}
    return [rows[i] for i in range(len(triples))]


def _split_triples(fused: Any, ir: Any, vis: Any) -> list[tuple[Any, Any, Any]]:
    if _backend.is_torch(fused) and fused.ndim == 4:
        sizes = {len(fused), len(ir), len(vis)}
        if len(sizes) != 1:
            raise ValueError(f"batch sizes differ: fused {len(fused)}, ir {len(ir)}, vis {len(vis)}")
        return [(fused[i], ir[i], vis[i]) for i in range(len(fused))]
    if isinstance(fused, np.ndarray) or _backend.is_torch(fused):
        raise TypeError("compute_batch expects sequences of images (or 4-D torch tensors); use compute() for one")
    fused, ir, vis = list(fused), list(ir), list(vis)
    if not (len(fused) == len(ir) == len(vis)):
        raise ValueError(f"sequence lengths differ: fused {len(fused)}, ir {len(ir)}, vis {len(vis)}")
    if not fused:
        raise ValueError("no triples given")
    return list(zip(fused, ir, vis, strict=True))


def _concat(parts: list[Any]) -> Any:
    if _backend.is_torch(parts[0]):
        import torch

        return torch.cat(parts, dim=0)
    return np.concatenate(parts, axis=0)


def _as_torch(x: Any, device: str | None) -> Any:
    import torch

    if _backend.is_torch(x):
        return x.to(device=device or x.device, dtype=torch.float64)
    return torch.as_tensor(x, dtype=torch.float64, device=device or "cpu")


class Metric:
    """A metric bound to a convention (pyiqa's ``create_metric`` object).

    >>> m = create_metric("qabf")
    >>> m.spec.higher_is_better
    True
    """

    def __init__(self, metric_id: str, convention: str | Convention = "tang") -> None:
        self.spec = get_spec(metric_id)
        self.convention = get_convention(convention)

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def higher_is_better(self) -> bool:
        return self.spec.higher_is_better

    def __call__(self, fused: Any, ir: Any, vis: Any, *, data_range: DataRange = None) -> Any:
        return _functional(self.spec.id, fused, ir, vis, self.convention, data_range)

    def __repr__(self) -> str:
        return f"Metric({self.spec.id!r}, convention={self.convention.name!r})"


def create_metric(metric_id: str, convention: str | Convention = "tang") -> Metric:
    """A callable metric object with its metadata (``.spec``, ``.higher_is_better``)."""
    return Metric(metric_id, convention)
