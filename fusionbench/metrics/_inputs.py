"""Input checks and the conversion of (fused, IR, VIS) images to what the metrics work on.

Accepted images:

* numpy, as read from disk: ``(H, W)``, ``(H, W, 1)`` or ``(H, W, 3)`` (RGB order);
* torch: ``(H, W)``, ``(C, H, W)`` or a batch ``(N, C, H, W)`` with C = 1 or 3, on any device.

Dtypes: ``uint8``; ``uint16`` (and other integer types) only with an explicit ``data_range``;
floating point on the 0..255 scale, or on 0..``data_range`` when given. Everything is scaled to
float64 on 0..255. Errors name the argument and say what was expected.

Colour (the convention's ``colour`` policy): ``gray`` turns every 3-channel image into gray with
the convention's weights and rounds to integer levels, as MATLAB ``rgb2gray`` does on uint8
images; ``per_channel`` (VIFB) scores a colour fused image channel by channel. An IR image stored
as three identical channels is reduced to one channel first, whatever the policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics.conventions import Convention

ROLES = ("fused", "ir", "vis")


@dataclass
class ImageStack:
    """One role's images as float64 ``(N, C, H, W)`` on 0..255 (numpy or torch)."""

    data: Any
    channels: int


def _check_dtype_and_scale(x: Any, name: str, data_range: float | None) -> Any:
    """Return float64 data on 0..255, or raise TypeError/ValueError naming the problem."""
    if _backend.is_torch(x):
        import torch

        dtype = x.dtype
        is_float = dtype.is_floating_point
        is_complex = dtype.is_complex
        is_bool = dtype == torch.bool
        is_uint8 = dtype == torch.uint8
        if is_complex or is_bool:
            raise TypeError(f"{name}: expected uint8 or floating-point pixels, got dtype {dtype}")
        data = x.to(torch.float64)
        finite = bool(torch.isfinite(data).all()) if is_float else True
        lo, hi = (float(data.min()), float(data.max())) if data.numel() else (0.0, 0.0)
        has_fraction = bool((data != torch.round(data)).any()) if is_float else False
    else:
        x = np.asarray(x)
        dtype = x.dtype
        if dtype.kind not in "uif" or dtype == np.bool_:
            raise TypeError(f"{name}: expected uint8 or floating-point pixels, got dtype {dtype}")
        is_float = dtype.kind == "f"
        is_uint8 = dtype == np.uint8
        data = x.astype(np.float64)
        finite = bool(np.isfinite(data).all()) if is_float else True
        lo, hi = (float(data.min()), float(data.max())) if data.size else (0.0, 0.0)
        has_fraction = bool((data != np.round(data)).any()) if is_float else False
    if not finite:
        raise ValueError(f"{name}: contains NaN or infinite values")
    if not is_float and not is_uint8 and data_range is None:
        raise ValueError(
            f"{name}: {dtype} pixels need an explicit data_range (e.g. data_range=65535 for 16-bit "
            f"images; values are then scaled to 0..255)"
        )
    if data_range is None:
        if is_float and 0 < hi <= 1.0 and has_fraction:
            raise ValueError(
                f"{name}: floating-point values lie in 0..{hi:.3g}, which looks like a 0..1 image; "
                f"metrics expect 0..255: pass data_range=1.0 (or multiply by 255)"
            )
        data_range = 255.0
    if data_range <= 0:
        raise ValueError(f"data_range must be positive, got {data_range}")
    if lo < 0 or hi > data_range * (1 + 1e-9):
        raise ValueError(f"{name}: values must lie in 0..{data_range:g}, got {lo:g}..{hi:g}")
    if data_range != 255.0:
        data = data * (255.0 / data_range)
    return data


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


def to_stack(x: Any, name: str, data_range: float | None = None) -> ImageStack:
    """Validate one role's input and return it as float64 (N, C, H, W) on 0..255."""
    if not (isinstance(x, np.ndarray) or _backend.is_torch(x)):
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        else:
            raise TypeError(f"{name}: expected a numpy array or torch tensor, got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name}: expected an image with at least 2 dimensions, got shape {tuple(x.shape)}")
    x = _to_nchw(x, name)
    data = _check_dtype_and_scale(x, name, data_range)
    return ImageStack(data=data, channels=int(data.shape[1]))


def _round_levels(y: Any, rounding: str) -> Any:
    xp = _backend.namespace(y)
    if rounding == "half_even":
        return xp.round(y)
    return xp.floor(y + 0.5)


def to_gray(rgb: Any, convention: Convention) -> Any:
    """(N, 3, H, W) RGB on 0..255 -> (N, 1, H, W) gray integer levels (MATLAB rgb2gray on uint8)."""
    wr, wg, wb = convention.gray_weights
    y = wr * rgb[:, 0:1] + wg * rgb[:, 1:2] + wb * rgb[:, 2:3]
    y = _round_levels(y, convention.gray_rounding)
    xp = _backend.namespace(y)
    return xp.clip(y, 0.0, 255.0)


def _channels_identical(x: Any) -> bool:
    if _backend.is_torch(x):
        return bool((x[:, 0] == x[:, 1]).all() and (x[:, 0] == x[:, 2]).all())
    return bool((x[:, 0] == x[:, 1]).all() and (x[:, 0] == x[:, 2]).all())


@dataclass
class FusionBatch:
    """Prepared triples: fused ``f``, IR ``a`` and VIS ``b``, each float64 ``(M, H, W)`` on 0..255.

    ``M = n_images * n_channels``: under the per-channel colour policy each image contributes one
    triple per channel, and metric values are averaged over ``n_channels`` afterwards. ``cached``
    memoises intermediates shared between metrics (Sobel responses, histograms, VIF pyramids).
    """

    f: Any
    a: Any
    b: Any
    convention: Convention
    n_images: int
    n_channels: int
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def xp(self) -> Any:
        return _backend.namespace(self.f)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def levels(self, role: str) -> Any:
        """Integer gray levels 0..255 of ``f``, ``a`` or ``b`` (MATLAB uint8 conversion: round, clip)."""

        def make() -> Any:
            x = getattr(self, role)
            xp = _backend.namespace(x)
            y = xp.clip(_round_levels(x, "half_up"), 0.0, 255.0)
            return xp.astype(y, xp.int64)

        return self.cached(f"levels_{role}", make)

    @property
    def height(self) -> int:
        return int(self.f.shape[-2])

    @property
    def width(self) -> int:
        return int(self.f.shape[-1])


def prepare(
    fused: Any,
    ir: Any,
    vis: Any,
    convention: Convention,
    data_range: float | None = None,
) -> FusionBatch:
    """Validate the three inputs and convert them to a :class:`FusionBatch` under ``convention``."""
    stacks = {role: to_stack(x, role, data_range) for role, x in zip(ROLES, (fused, ir, vis))}
    return from_stacks(stacks["fused"].data, stacks["ir"].data, stacks["vis"].data, convention)


def from_stacks(fused: Any, ir: Any, vis: Any, convention: Convention, label: str = "") -> FusionBatch:
    """Build a :class:`FusionBatch` from validated float64 (N, C, H, W) stacks (see :func:`to_stack`)."""
    stacks = {role: ImageStack(x, int(x.shape[1])) for role, x in zip(ROLES, (fused, ir, vis))}
    kinds = {_backend.is_torch(s.data) for s in stacks.values()}
    if len(kinds) != 1:
        raise TypeError("fused, ir and vis must all be numpy arrays or all torch tensors")
    shapes = {role: tuple(s.data.shape) for role, s in stacks.items()}
    n = {role: shp[0] for role, shp in shapes.items()}
    hw = {role: shp[2:] for role, shp in shapes.items()}
    if len(set(hw.values())) != 1:
        raise ValueError(
            f"{label}image sizes differ: "
            + ", ".join(f"{r} {hw[r][0]}x{hw[r][1]}" for r in ROLES)
            + " (H x W)"
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

    if convention.colour == "per_channel" and f.shape[1] == 3:
        channels = 3
        a = a if a.shape[1] == 3 else _repeat3(a)
        b = b if b.shape[1] == 3 else _repeat3(b)
    else:
        channels = 1
        f, a, b = (to_gray(x, convention) if x.shape[1] == 3 else x for x in (f, a, b))

    num, _, h, w = f.shape
    m = num * channels
    return FusionBatch(
        f=f.reshape(m, h, w),
        a=a.reshape(m, h, w),
        b=b.reshape(m, h, w),
        convention=convention,
        n_images=num,
        n_channels=channels,
    )


def _repeat3(x: Any) -> Any:
    xp = _backend.namespace(x)
    return xp.concat([x, x, x], axis=1)
