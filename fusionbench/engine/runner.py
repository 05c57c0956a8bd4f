"""The runner: fuse every pair of a dataset split with one method, score it, write the results.

``run(method, dataset)`` walks the pairs of a split in two kinds of work unit
(:mod:`fusionbench.engine.units`): *fuse* (method, pair), which caches the fused PNG as
``<out>/fused/<method id>__<cache key>/<sources digest>.png``, and *score* (pair, metric set). The
units run on an execution backend (:mod:`fusionbench.engine.backends`: serial, local processes, or a
Dask cluster) and their results stream back, one transaction each, into the results store
``<out>/results.sqlite`` (:mod:`fusionbench.engine.store`). Then the run's per-image CSV, summary and
manifest are written to ``<out>/runs/<dataset>/<split>/<method id>__<cache key>/<convention>-<run id>/``.

Cached files and run folders are keyed by what they were made from, never by a name a user chose:
the method's cache key (id, config, weights sha256, version) names the fused folder, the sha256
of the pair's IR and VIS bytes names each fused PNG, and the run id is a digest of every pair's
id and source digest, the method's key, the convention and the metric ids (and, for methods
that provide their images, the sha256 of those images). Two folder datasets with the same file
names, or the same run with another metric set, never share a file or a run folder.

Every store row carries its full key (dataset version, pair, method id + config hash + weights
sha256, metric id + convention + library version) and the sha256 of the files it was computed
from, and every file is written atomically, so a killed run resumes where it stopped and gives the
same result, a changed key part or input file recomputes, and two runs can share an output
folder. A pair that cannot be fused or scored is reported (``failures.csv`` and
:class:`PairFailureError`) after the other pairs have finished and been stored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fusionbench import __version__
from fusionbench.engine.backends import Backend, open_backend
from fusionbench.engine.store import STORE_NAME, ResultsStore, RunKey, output_lock
from fusionbench.engine.units import (
    Failure,
    FuseUnit,
    ScoreUnit,
    UnitContext,
    UnitResult,
    content_digest,
    fuse_unit,
    fused_path,
    score_unit,
)
from fusionbench.io import write_text_atomic
from fusionbench.metrics import get_convention, resolve_metrics
from fusionbench.metrics.conventions import Convention

log = logging.getLogger(__name__)

#: Default output folder (relative to the working directory) when neither ``out`` nor
#: ``$FUSIONBENCH_OUT`` is given.
DEFAULT_OUT = "fusionbench-out"
#: Bump when the way a stored score is computed changes (part of every score's key). 3: scores are
#: keyed by the sha256 of the very bytes a unit scored (earlier stores may hold scores of another
#: dataset's fused image that had the same file name).
RECORD_VERSION = 3
#: Hex digits of the run id in a run folder's name.
RUN_ID_DIGITS = 16
#: How many failures the error message quotes before "and N more".
SHOWN_FAILURES = 3


class PairFailureError(ValueError):
    """Some pairs could not be fused or scored; the others finished and are stored.

    ``failures`` holds one :class:`~fusionbench.engine.units.Failure` per failed pair.
    """

    def __init__(self, message: str, failures: Sequence[Failure]) -> None:
        super().__init__(message)
        self.failures = list(failures)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (str(self), self.failures))


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
    return _digest_full(obj)[:16]


def _digest_full(obj: Any) -> str:
    """The sha256 (64 hex digits) of ``obj`` as canonical JSON."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _progress(total: int, desc: str, enabled: bool | None) -> Any:
    from tqdm import tqdm

    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, desc=desc, unit="unit", disable=not enabled, file=sys.stderr)


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
    scheduler: str | Backend | None = None,
    progress: bool | None = None,
    dataset_options: dict[str, Any] | None = None,
    method_options: dict[str, Any] | None = None,
    pairs: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Fuse and score every pair of ``dataset``/``split`` with ``method`` (or only the ``pairs`` named).

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
        Units run at once: 1 = in this process; N = N local processes (joblib); with
        ``scheduler="local"``, the number of Dask worker processes.
    scheduler
        None (no Dask), ``"local"`` (start a Dask LocalCluster), ``"tcp://host:port"`` (a running
        Dask scheduler, whose workers must see the data root and output folder at the same paths),
        or a :class:`fusionbench.engine.backends.Backend` to share between runs (left open).
    pairs
        Pair ids (file stems) to run, in the dataset's order; None runs the whole split. An id the
        split does not have is an error.

    Returns
    -------
    pandas.DataFrame
        One row per pair: ``image``, one column per metric id, and the pair's tag columns (e.g.
        ``tag`` = day/night for MSRS). ``frame.attrs`` holds ``run_dir`` and ``manifest``.

    Raises
    ------
    PairFailureError
        Some pairs could not be fused or scored (each named with its file and the reason, also in
        ``failures.csv`` of the run folder); the other pairs finished and are stored, so a rerun
        computes only the failed ones.
    DatasetError, MethodError, UnknownNameError, StoreError, BackendError
        A dataset or method that cannot be used, an output folder that cannot be written (the
        message names the file), or a backend that cannot run.
    """
    from fusionbench.datasets import get_dataset, resolve_data_root
    from fusionbench.methods import get_method

    started = time.perf_counter()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    method_obj = get_method(method, **(method_options or {})) if isinstance(method, str) else method
    dataset_obj = get_dataset(dataset, **(dataset_options or {})) if isinstance(dataset, str) else dataset
    conv = get_convention(convention)
    metric_ids = resolve_metrics(metrics)
    out_root = resolve_out(out)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")

    tally = _Tally()
    root = resolve_data_root(data_root)
    plan = _plan(method_obj, dataset_obj, split, conv, metric_ids, root, out_root, tally, pairs)
    ctx, key, pairs = plan.ctx, plan.key, plan.pairs
    bar = _progress(2 * len(pairs), f"{method_obj.id} on {dataset_obj.name}", progress)
    with (
        output_lock(out_root, plan.folders) as stale,
        ResultsStore(out_root / STORE_NAME) as store,
        open_backend(workers, scheduler) as backend,
        bar,
    ):
        if stale:
            log.info("removed %d temp files left by an interrupted run", stale)
        ready = [p for p in pairs if p.id in plan.sources]
        fused = _fuse(ctx, key, store, backend, ready, plan, tally, bar)
        values = _score(ctx, key, store, backend, pairs, plan.sources, fused, metric_ids, tally, bar)
        describe = backend.describe()

    frame = _results_frame(pairs, values, metric_ids)
    manifest = _manifest(plan, dataset_obj, metric_ids, conv, out_root, tally, describe)
    manifest.update(started=started_at, wall_seconds=round(time.perf_counter() - started, 3))
    if tally.units_run == 0:  # every image and value came from the cache: when they were computed
        manifest.update(_previous_timing(plan.run_dir))
    if tally.failures:
        raise _failure_error(
            tally.failures, len(pairs), method_obj.id, dataset_obj.name, split, plan.run_dir, store.path
        )
    _write_run(plan.run_dir, frame, manifest, metric_ids)
    frame.attrs["run_dir"] = str(plan.run_dir)
    frame.attrs["manifest"] = manifest
    return frame


def _results_frame(pairs: Sequence[Any], values: dict[str, dict[str, float]], metric_ids: list[str]) -> pd.DataFrame:
    """One row per scored pair, in the dataset's order: ``image``, the metrics, the pair's tags."""
    done = [p for p in pairs if p.id in values]
    frame = pd.DataFrame(
        [{"image": p.id, **{m: values[p.id][m] for m in metric_ids}, **dict(p.tags)} for p in done],
        columns=None if done else ["image", *metric_ids],
    )
    frame["image"] = frame["image"].astype(str)
    return frame


def _only_pairs(pairs: Sequence[Any], only: Sequence[str], dataset: str, split: str) -> list[Any]:
    """The pairs whose id is in ``only``, in the dataset's order; an unknown id is a DatasetError."""
    from fusionbench.datasets import DatasetError

    if isinstance(only, str):
        only = [only]
    wanted = {str(i) for i in only}
    unknown = sorted(wanted - {p.id for p in pairs})
    if unknown:
        raise DatasetError(f"dataset {dataset!r} split {split!r} has no pair(s) {unknown}")
    if not wanted:
        raise DatasetError(f"no pairs asked for on dataset {dataset!r} split {split!r}")
    return [p for p in pairs if p.id in wanted]


@dataclass(frozen=True)
class _Plan:
    """Where one run reads and writes, and the digests of what it is made from."""

    ctx: UnitContext
    key: RunKey
    pairs: list[Any]
    sources: dict[str, str]  # pair id -> content digest of its IR and VIS bytes (readable pairs)
    provided: dict[str, str]  # pair id -> sha256 of the fused file, for methods that provide their images
    run_id: str
    run_dir: Path

    @property
    def folders(self) -> list[Path]:
        return [f for f in (self.ctx.fused_dir, self.run_dir) if f is not None]


def _plan(
    method: Any,
    dataset: Any,
    split: str,
    conv: Convention,
    metric_ids: Sequence[str],
    root: Path,
    out_root: Path,
    tally: _Tally,
    only: Sequence[str] | None = None,
) -> _Plan:
    """List and hash the pairs (``only`` those ids, if given), and lay out the run's folders (created
    here) from what it is made of."""
    from fusionbench.datasets import DatasetError

    pairs = dataset.pairs(split, data_root=root)
    if not pairs:
        raise DatasetError(f"dataset {dataset.name!r} split {split!r} has no pairs")
    if only is not None:
        pairs = _only_pairs(pairs, only, dataset.name, split)
    _check_unique_ids(dataset.name, split, pairs)
    key = _run_key(method, dataset.name, split, dataset.version(split), conv)
    method_dir = f"{slug(method.id)}__{method.cache_key()}"
    fused_dir = None if method.provides_images else out_root / "fused" / method_dir
    ctx = UnitContext(method, dataset.name, split, root, fused_dir, conv)
    sources = _sources_sha256(pairs, tally)
    provided = {p.id: _precomputed_sha256(ctx, p) for p in pairs if p.id in sources} if fused_dir is None else {}
    run_id = _digest_full(
        {
            "pairs": [[p.id, sources.get(p.id, "unreadable"), provided.get(p.id, "")] for p in pairs],
            "method": [method.cache_key(), key.config_hash, key.weights_sha256],
            "convention": key.convention,
            "metrics": list(metric_ids),
            "library": key.library,
        }
    )
    run_dir = out_root / "runs" / slug(dataset.name) / slug(split) / method_dir / f"{slug(conv.name)}-"
    run_dir = run_dir.with_name(run_dir.name + run_id[:RUN_ID_DIGITS])
    plan = _Plan(ctx, key, list(pairs), sources, provided, run_id, run_dir)
    for folder in plan.folders:
        folder.mkdir(parents=True, exist_ok=True)
    return plan


def _manifest(
    plan: _Plan,
    dataset: Any,
    metric_ids: Sequence[str],
    conv: Convention,
    out_root: Path,
    tally: _Tally,
    backend: dict[str, Any],
) -> dict[str, Any]:
    """The run's ``manifest.json``: what produced its numbers and from what (``started`` and
    ``wall_seconds`` are added by the caller)."""
    method = plan.ctx.method
    return {
        "fusionbench": __version__,
        "run_id": plan.run_id,
        "stage_seconds": {stage: round(tally.seconds[stage], 4) for stage in ("io", "fuse", "metrics")},
        "pairs": len(plan.pairs),
        "failed": len(tally.failures),
        "fused_from_cache": tally.fused_cached,
        "metrics_from_cache": tally.scored_cached,
        "workers": backend["workers"],
        "backend": backend,
        "method": {
            "id": method.id,
            "name": method.name,
            "kind": method.kind,
            "config": method.config(),
            "weights_sha256": method.weights_sha256(),
            "cache_key": method.cache_key(),
        },
        "dataset": {
            "name": dataset.name,
            "split": plan.ctx.split,
            "version": plan.key.dataset_version,
            "data_root": str(plan.ctx.data_root),
            "options": getattr(dataset, "options", dict)(),
        },
        "metrics": list(metric_ids),
        "convention": conv.as_dict(),
        "store": str(out_root / STORE_NAME),
        "fused_dir": str(plan.ctx.fused_dir) if plan.ctx.fused_dir is not None else None,
        "environment": environment(),
    }


def _previous_timing(run_dir: Path) -> dict[str, Any]:
    """``started`` and ``wall_seconds`` of the run folder's manifest (the run that computed its results), or {}."""
    try:
        previous = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(previous, dict):
        return {}
    return {k: previous[k] for k in ("started", "wall_seconds") if k in previous}


def _write_run(run_dir: Path, frame: pd.DataFrame, manifest: dict[str, Any], metric_ids: Sequence[str]) -> None:
    """Write the run folder's per-image CSV, summary and manifest, each atomically."""
    (run_dir / "failures.csv").unlink(missing_ok=True)
    summary = summarise(frame, metric_ids)
    write_text_atomic(run_dir / "per_image.csv", frame.to_csv(index=False, float_format="%.17g"))
    write_text_atomic(run_dir / "summary.csv", summary.to_csv(float_format="%.17g"))
    write_text_atomic(run_dir / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True, default=str))


@dataclass
class _Tally:
    """What the units of one run report: stage seconds, cache hits, failed pairs."""

    seconds: dict[str, float] = field(default_factory=lambda: {"io": 0.0, "fuse": 0.0, "metrics": 0.0})
    fused_cached: int = 0
    scored_cached: int = 0
    failures: dict[str, Failure] = field(default_factory=dict)
    units_run: int = 0  # fuse and score units computed (not from the cache)

    def add(self, result: UnitResult) -> bool:
        """Count ``result``'s seconds; record its failure. True when the unit succeeded."""
        self.units_run += 1
        for stage, value in result.seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + value
        if result.failure is not None:
            self.failures[result.pair_id] = result.failure
            return False
        return True


def _run_key(method: Any, dataset: str, split: str, version: str, conv: Convention) -> RunKey:
    return RunKey(
        dataset=dataset,
        split=split,
        dataset_version=version,
        method_id=method.id,
        config_hash=_digest({"config": method.config(), "version": method.version, "class": type(method).__name__}),
        weights_sha256=method.weights_sha256() or "",
        convention=f"{conv.name}@{_digest(conv.as_dict())}",
        library=f"fusionbench {__version__}; record {RECORD_VERSION}",
    )


def _check_unique_ids(dataset: str, split: str, pairs: Sequence[Any]) -> None:
    from fusionbench.datasets import DatasetError
    from fusionbench.datasets.base import listing

    seen: dict[str, Any] = {}
    duplicates = []
    for pair in pairs:
        if pair.id in seen:
            duplicates.append(f"{pair.id!r} ({seen[pair.id].ir} and {pair.ir})")
        seen[pair.id] = pair
    if duplicates:
        raise DatasetError(
            f"{dataset}/{split}: {len(duplicates)} duplicate pair id(s): {listing(duplicates)}; "
            f"every pair needs its own id (file stem)"
        )


def _sources_sha256(pairs: Sequence[Any], tally: _Tally) -> dict[str, str]:
    """``{pair id: content digest of the IR and VIS bytes}``; a pair whose files cannot be read is a failure."""
    sources = {}
    for pair in pairs:
        try:
            sources[pair.id] = content_digest(_file_sha256(Path(pair.ir)), _file_sha256(Path(pair.vis)))
        except OSError as exc:
            tally.failures[pair.id] = Failure(
                pair.id, "read", type(exc).__name__, f"pair {pair.id!r}: {exc.filename}: cannot read ({exc.strerror})"
            )
    return sources


def _fuse(
    ctx: UnitContext,
    key: RunKey,
    store: ResultsStore,
    backend: Backend,
    pairs: Sequence[Any],
    plan: _Plan,
    tally: _Tally,
    bar: Any,
) -> dict[str, str]:
    """Fuse the pairs whose cached PNG is missing or stale; returns ``{pair id: fused sha256}``."""
    if ctx.fused_dir is None:  # the method provides its fused images: digested by _plan
        bar.update(len(pairs))
        return {p.id: plan.provided[p.id] for p in pairs}
    fused: dict[str, str] = {}
    recorded = store.get_fused(key)
    todo = []
    for pair in pairs:
        sources = plan.sources[pair.id]
        path = fused_path(ctx.fused_dir, sources)
        record = recorded.get(pair.id)
        if record is not None and record[0] == sources and path.is_file() and _file_sha256(path) == record[1]:
            fused[pair.id] = record[1]
            tally.fused_cached += 1
            bar.update(1)
        else:
            todo.append(pair)
    for index, result in backend.map_unordered(fuse_unit, [FuseUnit(ctx, p) for p in todo]):
        bar.update(1)
        if tally.add(result):
            pair_id = todo[index].id
            store.put_fused(key, pair_id, result.sources, result.fused)
            fused[pair_id] = result.fused
    return fused


def _precomputed_sha256(ctx: UnitContext, pair: Any) -> str:
    """The sha256 of a published/folder method's fused file; "" when it cannot be read (the score
    unit then reports why)."""
    from fusionbench.methods import MethodError

    try:
        return _file_sha256(Path(ctx.method.fused_path(pair.id, ctx.dataset, ctx.split, ctx.data_root)))
    except (OSError, MethodError):
        return ""


def _score(
    ctx: UnitContext,
    key: RunKey,
    store: ResultsStore,
    backend: Backend,
    pairs: Sequence[Any],
    sources: dict[str, str],
    fused: dict[str, str],
    metric_ids: Sequence[str],
    tally: _Tally,
    bar: Any,
) -> dict[str, dict[str, float]]:
    """Score the fused pairs whose stored values are missing or stale; returns every pair's values.

    A stored value is reused only when it was computed from the pair's current IR, VIS and fused
    bytes; a new value is stored with the digest of the bytes its unit read."""
    ready = [p for p in pairs if p.id in fused]
    bar.update(len(pairs) - len(ready))
    inputs = {p.id: content_digest(sources[p.id], fused[p.id]) for p in ready if fused[p.id]}
    values = store.get_scores(key, inputs, metric_ids)
    units = []
    for pair in ready:
        missing = tuple(m for m in metric_ids if m not in values.get(pair.id, {}))
        if missing:
            units.append(ScoreUnit(ctx, pair, missing))
        else:
            tally.scored_cached += 1
            bar.update(1)
    for index, result in backend.map_unordered(score_unit, units):
        bar.update(1)
        if tally.add(result):
            pair_id = units[index].pair.id
            store.put_scores(key, pair_id, result.inputs, result.values)
            if result.inputs != inputs.get(pair_id) and len(result.values) < len(metric_ids):
                # Its files changed after they were hashed: the stored values of the other metrics are
                # of the old bytes, so this pair has no consistent row in this run.
                tally.failures[pair_id] = Failure(
                    pair_id, "score", "ChangedInput", f"pair {pair_id!r}: its files changed during the run; run again"
                )
                continue
            values.setdefault(pair_id, {}).update(result.values)
    return {p.id: values[p.id] for p in ready if p.id not in tally.failures and p.id in values}


def _failure_error(
    failures: dict[str, Failure], total: int, method: str, dataset: str, split: str, run_dir: Path, store: Path
) -> PairFailureError:
    """Write ``failures.csv`` and build the one-line error naming the failed pairs."""
    ordered = sorted(failures.values(), key=lambda f: f.pair_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["pair", "stage", "error", "message"])
    writer.writerows([f.pair_id, f.stage, f.error, f.message] for f in ordered)
    path = run_dir / "failures.csv"
    write_text_atomic(path, buffer.getvalue())
    shown = "; ".join(f.message for f in ordered[:SHOWN_FAILURES])
    more = f"; and {len(ordered) - SHOWN_FAILURES} more" if len(ordered) > SHOWN_FAILURES else ""
    done = total - len(ordered)
    stored = f"The other {done} pairs are stored in {store}" if done else "No pair was scored"
    return PairFailureError(
        f"{len(ordered)} of {total} pairs failed ({method} on {dataset}/{split}): {shown}{more}. "
        f"{stored}; every failure is listed in {path}",
        ordered,
    )


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
