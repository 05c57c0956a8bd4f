"""published:<name> and folder:<path>: finding, reading and checking fused images made elsewhere."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fusionbench.io import read_image, write_image_atomic
from fusionbench.methods import FolderMethod, MethodError, PublishedMethod, get_method, load_fused


def write_gray(path, shape, value=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_image_atomic(path, np.full(shape, value, np.uint8))
    return path


# -- published: on the shared data ---------------------------------------------------------------


def test_published_piafusion_finds_tno_pair_05(shared_root):
    method = get_method("published:piafusion")
    path = method.fused_path("05", "tno", "test", shared_root)
    assert path == shared_root / "results" / "tno" / "test" / "piafusion" / "05.png"
    assert path.is_file()
    ir = read_image(shared_root / "datasets" / "tno" / "test" / "ir" / "05.png")
    fused = load_fused(method, "05", ir.shape, "tno", "test", shared_root)
    assert fused.shape[:2] == ir.shape and fused.dtype == np.uint8


def test_published_source_comes_from_the_manifest(shared_root):
    source = get_method("published:piafusion").source("tno", "test", shared_root)
    assert source is not None and "Linfeng-Tang/Evaluation-for-Image-Fusion" in source


def test_published_missing_pair_names_the_pair(shared_root):
    with pytest.raises(MethodError, match="no fused image for pair 'FLIR_00006' of roadscene/test"):
        get_method("published:piafusion").fused_path("FLIR_00006", "roadscene", "test", shared_root)


# -- published: on a made-up tree ----------------------------------------------------------------


def test_published_reads_results_dataset_split_name(tmp_path):
    path = write_gray(tmp_path / "results" / "msrs" / "test" / "seafusion" / "00001D.png", (4, 6))
    method = PublishedMethod("seafusion")
    assert method.id == "published:seafusion" and method.name == "SeAFusion" and method.provides_images
    assert method.fused_path("00001D", "msrs", "test", tmp_path) == path
    assert method.source("msrs", "test", tmp_path) is None  # no manifest here


def test_published_without_results_for_that_split(tmp_path):
    with pytest.raises(MethodError, match="no published fused images for msrs/train"):
        get_method("published:densefuse").fused_path("00001D", "msrs", "train", tmp_path)


def test_published_needs_a_data_root():
    with pytest.raises(MethodError, match="needs data_root"):
        get_method("published:densefuse").fused_path("01", "tno", "test", None)


def test_published_config_and_cache_key_name_the_method():
    a, b = get_method("published:ifcnn"), get_method("published:pmgi")
    assert a.config() == {"published_name": "ifcnn"}
    assert a.cache_key() != b.cache_key()


# -- folder: -------------------------------------------------------------------------------------


def test_folder_matches_pairs_by_stem_with_any_extension(tmp_path):
    write_gray(tmp_path / "fused" / "05.png", (4, 6))
    (tmp_path / "fused" / "notes.txt").write_text("not an image")
    write_gray(tmp_path / "fused" / "07.png", (4, 6)).rename(tmp_path / "fused" / "07.PNG")
    method = get_method(f"folder:{tmp_path / 'fused'}")
    assert method.id == f"folder:{tmp_path / 'fused'}" and method.name == "fused" and method.kind == "folder"
    assert method.fused_path("05") == tmp_path / "fused" / "05.png"
    assert method.fused_path("07") == tmp_path / "fused" / "07.PNG"
    assert load_fused(method, "05", (4, 6, 3)).shape == (4, 6)


def test_folder_relative_path_is_made_absolute(tmp_path, monkeypatch):
    write_gray(tmp_path / "out" / "a.png", (2, 2))
    monkeypatch.chdir(tmp_path)
    method = get_method("folder:out")
    assert method.folder == tmp_path / "out" and method.id == f"folder:{tmp_path / 'out'}"


def test_folder_size_mismatch_names_the_file_and_both_sizes(tmp_path):
    path = write_gray(tmp_path / "fused" / "05.png", (30, 40))
    method = FolderMethod(tmp_path / "fused")
    message = f"{path}: fused image is 30x40 but pair '05' is 30x41 (height x width)"
    with pytest.raises(MethodError, match=re.escape(message)):
        load_fused(method, "05", (30, 41))


def test_folder_missing_pair_and_duplicates(tmp_path):
    png = write_gray(tmp_path / "fused" / "a.png", (2, 2))
    (tmp_path / "fused" / "a.jpg").write_bytes(png.read_bytes())
    method = get_method(f"folder:{tmp_path / 'fused'}")
    with pytest.raises(MethodError, match=re.escape("several fused images for pair 'a': a.jpg, a.png")):
        method.fused_path("a")
    with pytest.raises(MethodError, match="no fused image for pair 'b'"):
        load_fused(method, "b", (2, 2))


def test_folder_unreadable_image_names_the_file(tmp_path):
    (tmp_path / "fused").mkdir()
    (tmp_path / "fused" / "a.png").write_bytes(b"not a png")
    with pytest.raises(MethodError, match=re.escape(f"{tmp_path / 'fused' / 'a.png'}: not a readable image")):
        load_fused(FolderMethod(tmp_path / "fused"), "a", (2, 2))


def test_folder_must_exist(tmp_path):
    with pytest.raises(MethodError, match="no such folder"):
        get_method(f"folder:{tmp_path / 'nope'}")
    with pytest.raises(MethodError, match="folder: needs a path"):
        get_method("folder:")


def test_load_fused_refuses_fusing_methods():
    with pytest.raises(MethodError, match="load_fused\\(\\) is for published:/folder:"):
        load_fused(get_method("gff"), "05", (4, 4))
