"""Execution backends: where the runner's work units run.

One small interface, :class:`Backend`, with three implementations:

``serial`` (:class:`SerialBackend`)
    every unit in this process, in order (``workers=1``, no ``scheduler``);
``processes`` (:class:`ProcessBackend`)
    ``workers`` local processes through joblib's loky pool (``workers=N``);
``dask`` (:class:`DaskBackend`)
    a Dask distributed cluster: ``scheduler="local"`` starts a :class:`distributed.LocalCluster` of
    ``workers`` processes (one thread each), ``scheduler="tcp://host:port"`` connects to a
    running scheduler. Needs the ``dask`` extra (``pip install 'fusionbench[dask]'``).

:meth:`Backend.map_unordered` applies a module-level function to each unit and yields
``(index, result)`` as units finish, so that the caller can store each result at once. Units
must not raise for problems of their own input (they return a failure record); an exception a
unit raises ends the run. When a worker process dies, the results that had come back are kept
and only unfinished units run again: Dask reschedules the dead worker's units itself (up to
``distributed.scheduler.allowed-failures`` times); a local process pool breaks as a whole, so
the process backend re-submits every unit whose result had not come back to a fresh pool.

Each worker process sets torch's and OpenCV's thread counts once (:func:`configure_threads`) so
that N workers do not oversubscribe the cores: ``cpu_count // N`` threads for local workers, one
for the workers of a remote cluster (as Dask's nanny sets ``OMP_NUM_THREADS=1``).

While a Dask backend is open, Dask's own log messages below ERROR are kept off the terminal
(they would be some 40 INFO lines per run; ``-vv``, i.e. root logging at DEBUG, lets them
through). A LocalCluster's workers start by re-importing the main script, so a script that
starts one at import time, without an ``if __name__ == "__main__":`` guard, cannot start it:
:class:`BackendError` then says to add the guard, as Dask's documentation does.
"""

from __future__ import annotations

import ast
import logging
import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)

U = TypeVar("U")
R = TypeVar("R")

#: How often the process backend restarts its pool after a worker died before giving up.
PROCESS_RETRIES = 3
#: Dask's loggers quieted while a Dask backend is open (their children inherit the level).
DASK_LOGGERS = ("distributed", "distributed.client")
#: Where Dask explains the ``if __name__ == "__main__":`` guard for LocalCluster in scripts.
DASK_GUARD_DOCS = "https://docs.dask.org/en/stable/deploying-python.html"


class BackendError(ValueError):
    """A backend that cannot be used as asked: a bad ``scheduler``, Dask missing, an unreachable
    scheduler, or workers dying again and again on the same units."""


_configured_threads: int | None = None


def configure_threads(threads: int | None) -> None:
    """Set torch's and OpenCV's thread counts in this process (once per value; None: leave them)."""
    global _configured_threads
    if threads is None or threads == _configured_threads:
        return
    import cv2
    import torch

    cv2.setNumThreads(threads)
    torch.set_num_threads(threads)
    _configured_threads = threads


def _call(fn: Callable[[U], R], index: int, unit: U, threads: int | None) -> tuple[int, R]:
    configure_threads(threads)
    return index, fn(unit)


def local_threads(workers: int) -> int:
    """Threads per worker when ``workers`` processes share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // workers)


class Backend(ABC):
    """Runs work units; see the module docstring."""

    #: ``"serial"``, ``"processes"`` or ``"dask"``.
    name: str = ""
    #: Units that can run at once.
    workers: int = 1
    #: torch/OpenCV threads each worker process uses (None: as the process had them).
    threads: int | None = None

    @abstractmethod
    def map_unordered(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[tuple[int, R]]:
        """Yield ``(index into units, fn(unit))`` for every unit, in the order they finish."""

    def close(self) -> None:
        """Release the workers (nothing for backends without any)."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the run manifest records about the backend."""
        return {"name": self.name, "workers": self.workers, "threads_per_worker": self.threads}

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SerialBackend(Backend):
    """Every unit in this process, in order."""

    name = "serial"

    def map_unordered(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[tuple[int, R]]:
        for index, unit in enumerate(units):
            yield _call(fn, index, unit, self.threads)


class ProcessBackend(Backend):
    """``workers`` local processes (joblib's loky executor, reused between calls)."""

    name = "processes"

    def __init__(self, workers: int, retries: int = PROCESS_RETRIES) -> None:
        self.workers = workers
        self.threads = local_threads(workers)
        self.retries = retries

    def map_unordered(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[tuple[int, R]]:
        from concurrent.futures import as_completed

        from joblib.externals.loky import get_reusable_executor
        from joblib.externals.loky.process_executor import BrokenProcessPool

        pending = dict(enumerate(units))
        crashes = 0
        while pending:
            # A fresh pool when the last one broke; a finished unit keeps its result when the pool breaks.
            executor = get_reusable_executor(max_workers=self.workers)
            futures = [executor.submit(_call, fn, i, u, self.threads) for i, u in pending.items()]
            broken: BaseException | None = None
            try:
                for future in as_completed(futures):
                    try:
                        index, result = future.result()
                    except BrokenProcessPool as exc:  # a worker died: this unit runs again
                        broken = exc
                        continue
                    del pending[index]
                    yield index, result
            finally:
                for future in futures:
                    future.cancel()
            if broken is not None:
                crashes += 1
                if crashes > self.retries:
                    raise BackendError(
                        f"worker processes died {crashes} times with {len(pending)} units unfinished; "
                        f"last: {' '.join(str(broken).split())[:300]}"
                    )
                log.warning("a worker process died; running its %d unfinished units again", len(pending))


class DaskBackend(Backend):
    """A Dask distributed cluster: a new LocalCluster (``"local"``) or a running scheduler's address.

    ``client`` is its :class:`distributed.Client` (e.g. to watch or scale the workers).
    """

    name = "dask"

    def __init__(self, scheduler: str, workers: int = 1, *, connect_timeout: float = 20.0) -> None:
        try:
            import distributed  # imported here to say how to install it
        except ImportError:
            raise BackendError(
                f"--scheduler {scheduler} needs Dask's distributed package: pip install 'fusionbench[dask]'"
            ) from None
        self.scheduler = scheduler
        self._cluster: distributed.LocalCluster | None = None
        if scheduler != "local" and "://" not in scheduler:
            raise BackendError(f"scheduler must be 'local' or an address such as tcp://host:8786, got {scheduler!r}")
        self._log_levels = quiet_dask_logs()
        try:
            self.client = self._start_local(workers) if scheduler == "local" else self._connect(connect_timeout)
        except BaseException:
            restore_log_levels(self._log_levels)
            raise
        info = self.client.scheduler_info()
        self.workers = sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()) or workers

    def _start_local(self, workers: int) -> Any:
        """A Client of a new LocalCluster of ``workers`` processes (one thread each)."""
        import distributed

        if is_spawned_main():  # a worker re-importing the script: say why, once, and stop it
            raise SystemExit(f"fusionbench: {main_guard_message(workers)}")
        try:
            self._cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        except (RuntimeError, OSError) as exc:
            if script_lacks_main_guard():
                raise BackendError(main_guard_message(workers)) from None
            raise BackendError(f"cannot start a Dask LocalCluster of {workers} workers: {exc}") from None
        self.threads = local_threads(workers)
        return distributed.Client(self._cluster)

    def _connect(self, timeout: float) -> Any:
        """A Client of the running scheduler at ``self.scheduler``."""
        import distributed

        try:
            client = distributed.Client(self.scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            raise BackendError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}") from None
        self.threads = 1
        return client

    def map_unordered(self, fn: Callable[[U], R], units: Sequence[U]) -> Iterator[tuple[int, R]]:
        from distributed import KilledWorker, as_completed

        futures = [self.client.submit(_call, fn, i, u, self.threads, pure=False) for i, u in enumerate(units)]
        try:
            for future in as_completed(futures):
                try:
                    index, result = future.result()
                except KilledWorker as exc:
                    raise BackendError(
                        f"Dask gave a unit up: {exc.allowed_failures + 1} workers died while running it "
                        f"(the last: {getattr(exc.last_worker, 'address', 'unknown')}); the results stored "
                        f"so far are kept: run again to resume"
                    ) from None
                future.release()
                yield index, result
        finally:
            self.client.cancel([f for f in futures if not f.done()])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "scheduler": self.scheduler}

    def close(self) -> None:
        try:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            restore_log_levels(self._log_levels)


def quiet_dask_logs() -> dict[str, int]:
    """Raise Dask's loggers to ERROR (unless the root logger is at DEBUG); returns the old levels."""
    if logging.getLogger().getEffectiveLevel() <= logging.DEBUG:
        return {}
    old = {}
    for name in DASK_LOGGERS:
        logger = logging.getLogger(name)
        old[name] = logger.level
        logger.setLevel(max(logger.level, logging.ERROR))
    return old


def restore_log_levels(levels: dict[str, int]) -> None:
    """Undo :func:`quiet_dask_logs`."""
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def is_spawned_main() -> bool:
    """True in a new worker process that is still importing the main script as it starts: the script
    then reached this code at import time, without a ``__main__`` guard (multiprocessing's own
    bootstrapping flag, the one its "start a new process before ... bootstrapping" error tests)."""
    import multiprocessing

    return bool(getattr(multiprocessing.current_process(), "_inheriting", False))


def main_script() -> str | None:
    """The file of the main script (in a worker that is re-importing it: the file it imports), if any."""
    for name in ("__mp_main__", "__main__"):
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            return str(path)
    return None


def script_lacks_main_guard() -> bool:
    """True when the main module is a script file without a top-level ``if __name__ == "__main__":``."""
    path = main_script()
    if not path or not str(path).endswith(".py"):
        return False
    try:
        tree = ast.parse(Path(path).read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False
    return not any(isinstance(node, ast.If) and _is_main_test(node.test) for node in tree.body)


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not isinstance(test, ast.Compare) or len(test.ops) != 1 or not isinstance(test.ops[0], ast.Eq):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s for s in sides if isinstance(s, ast.Name) and s.id == "__name__"]
    mains = [s for s in sides if isinstance(s, ast.Constant) and s.value == "__main__"]
    return len(names) == 1 and len(mains) == 1


def main_guard_message(workers: int) -> str:
    """What to do when a script starts a LocalCluster at import time."""
    main = main_script() or "your script"
    return (
        f"cannot start a Dask LocalCluster of {workers} workers: its worker processes start by re-importing "
        f"{main}, which starts a cluster again; put the code that calls fusionbench.run(..., scheduler='local') "
        f'under if __name__ == "__main__": (as Dask\'s documentation does: {DASK_GUARD_DOCS})'
    )


def make_backend(workers: int = 1, scheduler: str | None = None) -> Backend:
    """The backend for ``workers`` and ``scheduler`` (see the module docstring)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise BackendError(f"workers must be an integer >= 1, got {workers!r}")
    if scheduler is not None:
        return DaskBackend(scheduler, workers)
    if workers == 1:
        return SerialBackend()
    return ProcessBackend(workers)


@contextmanager
def open_backend(workers: int = 1, scheduler: str | Backend | None = None) -> Iterator[Backend]:
    """A backend for the duration of the block; a :class:`Backend` passed as ``scheduler`` is used
    as it is and left open (so that several runs can share one cluster)."""
    if isinstance(scheduler, Backend):
        yield scheduler
        return
    backend = make_backend(workers, scheduler)
    try:
        yield backend
    finally:
        backend.close()
