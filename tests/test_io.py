"""fusionbench.io: image reading and writing, and matching IR/VIS/fused files by stem."""

from __future__ import annotations

import os
import re

import cv2
import numpy as np
import pytest

from fusionbench.io import (
    ImageReadError,
    PairingError,
    pair_files,
    read_image,
    write_image_atomic,
)


def touch(folder, *names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")
    return folder


def encoded(image, ext=".png"):
    ok, data = cv2.imencode(ext, image)
    assert ok
    return data.tobytes()


@pytest.fixture
def rgb():
    return np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)


# pair_files ------------------------------------------------------------------------------------


def test_pairs_match_by_stem_across_extensions_in_natural_order(tmp_path):
    ir = touch(tmp_path / "ir", "10.png", "2.png", "1.bmp")
    vi = touch(tmp_path / "vi", "10.jpg", "2.tif", "1.PNG")
    fused = touch(tmp_path / "fused", "10.png", "2.png", "1.png")

    pairs = pair_files(ir, vi, fused)

    assert [p.stem for p in pairs] == ["1", "2", "10"]
    assert pairs[0].ir == ir / "1.bmp"
    assert pairs[0].vi == vi / "1.PNG"
    assert pairs[0].fused == fused / "1.png"


def test_pairs_without_fused_folder(tmp_path):
    pairs = pair_files(touch(tmp_path / "ir", "a.png"), touch(tmp_path / "vi", "a.png"))
    assert len(pairs) == 1
    assert pairs[0].fused is None


def test_hidden_non_image_files_and_subfolders_are_ignored(tmp_path):
    ir = touch(tmp_path / "ir", "a.png", ".b.png", "notes.txt", "Thumbs.db", "c.json")
    (ir / "sub.png").mkdir()
    vi = touch(tmp_path / "vi", "a.jpg", ".DS_Store", "._a.jpg")

    assert [p.stem for p in pair_files(ir, vi)] == ["a"]


def test_duplicate_stems_in_one_folder_are_refused(tmp_path):
    ir = touch(tmp_path / "ir", "a.png", "a.jpg", "b.png")
    vi = touch(tmp_path / "vi", "a.png", "b.png")

    with pytest.raises(PairingError, match=r"same stem: a\.jpg, a\.png") as info:
        pair_files(ir, vi)
    assert "ir folder" in str(info.value)


def test_unpaired_stems_are_listed_with_the_folder_they_miss(tmp_path):
    ir = touch(tmp_path / "ir", "a.png", "b.png", "c.png")
    vi = touch(tmp_path / "vi", "a.png", "b.png")
    fused = touch(tmp_path / "fused", "a.png", "c.png", "d.png")

    with pytest.raises(PairingError) as info:
        pair_files(ir, vi, fused)
    message = str(info.value)
    assert "3 file stem(s)" in message
    assert "'b' (not in fused)" in message
    assert "'c' (not in vi)" in message
    assert "'d' (not in ir, vi)" in message


def test_unpaired_listing_is_capped(tmp_path):
    ir = touch(tmp_path / "ir", *(f"{i}.png" for i in range(20)))
    vi = touch(tmp_path / "vi", "0.png")

    with pytest.raises(PairingError, match="and 14 more"):
        pair_files(ir, vi)


def test_empty_and_missing_folders_are_refused(tmp_path):
    vi = touch(tmp_path / "vi", "a.png")
    empty = touch(tmp_path / "empty", "readme.txt")

    with pytest.raises(PairingError, match="ir folder holds no images"):
        pair_files(empty, vi)
    with pytest.raises(PairingError, match="ir folder not found"):
        pair_files(tmp_path / "nope", vi)
    with pytest.raises(PairingError, match="not a folder"):
        pair_files(vi / "a.png", vi)


# read_image ------------------------------------------------------------------------------------


def test_gray_image_reads_as_stored(tmp_path):
    gray = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    (tmp_path / "g.png").write_bytes(encoded(gray))

    image = read_image(tmp_path / "g.png")

    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, gray)


def test_colour_is_returned_in_rgb_order(tmp_path, rgb):
    (tmp_path / "c.png").write_bytes(encoded(rgb[..., ::-1]))  # OpenCV writes BGR

    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), rgb)


def test_sixteen_bit_png_reads_back_as_uint16(tmp_path):
    deep = np.linspace(0, 65535, 12 * 10).astype(np.uint16).reshape(12, 10)
    write_image_atomic(tmp_path / "d.png", deep)

    image = read_image(tmp_path / "d.png")

    assert image.dtype == np.uint16
    np.testing.assert_array_equal(image, deep)


def test_opaque_alpha_is_dropped_and_transparency_refused(tmp_path, rgb):
    bgra = np.dstack([rgb[..., ::-1], np.full(rgb.shape[:2], 255, np.uint8)])
    (tmp_path / "opaque.png").write_bytes(encoded(bgra))
    bgra[0, 0, 3] = 128
    (tmp_path / "clear.png").write_bytes(encoded(bgra))

    np.testing.assert_array_equal(read_image(tmp_path / "opaque.png"), rgb)
    with pytest.raises(ImageReadError, match=r"clear\.png: has a transparent alpha channel"):
        read_image(tmp_path / "clear.png")


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ImageReadError, match=r"gone\.png: no such file"):
        read_image(tmp_path / "gone.png")


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("empty.png", b""),
        ("text.png", b"this is not an image\n"),
        ("noise.jpg", bytes(range(256)) * 4),
    ],
)
def test_non_images_are_refused(tmp_path, name, content):
    (tmp_path / name).write_bytes(content)

    with pytest.raises(ImageReadError, match=re.escape(name)):
        read_image(tmp_path / name)


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_truncated_files_are_refused(tmp_path, rgb, ext):
    data = encoded(np.repeat(np.repeat(rgb, 8, axis=0), 8, axis=1), ext)
    path = tmp_path / f"cut{ext}"
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ImageReadError, match=re.escape(f"cut{ext}")):
        read_image(path)


def test_image_read_error_is_a_value_error():
    assert issubclass(ImageReadError, ValueError)
    assert issubclass(PairingError, ValueError)


# write_image_atomic ----------------------------------------------------------------------------


def test_atomic_write_round_trips_and_leaves_no_temp_files(tmp_path, rgb):
    target = tmp_path / "out.png"
    write_image_atomic(target, rgb)
    write_image_atomic(target, rgb[:4])  # overwrite in place

    assert os.listdir(tmp_path) == ["out.png"]
    np.testing.assert_array_equal(read_image(target), rgb[:4])
    np.testing.assert_array_equal(cv2.imread(str(target))[..., ::-1], rgb[:4])  # stored as BGR


def test_failed_write_keeps_the_old_file_and_removes_the_temp_file(tmp_path, rgb, monkeypatch):
    target = tmp_path / "out.png"
    write_image_atomic(target, rgb)

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_image_atomic(target, rgb[:4])

    assert os.listdir(tmp_path) == ["out.png"]
    np.testing.assert_array_equal(read_image(target), rgb)


def test_atomic_write_refuses_lossy_or_unsupported_input(tmp_path, rgb):
    with pytest.raises(ValueError, match=r"expected a \.png path"):
        write_image_atomic(tmp_path / "out.jpg", rgb)
    with pytest.raises(TypeError, match="uint8 or uint16"):
        write_image_atomic(tmp_path / "out.png", rgb.astype(np.float32))
    with pytest.raises(ValueError, match="shape"):
        write_image_atomic(tmp_path / "out.png", rgb[..., :2])
    assert os.listdir(tmp_path) == []
