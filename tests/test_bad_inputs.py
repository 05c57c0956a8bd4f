"""The bad-input matrix: each bad input gives one clear error (its type, and a message naming the file
and the problem), and nothing already written is lost.

Problems of one pair (unreadable, truncated, 16-bit or colour IR, sizes that differ, a method that
raises or returns NaN or the wrong size, a fused file of the wrong size) fail that pair only: the
others finish and are stored, and the run raises :class:`PairFailureError` naming the pair and its
file. Problems of the whole input (empty folder, unpaired names, duplicate ids) are refused before
anything runs; a full disk stops the run keeping what was written; a dataset archive with path
traversal and a weights file with a pickle payload are refused.
"""

from __future__ import annotations

import errno
import io
import os
import re
import sqlite3
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import fusionbench
from fusionbench.cli import main
from fusionbench.datasets import Dataset, DatasetError, PinnedDataset, download
from fusionbench.datasets.base import PairRecord, sha256_bytes, sha256_file
from fusionbench.engine.runner import PairFailureError
from fusionbench.engine.store import STORE_NAME, ResultsStore, StoreError
from fusionbench.io import write_image_atomic
from fusionbench.methods import ClassicMethod
from fusionbench.methods.weights import WeightFile, WeightsError, load_state_dict
from tests.run_support import make_pair_folders, temp_files

SHAPE = (48, 64)


@dataclass
class Case:
    """What to run, the error it must raise, and what must still hold afterwards."""

    action: Callable[[], object]
    error: type[Exception]
    message: str  # a regex; paths in it are escaped
    cause: str | None = None  # for PairFailureError: the type of the pair's own error
    after: Callable[[], None] | None = None  # checks that nothing already written was lost
    cli: list[str] | None = None  # the same as `fusionbench ...` arguments, when the CLI can express it


class NaNMethod(ClassicMethod):
    id, name, description = "nan-test", "NaN", "returns NaN"

    def config(self) -> dict:
        return {}

    def _fuse(self, ir, vis):
        return np.full(ir.shape, np.nan)


class WrongSizeMethod(ClassicMethod):
    id, name, description = "wrong-size-test", "WrongSize", "returns an image with one row missing"

    def config(self) -> dict:
        return {}

    def _fuse(self, ir, vis):
        return ir[1:]


class RaisesOnWideMethod(ClassicMethod):
    id, name, description = "raises-test", "Raises", "raises on images 72 pixels wide"

    def config(self) -> dict:
        return {}

    def _fuse(self, ir, vis):
        if ir.shape[1] == 72:
            raise RuntimeError("boom on a wide pair")
        return (ir + vis) / 2


class Setup:
    """Three good pairs p000..p002 under ``tmp/data`` and the output folder ``tmp/out``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path
        self.dirs = make_pair_folders(tmp_path / "data", 3, shape=SHAPE)
        self.out = tmp_path / "out"

    def file(self, role: str, stem: str = "p001") -> Path:
        return self.dirs[role] / f"{stem}.png"

    def run(self, method: object = "average", **options: object) -> Callable[[], object]:
        return lambda: fusionbench.run(
            method,
            "folder",
            metrics=["en", "ag"],
            out=self.out,
            dataset_options={"ir": self.dirs["ir"], "vi": self.dirs["vi"]},
            **options,
        )

    def cli(self, method: str = "average") -> list[str]:
        return [
            "run", "--method", method, "--dataset", "folder", "--ir", str(self.dirs["ir"]), "--vi",
            str(self.dirs["vi"]), "--metrics", "en,ag", "--cache", str(self.out),
        ]  # fmt: skip

    def others_stored(self, bad: str = "p001") -> Callable[[], None]:
        """After a pair failure: the other pairs' scores are stored and failures.csv names the bad one."""

        def check() -> None:
            con = sqlite3.connect(self.out / STORE_NAME)
            pairs = {row[0] for row in con.execute("SELECT DISTINCT pair_id FROM scores")}
            con.close()
            assert pairs == {"p000", "p001", "p002"} - {bad}
            (failures,) = self.out.glob("runs/**/failures.csv")
            assert [line.split(",")[0] for line in failures.read_text().splitlines()[1:]] == [bad]
            assert temp_files(self.out) == []

        return check


def esc(path: Path) -> str:
    return re.escape(str(path))


# -- the matrix ---------------------------------------------------------------------------------


def size_mismatch(s: Setup, monkeypatch) -> Case:
    _, _, vis = _triple(40, 64)
    write_image_atomic(s.file("vi"), vis)
    return Case(
        s.run(),
        PairFailureError,
        rf"pair 'p001': {esc(s.file('ir'))} is 48x64 but {esc(s.file('vi'))} is 40x64 \(height x width\)",
        cause="InputError",
        after=s.others_stored(),
        cli=s.cli(),
    )


def truncated_png(s: Setup, monkeypatch) -> Case:
    data = s.file("ir").read_bytes()
    s.file("ir").write_bytes(data[: len(data) // 2])
    return Case(
        s.run(),
        PairFailureError,
        rf"pair 'p001': {esc(s.file('ir'))}: not a readable image \(corrupt, truncated or unsupported format\)",
        cause="ImageReadError",
        after=s.others_stored(),
        cli=s.cli(),
    )


def empty_png(s: Setup, monkeypatch) -> Case:
    s.file("vi").write_bytes(b"")
    return Case(
        s.run(), PairFailureError, rf"pair 'p001': {esc(s.file('vi'))}: empty file", "ImageReadError",
        s.others_stored(), s.cli(),
    )  # fmt: skip


def ir_16bit(s: Setup, monkeypatch) -> Case:
    _, ir, _ = _triple(*SHAPE)
    write_image_atomic(s.file("ir"), ir.astype(np.uint16) * 257)
    return Case(
        s.run(),
        PairFailureError,
        rf"pair 'p001': {esc(s.file('ir'))}: IR image has 16-bit pixels; the runner takes 8-bit sources: "
        r"convert it to 8-bit first",
        cause="InputError",
        after=s.others_stored(),
        cli=s.cli(),
    )


def rgb_ir(s: Setup, monkeypatch) -> Case:
    _, ir, _ = _triple(*SHAPE)
    colour = np.dstack([ir, ir // 2, ir])
    write_image_atomic(s.file("ir"), colour)
    return Case(
        s.run(),
        PairFailureError,
        rf"pair 'p001': {esc(s.file('ir'))}: IR image has 3 different colour channels; expected a gray IR image",
        cause="InputError",
        after=s.others_stored(),
        cli=s.cli(),
    )


def nan_output(s: Setup, monkeypatch) -> Case:
    return Case(
        s.run(NaNMethod()),
        PairFailureError,
        rf"3 of 3 pairs failed \(nan-test on folder/test\): pair 'p000': method 'nan-test' produced 3072 "
        rf"non-finite value\(s\) \(NaN or inf\) in a fused image of shape \(48, 64\) \(IR {esc(s.file('ir', 'p000'))}",
        cause="MethodError",
    )


def fused_wrong_size_from_method(s: Setup, monkeypatch) -> Case:
    return Case(
        s.run(WrongSizeMethod()),
        PairFailureError,
        r"pair 'p000': method 'wrong-size-test' returned shape \(47, 64\) for inputs of shape \(48, 64\) "
        rf"\(IR {esc(s.file('ir', 'p000'))}",
        cause="MethodError",
    )


def fused_wrong_size_from_folder(s: Setup, monkeypatch) -> Case:
    fused = s.tmp / "fused"
    fused.mkdir()
    for stem in ("p000", "p001", "p002"):
        fused_image, _, _ = _triple(40 if stem == "p001" else 48, 64)
        write_image_atomic(fused / f"{stem}.png", fused_image)
    return Case(
        s.run(f"folder:{fused}"),
        PairFailureError,
        rf"pair 'p001': {esc(fused / 'p001.png')}: fused image is 40x64 but pair 'p001' is 48x64 \(height x width\)",
        cause="MethodError",
        after=s.others_stored(),
        cli=s.cli(f"folder:{fused}"),
    )


def method_raises_on_one_pair(s: Setup, monkeypatch) -> Case:
    _, ir, vis = _triple(48, 72)
    write_image_atomic(s.file("ir"), ir)
    write_image_atomic(s.file("vi"), vis)
    return Case(
        s.run(RaisesOnWideMethod()),
        PairFailureError,
        rf"1 of 3 pairs failed \(raises-test on folder/test\): pair 'p001': method 'raises-test' raised "
        rf"RuntimeError: boom on a wide pair \(IR {esc(s.file('ir'))}, VIS {esc(s.file('vi'))}\)\. "
        rf"The other 2 pairs are stored in {esc(s.out / STORE_NAME)}",
        cause="RuntimeError",
        after=s.others_stored(),
    )


def non_image_file(s: Setup, monkeypatch) -> Case:
    s.file("ir").write_text("these are notes, not a PNG")
    (s.dirs["ir"] / "README.txt").write_text("ignored: not an image extension")
    return Case(
        s.run(),
        PairFailureError,
        rf"pair 'p001': {esc(s.file('ir'))}: not a readable image",
        cause="ImageReadError",
        after=s.others_stored(),
        cli=s.cli(),
    )


def empty_folder(s: Setup, monkeypatch) -> Case:
    for f in s.dirs["vi"].iterdir():
        f.unlink()
    return Case(
        s.run(),
        DatasetError,
        rf"vi folder holds no images \(\.png, .*\): {esc(s.dirs['vi'])}$",
        after=lambda: _nothing_written(s.out),
        cli=s.cli(),
    )


def unpaired_names(s: Setup, monkeypatch) -> Case:
    s.file("vi", "p002").rename(s.dirs["vi"] / "q002.png")
    return Case(
        s.run(),
        DatasetError,
        r"2 file stem\(s\) not present in every folder: 'p002' \(not in vi\), 'q002' \(not in ir\) "
        rf"\(ir={esc(s.dirs['ir'])}, vi={esc(s.dirs['vi'])}\)",
        after=lambda: _nothing_written(s.out),
        cli=s.cli(),
    )


def duplicate_ids_in_a_folder(s: Setup, monkeypatch) -> Case:
    (s.dirs["ir"] / "p001.jpg").write_bytes(s.file("ir").read_bytes())
    return Case(
        s.run(),
        DatasetError,
        rf"ir folder {esc(s.dirs['ir'])} holds several images with the same stem: p001\.jpg, p001\.png",
        after=lambda: _nothing_written(s.out),
        cli=s.cli(),
    )


def duplicate_ids_in_a_dataset(s: Setup, monkeypatch) -> Case:
    class Twice(Dataset):
        name = "twice"

        def pairs(self, split="test", data_root=None):
            first = PairRecord("p001", s.file("ir"), s.file("vi"))
            return [first, PairRecord("p001", s.file("ir", "p002"), s.file("vi", "p002"))]

        def version(self, split="test"):
            return "v"

    return Case(
        lambda: fusionbench.run("average", Twice(), out=s.out),
        DatasetError,
        rf"twice/test: 1 duplicate pair id\(s\): 'p001' \({esc(s.file('ir'))} and {esc(s.file('ir', 'p002'))}\)",
        after=lambda: _nothing_written(s.out),
    )


def disk_full_writing_a_fused_image(s: Setup, monkeypatch) -> Case:
    s.run("max")()
    before = _store_rows(s.out)
    real_fsync, calls = os.fsync, []

    def fsync_fills_the_disk(fd: int) -> None:
        calls.append(fd)
        if len(calls) >= 2:  # the first fused image fits, the second does not
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_fills_the_disk)

    def after() -> None:
        monkeypatch.setattr(os, "fsync", real_fsync)
        assert set(before) <= set(_store_rows(s.out))  # the earlier run's scores are intact
        assert temp_files(s.out) == []
        resumed = s.run()()  # room again: the run resumes, reusing the fused image that was written
        assert resumed.attrs["manifest"]["fused_from_cache"] == 1

    fused_dir = next(s.out.glob("fused/max__*")).parent
    return Case(
        s.run(),
        StoreError,
        rf"{esc(fused_dir)}/average__\w+/[0-9a-f]{{64}}\.png: cannot write the fused image of pair 'p001' "
        r"\(No space left on device\); what was written before is kept",
        after=after,
    )


def disk_full_writing_the_store(s: Setup, monkeypatch) -> Case:
    s.run("max")()
    before = _store_rows(s.out)

    class FullStore(ResultsStore):  # SQLite's own SQLITE_FULL: no page may be added
        def __init__(self, path, **kwargs):
            super().__init__(path, **kwargs)
            (pages,) = self._con.execute("PRAGMA page_count").fetchone()
            self._con.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr("fusionbench.engine.runner.ResultsStore", FullStore)

    def after() -> None:
        assert set(before) <= set(_store_rows(s.out))  # rows are added until the store is full; none lost
        con = sqlite3.connect(s.out / STORE_NAME)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()

    return Case(
        _run_all_metrics(s),
        StoreError,
        rf"{esc(s.out / STORE_NAME)}: cannot (store the scores|record the fused image) of pair 'p00\d' "
        r"\(database or disk is full\)",
        after=after,
    )


def archive_with_path_traversal(s: Setup, monkeypatch) -> Case:
    url = "https://example.invalid/evil.tar.gz"  # never contacted: the archive is already in downloads/
    good = s.file("ir").read_bytes()
    manifest = {
        "name": "toy",
        "description": "one pinned pair",
        "splits": {"test": {"pairs": [{"id": "a", "ir": {"file": "a.png", "sha256": sha256_bytes(good)},
                                       "vis": {"file": "a.png", "sha256": sha256_bytes(good)}}]}},
        "sources": [{"name": "toy", "url": url, "members": {"test/ir": "top/ir", "test/vi": "top/vi"}}],
    }  # fmt: skip
    downloads = s.tmp / "root" / "downloads"
    downloads.mkdir(parents=True)
    archive = downloads / f"{sha256_bytes(url.encode())[:10]}-evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in (("top/ir/a.png", good), ("top/vi/a.png", good), ("top/../../../evil.png", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))

    def after() -> None:
        assert not (s.tmp / "evil.png").exists() and not (s.tmp.parent / "evil.png").exists()
        assert not (s.tmp / "root" / "datasets").exists()

    return Case(
        lambda: download(PinnedDataset(manifest), data_root=s.tmp / "root", offline=True),
        DatasetError,
        rf"{esc(archive)}: refusing an archive with an unsafe entry 'top/\.\./\.\./\.\./evil\.png' "
        r"\(absolute path or '\.\.'\)",
        after=after,
    )


class _Payload:
    """Unpickling this creates a marker file: what a malicious checkpoint would do instead."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def weights_with_a_pickle_payload(s: Setup, monkeypatch) -> Case:
    marker = s.tmp / "payload-ran"
    path = s.tmp / "weights.pth"
    torch.save({"conv.weight": torch.zeros(1), "extra": _Payload(marker)}, path)
    # The payload is live: unsafe loading runs it.
    torch.load(path, weights_only=False)
    assert marker.exists()
    marker.unlink()
    weight = WeightFile("toy", "weights.pth", sha256_file(path), "a test")  # the hash matches: only loading refuses

    def after() -> None:
        assert not marker.exists()

    return Case(
        lambda: load_state_dict(weight, weights=path),
        WeightsError,
        rf"{esc(path)}: cannot be loaded as a weights-only checkpoint",
        after=after,
    )


MATRIX = [
    size_mismatch,
    truncated_png,
    empty_png,
    ir_16bit,
    rgb_ir,
    nan_output,
    fused_wrong_size_from_method,
    fused_wrong_size_from_folder,
    empty_folder,
    unpaired_names,
    duplicate_ids_in_a_folder,
    duplicate_ids_in_a_dataset,
    non_image_file,
    method_raises_on_one_pair,
    disk_full_writing_a_fused_image,
    disk_full_writing_the_store,
    archive_with_path_traversal,
    weights_with_a_pickle_payload,
]


@pytest.mark.parametrize("make_case", MATRIX, ids=[m.__name__ for m in MATRIX])
def test_bad_input_gives_one_clear_error_and_loses_nothing(make_case, tmp_path, monkeypatch):
    case = make_case(Setup(tmp_path), monkeypatch)
    with pytest.raises(case.error) as info:
        case.action()
    message = str(info.value)
    assert type(info.value) is case.error
    assert re.search(case.message, message), f"\n{case.message}\n{message}"
    assert "\n" not in message
    if case.cause is not None:
        assert {f.error for f in info.value.failures} == {case.cause}
    if case.after is not None:
        case.after()


CLI_CASES = [m for m in MATRIX if m.__name__ in {
    "size_mismatch", "truncated_png", "ir_16bit", "rgb_ir", "fused_wrong_size_from_folder", "empty_folder",
    "unpaired_names", "duplicate_ids_in_a_folder", "non_image_file",
}]  # fmt: skip


@pytest.mark.parametrize("make_case", CLI_CASES, ids=[m.__name__ for m in CLI_CASES])
def test_the_cli_prints_the_same_error_on_one_line_and_exits_2(make_case, tmp_path, monkeypatch):
    case = make_case(Setup(tmp_path), monkeypatch)
    result = CliRunner().invoke(main, case.cli)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert re.search(case.message.rstrip("$"), lines[0]), f"\n{case.message}\n{lines[0]}"


class FailsOnceOnWideMethod(ClassicMethod):
    """Raises the first time it sees a pair 72 pixels wide (a transient failure: memory, a flaky device)."""

    id, name, description = "fails-once-test", "FailsOnce", "raises once on images 72 pixels wide"

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def config(self) -> dict:
        return {}

    def _fuse(self, ir, vis):
        if ir.shape[1] == 72 and not Path(self.marker).exists():
            Path(self.marker).touch()
            raise MemoryError("out of memory")
        return (ir + vis) / 2


def test_a_rerun_after_a_pair_failure_computes_only_that_pair(tmp_path):
    s = Setup(tmp_path)
    _, ir, vis = _triple(48, 72)
    write_image_atomic(s.file("ir"), ir)
    write_image_atomic(s.file("vi"), vis)
    method = FailsOnceOnWideMethod(str(tmp_path / "failed-once"))
    with pytest.raises(PairFailureError, match="pair 'p001': method 'fails-once-test' raised MemoryError"):
        s.run(method)()
    frame = s.run(method)()
    manifest = frame.attrs["manifest"]
    assert list(frame["image"]) == ["p000", "p001", "p002"]
    assert manifest["fused_from_cache"] == 2 and manifest["metrics_from_cache"] == 2
    assert not list(s.out.glob("runs/**/failures.csv"))


# -- helpers ------------------------------------------------------------------------------------


def _triple(h: int, w: int):
    from tests.metric_fixtures import synthetic_triple

    return synthetic_triple(5, shape=(h, w))


def _nothing_written(out: Path) -> None:
    assert not list(out.glob("runs/**/*.csv")) and not (out / STORE_NAME).exists()


def _store_rows(out: Path) -> list[tuple]:
    con = sqlite3.connect(out / STORE_NAME)
    rows = sorted(con.execute("SELECT * FROM scores").fetchall(), key=repr)
    con.close()
    return rows


def _run_all_metrics(s: Setup) -> Callable[[], object]:
    """Every metric: one pair's scores need more than the page the store may still fill."""
    return lambda: fusionbench.run(
        "average", "folder", metrics="all", out=s.out, dataset_options={"ir": s.dirs["ir"], "vi": s.dirs["vi"]}
    )
