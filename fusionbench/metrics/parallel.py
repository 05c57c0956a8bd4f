"""Scoring on several local processes: ``compute_batch(..., workers=N)`` and ``fusionbench eval --workers N``.

Scoring one 480 x 640 triple takes some 30 ms, so a pool's start-up matters. A fresh interpreter
per worker (joblib's loky) spends about 0.5 s importing numpy, OpenCV and fusionbench before its
first triple, longer than 40 triples take on two cores. Forking this process starts the workers in
milliseconds with every module imported, but a fork copies only the calling thread: a lock that
another thread held stays locked in the child for ever. So :func:`imap` forks only a process that
has no other Python thread and has not loaded torch (whose OpenMP pool does not survive a fork),
as the command line is, and only after shutting OpenCV's thread pool down (one OpenCV thread until
the workers are done; a child that touched the parent's pool would wait on its threads for ever).
Any other process (a notebook, a test session, a GUI) gets joblib's loky pool, reused between calls.

Each worker runs OpenCV on one thread, so that N workers share the cores instead of competing for
them. Results come back in input order and are the same numbers as in one process: OpenCV filters
each output pixel the same way whatever its thread count, the kernels' float sums are numpy's
pairwise sums (no threads), and the sums of products of integer images are exact in any order.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def imap(fn: Callable[[T], R], items: Iterable[T], workers: int = 1, *, chunksize: int = 1) -> Iterator[R]:
    """``fn(item)`` for each item, in order, lazily; on ``workers`` processes when ``workers > 1``.

    The workers start here, before the first result is asked for. ``fn`` must be picklable (a
    module-level function or a ``functools.partial`` of one). An exception ``fn`` raises is raised
    when its result is reached. ``chunksize`` items go to a worker at a time.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if workers == 1:
        return map(fn, items)
    if start_method() == "fork":
        return _forked(fn, items, workers, chunksize)
    from joblib.externals.loky import get_reusable_executor

    executor = get_reusable_executor(max_workers=workers, initializer=_single_opencv_thread)
    return executor.map(fn, items, chunksize=chunksize)


def start_method() -> str:
    """``"fork"`` or ``"loky"``: how :func:`imap` starts workers from this process (see the module docstring)."""
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if forkable and threading.active_count() == 1 and "torch" not in sys.modules:
        return "fork"
    return "loky"


def _forked(fn: Callable[[T], R], items: Iterable[T], workers: int, chunksize: int) -> Iterator[R]:
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # joins OpenCV's pool threads here, before the fork; the children inherit 1
    executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    results = executor.map(fn, items, chunksize=chunksize)  # forks now
    return _closing(results, executor, threads)


def _closing(results: Iterator[R], executor: ProcessPoolExecutor, threads: int) -> Iterator[R]:
    """``results``, then the pool shut down and OpenCV's thread count restored (also on an error)."""
    try:
        yield from results
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        import cv2

        cv2.setNumThreads(threads)


def _single_opencv_thread() -> None:
    """Initializer of a fresh (loky) worker: one OpenCV thread."""
    import cv2

    cv2.setNumThreads(1)
