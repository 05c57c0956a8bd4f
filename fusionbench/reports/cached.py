"""Read what the figures and the HTML report show from the cached runs, never recomputing them.

:func:`method_run` returns a method's per-image results on a dataset through
:func:`fusionbench.run`, which reuses the fused PNGs and per-image metric values cached under the
output folder and computes only what is missing (as ``fusionbench table`` does).
:func:`panel_image` gives one picture of a figure: a source (``ir``/``vis``) read from the dataset,
or a method's fused image read from the runner's cache (published/folder methods: from their own
files), running the method only when the image is not cached yet.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionbench.io import read_image

log = logging.getLogger(__name__)

#: Names in ``--methods`` that stand for the source images rather than a method.
SOURCES = {"ir": "ir", "vis": "vis", "vi": "vis"}
#: Panel labels of the sources.
SOURCE_LABELS = {"ir": "Infrared", "vis": "Visible"}


@dataclass(frozen=True)
class PanelSpec:
    """One panel of a comparison figure: a source image or a method (with its options)."""

    name: str  # "ir", "vis" or a method id
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # shown under the panel; default: the method's display name

    @property
    def is_source(self) -> bool:
        return self.name.lower() in SOURCES


@dataclass
class RunResult:
    """A method's run on one dataset split: the per-image frame and what the runner recorded."""

    method: Any  # fusionbench.methods.Method
    frame: pd.DataFrame
    manifest: dict[str, Any]
    run_dir: Path


@dataclass
class RunContext:
    """Where the data and the caches are, shared by every lookup of one figure or report."""

    split: str = "test"
    data_root: str | os.PathLike[str] | None = None
    out: str | os.PathLike[str] | None = None
    metrics: str | list[str] | None = None
    convention: str = "tang"
    workers: int = 1
    progress: bool | None = None
    _runs: dict[tuple[str, str, str], RunResult] = field(default_factory=dict, repr=False)


def method_run(ctx: RunContext, method_id: str, dataset: str, options: dict[str, Any] | None = None) -> RunResult:
    """The run of ``method_id`` (built with ``options``) on ``dataset``; cached runs are reused."""
    from fusionbench.methods import get_method
    from fusionbench.runner import run

    method = get_method(method_id, **(options or {}))
    key = (dataset, method.id, method.cache_key())
    if key not in ctx._runs:
        frame = run(
            method,
            dataset,
            split=ctx.split,
            metrics=ctx.metrics,
            convention=ctx.convention,
            data_root=ctx.data_root,
            out=ctx.out,
            workers=ctx.workers,
            progress=ctx.progress,
        )
        ctx._runs[key] = RunResult(method, frame, frame.attrs["manifest"], Path(frame.attrs["run_dir"]))
    return ctx._runs[key]


def find_pair(dataset: str, pair_id: str, ctx: RunContext) -> Any:
    """The :class:`~fusionbench.datasets.base.PairRecord` of ``pair_id``; a ValueError names close ids."""
    import difflib

    from fusionbench.datasets import get_dataset, resolve_data_root

    pairs = get_dataset(dataset).pairs(ctx.split, data_root=resolve_data_root(ctx.data_root))
    by_id = {p.id: p for p in pairs}
    if pair_id in by_id:
        return by_id[pair_id]
    close = difflib.get_close_matches(pair_id, list(by_id), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f" (first ids: {', '.join(list(by_id)[:5])})"
    raise ValueError(f"dataset {dataset!r} split {ctx.split!r} has no pair {pair_id!r}{hint}")


def panel_image(ctx: RunContext, spec: PanelSpec, dataset: str, pair_id: str) -> tuple[np.ndarray, str]:
    """The picture and the label of one panel: a source image, or the method's fused image.

    A fusing method's image is read from the runner's cache; only when it is not cached yet is the
    method run on the dataset (which caches it, and its scores, for the tables too).
    """
    from fusionbench.datasets import resolve_data_root
    from fusionbench.methods import get_method

    pair = find_pair(dataset, pair_id, ctx)
    if spec.is_source:
        role = SOURCES[spec.name.lower()]
        return read_image(pair.ir if role == "ir" else pair.vis), spec.label or SOURCE_LABELS[role]
    method = get_method(spec.name, **spec.options)
    label = spec.label or method.name
    if method.provides_images:
        return read_image(method.fused_path(pair_id, dataset, ctx.split, resolve_data_root(ctx.data_root))), label
    path = cached_fused_path(ctx, method, dataset, pair_id)
    if not path.is_file():
        result = method_run(ctx, spec.name, dataset, spec.options)
        recorded = result.manifest.get("fused_dir")
        path = Path(recorded) / path.name if recorded else path
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: the run of {method.id!r} on {dataset!r} left no cached fused image for pair {pair_id!r}"
            )
    return read_image(path), label


def cached_fused_path(ctx: RunContext, method: Any, dataset: str, pair_id: str) -> Path:
    """Where the runner caches the fused PNG of ``pair_id``:
    ``<out>/fused/<method id>__<cache key>/<digest of the pair's IR and VIS bytes>.png``."""
    from fusionbench.runner import resolve_out, slug
    from fusionbench.units import content_digest, fused_path, sha256_hex

    pair = find_pair(dataset, pair_id, ctx)
    sources = content_digest(*(sha256_hex(Path(p).read_bytes()) for p in (pair.ir, pair.vis)))
    return fused_path(resolve_out(ctx.out) / "fused" / f"{slug(method.id)}__{method.cache_key()}", sources)
