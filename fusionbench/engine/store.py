"""The results store: one SQLite database per output folder, ``<out>/results.sqlite``.

Two tables, one row per item of work:

``scores``
    one metric value of one fused image, keyed by (dataset, split, dataset version, pair id,
    method id, method config hash, weights sha256, metric id, convention, library version);
``fused``
    one fused image the runner cached as PNG, keyed by (dataset, split, dataset version, pair id,
    method id, config hash, weights sha256).

Every row also holds the sha256 of the files it was computed from (``inputs_sha256``: IR, VIS
and fused bytes; ``sources_sha256`` and ``fused_sha256`` for cached images). A lookup returns a
row only when its key matches *and* the files are still the same bytes, so a change in any key
part or any input file recomputes; the new row replaces the old one (one row per key).

Why SQLite in WAL mode rather than a file lock around CSV/JSON files: every write is one
transaction, so a process killed mid-write (SIGKILL, power cut) leaves the last complete state,
never half a row; the primary key makes duplicates impossible by construction, so two runs
writing the same rows concurrently (``INSERT ... ON CONFLICT DO UPDATE``) cannot duplicate them;
in WAL mode readers (a ``table`` while a run writes) never block the writer and the writers queue
on SQLite's own lock with a busy timeout; and it ships with Python (no dependency, no server).
A file lock would leave us to hand-roll the crash recovery, de-duplication and merging. The
limit: WAL needs all processes that open the database on one host (not a network filesystem),
which holds here because only the process that drives a run writes the store; workers, local or
on a Dask cluster, return values to it.

:func:`output_lock` is the other half of sharing an output folder: each run holds a shared
``flock`` on ``<out>/.fusionbench.lock`` while it runs, and deletes temp files left by killed
runs only when it can take the lock exclusively, i.e. when no other run could be writing them.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: File name of the store inside an output folder.
STORE_NAME = "results.sqlite"
#: Bump when the tables change; a store of another version is refused with a clear message.
SCHEMA_VERSION = 1
#: Seconds a writer waits for another process's write transaction before giving up.
BUSY_TIMEOUT_S = 120.0

#: The columns that name one pair's result of one method configuration, shared by both tables.
_PAIR_KEY = (
    "dataset TEXT NOT NULL, split TEXT NOT NULL, dataset_version TEXT NOT NULL, pair_id TEXT NOT NULL,"
    " method_id TEXT NOT NULL, config_hash TEXT NOT NULL, weights_sha256 TEXT NOT NULL"
)
_PAIR_KEY_NAMES = "dataset, split, dataset_version, pair_id, method_id, config_hash, weights_sha256"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    {_PAIR_KEY},
    metric_id TEXT NOT NULL,
    convention TEXT NOT NULL,
    library TEXT NOT NULL,
    value,
    inputs_sha256 TEXT NOT NULL,
    written TEXT NOT NULL,
    PRIMARY KEY ({_PAIR_KEY_NAMES}, metric_id, convention, library)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fused (
    {_PAIR_KEY},
    sources_sha256 TEXT NOT NULL,
    fused_sha256 TEXT NOT NULL,
    written TEXT NOT NULL,
    PRIMARY KEY ({_PAIR_KEY_NAMES})
) WITHOUT ROWID;
"""
# ``value`` has no declared type on purpose: SQLite then stores the float as given (a REAL column
# would store integral values as integers and lose the sign of -0.0). NaN is stored as NULL.


class StoreError(OSError):
    """The results store cannot be opened, read or written; the message names the database file."""


@dataclass(frozen=True)
class RunKey:
    """The key parts one run shares: everything but the pair id (and the metric id of a score)."""

    dataset: str
    split: str
    dataset_version: str
    method_id: str
    config_hash: str
    weights_sha256: str  # "" for methods without weights
    convention: str  # name and hash of every choice, e.g. "tang@3f2a..."
    library: str  # fusionbench version and record version, e.g. "fusionbench 0.1.0/1"

    def method_part(self) -> tuple[str, ...]:
        return (
            self.dataset,
            self.split,
            self.dataset_version,
            self.method_id,
            self.config_hash,
            self.weights_sha256,
        )


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ResultsStore:
    """The SQLite results store of one output folder (see the module docstring).

    Open it with ``ResultsStore(out / STORE_NAME)``; use it from one thread. Each ``put_*`` call
    is one transaction.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        try:
            self._con = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._con.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts; a power cut may drop the last transactions.
            self._con.execute("PRAGMA synchronous=NORMAL")
            self._con.executescript(
                f"BEGIN IMMEDIATE; {_SCHEMA} INSERT OR IGNORE INTO meta(key, value) "
                f"VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
            )
            (found,) = self._con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open the results store ({exc})") from None
        if found != str(SCHEMA_VERSION):
            self.close()
            raise StoreError(
                f"{self.path}: results store schema {found}, this fusionbench writes {SCHEMA_VERSION}; "
                f"use another --out folder or move this one away"
            )

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``) so that the busy timeout applies."""
        self._con.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self._con.in_transaction:  # SQLite rolls back by itself on some errors (SQLITE_FULL)
                self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def _run(self, what: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except sqlite3.Error as exc:
            hint = "; the rows stored before are kept: free space and run again to resume" if "full" in str(exc) else ""
            raise StoreError(f"{self.path}: cannot {what} ({exc}){hint}") from None

    # -- scores ----------------------------------------------------------------------------------

    def put_scores(self, key: RunKey, pair_id: str, inputs_sha256: str, values: Mapping[str, float]) -> None:
        """Store one pair's metric values in one transaction, replacing rows of the same key."""
        written = _now()
        rows = [
            (
                *key.method_part()[:3],
                pair_id,
                *key.method_part()[3:],
                metric_id,
                key.convention,
                key.library,
                None if _is_nan(value) else float(value),
                inputs_sha256,
                written,
            )
            for metric_id, value in values.items()
        ]

        def write() -> None:
            with self._write():
                self._con.executemany(
                    "INSERT INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT DO UPDATE SET value = excluded.value, inputs_sha256 = excluded.inputs_sha256, "
                    "written = excluded.written",
                    rows,
                )

        self._run(f"store the scores of pair {pair_id!r}", write)

    def get_scores(
        self, key: RunKey, inputs_sha256: Mapping[str, str], metric_ids: Sequence[str]
    ) -> dict[str, dict[str, float]]:
        """``{pair id: {metric id: value}}`` of the stored values that are still valid.

        ``inputs_sha256`` maps each pair id to the digest of its current files; a row computed from
        other bytes is left out (it will be recomputed and replaced). NaN comes back as NaN.
        """
        found: dict[str, dict[str, float]] = {}
        wanted = set(metric_ids)

        def read() -> None:
            cursor = self._con.execute(
                "SELECT pair_id, metric_id, value, inputs_sha256 FROM scores WHERE dataset = ? AND split = ? "
                "AND dataset_version = ? AND method_id = ? AND config_hash = ? AND weights_sha256 = ? "
                "AND convention = ? AND library = ?",
                (*key.method_part(), key.convention, key.library),
            )
            for pair_id, metric_id, value, digest in cursor:
                if metric_id in wanted and inputs_sha256.get(pair_id) == digest:
                    found.setdefault(pair_id, {})[metric_id] = math.nan if value is None else float(value)

        self._run("read scores", read)
        return found

    # -- fused images ----------------------------------------------------------------------------

    def put_fused(self, key: RunKey, pair_id: str, sources_sha256: str, fused_sha256: str) -> None:
        """Record that the cached PNG of ``pair_id`` (sha256 ``fused_sha256``) was made from those sources."""
        parts = key.method_part()
        row = (*parts[:3], pair_id, *parts[3:], sources_sha256, fused_sha256, _now())

        def write() -> None:
            with self._write():
                self._con.execute(
                    "INSERT INTO fused VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET "
                    "sources_sha256 = excluded.sources_sha256, fused_sha256 = excluded.fused_sha256, "
                    "written = excluded.written",
                    row,
                )

        self._run(f"record the fused image of pair {pair_id!r}", write)

    def get_fused(self, key: RunKey) -> dict[str, tuple[str, str]]:
        """``{pair id: (sources sha256, fused sha256)}`` recorded for this run's method and dataset."""

        def read() -> dict[str, tuple[str, str]]:
            cursor = self._con.execute(
                "SELECT pair_id, sources_sha256, fused_sha256 FROM fused WHERE dataset = ? AND split = ? "
                "AND dataset_version = ? AND method_id = ? AND config_hash = ? AND weights_sha256 = ?",
                key.method_part(),
            )
            return {pair_id: (sources, fused) for pair_id, sources, fused in cursor}

        return self._run("read the fused-image records", read)

    # -- inspection ------------------------------------------------------------------------------

    def count(self, table: str = "scores") -> int:
        """Number of rows in ``table`` (``scores`` or ``fused``)."""
        if table not in ("scores", "fused"):
            raise ValueError(f"unknown table {table!r}; expected 'scores' or 'fused'")
        return self._run("count rows", lambda: self._con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def integrity(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` for an intact database."""
        rows = self._run("check integrity", lambda: self._con.execute("PRAGMA integrity_check").fetchall())
        return "; ".join(r[0] for r in rows)


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# -- sharing an output folder between runs ---------------------------------------------------------

LOCK_NAME = ".fusionbench.lock"


@contextmanager
def output_lock(out: Path, folders: Iterable[Path]) -> Iterator[int]:
    """Hold a shared lock on the output folder ``out`` for the duration of a run.

    On entering and on leaving, temp files (``.<name>.<hex>.tmp``) in ``folders`` are deleted when
    the lock can be taken exclusively, i.e. when no other run on this output folder is active
    (a concurrent run's temp files are the ones it is writing). Yields the number deleted on entry.
    Where ``fcntl`` is missing (Windows) there is no lock and temp files are always deleted.
    """
    folders = list(folders)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        removed = remove_temp_files(folders)
        yield removed
        remove_temp_files(folders)
        return
    handle = open(out / LOCK_NAME, "a+b")  # noqa: SIM115 - held for the whole run
    try:
        removed = 0
        if _try_lock(handle, fcntl.LOCK_EX):
            removed = remove_temp_files(folders)
        fcntl.flock(handle, fcntl.LOCK_SH)  # converts our exclusive lock, or waits for a cleaner
        yield removed
        fcntl.flock(handle, fcntl.LOCK_UN)
        if _try_lock(handle, fcntl.LOCK_EX):
            remove_temp_files(folders)
    finally:
        handle.close()  # releases any lock


def _try_lock(handle: Any, mode: int) -> bool:
    import fcntl

    try:
        fcntl.flock(handle, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def remove_temp_files(folders: Iterable[Path]) -> int:
    """Delete the temp files atomic writes leave when killed (``.<name>.<hex>.tmp``); returns how many."""
    removed = 0
    for folder in folders:
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed += 1
    return removed
