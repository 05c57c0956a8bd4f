"""The metrics' fast paths give the values of the generic paths; exact moments are exact.

uint8 images take the integer paths (int16 Sobel responses, exact integer moments, band-by-band
kernels in scratch buffers); the same pixels as float64 take the generic array-API paths, which
the oracle and calibration tests pin to independent references. Images above
``_backend.BAND_PIXELS`` pixels cross band boundaries, where a halo mistake would show.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from fusionbench.metrics import _backend, compute, get_convention
from fusionbench.metrics._shared import moments
from fusionbench.metrics.api import prepare_batch
from tests.metric_fixtures import synthetic_triple

#: The metrics with an integer fast path.
FAST = ["mi", "vif", "ag", "scd", "en", "qabf", "sd", "sf", "cc", "psnr", "mse", "ce", "ei", "nabf"]
CONVENTIONS = [
    "tang",
    "tang-corrected",
    "tang-old",
    "vifb",
    "cdd",
    get_convention("tang").replace(nabf_swapped_args=True),
]


def as_float(images):
    return [x.astype(np.float64) for x in images]


def assert_same_values(fast, generic, rel=1e-12):
    for key, value in generic.items():
        assert fast[key] == pytest.approx(value, rel=rel, abs=1e-300, nan_ok=True), key


@pytest.mark.parametrize("convention", CONVENTIONS)
@pytest.mark.parametrize("shape", [(2, 2), (3, 17), (41, 5), (331, 467), (700, 96)])  # the last two: several bands
def test_integer_paths_equal_generic_paths(convention, shape):
    triple = synthetic_triple(11, shape=shape, colour=convention == "vifb")
    fast = compute(*triple, metrics=FAST, convention=convention)
    assert_same_values(fast, compute(*as_float(triple), metrics=FAST, convention=convention))


@pytest.mark.parametrize("convention", ["tang", "cdd"])
def test_integer_paths_on_flat_and_saturated_images(convention):
    fused, ir, vis = synthetic_triple(12, shape=(300, 256))
    cases = {
        "constant fused": (np.full_like(fused, 77), ir, vis),
        "constant sources": (fused, np.full_like(ir, 3), np.full_like(vis, 200)),
        "saturated": (np.where(fused > 120, 255, fused).astype(np.uint8), np.where(ir > 100, 254, ir), vis),
        "all equal": (ir, ir, ir),
    }
    for name, triple in cases.items():
        fast = compute(*triple, metrics=FAST, convention=convention)
        generic = compute(*as_float(triple), metrics=FAST, convention=convention)
        assert {k for k, v in fast.items() if math.isnan(v)} == {k for k, v in generic.items() if math.isnan(v)}, name
        assert_same_values(fast, generic)


def test_exact_moments_equal_rational_arithmetic():
    rng = np.random.default_rng(5)
    f, a, b = (rng.integers(0, 256, (9, 13), dtype=np.uint8) for _ in range(3))
    exact = moments(prepare_batch(f, a, b, get_convention("tang"), None))
    pixels = {r: [int(v) for v in x.ravel()] for r, x in zip("fab", (f, a, b), strict=True)}
    n = f.size

    def scaled_cov(x: list[int], y: list[int]) -> int:
        mean_x, mean_y = Fraction(sum(x), n), Fraction(sum(y), n)
        value = n * sum((xi - mean_x) * (yi - mean_y) for xi, yi in zip(x, y, strict=True))
        assert value.denominator == 1
        return int(value)

    f_minus_b = [fi - bi for fi, bi in zip(pixels["f"], pixels["b"], strict=True)]
    assert exact.scaled_cov({"f": 1, "b": -1}, "a") == [scaled_cov(f_minus_b, pixels["a"])]
    assert exact.scaled_cov({"f": 1, "b": -1}, {"f": 1, "b": -1}) == [scaled_cov(f_minus_b, f_minus_b)]
    assert exact.scaled_cov("b", "f") == [scaled_cov(pixels["b"], pixels["f"])]
    assert exact.sum_sq_diff("f", "a") == [sum((x - y) ** 2 for x, y in zip(pixels["f"], pixels["a"], strict=True))]


def test_exact_moments_only_for_integer_numpy_images():
    fused, ir, vis = synthetic_triple(13)
    conv = get_convention("tang")
    assert moments(prepare_batch(fused, ir, vis, conv, None)) is not None
    assert moments(prepare_batch(fused.astype(np.float64), ir, vis, conv, None)) is None
    assert moments(prepare_batch(fused, ir, vis, conv, {"fused": 255.0, "ir": 255.0, "vis": 255.0})) is not None


def test_scratch_buffers_are_reused_per_name_and_sized_to_the_request():
    first = _backend.scratch("test_scratch", (4, 5))
    again = _backend.scratch("test_scratch", (2, 3))
    assert first.shape == (4, 5) and again.shape == (2, 3) and first.dtype == np.float64
    assert np.shares_memory(first, again)
    assert _backend.scratch("test_scratch", (2, 3), np.int16).dtype == np.int16
    assert not np.shares_memory(first, _backend.scratch("test_scratch_other", (2, 3)))
    big = (_backend.SCRATCH_MAX_BYTES // 8 + 1,)
    assert not np.shares_memory(_backend.scratch("test_scratch_big", big), _backend.scratch("test_scratch_big", big))


@pytest.mark.parametrize("halo", [0, 1, 8])
def test_bands_cover_every_row_once_with_their_halo(halo):
    height, width = 1000, 640
    kept = []
    for read, keep in _backend.bands(height, width, halo):
        rows = list(range(height))[read][keep]
        assert read.start == max(rows[0] - halo, 0) and read.stop == min(rows[-1] + 1 + halo, height)
        kept += rows
    assert kept == list(range(height))
