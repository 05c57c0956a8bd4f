"""The SQLite results store: exact values, key invalidation, concurrent writers, crash safety, the output lock."""

from __future__ import annotations

import dataclasses
import math
import signal
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from fusionbench.engine.store import STORE_NAME, ResultsStore, RunKey, StoreError, output_lock

KEY = RunKey(
    dataset="folder",
    split="test",
    dataset_version="v1",
    method_id="gff",
    config_hash="c1",
    weights_sha256="",
    convention="tang@abc",
    library="fusionbench 0.1.0; record 2",
)


@pytest.fixture
def store(tmp_path):
    with ResultsStore(tmp_path / STORE_NAME) as s:
        yield s


def test_values_come_back_bit_for_bit(store):
    values = {"a": 0.1 + 0.2, "b": -0.0, "c": math.inf, "d": 3.0, "e": 1e-310, "f": math.nan}
    store.put_scores(KEY, "p1", "inputs", values)
    got = store.get_scores(KEY, {"p1": "inputs"}, list(values))["p1"]
    for name, value in values.items():
        if math.isnan(value):
            assert math.isnan(got[name])
        else:
            assert got[name] == value and math.copysign(1, got[name]) == math.copysign(1, value), name


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(RunKey)])
def test_a_change_in_any_key_part_misses(store, field):
    store.put_scores(KEY, "p1", "inputs", {"en": 7.0})
    changed = dataclasses.replace(KEY, **{field: getattr(KEY, field) + "-changed"})
    assert store.get_scores(changed, {"p1": "inputs"}, ["en"]) == {}
    assert store.get_scores(KEY, {"p1": "inputs"}, ["en"]) == {"p1": {"en": 7.0}}


def test_other_pair_metric_or_input_bytes_miss_and_a_rewrite_replaces_the_row(store):
    store.put_scores(KEY, "p1", "inputs", {"en": 7.0})
    assert store.get_scores(KEY, {"p2": "inputs"}, ["en"]) == {}
    assert store.get_scores(KEY, {"p1": "inputs"}, ["ag"]) == {}
    assert store.get_scores(KEY, {"p1": "other bytes"}, ["en"]) == {}
    store.put_scores(KEY, "p1", "other bytes", {"en": 8.0})
    assert store.count() == 1
    assert store.get_scores(KEY, {"p1": "other bytes"}, ["en"]) == {"p1": {"en": 8.0}}


def test_fused_records_are_keyed_by_method_and_dataset_version(store):
    store.put_fused(KEY, "p1", "sources", "fused-sha")
    assert store.get_fused(KEY) == {"p1": ("sources", "fused-sha")}
    assert store.get_fused(dataclasses.replace(KEY, weights_sha256="w2")) == {}
    assert store.get_fused(dataclasses.replace(KEY, dataset_version="v2")) == {}
    # The convention and library are not part of a fused image's key.
    assert store.get_fused(dataclasses.replace(KEY, convention="vifb@x", library="other")) != {}


def test_another_schema_version_is_refused_naming_the_file(tmp_path):
    path = tmp_path / STORE_NAME
    ResultsStore(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match=rf"{path}: results store schema 99, this fusionbench writes 1"):
        ResultsStore(path)


def test_a_full_database_is_a_store_error_and_keeps_what_was_committed(store):
    store.put_scores(KEY, "p0", "inputs", {"en": 1.0})
    (pages,) = store._con.execute("PRAGMA page_count").fetchone()
    store._con.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL path
    many = {f"m{i:03d}": float(i) for i in range(200)}
    message = rf"{store.path}: cannot store the scores of pair 'p1' \(database or disk is full\)"
    with pytest.raises(StoreError, match=message):
        store.put_scores(KEY, "p1", "inputs", many)
    assert store.count() == 1
    assert store.integrity() == "ok"


_WRITER = textwrap.dedent(
    """
    import sys
    from fusionbench.engine.store import ResultsStore, RunKey
    key = RunKey("folder", "test", "v1", "gff", "c1", "", "tang@abc", "lib")
    worker = int(sys.argv[2])
    with ResultsStore(sys.argv[1]) as store:
        for i in range(60):
            pair = f"p{(i + 15 * worker) % 60:02d}"  # every writer writes every pair, in another order
            store.put_scores(key, pair, "inputs", {"en": float(int(pair[1:])), "ag": 0.5, "mi": -0.0})
    """
)


def test_concurrent_writer_processes_neither_corrupt_nor_duplicate(tmp_path):
    path = tmp_path / STORE_NAME
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(path), str(w)], stderr=subprocess.PIPE) for w in range(4)
    ]
    for proc in procs:
        assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()
    with ResultsStore(path) as store:
        assert store.integrity() == "ok"
        assert store.count() == 60 * 3
        key = RunKey("folder", "test", "v1", "gff", "c1", "", "tang@abc", "lib")
        got = store.get_scores(key, {f"p{i:02d}": "inputs" for i in range(60)}, ["en", "ag", "mi"])
    assert got == {f"p{i:02d}": {"en": float(i), "ag": 0.5, "mi": -0.0} for i in range(60)}


_KILLED_MID_TRANSACTION = textwrap.dedent(
    """
    import sys, time
    from fusionbench.engine.store import ResultsStore, RunKey
    key = RunKey("folder", "test", "v1", "gff", "c1", "", "tang@abc", "lib")
    store = ResultsStore(sys.argv[1])
    store.put_scores(key, "committed", "inputs", {"en": 1.0})
    con = store._con
    con.execute("BEGIN IMMEDIATE")
    for i in range(500):
        con.execute(
            "INSERT INTO scores VALUES ('folder', 'test', 'v1', ?, 'gff', 'c1', '', 'en', 'tang@abc', 'lib', 1.0, "
            "'inputs', 'now')", (f"half{i}",))
    print("inside", flush=True)
    time.sleep(60)
    """
)


def test_a_writer_killed_mid_transaction_leaves_the_last_committed_state(tmp_path):
    path = tmp_path / STORE_NAME
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_MID_TRANSACTION, str(path)], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"inside"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with ResultsStore(path) as store:  # opens at once: the dead writer's lock went with it
        assert store.integrity() == "ok"
        assert store.count() == 1
        store.put_scores(KEY, "after", "inputs", {"en": 2.0})
        assert store.count() == 2


def test_temp_files_are_kept_while_another_run_holds_the_output_folder(tmp_path):
    folder = tmp_path / "fused"
    folder.mkdir()
    stale = folder / ".a.png.deadbeef.tmp"
    stale.write_bytes(b"half")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, pathlib; from fusionbench.engine.store import output_lock\n"
            "with output_lock(pathlib.Path(sys.argv[1]), []):\n    print('held', flush=True); sys.stdin.read()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert holder.stdout.readline().strip() == b"held"
    with output_lock(tmp_path, [folder]) as removed:
        assert removed == 0 and stale.exists()  # it may be the other run's file in progress
    assert stale.exists()
    holder.communicate(b"", timeout=30)
    with output_lock(tmp_path, [folder]) as removed:
        assert removed == 1 and not stale.exists()


def test_the_store_path_names_the_folder_that_cannot_hold_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match=rf"{blocker / STORE_NAME}: cannot open the results store"):
        ResultsStore(blocker / STORE_NAME)
