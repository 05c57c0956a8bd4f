"""The results figures, plots and the HTML report show, from the cached runs.

:class:`CachedResults` is what the report commands hand to :mod:`fusionbench.reports` (which never
runs anything itself; it sees only :class:`fusionbench.reports.sources.ResultSource`):

- :meth:`CachedResults.run` returns a method's per-image results on a dataset through
  :func:`fusionbench.run`, which reuses the fused PNGs and per-image metric values cached under
  the run cache and computes only what is missing (as ``fusionbench table`` does);
- :meth:`CachedResults.panel` gives one picture of a figure: a source (``ir``/``vis``) read from
  the dataset, or a method's fused image read from the runner's cache (published/folder methods:
  from their own files), running the method only when the image is not cached yet;
- :meth:`CachedResults.efficiency` measures the efficiency table.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionbench.datasets.base import SOURCE_LABELS, SOURCE_ROLES
from fusionbench.io import read_image

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    """A method's run on one dataset split: the per-image frame and what the runner recorded."""

    method: Any  # fusionbench.methods.Method
    frame: pd.DataFrame
    manifest: dict[str, Any]
    run_dir: Path


@dataclass
class CachedResults:
    """Where the data and the caches are, shared by every lookup of one figure or report."""

    split: str = "test"
    data_root: str | os.PathLike[str] | None = None
    out: str | os.PathLike[str] | None = None
    metrics: str | list[str] | None = None
    convention: str = "tang"
    workers: int = 1
    progress: bool | None = None
    _runs: dict[tuple[str, str, str, str, tuple[str, ...]], RunResult] = field(default_factory=dict, repr=False)

    def run(
        self,
        method_id: str,
        dataset: str,
        options: dict[str, Any] | None = None,
        protocol: str | None = None,
        pairs: Sequence[str] | None = None,
    ) -> RunResult:
        """The run of ``method_id`` (built with ``options``) on ``dataset``; cached runs are reused.

        ``protocol`` (:mod:`fusionbench.protocols`) fixes the convention, adds its method options
        and keeps only its pairs; ``pairs`` (ids) runs only those.
        """
        from fusionbench.engine.runner import run
        from fusionbench.methods import get_method

        paper = None
        convention = self.convention
        if protocol is not None:
            from fusionbench.protocols import get_protocol

            paper = get_protocol(protocol)
            convention = paper.convention
            options = paper.options_for(method_id, options or {})
            pairs = paper.pairs_to_run(dataset, self.data_root, pairs)
        method = get_method(method_id, **(options or {}))
        key = (dataset, method.id, method.cache_key(), protocol or "", tuple(pairs or ()))
        if key not in self._runs:
            frame = run(
                method,
                dataset,
                split=self.split,
                metrics=self.metrics,
                convention=convention,
                data_root=self.data_root,
                out=self.out,
                workers=self.workers,
                progress=self.progress,
                pairs=pairs,
            )
            self._runs[key] = RunResult(method, frame, frame.attrs["manifest"], Path(frame.attrs["run_dir"]))
        return self._runs[key]

    def find_pair(self, dataset: str, pair_id: str) -> Any:
        """The :class:`~fusionbench.datasets.base.PairRecord` of ``pair_id``; a ValueError names close ids."""
        import difflib

        from fusionbench.datasets import get_dataset, resolve_data_root

        pairs = get_dataset(dataset).pairs(self.split, data_root=resolve_data_root(self.data_root))
        by_id = {p.id: p for p in pairs}
        if pair_id in by_id:
            return by_id[pair_id]
        close = difflib.get_close_matches(pair_id, list(by_id), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else f" (first ids: {', '.join(list(by_id)[:5])})"
        raise ValueError(f"dataset {dataset!r} split {self.split!r} has no pair {pair_id!r}{hint}")

    def panel(self, name: str, options: dict[str, Any], dataset: str, pair_id: str) -> tuple[np.ndarray, str]:
        """The picture and the default label of one panel: a source image, or the method's fused image.

        A fusing method's image is read from the runner's cache; only when it is not cached yet is the
        method run, on that pair alone (which caches it, and its scores, for the tables too).
        """
        from fusionbench.datasets import resolve_data_root
        from fusionbench.methods import get_method

        pair = self.find_pair(dataset, pair_id)
        if name.lower() in SOURCE_ROLES:
            role = SOURCE_ROLES[name.lower()]
            return read_image(pair.ir if role == "ir" else pair.vis), SOURCE_LABELS[role]
        method = get_method(name, **options)
        if method.provides_images:
            root = resolve_data_root(self.data_root)
            return read_image(method.fused_path(pair_id, dataset, self.split, root)), method.name
        path = self.fused_path(method, dataset, pair_id)
        if not path.is_file():
            result = self.run(name, dataset, options, pairs=[pair_id])
            recorded = result.manifest.get("fused_dir")
            path = Path(recorded) / path.name if recorded else path
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path}: the run of {method.id!r} on {dataset!r} left no cached fused image for pair {pair_id!r}"
                )
        return read_image(path), method.name

    def fused_path(self, method: Any, dataset: str, pair_id: str) -> Path:
        """Where the runner caches the fused PNG of ``pair_id``:
        ``<out>/fused/<method id>__<cache key>/<digest of the pair's IR and VIS bytes>.png``."""
        from fusionbench.engine.runner import resolve_out, slug
        from fusionbench.engine.units import content_digest, fused_path, sha256_hex

        pair = self.find_pair(dataset, pair_id)
        sources = content_digest(*(sha256_hex(Path(p).read_bytes()) for p in (pair.ir, pair.vis)))
        return fused_path(resolve_out(self.out) / "fused" / f"{slug(method.id)}__{method.cache_key()}", sources)

    def efficiency(self, method_ids: Sequence[str]) -> pd.DataFrame:
        """The efficiency table of ``method_ids`` (:func:`fusionbench.engine.efficiency.efficiency_table`)."""
        from fusionbench.engine.efficiency import efficiency_table

        return efficiency_table(method_ids)
