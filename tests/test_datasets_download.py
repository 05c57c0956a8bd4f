"""fusionbench.datasets.download against a local HTTP server serving archives the tests build."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import shutil
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fusionbench.datasets import DatasetError, PinnedDataset, download, get_dataset
from fusionbench.io import read_image

TOP = "toy-0123abcd"  # the archive's top folder, as in GitHub's archives


def png(pixels: np.ndarray, level: int = 6) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG", compress_level=level)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def make_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def do_GET(self):
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path, monkeypatch):
    """Serves ``tmp_path / "www"`` on 127.0.0.1; ``server.requests`` records every GET."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    root = tmp_path / "www"
    root.mkdir()
    requests: list[str] = []
    handler = type("Handler", (_QuietHandler,), {"requests": requests})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    class Server:
        folder = root
        url = f"http://127.0.0.1:{httpd.server_address[1]}"

    Server.requests = requests
    yield Server
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def toy(server):
    """A pinned two-pair dataset, its archive on the server, and an ids-only split in the same archive."""
    rng = np.random.default_rng(1)
    files = {}
    for pair_id in ("a", "b", "c"):
        files[f"{TOP}/ir/{pair_id}.png"] = png(rng.integers(0, 256, (12, 16), dtype=np.uint8))
        files[f"{TOP}/vi/{pair_id}.png"] = png(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8))
    archive = make_tar(server.folder / "toy.tar.gz", files)
    manifest = {
        "name": "toy",
        "description": "two pinned pairs and one ids-only pair",
        "splits": {
            "test": {
                "pairs": [
                    {
                        "id": i,
                        "ir": {"file": f"{i}.png", "sha256": sha256(files[f"{TOP}/ir/{i}.png"])},
                        "vis": {"file": f"{i}.png", "sha256": sha256(files[f"{TOP}/vi/{i}.png"])},
                    }
                    for i in ("a", "b")
                ]
            },
            "extra": {"ids": ["c"], "ext": ".png"},
        },
        "sources": [
            {
                "name": "toy",
                "url": f"{server.url}/toy.tar.gz",
                "sha256": sha256(archive.read_bytes()),
                "members": {f"{s}/{m}": f"{TOP}/{m}" for s in ("test", "extra") for m in ("ir", "vi")},
                "transforms": {},
            }
        ],
    }
    return PinnedDataset(manifest), files


def test_download_fetches_checks_and_skips_what_is_present(toy, server, tmp_path):
    ds, files = toy
    root = tmp_path / "root"

    folder = download(ds, data_root=root)

    assert folder == root / "datasets" / "toy"
    assert ds.verify("test", data_root=root).ok
    assert [p.id for p in ds.pairs("test", data_root=root)] == ["a", "b"]
    assert (folder / "extra" / "vi" / "c.png").read_bytes() == files[f"{TOP}/vi/c.png"]
    assert server.requests == ["/toy.tar.gz"]

    download(ds, data_root=root)  # complete: nothing fetched
    (folder / "test" / "ir" / "b.png").unlink()
    download(ds, data_root=root, offline=True)  # restored from the cached archive
    assert ds.verify("test", data_root=root).ok
    assert server.requests == ["/toy.tar.gz"]


def test_download_one_split(toy, tmp_path):
    ds, _ = toy
    download(ds, data_root=tmp_path, split="extra")
    assert not (tmp_path / "datasets" / "toy" / "test").exists()
    assert len(ds.pairs("extra", data_root=tmp_path)) == 1


def test_archive_checksum_mismatch_is_refused(toy, tmp_path):
    ds, _ = toy
    with pytest.raises(DatasetError, match="hash") as exc_info:
        download(ds, data_root=tmp_path, known_hash="0" * 64)
    assert "\n" not in str(exc_info.value)
    assert not (tmp_path / "datasets").exists()


def test_a_file_not_matching_its_pin_is_not_written(toy, server, tmp_path):
    ds, files = toy
    files = dict(files)
    files[f"{TOP}/vi/b.png"] = png(np.zeros((12, 16, 3), np.uint8))
    make_tar(server.folder / "changed.tar.gz", files)

    with pytest.raises(DatasetError, match=r"1 files are in none of its sources.*test/vi/b\.png"):
        download(ds, data_root=tmp_path, url=f"{server.url}/changed.tar.gz")
    assert not (tmp_path / "datasets" / "toy" / "test" / "vi" / "b.png").exists()
    assert (tmp_path / "datasets" / "toy" / "test" / "vi" / "a.png").exists()


def test_offline_refuses_without_touching_the_network(toy, server, tmp_path):
    ds, _ = toy
    with pytest.raises(DatasetError, match="offline mode forbids downloading") as exc_info:
        download(ds, data_root=tmp_path, offline=True)
    assert str(exc_info.value).startswith("toy: 6 files missing")
    assert server.requests == []


def test_offline_with_everything_present_is_fine(toy, server, tmp_path):
    ds, _ = toy
    download(ds, data_root=tmp_path)
    shutil.rmtree(tmp_path / "downloads")
    assert download(ds, data_root=tmp_path, offline=True) == tmp_path / "datasets" / "toy"
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("maker", "entry"),
    [
        (make_tar, "../evil.png"),
        (make_tar, f"{TOP}/ir/../../../evil.png"),
        (make_tar, "/tmp/evil.png"),
        (make_zip, "../evil.png"),
        (make_zip, "C:/evil.png"),
    ],
)
def test_path_traversal_archives_are_refused(toy, server, tmp_path, maker, entry):
    ds, files = toy
    maker(server.folder / "evil.archive", {**files, entry: b"gotcha"})
    with pytest.raises(DatasetError, match="refusing an archive with an unsafe entry"):
        download(ds, data_root=tmp_path / "root", url=f"{server.url}/evil.archive")
    assert not (tmp_path / "evil.png").exists()
    assert not (tmp_path / "root" / "datasets").exists()
    assert list((tmp_path / "root" / "downloads").iterdir()) == []  # the refused archive is not kept


def test_symlink_out_of_the_archive_is_refused(toy, server, tmp_path):
    ds, files = toy
    path = make_tar(server.folder / "link.tar.gz", files)
    with tarfile.open(path, "w:gz") as tf:
        link = tarfile.TarInfo(f"{TOP}/ir/link.png")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
        tf.addfile(link)
    with pytest.raises(DatasetError, match=re.escape("unsafe entry '../../../../etc/passwd'")):
        download(ds, data_root=tmp_path, url=f"{server.url}/link.tar.gz")


def test_download_failure_is_a_dataset_error(toy, server, tmp_path):
    ds, _ = toy
    with pytest.raises(DatasetError, match=r"cannot download .*/missing\.tar\.gz"):
        download(ds, data_root=tmp_path, url=f"{server.url}/missing.tar.gz")


def test_transforms_rebuild_the_pinned_bytes(server, tmp_path):
    """'grey' (3 identical channels -> 1, as for TNO) and 'crop' (a pinned window, as for the MSRS pool)."""
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (10, 14), dtype=np.uint8)
    colour = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    upstream = {f"{TOP}/grey/p.png": png(np.dstack([grey] * 3)), f"{TOP}/colour/p.png": png(colour)}
    make_zip(server.folder / "up.zip", upstream)
    window = [4, 7, 10, 14]  # top, left, height, width
    grey_pin = {
        "file": "p.png",
        "sha256": sha256(png(grey, level=9)),
        "source_sha256": sha256(upstream[f"{TOP}/grey/p.png"]),
    }
    crop_pin = {"file": "p.png", "sha256": sha256(png(colour[4:14, 7:21], level=9)), "crop": window}
    ds = PinnedDataset(
        {
            "name": "up",
            "description": "one split per transform",
            "splits": {
                "grey": {"pairs": [{"id": "p", "ir": grey_pin, "vis": grey_pin}]},
                "pool": {"pairs": [{"id": "p", "ir": crop_pin, "vis": crop_pin}]},
            },
            "sources": [
                {
                    "name": "up",
                    "url": f"{server.url}/up.zip",
                    "members": {
                        **{f"grey/{m}": f"{TOP}/grey" for m in ("ir", "vi")},
                        **{f"pool/{m}": f"{TOP}/colour" for m in ("ir", "vi")},
                    },
                    "transforms": {"grey": "grey", "pool": "crop"},
                }
            ],
        }
    )

    download(ds, data_root=tmp_path)

    assert ds.verify("grey", data_root=tmp_path).ok and ds.verify("pool", data_root=tmp_path).ok
    pair = ds.pairs("grey", data_root=tmp_path)[0]
    np.testing.assert_array_equal(read_image(pair.ir), grey)
    np.testing.assert_array_equal(read_image(ds.pairs("pool", data_root=tmp_path)[0].vis), colour[4:14, 7:21])


def test_registered_dataset_from_a_mirror(shared_root, server, tmp_path):
    """roadscene with --url: the archive holds two real pairs in the upstream layout."""
    roadscene = get_dataset("roadscene")
    top = roadscene.sources[0].members["test/ir"].split("/")[0]
    members = {}
    for pair_id in ("FLIR_00211", "FLIR_00977"):
        for sub, upstream in (("ir", "cropinfrared"), ("vi", "crop_LR_visible")):
            data = (shared_root / "datasets" / "roadscene" / "test" / sub / f"{pair_id}.jpg").read_bytes()
            members[f"{top}/{upstream}/{pair_id}.jpg"] = data
    make_tar(server.folder / "roadscene.tar.gz", members)

    with pytest.raises(DatasetError, match="roadscene: 96 files are in none of its sources"):
        download("roadscene", data_root=tmp_path, split="test", url=f"{server.url}/roadscene.tar.gz")
    report = roadscene.verify("test", data_root=tmp_path)
    assert report.mismatched == () and len(report.missing) == 96
    assert server.requests == ["/roadscene.tar.gz"]


def test_nothing_to_download_for_folder_and_no_source_for_official_train(tmp_path):
    with pytest.raises(DatasetError, match="nothing to download"):
        download("folder", data_root=tmp_path)
    with pytest.raises(DatasetError, match="msrs/official-train: no download source"):
        download("msrs", data_root=tmp_path, split="official-train")
