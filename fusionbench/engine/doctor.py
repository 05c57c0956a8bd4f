"""``fusionbench doctor``: check the environment in one screen.

Each check gives one :class:`Check` line with a status: ``OK``; ``WARN`` for what limits some
uses but not others (a dataset or weight file that is absent, Dask not installed); ``FAIL`` for
what is broken (a file that does not match its pinned sha256, a folder that cannot be written, a
results store that is corrupt). The checks:

- versions of Python, fusionbench and the libraries whose versions change results;
- CPU count and torch threads;
- the data root, and every pinned dataset split under it verified against its sha256;
- every registered weight file located and verified against its sha256;
- write access to the output folder and to the cache folder (demo images), and the integrity
  of an existing results store;
- the execution backends available (local processes always; Dask when installed).
"""

from __future__ import annotations

import os
import platform
import secrets
import sqlite3
from dataclasses import dataclass
from pathlib import Path

OK, WARN, FAIL = "OK", "WARN", "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the report: ``status`` (``OK``/``WARN``/``FAIL``), what was checked, what was found."""

    status: str
    name: str
    detail: str


def check_versions() -> list[Check]:
    """Python, fusionbench and the libraries that change results or run units."""
    import cv2
    import joblib
    import numpy as np
    import pandas as pd
    import scipy
    import torch

    from fusionbench import __version__

    versions = (
        f"python {platform.python_version()}, fusionbench {__version__}, numpy {np.__version__}, "
        f"scipy {scipy.__version__}, opencv {cv2.__version__}, torch {torch.__version__}, "
        f"pandas {pd.__version__}, joblib {joblib.__version__}"
    )
    cpu = f"{os.cpu_count()} CPUs, torch uses {torch.get_num_threads()} threads; {platform.platform()}"
    return [Check(OK, "versions", versions), Check(OK, "machine", cpu)]


def check_backends() -> list[Check]:
    """Local processes (joblib) always; Dask when the ``dask`` extra is installed."""
    try:
        import dask
        import distributed
    except ImportError:
        return [
            Check(OK, "backends", "serial, processes (--workers N)"),
            Check(WARN, "dask", "not installed: --scheduler needs pip install 'fusionbench[dask]'"),
        ]
    return [
        Check(OK, "backends", "serial, processes (--workers N), dask (--scheduler local|tcp://host:port)"),
        Check(OK, "dask", f"dask {dask.__version__}, distributed {distributed.__version__}"),
    ]


def check_data(data_root: str | os.PathLike[str] | None = None) -> list[Check]:
    """The data root, and each pinned dataset's ``test`` split verified file by file."""
    from fusionbench.datasets import list_datasets, resolve_data_root
    from fusionbench.datasets.pinned import PinnedDataset

    root = resolve_data_root(data_root)
    if not (root / "datasets").is_dir():
        return [
            Check(
                WARN,
                "data root",
                f"{root} has no datasets/ folder: pass --data-root or set FUSIONBENCH_DATA "
                f"(only the generated demo dataset works without it)",
            )
        ]
    checks = [Check(OK, "data root", str(root))]
    for dataset in list_datasets():
        if not isinstance(dataset, PinnedDataset) or "test" not in dataset.splits:
            continue
        report = dataset.verify("test", data_root=root)
        if report.ok:
            status = OK
        elif report.mismatched:
            status = FAIL
        else:
            status = WARN
        checks.append(Check(status, f"dataset {dataset.name}", report.summary()))
    return checks


def check_weights(weights: str | os.PathLike[str] | None = None) -> list[Check]:
    """Each registered weight file: found where the methods look, and its sha256 verified."""
    import fusionbench.methods  # noqa: F401 - the baselines register their weight files on import
    from fusionbench.methods.weights import WEIGHT_FILES, WEIGHTS_ENV, WeightsError, default_weights_root, locate

    found: list[str] = []
    missing: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    for weight in WEIGHT_FILES.values():
        try:
            locate(weight, weights)
            found.append(weight.relative)
        except WeightsError as exc:
            (missing if "not found" in str(exc) else failed).append((weight.relative, " ".join(str(exc).split())))
    where = weights if weights is not None else default_weights_root()
    checks = [Check(FAIL, f"weights {name}", message) for name, message in failed]
    if missing:
        names = ", ".join(name for name, _ in missing)
        fix = (
            f"fix: pass --weights DIR or set {WEIGHTS_ENV}=DIR, DIR a folder holding them "
            "(the shared data's weights/ folder; README 'Weights')"
        )
        message = f"{len(missing)} of {len(WEIGHT_FILES)} not found under {where}: {names}; {fix}"
        checks.append(Check(WARN, "weights", message))
    if found:
        checks.append(Check(OK, "weights", f"{len(found)} of {len(WEIGHT_FILES)} found and sha256-verified"))
    return checks


def check_writable(folder: Path, name: str) -> Check:
    """Write and remove a probe file in ``folder`` (or in the nearest existing parent it would be made in)."""
    probe_dir = folder
    while not probe_dir.exists() and probe_dir != probe_dir.parent:
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        return Check(FAIL, name, f"{folder}: cannot be created ({probe_dir} is not a folder)")
    probe = probe_dir / f".fusionbench-doctor-{secrets.token_hex(4)}.tmp"
    try:
        probe.write_bytes(b"probe")
        probe.unlink()
    except OSError as exc:
        return Check(FAIL, name, f"{folder}: not writable ({exc.strerror or exc})")
    return Check(OK, name, f"{folder} writable" + ("" if folder.exists() else " (will be created)"))


def check_output(out: str | os.PathLike[str] | None = None) -> list[Check]:
    """Write access to the output and cache folders; the integrity of an existing results store."""
    import platformdirs

    from fusionbench.engine.runner import resolve_out
    from fusionbench.engine.store import STORE_NAME

    out_dir = resolve_out(out)
    cache = Path(os.environ.get("FUSIONBENCH_CACHE") or platformdirs.user_cache_dir("fusionbench"))
    checks = [check_writable(out_dir, "output"), check_writable(cache, "cache")]
    store = out_dir / STORE_NAME
    if store.is_file():
        try:
            con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=10)
            try:
                verdict = "; ".join(r[0] for r in con.execute("PRAGMA integrity_check"))
                rows = con.execute("SELECT count(*) FROM scores").fetchone()[0]
            finally:
                con.close()
        except sqlite3.Error as exc:
            checks.append(Check(FAIL, "results store", f"{store}: cannot be read ({exc})"))
        else:
            status = OK if verdict == "ok" else FAIL
            checks.append(Check(status, "results store", f"{store}: integrity {verdict}, {rows} scores"))
    return checks


def run_checks(
    data_root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    weights: str | os.PathLike[str] | None = None,
) -> list[Check]:
    """Every check, in report order."""
    return [
        *check_versions(),
        *check_backends(),
        *check_data(data_root),
        *check_weights(weights),
        *check_output(out),
    ]


def render(checks: list[Check]) -> str:
    """One line per check (``STATUS  name  detail``) and a closing count."""
    width = max(len(c.name) for c in checks)
    lines = [f"{c.status:<4}  {c.name:<{width}}  {c.detail}" for c in checks]
    counts = {s: sum(c.status == s for c in checks) for s in (OK, WARN, FAIL)}
    lines.append(f"\n{counts[OK]} ok, {counts[WARN]} warnings, {counts[FAIL]} failures")
    return "\n".join(lines)
