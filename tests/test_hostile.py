"""Results integrity and hostile input (issue 13): one test per item.

Wrong numbers: two folder datasets with the same file names run at once into one output folder,
run folders keyed by what they were made from, table means that say how many values they are over.
Hostile input: script in a report (checked in a real browser), a decompression bomb (the reading
process stays under 1 GB), a 245-character file name, a JPEG with bytes after its end marker,
``data_range`` values, archive limits, Dask's logging and missing ``__main__`` guard, and a corrupt
or foreign ``stage1-last.pt`` given to ``fusionbench train``.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import subprocess
import sys
import tarfile
import textwrap
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

import fusionbench
from fusionbench.datasets import DatasetError, PinnedDataset, download
from fusionbench.datasets.api import DATASETS
from fusionbench.datasets.folder import FolderDataset
from fusionbench.io import ImageReadError, read_image, write_image_atomic
from fusionbench.metrics import compute
from fusionbench.reports.tables import render
from tests.metric_fixtures import synthetic_triple
from tests.test_datasets_download import TOP, make_tar, png, server, sha256  # noqa: F401 - server is a fixture
from tests.test_report_html import CHROMIUM_ARGS, chromium_or_skip

#: A process that decodes what it should refuse goes far above this (30000 x 30000 pixels: 0.9 GB or more).
MEMORY_BOUND = 1 << 30
#: Python, run in the child, that sets ``peak`` to the child's own peak RSS in bytes: VmHWM, the high-water
#: mark of the memory the child has mapped since its exec (getrusage's ru_maxrss would also count the
#: RSS of this test process, which the child inherits at fork).
PEAK_RSS = "peak = next(int(line.split()[1]) * 1024 for line in open('/proc/self/status') if line.startswith('VmHWM:'))"


def pair_folders(root: Path, count: int, seed: int, shape=(96, 128), stems=None) -> dict[str, Path]:
    """``root/ir`` and ``root/vi`` holding ``count`` pairs ``p000``... whose pixels depend on ``seed``."""
    dirs = {"ir": root / "ir", "vi": root / "vi"}
    for d in dirs.values():
        d.mkdir(parents=True)
    stems = stems or [f"p{i:03d}" for i in range(count)]
    for i, stem in enumerate(stems):
        _, ir, vis = synthetic_triple(seed + i, shape=shape, colour=i % 2 == 1)
        write_png(dirs["ir"] / f"{stem}.png", ir)
        write_png(dirs["vi"] / f"{stem}.png", vis)
    return dirs


def write_png(path: Path, image: np.ndarray) -> None:
    """A plain write (no temporary name beside it): the test's own files do not depend on the fix."""
    ok, encoded = cv2.imencode(".png", image[..., ::-1] if image.ndim == 3 else image)
    assert ok
    path.write_bytes(encoded.tobytes())


def expected_scores(method: str, dirs: dict[str, Path], stem: str, metrics: list[str]) -> dict[str, float]:
    """What ``compute`` gives on the pair's own images, fused directly."""
    ir, vis = read_image(dirs["ir"] / f"{stem}.png"), read_image(dirs["vi"] / f"{stem}.png")
    return compute(fusionbench.fuse(method, ir, vis), ir, vis, metrics=metrics)


def assert_rows_are_their_own(frame: pd.DataFrame, method: str, dirs: dict[str, Path], metrics: list[str]) -> int:
    """Every row of ``frame`` equals a direct compute on its own images; returns how many rows differ."""
    wrong = 0
    for row in frame.to_dict(orient="records"):
        expected = expected_scores(method, dirs, str(row["image"]), metrics)
        wrong += any(not math.isclose(row[m], expected[m], rel_tol=1e-9) for m in metrics)
    return wrong


@contextmanager
def registered_dataset(name: str, ir: Path, vi: Path) -> Iterator[str]:
    """Register a folder dataset under ``name`` for the duration of the block."""
    DATASETS.add(name, lambda: FolderDataset(ir, vi))
    try:
        yield name
    finally:
        DATASETS._items.pop(name)


# -- 1. two folder datasets with the same file names, run at once -----------------------------------

RUN_AT_ONCE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import fusionbench
    out, ir, vi, csv, go = sys.argv[1:]
    while not Path(go).exists():  # both processes start their runs together
        time.sleep(0.01)
    frame = fusionbench.run("gff", "folder", metrics=["en", "ag", "qabf"], out=out,
                            dataset_options={"ir": ir, "vi": vi}, progress=False)
    frame.to_csv(csv, index=False)
    """
)


@pytest.mark.slow
def test_two_folder_datasets_with_the_same_names_at_once_score_their_own_images(tmp_path):
    metrics = ["en", "ag", "qabf"]
    folders = {name: pair_folders(tmp_path / name, 20, seed, shape=(120, 160)) for name, seed in (("a", 0), ("b", 500))}
    out, go = tmp_path / "out", tmp_path / "go"
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", RUN_AT_ONCE, *map(str, (out, d["ir"], d["vi"], tmp_path / f"{name}.csv", go))],
            stderr=subprocess.PIPE,
        )
        for name, d in folders.items()
    }
    time.sleep(4)  # both have imported fusionbench
    go.touch()
    for proc in procs.values():
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()

    for name, dirs in folders.items():
        frame = pd.read_csv(tmp_path / f"{name}.csv", dtype={"image": str})
        assert len(frame) == 20
        assert assert_rows_are_their_own(frame, "gff", dirs, metrics) == 0, f"dataset {name}: rows of the other"
        # And what the store keeps is theirs too: a rerun reads every value from the cache.
        again = fusionbench.run("gff", "folder", metrics=metrics, out=out, dataset_options=dirs)
        assert again.attrs["manifest"]["metrics_from_cache"] == 20
        assert assert_rows_are_their_own(again, "gff", dirs, metrics) == 0


# -- 2. run folders: one per dataset content and metric set; the manifest records --ir/--vi ---------


def test_run_folders_are_keyed_by_content_and_metrics_and_record_the_folders(tmp_path):
    a = pair_folders(tmp_path / "a", 3, 0)
    b = pair_folders(tmp_path / "b", 3, 50)  # the same file names, other pixels
    out = tmp_path / "out"
    run_a = fusionbench.run("average", "folder", metrics=["en"], out=out, dataset_options=a)
    run_b = fusionbench.run("average", "folder", metrics=["en"], out=out, dataset_options=b)
    run_a2 = fusionbench.run("average", "folder", metrics=["en", "ag"], out=out, dataset_options=a)

    folders = {Path(f.attrs["run_dir"]) for f in (run_a, run_b, run_a2)}
    assert len(folders) == 3
    for frame, dirs in ((run_a, a), (run_b, b)):
        run_dir = Path(frame.attrs["run_dir"])
        manifest = json.loads((run_dir / "manifest.json").read_text())
        assert manifest["dataset"]["options"] == {"ir": str(dirs["ir"]), "vi": str(dirs["vi"])}
        on_disk = pd.read_csv(run_dir / "per_image.csv", dtype={"image": str})
        pd.testing.assert_frame_equal(on_disk, frame, check_dtype=False)  # not overwritten by the later runs
    # The same content, method and metrics find the same folder again.
    assert (
        fusionbench.run("average", "folder", metrics=["en"], out=out, dataset_options=a).attrs["run_dir"]
        == (run_a.attrs["run_dir"])
    )


# -- 3. a table mean over fewer values than the split says so -------------------------------------


def test_a_table_mean_that_skips_nan_values_says_how_many_it_is_over(tmp_path):
    dirs = pair_folders(tmp_path / "data", 5, 0)
    for stem in ("p001", "p003"):  # a constant VIS image: VIF is NaN for these two pairs
        write_image_atomic(dirs["vi"] / f"{stem}.png", np.full((96, 128), 90, np.uint8))
    with registered_dataset("nan-test", dirs["ir"], dirs["vi"]):
        frame = fusionbench.table("average,max", "nan-test", metrics=["en", "vif"], out=tmp_path / "out")
    assert frame["n"].tolist() == [5, 5]
    assert frame["vif_n"].tolist() == [3, 3] and frame["en_n"].tolist() == [5, 5]

    for fmt in ("markdown", "text", "latex"):
        text = render(frame, fmt)
        vif = next(line for line in text.splitlines() if "Average" in line)
        assert "\u2020" in vif or r"\dagger" in vif, (fmt, text)  # the VIF cell is marked
        assert re.search(r"over 3 of 5 pairs", text), (fmt, text)  # and the footnote says over how many
    csv = pd.read_csv(io.StringIO(render(frame, "csv")))
    assert csv["vif_n"].tolist() == [3, 3]
    # A table whose means are all over the full split is unchanged: no marker, no footnote.
    full = frame.drop(columns=["vif", "vif_std", "vif_n"])
    full.attrs = {"metrics": ["en"], "by": None}
    assert "\u2020" not in render(full, "markdown") and "pairs" not in render(full, "markdown")


# -- 4. the HTML report runs no script from a title, a method id or a file name --------------------

HOSTILE_TITLE = "<script>alert('title')</script>"
HOSTILE_FILE = "<img src=x onerror=alert('file')>"
HOSTILE_METHOD_DIR = "<svg onload=alert('method')>"


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory) -> Path:
    from fusionbench.engine.results import CachedResults
    from fusionbench.reports.html import build_report, write_report

    tmp = tmp_path_factory.mktemp("hostile")
    dirs = pair_folders(tmp / "data", 2, 0, stems=["p0", HOSTILE_FILE])
    fused = tmp / HOSTILE_METHOD_DIR  # a folder method: its name is the folder's
    fused.mkdir()
    for stem in ("p0", HOSTILE_FILE):
        write_image_atomic(fused / f"{stem}.png", read_image(dirs["ir"] / f"{stem}.png"))
    ctx = CachedResults(out=tmp / "out", metrics=["en", "ag"])
    with registered_dataset("xss-data<b onmouseover=alert('dataset')>", dirs["ir"], dirs["vi"]) as dataset:
        html = build_report(
            ctx, ["average", f"folder:{fused}"], [dataset], efficiency="none", boxes="none", title=HOSTILE_TITLE
        )
    return write_report(html, tmp / "report.html")


def test_hostile_names_are_escaped_in_the_html(hostile_report):
    html = hostile_report.read_text()
    for needle in ("<script>alert", "<img src=x", "<svg onload", "<b onmouseover"):
        assert needle not in html, needle
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in html or "&lt;script&gt;" in html


def test_hostile_report_opens_no_dialog_in_headless_chromium(hostile_report):
    chromium = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            page.goto(hostile_report.as_uri())
            page.wait_for_load_state("load")
            for y in range(0, 1000, 40):  # an onmouseover anywhere near the top would fire
                page.mouse.move(200, y)
            assert dialogs == []
            assert page.locator("h1").text_content() == HOSTILE_TITLE  # shown as text
            cells = page.locator("table.per-image").first.locator("tbody td").all_text_contents()
            assert HOSTILE_FILE in [c.strip() for c in cells]
            headers = page.locator("table.per-image").first.locator("thead th").all_text_contents()
            assert HOSTILE_METHOD_DIR in [h.strip() for h in headers]
        finally:
            browser.close()


def test_a_hostile_method_name_cannot_form_latex_commands():
    frame = pd.DataFrame([{"dataset": "tno", "method": r"\input{/etc/passwd}$x^2$~", "method_id": "m", "n": 1,
                           "en": 1.0, "en_std": 0.0}])  # fmt: skip
    frame.attrs = {"metrics": ["en"], "by": None}
    latex = render(frame, "latex")
    assert r"\textbackslash{}input\{/etc/passwd\}\$x\textasciicircum{}2\$\textasciitilde{}" in latex, latex


# -- 5. decompression bombs are refused from the header, in bounded memory ------------------------


def png_bomb(path: Path, width: int, height: int) -> Path:
    """A valid all-black 8-bit gray PNG of ``width`` x ``height`` (a few MB on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    compressor = zlib.compressobj(9)
    rows = bytes(width + 1) * 64  # filter byte 0 and black pixels, 64 rows at a time
    parts = [compressor.compress(rows) for _ in range(height // 64)]
    parts.append(compressor.compress(bytes(width + 1) * (height % 64)))
    idat = b"".join(parts) + compressor.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


READ_IN_A_CHILD = textwrap.dedent(
    f"""
    import json, sys
    from fusionbench.io import read_image
    try:
        read_image(sys.argv[1])
        error, message = None, ""
    except Exception as exc:
        error, message = type(exc).__name__, str(exc)
    {PEAK_RSS}
    print(json.dumps({{"error": error, "message": message, "peak": peak}}))
    """
)


@pytest.mark.slow
def test_a_decompression_bomb_is_refused_before_decoding_in_bounded_memory(tmp_path):
    bomb = png_bomb(tmp_path / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 2_000_000
    child = subprocess.run([sys.executable, "-c", READ_IN_A_CHILD, str(bomb)], capture_output=True, text=True)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["error"] == "ImageReadError", result
    assert str(bomb) in result["message"] and "30000x30000" in result["message"], result["message"]
    assert "FUSIONBENCH_MAX_PIXELS" in result["message"], result["message"]
    assert result["peak"] < MEMORY_BOUND, f"the reading process peaked at {result['peak'] / 2**20:.0f} MiB"


@pytest.mark.slow
def test_a_bomb_given_to_eval_is_one_error_line_not_a_cv2_traceback(tmp_path):
    dirs = pair_folders(tmp_path, 1, 0)
    (tmp_path / "fused").mkdir()
    png_bomb(tmp_path / "fused" / "p000.png", 40000, 40000)
    args = ["eval", "--ir", str(dirs["ir"]), "--vi", str(dirs["vi"]), "--fused", str(tmp_path / "fused")]
    child = subprocess.run([sys.executable, "-m", "fusionbench", *args], capture_output=True, text=True)
    assert child.returncode == 2, child.stderr
    lines = child.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), child.stderr
    assert "p000.png" in lines[0] and "40000x40000" in lines[0] and "FUSIONBENCH_MAX_PIXELS" in lines[0]


def test_the_pixel_limit_is_raised_by_its_environment_variable_and_cv2_errors_are_read_errors(tmp_path, monkeypatch):
    path = tmp_path / "small.png"
    write_image_atomic(path, np.zeros((20, 30), np.uint8))
    monkeypatch.setenv("FUSIONBENCH_MAX_PIXELS", "500")
    with pytest.raises(ImageReadError, match=r"small\.png: 30x20 pixels \(600\) exceed the limit of 500"):
        read_image(path)
    monkeypatch.setenv("FUSIONBENCH_MAX_PIXELS", "600")
    assert read_image(path).shape == (20, 30)

    def broken(*args, **kwargs):
        raise cv2.error("OpenCV(4.x) imgcodecs: some decoder failure")

    monkeypatch.setattr(cv2, "imdecode", broken)
    with pytest.raises(ImageReadError, match=r"small\.png: .*some decoder failure"):
        read_image(path)


# -- 6. a 245-character file name ----------------------------------------------------------------


def test_a_245_character_file_name_is_scored_like_any_other(tmp_path):
    long_stem = "n" * 241  # 245 characters with ".png": legal on ext4, too long for a temp name beside it
    dirs = pair_folders(tmp_path / "data", 2, 0, stems=["p0", long_stem])
    assert len((dirs["ir"] / f"{long_stem}.png").name) == 245
    frame = fusionbench.run("gff", "folder", metrics=["en", "ag"], out=tmp_path / "out", dataset_options=dirs)
    assert sorted(frame["image"]) == sorted(["p0", long_stem])
    assert assert_rows_are_their_own(frame, "gff", dirs, ["en", "ag"]) == 0


# -- 7. a JPEG with bytes after its end marker -----------------------------------------------------


def test_a_jpeg_with_trailing_bytes_is_read_with_a_warning(tmp_path, caplog):
    _, _, vis = synthetic_triple(3, colour=True)
    ok, encoded = cv2.imencode(".jpg", vis[..., ::-1])
    assert ok
    clean = tmp_path / "clean.jpg"
    clean.write_bytes(encoded.tobytes())
    phone = tmp_path / "phone.jpg"
    phone.write_bytes(encoded.tobytes() + b"\x00\x00MotionPhoto_Data\x01\x02 trailing bytes")
    with caplog.at_level(logging.WARNING, logger="fusionbench.io"):
        image = read_image(phone)
    np.testing.assert_array_equal(image, read_image(clean))
    messages = [r.getMessage() for r in caplog.records]
    assert any(str(phone) in m and "after its end-of-image marker" in m for m in messages), messages
    cut = tmp_path / "cut.jpg"  # a truncated JPEG is still refused
    cut.write_bytes(encoded.tobytes()[: len(encoded) // 2])
    with pytest.raises(ImageReadError, match=r"cut\.jpg: truncated JPEG"):
        read_image(cut)


# -- 9. compute(..., data_range=...) ------------------------------------------------------------


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "255", -1, 0, True, [255], {"ir": math.nan}])
def test_a_bad_data_range_is_a_value_error_listing_the_accepted_forms(bad):
    fused, ir, vis = synthetic_triple(1)
    with pytest.raises(ValueError, match=r"data_range must be .*positive finite number.*mapping") as info:
        compute(fused, ir, vis, metrics=["en"], data_range=bad)
    assert repr(bad if not isinstance(bad, dict) else bad["ir"]) in str(info.value)


def test_a_float_image_of_only_0_and_1_warns_that_it_looks_like_0_to_1():
    fused, ir, vis = synthetic_triple(1)
    mask = (fused > 128).astype(np.float64)
    with pytest.warns(UserWarning, match=r"fused: .*only the values 0 and 1.*data_range=1"):
        compute(mask, ir, vis, metrics=["en"])
    assert compute(mask, ir, vis, metrics=["en"], data_range={"fused": 1.0})["en"] > 0  # said: no warning


# -- 10. archive limits ---------------------------------------------------------------------------


def toy_manifest(url: str, files: dict[str, bytes], archive_sha256: str | None, *, ids_only: bool = False) -> dict:
    """One pair ``a`` (pinned, or ids-only) from ``TOP/{ir,vi}/a.png`` of the archive at ``url``."""
    pinned = {"id": "a", "ir": {"file": "a.png", "sha256": sha256(files[f"{TOP}/ir/a.png"])},
              "vis": {"file": "a.png", "sha256": sha256(files[f"{TOP}/vi/a.png"])}}  # fmt: skip
    split = {"ids": ["a"], "ext": ".png"} if ids_only else {"pairs": [pinned]}
    return {
        "name": "toy",
        "description": "one pair",
        "splits": {"test": split},
        "sources": [{"name": "toy", "url": url, "sha256": archive_sha256,
                     "members": {"test/ir": f"{TOP}/ir", "test/vi": f"{TOP}/vi"}}],
    }  # fmt: skip


def toy_files() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    return {f"{TOP}/{m}/a.png": png(rng.integers(0, 256, (12, 16), dtype=np.uint8)) for m in ("ir", "vi")}


def test_an_archive_member_over_the_size_cap_is_refused(server, tmp_path, monkeypatch):  # noqa: F811
    files = toy_files()
    big = {**files, f"{TOP}/ir/a.png": files[f"{TOP}/ir/a.png"] + bytes(3 << 20)}  # a 3 MiB member
    archive = make_tar(server.folder / "big.tar.gz", big)
    ds = PinnedDataset(toy_manifest(f"{server.url}/big.tar.gz", files, sha256(archive.read_bytes())))
    monkeypatch.setenv("FUSIONBENCH_MAX_MEMBER_BYTES", str(1 << 20))
    with pytest.raises(DatasetError, match=rf"{TOP}/ir/a\.png.*31\d{{5}} bytes.*1048576.*FUSIONBENCH_MAX_MEMBER_BYTES"):
        download(ds, data_root=tmp_path)
    assert not (tmp_path / "datasets" / "toy" / "test" / "ir" / "a.png").exists()


def test_a_link_member_is_refused_by_name(server, tmp_path):  # noqa: F811
    files = toy_files()
    archive = server.folder / "link.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo(f"{TOP}/vi/a.png")
        info.size = len(files[f"{TOP}/vi/a.png"])
        tf.addfile(info, io.BytesIO(files[f"{TOP}/vi/a.png"]))
        link = tarfile.TarInfo(f"{TOP}/ir/a.png")  # a link inside the archive: no '..', no absolute path
        link.type, link.linkname = tarfile.LNKTYPE, f"{TOP}/vi/a.png"
        tf.addfile(link)
    ds = PinnedDataset(toy_manifest(f"{server.url}/link.tar.gz", files, sha256(archive.read_bytes())))
    with pytest.raises(DatasetError, match=rf"{TOP}/ir/a\.png.* is a link"):
        download(ds, data_root=tmp_path)


def test_files_without_a_pin_are_taken_only_from_a_pinned_archive(server, tmp_path):  # noqa: F811
    files = toy_files()
    archive = make_tar(server.folder / "ids.tar.gz", files)
    unpinned = PinnedDataset(toy_manifest(f"{server.url}/ids.tar.gz", files, None, ids_only=True))
    with pytest.raises(DatasetError, match=r"no pinned sha256.*--sha256"):
        download(unpinned, data_root=tmp_path / "a")
    assert not (tmp_path / "a" / "datasets" / "toy" / "test" / "ir" / "a.png").exists()
    # With the archive's hash given (or pinned in the manifest) they are taken.
    download(unpinned, data_root=tmp_path / "b", known_hash=sha256(archive.read_bytes()))
    assert (tmp_path / "b" / "datasets" / "toy" / "test" / "ir" / "a.png").read_bytes() == files[f"{TOP}/ir/a.png"]


DOWNLOAD_IN_A_CHILD = textwrap.dedent(
    f"""
    import json, sys
    from fusionbench.datasets import PinnedDataset, download
    try:
        download(PinnedDataset(json.loads(sys.argv[1])), data_root=sys.argv[2], offline=True)
        error = None
    except Exception as exc:
        error = f"{{type(exc).__name__}}: {{exc}}"
    {PEAK_RSS}
    print(json.dumps({{"error": error, "peak": peak}}))
    """
)


@pytest.mark.slow
def test_a_1_gib_member_is_refused_in_bounded_memory(tmp_path):
    files = toy_files()
    url = "https://example.invalid/big.tar.gz"  # never contacted: the archive is already in downloads/
    downloads = tmp_path / "root" / "downloads"
    downloads.mkdir(parents=True)
    archive = downloads / f"{sha256(url.encode())[:10]}-big.tar.gz"
    with tarfile.open(archive, "w:gz", compresslevel=1) as tf:
        info = tarfile.TarInfo(f"{TOP}/ir/a.png")
        info.size = 1 << 30
        tf.addfile(info, _Zeros(info.size))
    manifest = toy_manifest(url, files, sha256(archive.read_bytes()))
    child = subprocess.run(
        [sys.executable, "-c", DOWNLOAD_IN_A_CHILD, json.dumps(manifest), str(tmp_path / "root")],
        capture_output=True,
        text=True,
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["error"] and "FUSIONBENCH_MAX_MEMBER_BYTES" in result["error"], result
    assert result["peak"] < MEMORY_BOUND, f"the download peaked at {result['peak'] / 2**20:.0f} MiB"


class _Zeros(io.RawIOBase):
    """``size`` zero bytes, read in pieces (for a huge tar member without holding it)."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


# -- 11. Dask: a quiet terminal, and what to do without a __main__ guard ---------------------------


@pytest.mark.slow
def test_a_dask_run_prints_only_the_result(tmp_path):
    args = ["run", "--method", "average", "--dataset", "demo", "--metrics", "en", "--cache", str(tmp_path / "out")]
    child = subprocess.run(
        [sys.executable, "-m", "fusionbench", *args, "--scheduler", "local", "--workers", "2"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert child.returncode == 0, child.stderr
    assert child.stderr.strip() == "", child.stderr  # no progress bar either: stderr is not a terminal
    assert "6 pairs; results in" in child.stdout


@pytest.mark.slow
def test_a_script_without_a_main_guard_is_told_to_add_one(tmp_path):
    script = tmp_path / "no_guard.py"
    script.write_text(
        "import fusionbench\n"
        f"fusionbench.run('average', 'demo', metrics=['en'], out={str(tmp_path / 'out')!r}, workers=2, "
        "scheduler='local')\n"
    )
    child = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert child.returncode != 0
    last = child.stderr.strip().splitlines()[-1]
    assert last.startswith("fusionbench.engine.backends.BackendError: "), child.stderr[-3000:]
    assert 'if __name__ == "__main__":' in last and str(script) in last, last


# --- item 8: a corrupt or foreign training state ---


@pytest.mark.parametrize("content", ["garbage", "foreign"])
def test_a_corrupt_or_foreign_resume_state_is_one_clear_error(tmp_path: Path, content: str) -> None:
    """Issue 13 item 8: which file, what was expected and how to start fresh; no traceback from the CLI."""
    import torch
    from click.testing import CliRunner

    from fusionbench.cli import main
    from fusionbench.training.train import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    if content == "garbage":
        (run / "stage1-last.pt").write_bytes(b"not a torch file at all")
    else:  # a valid torch file of another kind: the SPC-Net of a 'full' model for a 'lite' run
        from fusionbench.methods.sidm.network import SIDMNet

        full = SIDMNet(TrainConfig(width="full").model_config)
        torch.save({"spc": full.spc.state_dict(), "optimizer": {}, "sampler": {}, "torch_rng": torch.get_rng_state(),
                    "step": 3, "seconds": 1.0, "recent": []}, run / "stage1-last.pt")  # fmt: skip
    args = ["train", "--width", "lite", "--ablation", "g7", "--sources", "demo/test", "--validation-pairs", "0",
            "--stage1-steps", "5", "--stage2-steps", "2", "--out", str(run),
            "--data-root", str(tmp_path / "data")]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("Error:") and "stage1-last.pt" in line and "Traceback" not in result.output
    assert "start" in line and "fresh" in line
    if content == "foreign":
        assert "size mismatch" in line  # the part of torch's message that names the mismatch
