"""The Python API behind ``fusionbench.run``, ``fuse``, ``table`` and ``compute``.

``run`` (:func:`fusionbench.engine.runner.run`), ``fuse`` (:func:`fusionbench.methods.fuse`) and
``compute`` (:func:`fusionbench.metrics.compute`) are the engine's, the methods' and the metrics'
own functions; :func:`table` composes them: it collects the runs of Table 1 through the engine
and hands their per-image results to :func:`fusionbench.reports.tables.summarize`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator, Sequence

import pandas as pd

from fusionbench.engine.backends import open_backend
from fusionbench.engine.runner import run
from fusionbench.methods import fuse, get_method
from fusionbench.metrics import compute, resolve_metrics
from fusionbench.metrics.conventions import Convention
from fusionbench.protocols import Protocol, get_protocol
from fusionbench.reports.tables import (
    TableRun,
    method_label,
    split_dataset_limit,
    split_method_options,
    split_names,
    summarize,
)

__all__ = ["compute", "fuse", "run", "table"]


def table(
    methods: str | Sequence[str],
    datasets: str | Sequence[str],
    split: str = "test",
    metrics: str | Sequence[str] | None = None,
    convention: str | Convention = "tang",
    data_root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    by: str | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    progress: bool | None = False,
    ci: bool = False,
    versus: str | None = None,
    protocol: str | None = None,
) -> pd.DataFrame:
    """Table 1: mean metric values per (dataset, method[, tag]) from the runs (cached runs are reused).

    ``methods`` are ids; ``id@tno+msrs`` runs a method on those datasets only
    (:func:`~fusionbench.reports.tables.split_dataset_limit`); ``id[key=value,...]`` passes method
    options (:func:`~fusionbench.reports.tables.split_method_options`), and the row's label names them.
    ``out`` is the run cache; ``workers`` and ``scheduler`` are as for :func:`fusionbench.run`, and
    the runs share one backend. ``by``, ``ci`` and ``versus`` are as for
    :func:`~fusionbench.reports.tables.summarize`, which gives the columns.

    ``protocol`` (``"tang"``, ``"cddfuse"``; :mod:`fusionbench.protocols`) fixes the convention,
    gives its method options (an option in ``id[key=value]`` wins) and scores its pair subsets.

    >>> table("average", "demo", metrics="en", progress=False)[["dataset", "method", "n"]]
      dataset   method  n
    0    demo  Average  6
    """
    metric_ids = resolve_metrics(metrics)
    paper = get_protocol(protocol) if protocol is not None else None
    if paper is not None:
        convention = paper.convention
    with open_backend(workers, scheduler) as backend:  # one cluster for all the runs
        run_one = functools.partial(
            run,
            split=split,
            metrics=metric_ids,
            convention=convention,
            data_root=data_root,
            out=out,
            workers=workers,
            scheduler=backend,
            progress=progress,
        )
        runs = list(_table_runs(methods, datasets, paper, run_one, data_root))
    return summarize(runs, metric_ids, by=by, ci=ci, versus=versus, protocol=paper.name if paper else None)


def _table_runs(
    methods: str | Sequence[str],
    datasets: str | Sequence[str],
    paper: Protocol | None,
    run_one: Callable[..., pd.DataFrame],
    data_root: str | os.PathLike[str] | None,
) -> Iterator[TableRun]:
    """Each (dataset, method) run of the table, in the order given, skipping ``id@dataset`` limits."""
    for dataset in split_names(datasets):
        for method_spec in split_names(methods):
            method_part, only = split_dataset_limit(method_spec)
            if only is not None and dataset not in only:
                continue
            method_id, options = split_method_options(method_part)
            if paper is not None:
                options = paper.options_for(method_id, options)
            method = get_method(method_id, **options)
            pairs = paper.pairs_to_run(dataset, data_root) if paper is not None else None
            frame = run_one(method, dataset, pairs=pairs)  # under a protocol: only the pairs it scores
            yield TableRun(dataset, method_label(method.name, options), method_part, frame)
