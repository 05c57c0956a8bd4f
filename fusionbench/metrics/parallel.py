"""Scoring on several local processes: ``compute_batch(..., workers=N)`` and ``fusionbench eval --workers N``.

Scoring one 480 x 640 triple takes some 30 ms, so a pool's start-up matters. A fresh interpreter
per worker (joblib's loky) spends about 0.5 s importing numpy, OpenCV and fusionbench before its
first triple, longer than 40 triples take on two cores. So where the platform can fork and torch is
not loaded in this process (its OpenMP thread pool does not survive a fork), the workers are forked
from this process: ready in milliseconds with every module already imported. Elsewhere joblib's
loky pool is used (reused between calls, so only the first call pays the start-up).

Each worker runs OpenCV on one thread, so that N workers share the cores instead of competing for
them. Results come back in input order and are the same numbers as in one process: OpenCV filters
each output pixel the same way whatever its thread count, the kernels' float sums are numpy's
pairwise sums (no threads), and BLAS is used only for dot products of integer images, which are exact.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def imap(fn: Callable[[T], R], items: Iterable[T], workers: int = 1, *, chunksize: int = 1) -> Iterator[R]:
    """``fn(item)`` for each item, in order, lazily; on ``workers`` processes when ``workers > 1``.

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one). An
    exception ``fn`` raises is raised here when its result is reached. ``chunksize`` items go to a
    worker at a time.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        yield from map(fn, items)
        return
    executor = _executor(workers)
    try:
        yield from executor.map(fn, items, chunksize=chunksize)
    finally:
        if isinstance(executor, ProcessPoolExecutor):
            executor.shutdown(wait=True, cancel_futures=True)


def start_method() -> str:
    """``"fork"`` or ``"loky"``: how :func:`imap` starts its workers in this process (see the module docstring)."""
    if "fork" in multiprocessing.get_all_start_methods() and "torch" not in sys.modules:
        return "fork"
    return "loky"


def _executor(workers: int) -> Executor:
    if start_method() == "fork":
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"), initializer=_init_worker)
    from joblib.externals.loky import get_reusable_executor

    return get_reusable_executor(max_workers=workers, initializer=_init_worker)


def _init_worker() -> None:
    """One OpenCV thread per worker process."""
    import cv2

    cv2.setNumThreads(1)
