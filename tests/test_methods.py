"""fusionbench.methods: registry, the classic methods, colour handling and input checks."""

from __future__ import annotations

import re
from dataclasses import dataclass
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from fusionbench.methods import (
    METHODS,
    ClassicMethod,
    Method,
    MethodError,
    fuse,
    get_method,
    guided_filter,
    list_methods,
    merge_y,
    split_y,
)
from fusionbench.methods import api as methods_api
from fusionbench.methods.gff import box_mean
from fusionbench.methods.multiscale import collapse_pyramid, laplacian_pyramid, pyramid_depth
from fusionbench.metrics import qabf
from fusionbench.registry import UnknownNameError

CLASSIC = ["average", "max", "lp", "dwt", "gff"]
PUBLISHED = [
    "densefuse",
    "fusiongan",
    "ifcnn",
    "piafusion",
    "pmgi",
    "rfn-nest",
    "sdnet",
    "seafusion",
    "u2fusion",
]


def random_u8(shape, seed):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def target_and_texture(h=96, w=128):
    """IR: a bright target on a dark background; VIS: a smooth texture with no target."""
    yy, xx = np.mgrid[0:h, 0:w]
    ir = np.full((h, w), 40, np.uint8)
    ir[30:60, 40:70] = 220
    vis = np.round(128 + 80 * np.sin(xx / 3.0) * np.cos(yy / 5.0)).astype(np.uint8)
    return ir, vis


# -- registry ------------------------------------------------------------------------------------


def test_list_methods_has_the_classic_and_published_methods_in_order():
    ids = [m.id for m in list_methods()]
    assert ids[:5] == CLASSIC
    assert ids[-len(PUBLISHED) :] == [f"published:{name}" for name in PUBLISHED]
    kinds = {m.id: m.kind for m in list_methods()}
    assert kinds["gff"] == "classic" and kinds["published:piafusion"] == "published"


def test_every_listed_method_has_display_metadata():
    for method in list_methods():
        row = method.as_row()
        assert row["id"] == method.id and row["name"] and row["description"], row


@pytest.mark.parametrize(("typo", "suggestion"), [("gfff", "gff"), ("averge", "average"), ("dwtt", "dwt")])
def test_unknown_method_names_the_close_match(typo, suggestion):
    with pytest.raises(UnknownNameError, match=f"did you mean '{suggestion}'"):
        get_method(typo)


def test_unknown_published_name_names_the_close_match():
    with pytest.raises(KeyError, match="did you mean 'piafusion'"):
        get_method("published:piafuson")


def test_unknown_prefix_is_refused():
    with pytest.raises(MethodError, match="prefix 'foldr:'"):
        get_method("foldr:/tmp")


def test_get_method_is_case_and_space_insensitive_and_takes_options():
    assert get_method(" GFF ").id == "gff"
    assert get_method("lp", levels=2).config() == {"levels": 2}
    assert get_method("dwt", wavelet="haar").config()["wavelet"] == "haar"


def test_get_method_passes_a_method_through():
    method = get_method("max")
    assert get_method(method) is method


@pytest.mark.parametrize(
    ("spec", "options", "message"),
    [
        ("average", {"levels": 3}, "does not take option"),
        ("lp", {"levls": 3}, "it takes: levels"),
        ("lp", {"levels": 0}, "positive integer"),
        ("gff", {"eps1": -1.0}, "eps1 must be a positive number"),
        ("dwt", {"wavelet": "db22222"}, "wavelet 'db22222' is not available"),
        ("dwt", {"wavelet": "dB2"}, "did you mean 'db2'"),
    ],
)
def test_bad_options_are_refused(spec, options, message):
    with pytest.raises(MethodError, match=re.escape(message)):
        get_method(spec, **options)


def test_cache_key_is_stable_and_follows_the_config():
    assert get_method("gff").cache_key() == get_method("gff").cache_key()
    assert re.fullmatch(r"[0-9a-f]{16}", get_method("gff").cache_key())
    assert get_method("lp", levels=3).cache_key() != get_method("lp").cache_key()
    assert get_method("lp").cache_key() != get_method("dwt").cache_key()
    assert get_method("gff").weights_sha256() is None


# -- entry points --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Halfway(ClassicMethod):
    """A plugin method: IR plus a fraction of the VIS-IR difference."""

    weight: float = 0.5

    id = "halfway"
    name = "Halfway"
    description = "test plugin"

    def _fuse(self, ir, vis_y):
        return ir + self.weight * (vis_y - ir)


class FakeEntryPoint(SimpleNamespace):
    def load(self):
        if isinstance(self.obj, Exception):
            raise self.obj
        return self.obj


@pytest.fixture
def plugins(monkeypatch):
    """Install fake entry points; the registry and the loader state are restored afterwards."""

    def install(*eps):
        monkeypatch.setattr(METHODS, "_items", dict(METHODS._items))
        monkeypatch.setattr(methods_api, "_plugins_loaded", False)
        monkeypatch.setattr(methods_api, "_plugin_errors", {})
        monkeypatch.setattr(methods_api, "entry_points", lambda group: list(eps))

    return install


def test_entry_point_methods_are_listed_and_built(plugins):
    plugins(FakeEntryPoint(name="halfway", value="pkg:Halfway", obj=Halfway))
    assert "halfway" in [m.id for m in list_methods()]
    method = get_method("halfway", weight=0.25)
    assert method.fuse(np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32))[0, 0] == 0.25


def test_entry_point_that_fails_to_load_is_reported_by_name(plugins):
    plugins(FakeEntryPoint(name="broken", value="pkg:Broken", obj=ImportError("no module named pkg")))
    assert "broken" not in [m.id for m in list_methods()]
    with pytest.raises(MethodError, match="plugin that failed to load: pkg:Broken"):
        get_method("broken")


def test_entry_point_cannot_shadow_a_builtin_method(plugins):
    plugins(FakeEntryPoint(name="gff", value="pkg:Halfway", obj=Halfway))
    assert get_method("gff").name == "GFF"


# -- the classic methods -------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIC)
def test_gray_and_rgb_outputs_at_an_odd_size(name):
    ir, vis = random_u8((37, 53), 0), random_u8((37, 53, 3), 1)
    gray = fuse(name, ir, vis[..., 1])
    rgb = fuse(name, ir, vis)
    assert gray.shape == (37, 53) and gray.dtype == np.uint8
    assert rgb.shape == (37, 53, 3) and rgb.dtype == np.uint8


@pytest.mark.parametrize("name", CLASSIC)
def test_float_output_is_in_range_deterministic_and_float32(name):
    rng = np.random.default_rng(2)
    ir, vis = rng.random((37, 53), dtype=np.float32), rng.random((37, 53), dtype=np.float32)
    method = get_method(name)
    out = method.fuse(ir, vis)
    assert out.dtype == np.float32 and out.shape == (37, 53)
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, get_method(name).fuse(ir.copy(), vis.copy()))


@pytest.mark.parametrize("name", CLASSIC)
def test_batch_equals_loop(name):
    rng = np.random.default_rng(3)
    ir, vis = rng.random((3, 20, 24), dtype=np.float32), rng.random((3, 20, 24), dtype=np.float32)
    method = get_method(name)
    batch = method.fuse_batch(ir, vis)
    assert batch.shape == (3, 20, 24) and batch.dtype == np.float32
    np.testing.assert_array_equal(batch, np.stack([method.fuse(a, b) for a, b in zip(ir, vis, strict=True)]))


@pytest.mark.parametrize("name", CLASSIC)
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (37, 53), (64, 48)])
def test_fusing_an_image_with_itself_returns_it(name, shape):
    image = random_u8(shape, 4)
    np.testing.assert_array_equal(fuse(name, image, image), image)


def test_average_and_max_by_hand():
    ir = np.array([[0, 100, 255]], np.uint8)
    vis = np.array([[255, 101, 0]], np.uint8)
    # 127.5 and 100.5 round half up.
    np.testing.assert_array_equal(fuse("average", ir, vis), [[128, 101, 128]])
    np.testing.assert_array_equal(fuse("max", ir, vis), [[255, 101, 255]])


def test_output_is_not_stretched():
    ir, vis = np.full((16, 16), 20, np.uint8), np.full((16, 16), 40, np.uint8)
    vis[4:8, 4:8] = 60
    for name in CLASSIC:
        out = fuse(name, ir, vis)
        assert out.max() <= 60 and out.min() >= 20, name


def test_laplacian_pyramid_inverts_exactly_and_shrinks_for_small_images():
    image = np.random.default_rng(5).random((37, 53))
    details, base = laplacian_pyramid(image, 3)
    assert base.shape == (5, 7)
    np.testing.assert_allclose(collapse_pyramid(details, base), image, atol=1e-12)
    assert pyramid_depth((480, 640), 4) == 4
    assert pyramid_depth((37, 53), 4) == 3
    assert pyramid_depth((5, 5), 4) == 0


def test_box_mean_counts_only_pixels_inside_the_image():
    x = np.random.default_rng(6).random((9, 12))
    for r in (1, 2, 20):
        expected = [
            [x[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].mean() for j in range(12)] for i in range(9)
        ]
        np.testing.assert_allclose(box_mean(x, r), expected, atol=1e-13)


def test_guided_filter_limits():
    guide = np.random.default_rng(7).random((30, 40))
    # A constant input stays constant; with a huge eps the filter is a (twice applied) box mean.
    np.testing.assert_allclose(guided_filter(guide, np.full_like(guide, 0.3), 5, 1e-6), 0.3, atol=1e-12)
    src = np.random.default_rng(8).random((30, 40))
    np.testing.assert_allclose(guided_filter(guide, src, 3, 1e12), box_mean(box_mean(src, 3), 3), atol=1e-9)
    # With a tiny eps and the source as its own guide, edges are kept: the output is the input.
    np.testing.assert_allclose(guided_filter(src, src, 3, 1e-12), src, atol=1e-6)


def test_gff_beats_average_on_qabf_for_a_target_and_a_texture():
    ir, vis = target_and_texture()
    q_gff = qabf(fuse("gff", ir, vis), ir, vis)
    q_average = qabf(fuse("average", ir, vis), ir, vis)
    assert q_gff > q_average + 0.2, (q_gff, q_average)


def test_gff_keeps_the_vis_texture_and_shows_the_ir_target():
    ir, vis = target_and_texture()
    fused = fuse("gff", ir, vis).astype(float)
    texture = (slice(70, 90), slice(80, 120))
    assert fused[texture].std() > 0.95 * vis[texture].std()
    # The target stays brighter than the rest of the frame, although GFF, driven by detail
    # saliency, takes the flat target's inside mostly from the textured VIS (166 vs 116 here).
    outside = np.ones(ir.shape, bool)
    outside[20:70, 30:80] = False
    assert fused[35:55, 45:65].mean() > fused[outside].mean() + 30


# -- colour ----------------------------------------------------------------------------------------


def test_colour_round_trip_is_within_one_level():
    rgb = random_u8((64, 64, 3), 9)
    back = merge_y(*split_y(rgb))
    assert np.abs(back.astype(int) - rgb).max() <= 1


def test_split_y_matches_opencv_ycrcb():
    rgb = random_u8((16, 16, 3), 10)
    y, cb, cr = split_y(rgb)
    ycrcb = cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2YCrCb)
    np.testing.assert_allclose(np.stack([y, cr, cb], axis=-1), ycrcb, atol=1e-6)


def test_rgb_output_keeps_the_vis_chrominance():
    vis = random_u8((24, 32, 3), 11)
    ir = np.round(split_y(vis)[0] * 255).astype(np.uint8)  # IR equal to the VIS luminance
    out = fuse("average", ir, vis)
    assert np.abs(out.astype(int) - vis).max() <= 1


def test_gray_vis_stored_as_rgb_gives_gray_rgb():
    ir, gray = random_u8((20, 20), 12), random_u8((20, 20), 13)
    out = fuse("lp", ir, np.dstack([gray] * 3))
    np.testing.assert_array_equal(out, np.dstack([fuse("lp", ir, gray)] * 3))


def test_ir_with_three_identical_channels_is_accepted():
    ir, vis = random_u8((20, 20), 14), random_u8((20, 20), 15)
    np.testing.assert_array_equal(fuse("dwt", np.dstack([ir] * 3), vis), fuse("dwt", ir, vis))
    np.testing.assert_array_equal(fuse("dwt", ir[..., None], vis[..., None]), fuse("dwt", ir, vis))


# -- input dtypes and bad inputs -----------------------------------------------------------------


def test_uint16_and_float_inputs_with_their_data_range():
    ir8, vis8 = random_u8((20, 20), 16), random_u8((20, 20), 17)
    expected = fuse("gff", ir8, vis8)
    ir16 = ir8.astype(np.uint16) * 257  # the same levels on 0..65535
    np.testing.assert_array_equal(fuse("gff", ir16, vis8, data_range={"ir": 65535}), expected)
    np.testing.assert_array_equal(fuse("gff", ir8 / 255.0, vis8 / 255.0), expected)
    np.testing.assert_array_equal(fuse("gff", ir8.astype(float), vis8.astype(float), data_range=255), expected)


@pytest.mark.parametrize(
    ("ir", "vis", "message"),
    [
        (np.zeros((37, 53), np.uint8), np.zeros((37, 52), np.uint8), "IR is 37x53 but VIS is 37x52"),
        (np.zeros((8, 8), np.uint8), np.zeros((9, 8, 3), np.uint8), "IR is 8x8 but VIS is 9x8"),
        (
            np.dstack([np.zeros((8, 8), np.uint8), np.ones((8, 8), np.uint8), np.zeros((8, 8), np.uint8)]),
            np.zeros((8, 8), np.uint8),
            "IR has 3 different colour channels",
        ),
        (np.zeros((8, 8), np.uint16), np.zeros((8, 8), np.uint8), "IR: uint16 pixels need data_range"),
        (np.zeros((8, 8), np.uint8), np.full((8, 8), 1.5), "VIS: expected values in [0, 1], got 1.5..1.5"),
        (np.full((8, 8), -0.1), np.zeros((8, 8)), "IR: expected values in [0, 1]"),
        (np.full((8, 8), np.nan), np.zeros((8, 8)), "IR: contains NaN"),
        (np.zeros((8, 8), bool), np.zeros((8, 8), np.uint8), "expected uint8, uint16 or float pixels"),
        (np.zeros((8, 8, 2), np.uint8), np.zeros((8, 8), np.uint8), "IR: expected a gray image"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8), "VIS: expected a gray (H, W) or RGB"),
        (np.zeros((0, 8), np.uint8), np.zeros((0, 8), np.uint8), "empty image"),
    ],
)
def test_bad_inputs_raise_method_error(ir, vis, message):
    with pytest.raises(MethodError, match=re.escape(message)):
        fuse("average", ir, vis)


def test_uint16_above_its_data_range_is_refused():
    ir = np.full((4, 4), 5000, np.uint16)
    with pytest.raises(MethodError, match=re.escape("IR: expected values in [0, 4095]")):
        fuse("max", ir, np.zeros((4, 4), np.uint8), data_range={"ir": 4095})


@pytest.mark.parametrize(
    ("ir", "vis", "message"),
    [
        (
            np.zeros((4, 4), np.uint8),
            np.zeros((4, 4), np.uint8),
            "expected float pixels on [0, 1], got dtype uint8",
        ),
        (
            np.zeros((4, 4), np.float32),
            np.zeros((4, 5), np.float32),
            "IR has shape (4, 4) but VIS Y has shape (4, 5)",
        ),
        (np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 3), np.float32), "expected a (H, W) array"),
        (np.full((4, 4), 2.0, np.float32), np.zeros((4, 4), np.float32), "expected values in [0, 1]"),
    ],
)
def test_method_fuse_checks_its_float_planes(ir, vis, message):
    with pytest.raises(MethodError, match=re.escape(message)):
        get_method("gff").fuse(ir, vis)


@dataclass(frozen=True)
class Broken(ClassicMethod):
    id = "broken-test"
    name = "Broken"
    description = "returns NaN"

    def _fuse(self, ir, vis_y):
        out = ir.copy()
        out[0, 0] = np.nan
        return out


def test_nan_in_a_method_output_names_the_method():
    with pytest.raises(MethodError, match="method 'broken-test' produced 1 non-finite value"):
        fuse(Broken(), np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))


def test_method_output_of_the_wrong_shape_is_refused():
    class Cropping(Broken):
        def _fuse(self, ir, vis_y):
            return ir[1:]

    with pytest.raises(MethodError, match=re.escape("returned shape (3, 4) for inputs of shape (4, 4)")):
        Cropping().fuse(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32))


def test_output_is_clipped_to_the_unit_range():
    class Overshoot(Broken):
        def _fuse(self, ir, vis_y):
            return ir * 4 - 1.5

    out = Overshoot().fuse(np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4), np.zeros((4, 4), np.float32))
    assert out.min() == 0.0 and out.max() == 1.0


def test_precomputed_methods_cannot_fuse_arrays():
    with pytest.raises(MethodError, match="provides precomputed fused images"):
        fuse("published:piafusion", np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))


def test_fusing_methods_have_no_fused_files():
    with pytest.raises(MethodError, match="fuses images itself"):
        get_method("gff").fused_path("05", "tno", "test", "/nowhere")


def test_method_is_abstract():
    with pytest.raises(TypeError):
        Method()  # type: ignore[abstract]
