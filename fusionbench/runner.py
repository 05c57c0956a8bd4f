"""The runner: fuse every pair of a dataset split with one method, score it, write the results.

``run(method, dataset)`` walks the pairs of a split. For each pair it fuses (or, for ``published:``
and ``folder:`` methods, loads the given fused image), caches the fused PNG under
``<out>/fused/<method key>/...`` and the per-image metric values under ``<out>/metrics/...``,
then writes the run's per-image CSV, summary and manifest to
``<out>/runs/<dataset>/<split>/<method>__<cache key>/<convention>/``.

Every file is written atomically (temp file + rename) and every cache entry carries the key it was
computed for (method id, config and weights hash; input and fused image hashes; metric ids;
convention; fusionbench version), so an interrupted run resumes where it stopped and gives the
same result, and a changed key recomputes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionbench import __version__
from fusionbench.io import read_image, write_image_atomic, write_text_atomic
from fusionbench.metrics import compute, get_convention, resolve_metrics
from fusionbench.metrics.conventions import Convention

log = logging.getLogger(__name__)

#: Default output folder (relative to the working directory) when neither ``out`` nor
#: ``$FUSIONBENCH_OUT`` is given.
DEFAULT_OUT = "fusionbench-out"
#: Bump when the cached per-image record format changes.
RECORD_VERSION = 1


def resolve_out(out: str | os.PathLike[str] | None = None) -> Path:
    """The output folder: ``out``, else ``$FUSIONBENCH_OUT``, else ``./fusionbench-out``."""
    if out is not None:
        return Path(out)
    return Path(os.environ.get("FUSIONBENCH_OUT", DEFAULT_OUT))


def slug(text: str) -> str:
    """A file-name-safe form of a method or dataset id (``published:piafusion`` -> ``published-piafusion``)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in text)
    if len(safe) > 48:
        safe = safe[:32] + "-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return safe.strip("-") or "unnamed"


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class _PairJob:
    """Everything a (possibly separate) worker process needs to handle one pair."""

    pair: Any
    method: Any
    dataset: str
    split: str
    data_root: Path
    fused_dir: Path | None
    metrics_dir: Path
    metric_ids: list[str]
    convention: Convention
    metric_key: str


@dataclass
class _PairOutcome:
    row: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    fused_cached: bool = False
    metrics_cached: bool = False


def _process_pair(job: _PairJob) -> _PairOutcome:
    """Fuse (or load) one pair, score it, cache both; returns its row and stage timings."""
    from fusionbench.methods import fuse, load_fused

    pair = job.pair
    seconds = {"io": 0.0, "fuse": 0.0, "metrics": 0.0}
    t = time.perf_counter()
    ir = read_image(pair.ir)
    vis = read_image(pair.vis)
    seconds["io"] += time.perf_counter() - t

    fused_cached = False
    if job.method.provides_images:
        t = time.perf_counter()
        fused = load_fused(
            job.method, pair.id, ir.shape[:2], dataset=job.dataset, split=job.split, data_root=job.data_root
        )
        fused_path = job.method.fused_path(pair.id, job.dataset, job.split, job.data_root)
        seconds["io"] += time.perf_counter() - t
    else:
        assert job.fused_dir is not None
        fused_path = job.fused_dir / f"{pair.id}.png"
        if fused_path.is_file():
            t = time.perf_counter()
            fused = read_image(fused_path)
            seconds["io"] += time.perf_counter() - t
            fused_cached = True
        else:
            t = time.perf_counter()
            fused = fuse(job.method, ir, vis)
            seconds["fuse"] += time.perf_counter() - t
            t = time.perf_counter()
            write_image_atomic(fused_path, fused)
            seconds["io"] += time.perf_counter() - t

    t = time.perf_counter()
    key = _digest(
        {
            "metric_key": job.metric_key,
            "fused": _file_sha256(fused_path),
            "ir": _file_sha256(Path(pair.ir)),
            "vis": _file_sha256(Path(pair.vis)),
        }
    )
    record_path = job.metrics_dir / f"{pair.id}.json"
    seconds["io"] += time.perf_counter() - t
    record = _read_record(record_path)
    if record is not None and record.get("key") == key:
        values = record["values"]
        metrics_cached = True
    else:
        t = time.perf_counter()
        try:
            values = compute(fused, ir, vis, metrics=job.metric_ids, convention=job.convention)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"pair {pair.id}: {exc}") from None
        seconds["metrics"] += time.perf_counter() - t
        record = {"version": RECORD_VERSION, "key": key, "pair": pair.id, "values": values}
        write_text_atomic(record_path, json.dumps(record, allow_nan=True, sort_keys=True))
        metrics_cached = False
    row = {"image": pair.id, **{m: values[m] for m in job.metric_ids}, **dict(pair.tags)}
    return _PairOutcome(row=row, seconds=seconds, fused_cached=fused_cached, metrics_cached=metrics_cached)


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _remove_stale_temp_files(folders: Iterable[Path]) -> int:
    """Delete temp files a killed run left behind (``.<name>.<hex>.tmp``); returns how many."""
    removed = 0
    for folder in folders:
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed


def _limit_threads() -> None:
    """One thread per worker process for OpenCV and torch, so N workers do not oversubscribe."""
    import cv2

    cv2.setNumThreads(1)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass


def _progress(total: int, desc: str, enabled: bool | None) -> Any:
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="pair", disable=not enabled, file=sys.stderr)


def run(
    method: Any,
    dataset: Any,
    split: str = "test",
    metrics: str | Sequence[str] | None = None,
    convention: str | Convention = "tang",
    data_root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    workers: int = 1,
    progress: bool | None = None,
    dataset_options: dict[str, Any] | None = None,
    method_options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Fuse and score every pair of ``dataset``/``split`` with ``method``.

    Parameters
    ----------
    method
        A method id (``"gff"``, ``"published:piafusion"``, ``"folder:/path/to/fused"``) or a
        :class:`fusionbench.methods.Method`.
    dataset
        A dataset id (``"tno"``, ``"msrs"``, ``"roadscene"``, ``"demo"``, ``"folder"`` with
        ``dataset_options={"ir": DIR, "vi": DIR}``) or a :class:`fusionbench.datasets.Dataset`.
    metrics, convention
        As for :func:`fusionbench.metrics.compute` (default: the seed six under ``tang``).
    data_root
        Where the datasets live (default: ``$FUSIONBENCH_DATA``, else the user data folder).
    out
        Output folder (default: ``$FUSIONBENCH_OUT``, else ``./fusionbench-out``).
    workers
        Processes to use (1 = in this process).

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``image``, one column per metric id, and the pair's tag columns (e.g.
        ``tag`` = day/night for MSRS). ``frame.attrs`` holds ``run_dir`` and ``manifest``.
    """
    from fusionbench.datasets import get_dataset, resolve_data_root
    from fusionbench.methods import get_method

    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    method_obj = get_method(method, **(method_options or {})) if isinstance(method, str) else method
    dataset_obj = get_dataset(dataset, **(dataset_options or {})) if isinstance(dataset, str) else dataset
    conv = get_convention(convention)
    metric_ids = resolve_metrics(metrics)
    root = resolve_data_root(data_root)
    out_root = resolve_out(out)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")

    pairs = dataset_obj.pairs(split, data_root=root)
    if not pairs:
        raise ValueError(f"dataset {dataset_obj.name!r} split {split!r} has no pairs")
    dataset_version = dataset_obj.version(split)
    method_dir = f"{slug(method_obj.id)}__{method_obj.cache_key()}"
    data_dir = Path(slug(dataset_obj.name)) / slug(split)
    fused_dir = None if method_obj.provides_images else out_root / "fused" / method_dir / data_dir
    convention_dir = f"{slug(conv.name)}__{_digest(conv.as_dict())}"
    metrics_dir = out_root / "metrics" / method_dir / data_dir / convention_dir
    run_dir = out_root / "runs" / data_dir / method_dir / slug(conv.name)
    for folder in (fused_dir, metrics_dir, run_dir):
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
    stale = _remove_stale_temp_files(f for f in (fused_dir, metrics_dir, run_dir) if f is not None)
    if stale:
        log.info("removed %d temp files left by an interrupted run", stale)

    metric_key = _digest(
        {
            "record": RECORD_VERSION,
            "fusionbench": __version__,
            "metrics": metric_ids,
            "convention": conv.as_dict(),
        }
    )
    jobs = [
        _PairJob(
            pair=p,
            method=method_obj,
            dataset=dataset_obj.name,
            split=split,
            data_root=root,
            fused_dir=fused_dir,
            metrics_dir=metrics_dir,
            metric_ids=metric_ids,
            convention=conv,
            metric_key=metric_key,
        )
        for p in pairs
    ]
    outcomes = _execute(jobs, workers, _progress(len(jobs), f"{method_obj.id} on {dataset_obj.name}", progress))

    frame = pd.DataFrame([o.row for o in outcomes])
    frame["image"] = frame["image"].astype(str)
    timings = {stage: round(sum(o.seconds.get(stage, 0.0) for o in outcomes), 4) for stage in ("io", "fuse", "metrics")}
    manifest = {
        "fusionbench": __version__,
        "started": started_at,
        "wall_seconds": round(time.perf_counter() - started, 3),
        "stage_seconds": timings,
        "pairs": len(pairs),
        "fused_from_cache": sum(o.fused_cached for o in outcomes),
        "metrics_from_cache": sum(o.metrics_cached for o in outcomes),
        "workers": workers,
        "method": {
            "id": method_obj.id,
            "name": method_obj.name,
            "kind": method_obj.kind,
            "config": method_obj.config(),
            "weights_sha256": method_obj.weights_sha256(),
            "cache_key": method_obj.cache_key(),
        },
        "dataset": {
            "name": dataset_obj.name,
            "split": split,
            "version": dataset_version,
            "data_root": str(root),
        },
        "metrics": metric_ids,
        "convention": conv.as_dict(),
        "environment": environment(),
    }
    summary = summarise(frame, metric_ids)
    write_text_atomic(run_dir / "per_image.csv", frame.to_csv(index=False, float_format="%.17g"))
    write_text_atomic(run_dir / "summary.csv", summary.to_csv(float_format="%.17g"))
    write_text_atomic(run_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str))
    frame.attrs["run_dir"] = str(run_dir)
    frame.attrs["manifest"] = manifest
    return frame


def _execute(jobs: list[_PairJob], workers: int, bar: Any) -> list[_PairOutcome]:
    outcomes: list[_PairOutcome] = []
    with bar:
        if workers == 1:
            for job in jobs:
                outcomes.append(_process_pair(job))
                bar.update(1)
            return outcomes
        with ProcessPoolExecutor(max_workers=workers, initializer=_limit_threads) as pool:
            for outcome in pool.map(_process_pair, jobs):
                outcomes.append(outcome)
                bar.update(1)
    return outcomes


def summarise(frame: pd.DataFrame, metric_ids: Sequence[str]) -> pd.DataFrame:
    """Mean, sample standard deviation (ddof = 1) and count per metric; NaN values are skipped."""
    values = frame[list(metric_ids)]
    return pd.DataFrame({"mean": values.mean(), "std": values.std(ddof=1), "count": values.count()})


def environment() -> dict[str, Any]:
    """Versions and machine facts recorded in every run manifest."""
    import cv2
    import scipy
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "opencv": cv2.__version__,
        "torch": torch.__version__,
        "pandas": pd.__version__,
        "device": "cpu",
        "cpu_count": os.cpu_count(),
        "git_sha": _git_sha(),
    }


def _git_sha() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None
