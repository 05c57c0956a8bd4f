"""Input checks and the conversion of (fused, IR, VIS) images to what the metrics work on.

Accepted images:

* numpy, as read from disk: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (RGB order);
* torch: ``(H, W)``, ``(C, H, W)`` or a batch ``(N, C, H, W)`` with C = 1 or 3, on any device.

Dtypes: ``uint8``; ``uint16`` (and other integer types) only with an explicit ``data_range``;
floating point on the 0..255 scale, or on 0..``data_range`` when given. Everything is scaled to
float64 on 0..255. Errors name the argument and say what was expected. ``data_range`` is None, a
positive finite number, or a mapping of role to one (:func:`check_data_range`); a floating-point
image without it that holds fractions within 0..1 is refused, and one holding only 0 and 1 is
scored on 0..255 with a warning (it may be a 0..1 mask).

Colour (the convention's ``colour`` policy): ``gray`` turns every 3-channel image into gray with
the convention's weights and rounds to integer levels, as MATLAB ``rgb2gray`` does on uint8
images; ``per_channel`` (VIFB) scores a colour fused image channel by channel. An IR image stored
as three identical channels is reduced to one channel first, whatever the policy.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics.conventions import Convention

ROLES = ("fused", "ir", "vis")
#: The forms ``data_range`` accepts, quoted by its errors.
DATA_RANGE_FORMS = (
    "None (uint8: 0..255, floats: 0..255), a positive finite number (e.g. 255, 1.0 or 65535), "
    "or a mapping of role ('fused', 'ir', 'vis') to such a number (e.g. {'ir': 65535})"
)


@dataclass
class ImageStack:
    """One role's images as float64 ``(N, C, H, W)`` on 0..255 (numpy or torch; numpy uint8 with
    ``to_stack(..., keep_uint8=True)``)."""

    data: Any
    channels: int


def _check_dtype_and_range(x: Any, name: str, data_range: float | None) -> float:
    """Check dtype and values; return the full-scale value to map to 255 (raise TypeError/ValueError
    naming the problem).

    The checks read the input in its own dtype and only as far as needed: uint8 data without
    ``data_range`` is in range by construction (no pass at all); NaN/inf show up in the min/max of
    floating-point data; the "looks like 0..1" fraction test runs only when the maximum is <= 1.
    """
    if _backend.is_torch(x):
        import torch

        dtype = x.dtype
        if dtype.is_complex or dtype == torch.bool:
            raise TypeError(f"{name}: expected uint8 or floating-point pixels, got dtype {dtype}")
        is_float = dtype.is_floating_point
        is_uint8 = dtype == torch.uint8
        empty = x.numel() == 0
    else:
        x = np.asarray(x)
        dtype = x.dtype
        if dtype.kind not in "uif" or dtype == np.bool_:
            raise TypeError(f"{name}: expected uint8 or floating-point pixels, got dtype {dtype}")
        is_float = dtype.kind == "f"
        is_uint8 = dtype == np.uint8
        empty = x.size == 0
    data_range = check_data_range(data_range)
    if is_uint8 and data_range is None:
        lo, hi = 0.0, 255.0  # the check below cannot fail
    else:
        lo, hi = (0.0, 0.0) if empty else (float(x.min()), float(x.max()))
    if is_float and not (math.isfinite(lo) and math.isfinite(hi)):  # min/max propagate NaN
        raise ValueError(f"{name}: contains NaN or infinite values")
    if not is_float and not is_uint8 and data_range is None:
        raise ValueError(
            f"{name}: {dtype} pixels need an explicit data range (data_range=65535 / --data-range 65535 "
            f"for 16-bit images; values are then scaled to 0..255)"
        )
    if data_range is None:
        if is_float and 0 < hi <= 1.0 and lo >= 0:
            _check_looks_like_unit_range(x, name, hi)
        data_range = 255.0
    if lo < 0 or hi > data_range * (1 + 1e-9):
        raise ValueError(f"{name}: values must lie in 0..{data_range:g}, got {lo:g}..{hi:g}")
    return data_range


def _check_looks_like_unit_range(x: Any, name: str, hi: float) -> None:
    """A float image on 0..1 without ``data_range``: refuse it when it holds fractions (surely 0..1),
    warn when it holds only 0 and 1 (a 0..1 mask, or a nearly black 0..255 image)."""
    if _has_fraction(x):
        raise ValueError(
            f"{name}: floating-point values lie in 0..{hi:.3g}, which looks like a 0..1 image; "
            f"metrics expect 0..255: pass data_range=1.0 (or multiply by 255)"
        )
    warnings.warn(
        f"{name}: floating-point image holds only the values 0 and 1, which looks like a 0..1 image (a mask?); "
        f"it is scored as given on 0..255: pass data_range=1.0 (or {{'{name}': 1.0}}) if it is on 0..1",
        UserWarning,
        stacklevel=5,
    )


def check_data_range(value: Any) -> float | None:
    """``value`` as a full-scale float (None stays None); ValueError listing the accepted forms otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (0 < float(value) < math.inf):
        raise ValueError(f"data_range must be positive and finite: {DATA_RANGE_FORMS}; got {value!r}")
    return float(value)


def _has_fraction(x: Any) -> bool:
    xp = _backend.namespace(x)
    return bool(xp.any(x != xp.round(x)))


def _to_nchw(x: Any, name: str) -> Any:
    """Reshape to (N, C, H, W) with C in (1, 3)."""
    if _backend.is_torch(x):
        if x.ndim == 2:
            x = x.reshape(1, 1, *x.shape)
        elif x.ndim == 3:
            x = x.unsqueeze(0)
        elif x.ndim != 4:
            raise ValueError(f"{name}: expected a (H, W), (C, H, W) or (N, C, H, W) tensor, got shape {tuple(x.shape)}")
        channel_axis_size = x.shape[1]
    else:
        if x.ndim == 2:
            x = x[None, None]
        elif x.ndim == 3:
            x = np.moveaxis(x, -1, 0)[None]
        else:
            raise ValueError(
                f"{name}: expected a (H, W) or (H, W, C) array (use compute_batch or a torch tensor for "
                f"batches), got shape {x.shape}"
            )
        channel_axis_size = x.shape[1]
    if channel_axis_size not in (1, 3):
        raise ValueError(f"{name}: expected 1 or 3 channels, got {channel_axis_size} (shape {tuple(x.shape)})")
    if x.shape[-1] == 0 or x.shape[-2] == 0 or x.shape[0] == 0:
        raise ValueError(f"{name}: empty image (shape {tuple(x.shape)})")
    return x


def to_stack(x: Any, name: str, data_range: float | None = None, *, keep_uint8: bool = False) -> ImageStack:
    """Validate one role's input and return it as float64 (N, C, H, W) on 0..255.

    ``keep_uint8``: a numpy uint8 image that needs no scaling is returned as is (a view), for
    :func:`from_stacks` to convert after the gray conversion, which reads 8-bit data directly.
    """
    if not (isinstance(x, np.ndarray) or _backend.is_torch(x)):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        else:
            raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an image with at least 2 dimensions, got shape {tuple(x.shape)}")
    x = _to_nchw(x, name)
    data_range = _check_dtype_and_range(x, name, data_range)
    if keep_uint8 and isinstance(x, np.ndarray) and x.dtype == np.uint8 and data_range == 255.0:
        return ImageStack(data=x, channels=int(x.shape[1]))
    data = _backend.to_float64(x)
    if data_range != 255.0:
        data = data * (255.0 / data_range)
    return ImageStack(data=data, channels=int(data.shape[1]))


def _round_levels(y: Any, rounding: str) -> Any:
    """Round to integers: ``half_even`` (numpy/OpenCV) or ``half_up`` (MATLAB, ``floor(y + 0.5)``).
    Modifies ``y`` (a temporary of the caller)."""
    xp = _backend.namespace(y)
    if rounding == "half_even":
        return xp.round(y)
    y += 0.5
    return xp.floor(y)


def to_gray(rgb: Any, convention: Convention) -> Any:
    """(N, 3, H, W) RGB on 0..255 -> (N, 1, H, W) gray integer levels (MATLAB rgb2gray on uint8)."""
    if _is_uint8_array(rgb):
        return _gray_uint8(rgb, convention)
    return _backend.map_strips(lambda x: _gray(x, convention), rgb)


def _gray(rgb: Any, convention: Convention) -> Any:
    wr, wg, wb = convention.gray_weights
    y = wr * rgb[:, 0:1]  # accumulated in place: the same sums as wr R + wg G + wb B, fewer temporaries
    y += wg * rgb[:, 1:2]
    y += wb * rgb[:, 2:3]
    y = _round_levels(y, convention.gray_rounding)
    xp = _backend.namespace(y)
    return xp.clip(y, 0.0, 255.0)


def _gray_uint8(rgb: np.ndarray, convention: Convention) -> np.ndarray:
    """:func:`_gray` of a numpy uint8 stack (N, 3, H, W), with the same float64 operations in the same
    order (so the same levels), in place on contiguous channel planes (``cv2.split`` of each image
    viewed as (H, W, 3)) instead of strided strips."""
    wr, wg, wb = convention.gray_weights
    n, _, h, w = rgb.shape
    out = np.empty((n, 1, h, w))
    term = _backend.scratch("gray_term", (h, w))
    for i in range(n):
        y = out[i, 0]
        red, green, blue = cv2.split(np.ascontiguousarray(np.moveaxis(rgb[i], 0, -1)))
        np.multiply(red, wr, out=y)
        y += np.multiply(green, wg, out=term)
        y += np.multiply(blue, wb, out=term)
        if convention.gray_rounding == "half_even":
            np.round(y, out=y)
        else:
            y += 0.5
            np.floor(y, out=y)
        np.clip(y, 0.0, 255.0, out=y)
    return out


def _channels_identical(x: Any) -> bool:
    if _backend.is_torch(x):
        return bool((x[:, 0] == x[:, 1]).all() and (x[:, 0] == x[:, 2]).all())
    return bool((x[:, 0] == x[:, 1]).all() and (x[:, 0] == x[:, 2]).all())


@dataclass
class FusionBatch:
    """Prepared triples: fused ``f``, IR ``a`` and VIS ``b``, each float64 ``(M, H, W)`` on 0..255.

    ``M = n_images * n_channels``: under the per-channel colour policy each image contributes one
    triple per channel, and metric values are averaged over ``n_channels`` afterwards. ``cached``
    memoises intermediates shared between metrics (gray levels, histograms). ``integer_roles``
    names the roles known to hold integers 0..255 (gray conversions), whose levels are a plain cast.
    """

    f: Any
    a: Any
    b: Any
    convention: Convention
    n_images: int
    n_channels: int
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    integer_roles: frozenset[str] = frozenset()

    @property
    def xp(self) -> Any:
        return _backend.namespace(self.f)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def levels(self, role: str) -> Any:
        """Gray levels of ``f``, ``a`` or ``b`` as uint8 (MATLAB uint8 conversion: round half up, clip)."""

        def make() -> Any:
            x = getattr(self, role)
            if role in self.integer_roles:
                xp = _backend.namespace(x)
                return xp.astype(x, xp.uint8)
            return _backend.map_strips(_uint8_levels, x)

        return self.cached(f"levels_{role}", make)

    @property
    def height(self) -> int:
        return int(self.f.shape[-2])

    @property
    def width(self) -> int:
        return int(self.f.shape[-1])


DataRange = float | Mapping[str, float] | None


def range_for(role: str, data_range: DataRange) -> float | None:
    """The full-scale value for ``role`` from a scalar or per-role ``data_range``, validated
    (:func:`check_data_range`: ValueError listing the accepted forms)."""
    if isinstance(data_range, Mapping):
        unknown = set(data_range) - set(ROLES)
        if unknown:
            raise ValueError(f"data_range keys must be among {ROLES}, got {sorted(unknown)}")
        try:
            return check_data_range(data_range.get(role))
        except ValueError:
            raise ValueError(
                f"data_range must be positive and finite: {DATA_RANGE_FORMS}; got {data_range[role]!r} for {role!r}"
            ) from None
    return check_data_range(data_range)


def prepare(
    fused: Any,
    ir: Any,
    vis: Any,
    convention: Convention,
    data_range: DataRange = None,
) -> FusionBatch:
    """Validate the three inputs and convert them to a :class:`FusionBatch` under ``convention``.

    ``data_range`` is one full-scale value for all three images, or a mapping per role
    (``{"ir": 65535}`` for a 16-bit IR image beside 8-bit VIS and fused images).
    """
    stacks = {
        role: to_stack(x, role, range_for(role, data_range), keep_uint8=True)
        for role, x in zip(ROLES, (fused, ir, vis), strict=True)
    }
    return from_stacks(stacks["fused"].data, stacks["ir"].data, stacks["vis"].data, convention)


def from_stacks(fused: Any, ir: Any, vis: Any, convention: Convention, label: str = "") -> FusionBatch:
    """Build a :class:`FusionBatch` from validated float64 (N, C, H, W) stacks (see :func:`to_stack`;
    numpy uint8 stacks on 0..255 are accepted too and converted here, after the gray conversion)."""
    stacks = {role: ImageStack(x, int(x.shape[1])) for role, x in zip(ROLES, (fused, ir, vis), strict=True)}
    kinds = {_backend.is_torch(s.data) for s in stacks.values()}
    if len(kinds) != 1:
        raise TypeError("fused, ir and vis must all be numpy arrays or all torch tensors")
    shapes = {role: tuple(s.data.shape) for role, s in stacks.items()}
    n = {role: shp[0] for role, shp in shapes.items()}
    hw = {role: shp[2:] for role, shp in shapes.items()}
    if len(set(hw.values())) != 1:
        raise ValueError(
            f"{label}image sizes differ: " + ", ".join(f"{r} {hw[r][0]}x{hw[r][1]}" for r in ROLES) + " (H x W)"
        )
    if len(set(n.values())) != 1:
        raise ValueError(f"{label}batch sizes differ: " + ", ".join(f"{r} {n[r]}" for r in ROLES))
    if _backend.is_torch(stacks["fused"].data):
        devices = {str(s.data.device) for s in stacks.values()}
        if len(devices) != 1:
            raise ValueError(f"fused, ir and vis are on different devices: {sorted(devices)}")

    f, a, b = (stacks[r].data for r in ROLES)
    if a.shape[1] == 3 and _channels_identical(a):
        a = a[:, 0:1]

    gray: set[str] = set()  # roles converted to gray: integer levels
    if convention.colour == "per_channel" and f.shape[1] == 3:
        channels = 3
        a = a if a.shape[1] == 3 else _repeat3(a)
        b = b if b.shape[1] == 3 else _repeat3(b)
    else:
        channels = 1
        gray = {r for r, x in zip("fab", (f, a, b), strict=True) if x.shape[1] == 3}
        f, a, b = (to_gray(x, convention) if x.shape[1] == 3 else x for x in (f, a, b))

    num, _, h, w = f.shape
    m = num * channels
    # uint8 stacks (numpy, see to_stack's keep_uint8) are their own gray levels: keep them for
    # FusionBatch.levels and convert to float64 for the metrics.
    levels = {r: x.reshape(m, h, w) for r, x in zip("fab", (f, a, b), strict=True) if _is_uint8_array(x)}
    f, a, b = (_backend.to_float64(x) if _is_uint8_array(x) else x for x in (f, a, b))
    batch = FusionBatch(
        f=f.reshape(m, h, w),
        a=a.reshape(m, h, w),
        b=b.reshape(m, h, w),
        convention=convention,
        n_images=num,
        n_channels=channels,
        integer_roles=frozenset(gray),
    )
    for role, lv in levels.items():
        # mypy cannot type a lambda with a default argument against Callable[[], Any].
        batch.cached(f"levels_{role}", lambda lv=lv: lv)  # type: ignore[misc]
    return batch


def _uint8_levels(x: Any) -> Any:
    """MATLAB ``uint8(x)``. Clipping first is the same (0 and 255 are integers); the cast truncates,
    so adding 0.5 rounds half up."""
    xp = _backend.namespace(x)
    return xp.astype(xp.clip(x, 0.0, 255.0) + 0.5, xp.uint8)


def _is_uint8_array(x: Any) -> bool:
    return isinstance(x, np.ndarray) and x.dtype == np.uint8


def _repeat3(x: Any) -> Any:
    xp = _backend.namespace(x)
    return xp.concat([x, x, x], axis=1)
