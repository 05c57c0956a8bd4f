"""Execution backends: serial, local processes (joblib), Dask distributed; worker crashes re-run only
the units that had not finished."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sys
import threading
import time
import uuid
from pathlib import Path

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import fusionbench
from fusionbench.cli import main
from fusionbench.engine.backends import (
    BackendError,
    DaskBackend,
    ProcessBackend,
    SerialBackend,
    local_threads,
    make_backend,
    open_backend,
)
from fusionbench.methods import ClassicMethod
from tests.run_support import finish, make_pair_folders, per_image_csv, progress, run_args, run_cli, temp_files

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

# Units and methods defined here travel to worker processes by value (the workers need not import tests/).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _square_and_threads(x: int) -> tuple[int, int]:
    import torch

    return x * x, torch.get_num_threads()


def test_make_backend_picks_the_backend():
    assert isinstance(make_backend(1), SerialBackend)
    backend = make_backend(3)
    assert isinstance(backend, ProcessBackend) and backend.workers == 3 and backend.threads == local_threads(3)


@pytest.mark.parametrize(
    ("workers", "scheduler", "message"),
    [
        (0, None, "workers must be an integer >= 1, got 0"),
        (2.5, None, "workers must be an integer >= 1, got 2.5"),
        (1, "localhost", "scheduler must be 'local' or an address such as tcp://host:8786, got 'localhost'"),
    ],
)
def test_bad_workers_or_scheduler_is_a_clear_error(workers, scheduler, message):
    with pytest.raises(BackendError, match=message):
        make_backend(workers, scheduler)


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(BackendError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"):
        DaskBackend("tcp://127.0.0.1:9", connect_timeout=1)


def test_missing_dask_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(BackendError, match=r"pip install 'fusionbench\[dask\]'"):
        make_backend(2, "local")


@pytest.mark.slow
@pytest.mark.parametrize(("workers", "scheduler"), [(1, None), (2, None), (2, "local")])
def test_every_unit_comes_back_once_with_the_threads_set_per_worker(workers, scheduler):
    with open_backend(workers, scheduler) as backend:
        results = list(backend.map_unordered(_square_and_threads, list(range(12))))
        threads = backend.threads
    assert sorted(index for index, _ in results) == list(range(12))
    assert all(value == index * index for index, (value, _) in results)
    if threads is not None:  # serial leaves this process's threads as they are
        assert {t for _, (_, t) in results} == {threads}
        assert threads == local_threads(workers)


def _crash_once(unit: tuple[int, str]) -> int:
    index, log = unit
    Path(log, f"{index}-{uuid.uuid4().hex}").touch()
    if index == 3 and not Path(log, "crashed").exists():
        time.sleep(0.3)  # the results of the units before it come back first
        Path(log, "crashed").touch()
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return 10 * index


def _runs_per_unit(log: Path) -> dict[int, int]:
    counts: dict[int, int] = {}
    for entry in log.iterdir():
        if entry.name != "crashed":
            index = int(entry.name.split("-")[0])
            counts[index] = counts.get(index, 0) + 1
    return counts


@pytest.mark.slow
def test_a_dead_process_worker_reruns_only_unfinished_units(tmp_path):
    backend = ProcessBackend(2)
    results, before_crash = {}, []
    for index, value in backend.map_unordered(_crash_once, [(i, str(tmp_path)) for i in range(10)]):
        results[index] = value
        if not (tmp_path / "crashed").exists():
            before_crash.append(index)
    assert results == {i: 10 * i for i in range(10)}
    runs = _runs_per_unit(tmp_path)
    assert runs[3] == 2  # the unit that killed its worker ran again
    assert before_crash, "no unit finished before the crash"
    # Units whose results had come back are never run again; the pool keeps them.
    assert all(runs[i] == 1 for i in before_crash), (before_crash, runs)


class SlowAverage(ClassicMethod):
    """The average of IR and VIS, slowly, logging each call (to count re-runs)."""

    id = "slow-average"
    name = "SlowAverage"
    description = "average, with a delay per pair"

    def __init__(self, log: str, delay: float) -> None:
        self.log, self.delay = log, delay

    def config(self) -> dict:
        return {}  # the log folder and the delay do not change the output

    def _fuse(self, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
        Path(self.log, f"{hashlib.sha256(ir.tobytes()).hexdigest()[:12]}-{uuid.uuid4().hex}").touch()
        time.sleep(self.delay)
        return (ir + vis) / 2


@pytest.fixture
def local_cluster():
    """``--scheduler local --workers 2``: a LocalCluster of two worker processes, one thread each."""
    with DaskBackend("local", workers=2) as backend:
        yield backend


@pytest.mark.slow
def test_killing_a_dask_worker_mid_run_reruns_only_its_units_with_identical_results(tmp_path, local_cluster):
    """Acceptance: a real LocalCluster (processes); one worker is SIGKILLed while the run fuses."""
    client = local_cluster.client
    pairs = 10
    dirs = make_pair_folders(tmp_path / "data", pairs, shape=(64, 80))
    options = {"ir": dirs["ir"], "vi": dirs["vi"]}
    log = tmp_path / "calls"
    log.mkdir()
    out = tmp_path / "dask"
    pids = client.run(os.getpid)
    killed: dict[str, int] = {}

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            busy = [address for address, keys in client.processing().items() if keys and address in pids]
            done = progress(out)
            if done >= 2 and busy:
                os.kill(pids[busy[0]], signal.SIGKILL)
                killed.update(progress=done, pid=pids[busy[0]])
                return
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    frame = fusionbench.run(
        SlowAverage(str(log), delay=0.4),
        "folder",
        metrics=["en", "ag"],
        out=out,
        scheduler=local_cluster,
        dataset_options=options,
    )
    killer.join()
    assert "pid" in killed, "no worker was killed"
    assert killed["progress"] < 2 * pairs, "the kill came after the run's units had finished"
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)

    calls: dict[str, int] = {}
    for entry in log.iterdir():
        calls[entry.name.split("-")[0]] = calls.get(entry.name.split("-")[0], 0) + 1
    assert len(calls) == pairs
    # Only the units on the dead worker ran again (one in flight, one whose result it still held).
    assert sum(calls.values()) <= pairs + 2

    (tmp_path / "serial-calls").mkdir()
    serial = fusionbench.run(
        SlowAverage(str(tmp_path / "serial-calls"), delay=0.0),
        "folder",
        metrics=["en", "ag"],
        out=tmp_path / "serial",
        dataset_options=options,
    )
    pd.testing.assert_frame_equal(frame, serial)
    assert per_image_csv(out) == per_image_csv(tmp_path / "serial")
    assert frame.attrs["manifest"]["backend"]["name"] == "dask"
    assert temp_files(out) == []


@pytest.mark.slow
def test_scheduler_local_gives_the_serial_results(tmp_path):
    dirs = make_pair_folders(tmp_path / "data", 6, shape=(64, 80))
    options = {"ir": dirs["ir"], "vi": dirs["vi"]}
    serial = fusionbench.run("gff", "folder", metrics=["en", "qabf"], out=tmp_path / "s", dataset_options=options)
    dask = fusionbench.run(
        "gff",
        "folder",
        metrics=["en", "qabf"],
        out=tmp_path / "d",
        dataset_options=options,
        workers=2,
        scheduler="local",
    )
    pd.testing.assert_frame_equal(serial, dask)
    expected = {"name": "dask", "workers": 2, "threads_per_worker": local_threads(2), "scheduler": "local"}
    assert dask.attrs["manifest"]["backend"] == expected


@pytest.mark.slow
def test_the_cli_joins_a_running_scheduler_by_address(tmp_path):
    """``fusionbench run --scheduler tcp://...`` from another process, as on a real cluster."""
    dirs = make_pair_folders(tmp_path / "data", 4, shape=(64, 80))
    args = run_args(dirs, method="gff", metrics="en,qabf")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None, silence_logs=40
    ) as cluster:
        finish(run_cli([*args, "--cache", str(tmp_path / "remote"), "--scheduler", cluster.scheduler_address]))
    finish(run_cli([*args, "--cache", str(tmp_path / "serial")]))
    assert per_image_csv(tmp_path / "remote") == per_image_csv(tmp_path / "serial")
    manifest = json.loads(next((tmp_path / "remote").glob("runs/**/manifest.json")).read_text())
    # A remote cluster's workers run one torch thread per task thread; the cluster has 2 task threads.
    assert manifest["backend"] == {
        "name": "dask",
        "workers": 2,
        "threads_per_worker": 1,
        "scheduler": cluster.scheduler_address,
    }


@pytest.mark.slow
def test_table_runs_share_one_local_cluster_and_match_serial(tmp_path):
    args = ["table", "--methods", "average,max", "--datasets", "demo", "--metrics", "en,ag", "--format", "csv"]
    serial = CliRunner().invoke(main, [*args, "--cache", str(tmp_path / "s")])
    dask = CliRunner().invoke(main, [*args, "--cache", str(tmp_path / "d"), "--scheduler", "local", "--workers", "2"])
    assert serial.exit_code == 0 and dask.exit_code == 0, dask.output
    assert dask.stdout == serial.stdout
    manifests = [json.loads(p.read_text()) for p in (tmp_path / "d").glob("runs/**/manifest.json")]
    assert len(manifests) == 2 and all(m["backend"]["name"] == "dask" for m in manifests)


def _kill_own_worker(x: int) -> int:
    os.kill(os.getpid(), signal.SIGKILL)
    return x


@pytest.mark.slow
def test_a_unit_that_keeps_killing_dask_workers_is_given_up_with_a_clear_error():
    import dask

    message = r"Dask gave a unit up: 1 workers died while running it \(the last: tcp://127\.0\.0\.1:\d+\)"
    with (
        dask.config.set({"distributed.scheduler.allowed-failures": 0}),
        DaskBackend("local", workers=1) as backend,
        pytest.raises(BackendError, match=message),
    ):
        list(backend.map_unordered(_kill_own_worker, [1]))
