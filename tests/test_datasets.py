"""fusionbench.datasets: registry, pinned lists against ../shared, verify, demo, folder, data root, CLI."""

from __future__ import annotations

import pickle
import re
import shutil
from collections import Counter
from dataclasses import replace

import numpy as np
import platformdirs
import pytest
from click.testing import CliRunner

from fusionbench.cli.data import data
from fusionbench.datasets import (
    Dataset,
    DatasetError,
    PairRecord,
    get_dataset,
    list_datasets,
    resolve_data_root,
)
from fusionbench.datasets.build_manifests import MANIFEST_DIR, build, render
from fusionbench.datasets.demo import SCENES, pixel_digest, render_pair
from fusionbench.datasets.pinned import MANIFEST_NAMES, load_manifest
from fusionbench.io import read_image, write_image_atomic
from fusionbench.registry import UnknownNameError

#: sha256 over the demo pixels (demo.pixel_digest): the same on every machine and numpy version.
DEMO_PIXELS = "61ce5749367ade6d0c4c9caaf1da0b65b71df202789f4994b712892a24dcc0a6"

PINNED_COUNTS = {
    ("tno", "test"): 42,
    ("msrs", "test"): 142,
    ("msrs", "train"): 4,
    ("msrs", "trainpool"): 219,
    ("roadscene", "test"): 50,
    ("roadscene", "train"): 171,
}


def run(*args):
    result = CliRunner().invoke(data, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# registry --------------------------------------------------------------------------------------


def test_registry_lists_every_dataset():
    datasets = list_datasets()
    assert [d.name for d in datasets] == ["tno", "msrs", "roadscene", "demo", "folder"]
    assert all(isinstance(d, Dataset) and d.description for d in datasets)


def test_unknown_name_lists_close_matches():
    with pytest.raises(UnknownNameError, match="did you mean 'msrs'") as exc_info:
        get_dataset("msr")
    assert isinstance(exc_info.value, KeyError)
    assert "known: demo, folder, msrs, roadscene, tno" in str(exc_info.value)


def test_unknown_split_and_options_are_dataset_errors():
    with pytest.raises(DatasetError, match=r"has no split 'val'.*splits: test, train"):
        get_dataset("roadscene").pairs("val")
    with pytest.raises(DatasetError, match="takes no options"):
        get_dataset("tno", ir="x")
    assert issubclass(DatasetError, ValueError)


# pinned lists (package data) -------------------------------------------------------------------


def test_pinned_lists_have_the_documented_sizes():
    for (name, split), count in PINNED_COUNTS.items():
        spec = get_dataset(name).split(split)
        assert spec.pinned and len(spec.pairs) == count, (name, split)
        assert all(len(p.ir.sha256) == 64 and len(p.vis.sha256) == 64 for p in spec.pairs)
    msrs = get_dataset("msrs")
    assert len(msrs.split("official-test").pairs) == 361
    assert len(msrs.split("official-train").pairs) == 1083
    assert not msrs.split("official-test").pinned
    assert msrs.splits == ("test", "train", "trainpool", "official-test", "official-train")


def test_version_is_a_short_hash_of_the_pins():
    tno = get_dataset("tno")
    assert len(tno.version()) == 12
    assert tno.version() == get_dataset("tno").version("test")
    roadscene = get_dataset("roadscene")
    assert roadscene.version("test") != roadscene.version("train")


def test_msrs_split_ids_are_consistent():
    msrs = get_dataset("msrs")
    ids = {s: {p.id for p in msrs.split(s).pairs} for s in msrs.splits}
    assert ids["test"] | ids["trainpool"] == ids["official-test"]
    assert not ids["test"] & ids["trainpool"]
    assert ids["train"] <= ids["official-train"]


def test_committed_manifests_match_the_shared_data(shared_root):
    built = build(shared_root)
    assert sorted(built) == sorted(MANIFEST_NAMES)
    for name, manifest in built.items():
        assert (MANIFEST_DIR / f"{name}.json").read_text("utf-8") == render(manifest), (
            f"{name}.json is stale: run python -m fusionbench.datasets.build_manifests --shared ../shared"
        )
        assert load_manifest(name) == manifest


# pinned datasets against ../shared -------------------------------------------------------------


def test_pairs_on_the_shared_data(shared_root):
    for (name, split), count in PINNED_COUNTS.items():
        pairs = get_dataset(name).pairs(split, data_root=shared_root)
        assert len(pairs) == count, (name, split)
        assert [p.id for p in pairs] == sorted(p.id for p in pairs)
        first = pairs[0]
        assert isinstance(first, PairRecord)
        assert first.ir == shared_root / "datasets" / name / split / "ir" / first.ir.name
        assert first.vis.parent.name == "vi" and first.ir.stem == first.vis.stem == first.id
        assert set(first.sha256) == {"ir", "vis"}
        assert pickle.loads(pickle.dumps(pairs)) == pairs  # the runner ships pairs to worker processes


def test_tags_day_night_from_the_suffix(shared_root):
    msrs = get_dataset("msrs")
    test = msrs.pairs("test", data_root=shared_root)
    assert Counter(p.tags["tag"] for p in test) == {"day": 73, "night": 69}
    assert all(p.tags["tag"] == {"D": "day", "N": "night"}[p.id[-1]] for p in test)
    assert Counter(p.tags["tag"] for p in msrs.pairs("trainpool", data_root=shared_root)) == {
        "day": 106,
        "night": 113,
    }
    assert dict(get_dataset("tno").pairs(data_root=shared_root)[0].tags) == {}


def test_verify_passes_on_the_shared_data(shared_root):
    for name, split in PINNED_COUNTS:
        report = get_dataset(name).verify(split, data_root=shared_root)
        assert report.ok, report.summary()
        assert report.checked == 2 * PINNED_COUNTS[name, split]


@pytest.fixture
def tampered_tno(shared_root, tmp_path):
    """A data root holding only TNO pair 01, with one byte of its VIS file flipped."""
    for sub in ("ir", "vi"):
        target = tmp_path / "datasets" / "tno" / "test" / sub
        target.mkdir(parents=True)
        shutil.copyfile(shared_root / "datasets" / "tno" / "test" / sub / "01.png", target / "01.png")
    tampered = tmp_path / "datasets" / "tno" / "test" / "vi" / "01.png"
    content = bytearray(tampered.read_bytes())
    content[-20] ^= 0xFF
    tampered.write_bytes(bytes(content))
    return tmp_path


def test_verify_reports_a_tampered_copy(tampered_tno):
    report = get_dataset("tno").verify("test", data_root=tampered_tno)

    assert not report.ok
    assert report.mismatched == ("vi/01.png",)
    assert len(report.missing) == 82 and "ir/02.png" in report.missing
    assert "1 not matching (sha256: vi/01.png)" in report.summary()
    assert "82 missing" in report.summary()


def test_missing_files_give_one_clear_line(tmp_path):
    with pytest.raises(DatasetError) as exc_info:
        get_dataset("tno").pairs("test", data_root=tmp_path)
    message = one_line(exc_info)
    assert message.startswith("tno/test: 42 of 42 pairs missing under ")
    assert "fusionbench data download tno" in message


def test_official_split_returns_the_full_release_or_counts_what_is_missing(tmp_path):
    msrs = get_dataset("msrs")
    ids = [p.id for p in msrs.split("official-test").pairs]
    for pair_id in ids[:-3]:
        for sub in ("ir", "vi"):
            path = tmp_path / "datasets" / "msrs" / "official-test" / sub / f"{pair_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"")
    with pytest.raises(DatasetError) as exc_info:
        msrs.pairs("official-test", data_root=tmp_path)
    assert "msrs/official-test: 3 of 361 pairs missing" in one_line(exc_info)

    for pair_id in ids[-3:]:
        for sub in ("ir", "vi"):
            (tmp_path / "datasets" / "msrs" / "official-test" / sub / f"{pair_id}.png").write_bytes(b"")
    pairs = msrs.pairs("official-test", data_root=tmp_path)
    assert len(pairs) == 361 and pairs[0].sha256 is None
    assert Counter(p.tags["tag"] for p in pairs) == {"day": 179, "night": 182}
    assert msrs.verify("official-test", data_root=tmp_path).ok


# demo ------------------------------------------------------------------------------------------


def test_demo_is_generated_deterministically(tmp_path):
    demo = get_dataset("demo")
    first = demo.pairs(data_root=tmp_path / "a")
    second = demo.pairs(data_root=tmp_path / "b")

    assert [p.id for p in first] == [f"demo_0{i}" for i in range(1, 7)]
    for a, b in zip(first, second, strict=True):
        assert a.ir.read_bytes() == b.ir.read_bytes() and a.vis.read_bytes() == b.vis.read_bytes()
    assert pixel_digest() == DEMO_PIXELS == pixel_digest()  # same pixels on every machine
    assert demo.verify(data_root=tmp_path / "a").ok
    assert demo.version() == get_dataset("demo").version()


def test_demo_pairs_look_like_ir_vis_pairs(tmp_path):
    pairs = get_dataset("demo").pairs(data_root=tmp_path)
    ir, vis = read_image(pairs[0].ir), read_image(pairs[0].vis)
    assert ir.shape == (240, 320) and vis.shape == (240, 320, 3)
    assert Counter(p.tags["tag"] for p in pairs) == {"day": 4, "night": 2}
    for index, pair in enumerate(pairs):
        ir = read_image(pair.ir).astype(float)
        assert np.percentile(ir, 50) < 100 and ir.max() > 200, "hot targets on a cool background"
        brightness = read_image(pair.vis).mean()
        assert (brightness < 40) == (pair.tags["tag"] == "night"), index


def test_demo_smoke_hides_a_target_in_vis_only():
    ir, vis = render_pair(2)
    ir_clear, vis_clear = render_pair(2, replace(SCENES[2], smoke=False))
    smoke = np.abs(vis.astype(int) - vis_clear).max(axis=2) > 40
    target = smoke & (ir > 170)  # the person under the smoke, hot in IR
    assert target.sum() > 200
    grey, grey_clear = vis.mean(axis=2), vis_clear.mean(axis=2)
    assert grey[target].std() < 5, "in VIS the smoke is flat where the person is"
    assert grey[target].mean() - grey_clear[target].mean() > 40
    assert np.abs(ir.astype(int) - ir_clear).max() <= 15, "IR sees through the smoke"


def test_demo_regenerates_missing_files_and_reports_tampering(tmp_path):
    demo = get_dataset("demo")
    pairs = demo.pairs(data_root=tmp_path)
    expected = pairs[1].ir.read_bytes()
    pairs[1].ir.unlink()
    demo.pairs(data_root=tmp_path)
    assert pairs[1].ir.read_bytes() == expected

    write_image_atomic(pairs[2].vis, np.zeros((240, 320, 3), np.uint8))
    pairs[3].ir.unlink()
    report = demo.verify(data_root=tmp_path)
    assert report.mismatched == ("vi/demo_03.png",) and report.missing == ("ir/demo_04.png",)


def test_demo_error_when_the_cache_is_not_writable(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FUSIONBENCH_CACHE", str(blocker))
    with pytest.raises(DatasetError, match=r"cannot write the demo images.*writable folder"):
        get_dataset("demo").pairs()


def test_demo_never_writes_into_the_data_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSIONBENCH_CACHE", str(tmp_path / "cache"))
    pairs = get_dataset("demo").pairs(data_root=tmp_path / "data")
    assert pairs[0].ir.is_relative_to(tmp_path / "cache" / "demo")
    assert not (tmp_path / "data").exists()


# folder ----------------------------------------------------------------------------------------


@pytest.fixture
def pair_folders(tmp_path):
    rng = np.random.default_rng(0)
    dirs = {sub: tmp_path / sub for sub in ("ir", "vi")}
    for stem in ("1", "2", "10"):
        for folder in dirs.values():
            folder.mkdir(exist_ok=True)
            write_image_atomic(folder / f"{stem}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    return dirs


def test_folder_dataset_pairs_by_stem(pair_folders):
    ds = get_dataset("folder", ir=pair_folders["ir"], vi=pair_folders["vi"])
    pairs = ds.pairs()
    assert [p.id for p in pairs] == ["1", "2", "10"]
    assert pairs[2].vis == pair_folders["vi"] / "10.png" and pairs[0].sha256 is None
    assert ds.verify().ok

    version = ds.version()
    write_image_atomic(pair_folders["vi"] / "2.png", np.zeros((8, 8), np.uint8))
    assert ds.version() != version


def test_folder_dataset_errors(pair_folders):
    (pair_folders["vi"] / "10.png").unlink()
    with pytest.raises(DatasetError, match="'10' \\(not in vi\\)"):
        get_dataset("folder", ir=pair_folders["ir"], vi=pair_folders["vi"]).pairs()
    with pytest.raises(DatasetError, match="needs both folders"):
        get_dataset("folder").pairs()


# data root -------------------------------------------------------------------------------------


def test_data_root_argument_then_environment_then_platformdirs(tmp_path, monkeypatch):
    monkeypatch.setattr(platformdirs, "user_data_dir", lambda app: str(tmp_path / "user" / app))
    monkeypatch.setenv("FUSIONBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root() == tmp_path / "env"
    monkeypatch.setenv("FUSIONBENCH_DATA", "")
    assert resolve_data_root() == tmp_path / "user" / "fusionbench"
    monkeypatch.delenv("FUSIONBENCH_DATA")
    assert resolve_data_root(None) == tmp_path / "user" / "fusionbench"


def test_pairs_use_the_environment_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSIONBENCH_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match=re.escape(str(tmp_path / "datasets" / "tno"))):
        get_dataset("tno").pairs()


# CLI -------------------------------------------------------------------------------------------


def test_cli_list(tmp_path):
    result = run("list", "--data-root", tmp_path)
    assert result.exit_code == 0, result.output
    assert f"data root: {tmp_path}" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()[2:] if line.strip()]
    assert ["msrs", "official-train", "1083", "ids", "only"] in [row[:5] for row in rows]
    assert any(row[:3] == ["tno", "test", "42"] and row[-1] == "0/42" for row in rows)


def test_cli_verify(shared_root, tampered_tno, tmp_path):
    result = run("verify", "msrs", "--split", "train", "--data-root", shared_root)
    assert result.exit_code == 0, result.output
    assert "msrs/train: 8 files OK" in result.stdout

    failed = run("verify", "tno", "--data-root", tampered_tno)
    assert failed.exit_code == 1
    assert "mismatch  vi/01.png" in failed.stdout and "missing   ir/02.png" in failed.stdout
    assert failed.stderr.startswith("Error: tno/test: 1 not matching")

    empty = run("verify", "tno", "--data-root", tmp_path / "empty")
    assert empty.exit_code == 1 and empty.stdout == ""
    assert "84 missing" in empty.stderr and "run 'fusionbench data download tno'" in empty.stderr


def test_cli_errors_are_one_line(tmp_path):
    for args, fragment in (
        (("verify", "tnoo"), "unknown dataset 'tnoo'; did you mean 'tno'?"),
        (("verify", "tno", "--split", "train"), "has no split 'train'"),
        (("download", "tno", "--offline", "--data-root", tmp_path), "offline"),
    ):
        result = run(*args)
        assert result.exit_code == 2, result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and fragment in lines[0], result.stderr


def test_cli_download_demo_generates_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FUSIONBENCH_CACHE", str(tmp_path))
    result = run("download", "demo")
    assert result.exit_code == 0, result.output
    folder = get_dataset("demo").folder()
    assert result.stdout.strip() == str(folder) and folder.is_relative_to(tmp_path)
    assert len(list((folder / "vi").glob("*.png"))) == 6
