"""Object-level measures (fusionbench.metrics.objects) on synthetic images with known box contrast.

Reference values are computed by hand from the definitions in the module docstring.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fusionbench.datasets.boxes import Box, pair_boxes, parse_yolo
from fusionbench.metrics.objects import bright_target_pixels, ir_roughness, object_measures, target_contrast

BOX = Box("person", 20, 30, 40, 50)  # rows 20..39, cols 30..49: 20 x 20, ring grown by 5 px


def scene(target: float = 200.0, background: float = 40.0) -> np.ndarray:
    image = np.full((80, 80), background, np.float64)
    image[20:40, 30:50] = target
    return image


def test_target_contrast_is_the_ratio_of_box_minus_ring_contrasts() -> None:
    ir = scene(200, 40)  # c_IR = 160
    fused = scene(130, 50)  # c_F = 80
    assert target_contrast(fused, ir, [BOX]) == pytest.approx(0.5, abs=1e-12)
    assert target_contrast(ir, ir, [BOX]) == pytest.approx(1.0, abs=1e-12)
    dark = scene(30, 50)  # the target darker than its ring in the fused image: negative
    assert target_contrast(dark, ir, [BOX]) == pytest.approx(-20 / 160, abs=1e-12)


def test_ring_excludes_other_boxes_and_low_contrast_boxes_are_left_out() -> None:
    ir = scene(200, 40)
    ir[20:40, 52:60] = 250  # a second, hot box touching the ring of the first
    other = Box("car", 20, 52, 40, 60)
    fused = scene(120, 40)
    fused[20:40, 52:60] = 250
    # the first box's ring must not include the second box: c_F / c_IR = 80 / 160
    values = [target_contrast(fused, ir, [BOX, other], classes=("person",))]
    assert values[0] == pytest.approx(0.5, abs=1e-12)
    flat = np.full((80, 80), 40.0)
    flat[20:40, 30:50] = 44.0  # 4 grey levels: below MIN_CONTRAST, so no box qualifies
    assert math.isnan(target_contrast(flat, flat, [BOX]))
    assert math.isnan(target_contrast(ir, ir, [Box("bicycle", 20, 30, 40, 50)]))  # not a person or car


def test_roughness_sees_ridges_along_the_outline_but_not_a_smooth_target() -> None:
    ir = scene(200, 40)
    smooth = scene(150, 40)
    ridged = scene(60, 40)
    ridged[20, 30:50] = ridged[39, 30:50] = 255  # thin bright lines along the outline, dark inside
    ridged[20:40, 30] = ridged[20:40, 49] = 255
    pixels = bright_target_pixels(ir, [BOX])
    assert pixels.sum() == 22 * 22  # the 20 x 20 hot pixels grown by one pixel
    # a flat 150 target on 40, 4-neighbour |Laplacian| in units of 1/255: 110 on the 72 inner edge
    # pixels and the 80 outer ones, 220 on the 4 inner corners, 0 elsewhere; mean over 484 pixels
    expected = (72 * 110 + 80 * 110 + 4 * 220) / 255 / 484
    assert ir_roughness(smooth, ir, [BOX]) == pytest.approx(expected, rel=1e-12)
    assert ir_roughness(ridged, ir, [BOX]) > 2 * ir_roughness(smooth, ir, [BOX])
    assert ir_roughness(np.full((80, 80), 40.0), ir, [BOX]) == 0.0


def test_object_measures_without_boxes_are_nan_and_unknown_ids_raise() -> None:
    ir = scene()
    assert all(math.isnan(v) for v in object_measures(ir, ir, None).values())
    with pytest.raises(KeyError, match="target_contrast"):
        object_measures(ir, ir, [BOX], metrics=["target_contrst"])
    with pytest.raises(ValueError, match="80x80"):
        target_contrast(np.zeros((80, 81)), ir, [BOX])


def test_yolo_boxes_in_pixels_and_crops(shared_root) -> None:
    (box,) = parse_yolo("2 0.5 0.25 0.1 0.1")
    assert (box.label, box.top, box.left, box.bottom, box.right) == ("car", 96, 288, 144, 352)
    assert box.shifted(100, 300, 320, 320) == Box("car", 0, 0, 44, 52)
    boxes = pair_boxes("msrs", "test", "00537D", shared_root)
    assert boxes and {b.label for b in boxes} <= {"person", "bicycle", "car"}
    assert all(0 <= b.top < b.bottom <= 480 and 0 <= b.left < b.right <= 640 for b in boxes)
    assert pair_boxes("tno", "test", "05", shared_root) is None


def test_compute_and_the_runner_units_score_object_measures_with_the_pair_boxes(shared_root, tmp_path) -> None:
    import shutil

    from fusionbench.datasets import get_dataset
    from fusionbench.engine.units import ScoreUnit, UnitContext, score_unit
    from fusionbench.io import read_image
    from fusionbench.methods import get_method
    from fusionbench.metrics import compute, get_spec, resolve_metrics
    from fusionbench.metrics.conventions import get_convention

    assert resolve_metrics("en,objects") == ["en", "target_contrast", "ir_roughness"]
    assert get_spec("target_contrast").higher_is_better and not get_spec("ir_roughness").higher_is_better
    ir, vis = scene(200, 40), scene(90, 90)
    values = compute(ir, ir, vis, metrics="objects,en", boxes=[BOX])
    assert list(values) == ["target_contrast", "ir_roughness", "en"] and values["target_contrast"] == 1.0
    assert math.isnan(compute(ir, ir, vis, metrics="target_contrast")["target_contrast"])  # no boxes given

    # the runner's score unit finds the MSRS boxes itself: a "fused" image equal to the IR keeps it all
    pair = next(p for p in get_dataset("msrs").pairs("test", data_root=shared_root) if p.id == "00537D")
    shutil.copy(pair.ir, tmp_path / "00537D.png")
    ctx = UnitContext(get_method(f"folder:{tmp_path}"), "msrs", "test", shared_root, None, get_convention("tang"))
    result = score_unit(ScoreUnit(ctx, pair, ("target_contrast", "ir_roughness")))
    assert result.failure is None, result.failure
    ir_image = read_image(pair.ir)
    boxes = pair_boxes("msrs", "test", "00537D", shared_root)
    assert result.values["target_contrast"] == pytest.approx(1.0, abs=1e-12)
    assert result.values["ir_roughness"] == pytest.approx(ir_roughness(ir_image, ir_image, boxes), rel=1e-12)
