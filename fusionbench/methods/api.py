"""The public entry points: ``get_method``, ``list_methods`` and ``fuse``.

``fuse(method, ir, vis)`` fuses one in-memory pair and returns the ``uint8`` image as it would be
written to disk: gray ``(H, W)`` when VIS is gray, RGB ``(H, W, 3)`` when VIS is RGB (the method
fuses the VIS luminance; colour comes back from the VIS chrominance, see
:mod:`fusionbench.methods.colour`).

Third-party packages add methods through the entry-point group ``fusionbench.methods``: each entry
point's name is the method id and its object a :class:`~fusionbench.methods.Method` subclass (or
any callable taking the method's options as keywords and returning one). They are loaded the
first time :func:`get_method` or :func:`list_methods` needs them.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

import numpy as np

# Imported for their registrations.
from fusionbench.methods import (  # noqa: F401  (imported for their registrations)
    classic,
    densefuse,
    didfuse,
    gff,
    ifcnn,
    multiscale,
    sdnet,
    seafusion,
    tardal,
    u2fusion,
)
from fusionbench.methods.base import METHODS, Method, MethodError
from fusionbench.methods.colour import merge_y, split_y, to_uint8
from fusionbench.methods.precomputed import PUBLISHED, FolderMethod, PublishedMethod
from fusionbench.methods.sidm import method as _sidm_method  # noqa: F401  (registers "sidm")
from fusionbench.registry import UnknownNameError

log = logging.getLogger(__name__)

#: Entry-point group through which other packages register methods.
ENTRY_POINT_GROUP = "fusionbench.methods"

#: Full-scale value of the inputs: one number for both, or per role (``{"ir": 65535}``).
DataRange = float | Mapping[str, float] | None
_ROLES = ("ir", "vis")
#: Display order of the built-in methods in :func:`list_methods` (others follow by name).
METHOD_ORDER = ("average", "max", "lp", "dwt", "gff")

_plugins_loaded = False
#: Entry points that failed to load: name -> reason.
_plugin_errors: dict[str, str] = {}


def get_method(spec: str | Method, **options: Any) -> Method:
    """The method named by ``spec``, built with ``options``.

    ``spec`` is a registered id (``"average"``, ``"max"``, ``"lp"``, ``"dwt"``, ``"gff"`` or an
    entry-point method), ``"published:<name>"`` (see :func:`list_methods`) or
    ``"folder:<path>"``. A :class:`Method` is returned as it is.

    Raises
    ------
    UnknownNameError
        An unknown id or published name; the message lists the close matches.
    MethodError
        Options the method does not take or bad option values, a missing folder, or an
        entry-point method that failed to load.

    Examples
    --------
    >>> get_method("lp", levels=3).config()
    {'levels': 3}
    >>> get_method("published:piafusion").name
    'PIAFusion'
    """
    if isinstance(spec, Method):
        if options:
            raise MethodError(f"options {sorted(options)} given with a ready-made method {spec.id!r}")
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"method: expected a name such as 'gff' or a Method, got {type(spec).__name__}")
    text = spec.strip()
    prefix, colon, rest = text.partition(":")
    if colon and prefix.lower() == "published":
        PUBLISHED.get(rest.strip().lower())
        return _build(PublishedMethod, text, published_name=rest.strip().lower(), **options)
    if colon and prefix.lower() == "folder":
        if not rest.strip():
            raise MethodError("folder: needs a path, e.g. folder:results/mymethod")
        return _build(FolderMethod, text, folder=rest.strip(), **options)

    _load_plugins()
    key = text.lower()
    if key in _plugin_errors:
        raise MethodError(f"method {key!r} is registered by a plugin that failed to load: {_plugin_errors[key]}")
    if colon and key not in METHODS:
        raise MethodError(f"unknown method prefix {prefix + ':'!r}; expected 'published:<name>' or 'folder:<path>'")
    try:
        factory = METHODS.get(key)
    except UnknownNameError as error:
        raise _with_published_hint(error, key) from None
    return _build(factory, key, **options)


def _with_published_hint(error: UnknownNameError, name: str) -> UnknownNameError:
    """``error``, or one suggesting ``published:<name>`` where ``name`` has published images only."""
    try:
        published = PUBLISHED.resolve(name)
    except UnknownNameError:
        return error
    return UnknownNameError(
        f"unknown method {name!r}: fusionbench does not run {name!r} itself, but its authors' fused images "
        f"are in the shared data; did you mean 'published:{published}'?"
    )


def _build(factory: Any, label: str, **options: Any) -> Method:
    try:
        inspect.signature(factory).bind(**options)
    except TypeError:
        accepted = [p for p in inspect.signature(factory).parameters if p not in ("published_name", "folder")]
        raise MethodError(
            f"method {label!r} does not take option(s) {', '.join(sorted(options))}; "
            f"it takes: {', '.join(accepted) or 'no options'}"
        ) from None
    except ValueError:  # no signature (some builtins): let the call decide
        pass
    method = factory(**options)
    if not isinstance(method, Method):
        raise MethodError(f"method {label!r}: its factory returned {type(method).__name__}, not a Method")
    return method


def list_methods() -> list[Method]:
    """Every registered method with default options: the built-in classic methods, entry-point
    methods, then ``published:<name>`` for each method with published results in the shared data
    (densefuse, fusiongan, ifcnn, piafusion, pmgi, rfn-nest, sdnet, seafusion, u2fusion).
    ``folder:<path>`` is not listed (it needs a path)."""
    _load_plugins()
    rank = {name: i for i, name in enumerate(METHOD_ORDER)}
    methods = []
    for name in sorted(METHODS.names(), key=lambda n: (rank.get(n, len(rank)), n)):
        try:
            methods.append(_build(METHODS.get(name), name))
        except Exception as exc:
            log.warning("method %r cannot be built with default options: %s", name, exc)
    methods.extend(PublishedMethod(name) for name in PUBLISHED.names())
    return methods


def _load_plugins() -> None:
    """Register the entry points of :data:`ENTRY_POINT_GROUP` (once; failures are logged and kept)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        name = ep.name.strip().lower()
        if name in METHODS:
            log.warning("entry point %r (%s) ignored: method %r is already registered", ep.name, ep.value, name)
            continue
        try:
            factory = ep.load()
        except Exception as exc:
            _plugin_errors[name] = f"{ep.value}: {type(exc).__name__}: {exc}"
            log.warning("method plugin %r failed to load: %s", name, _plugin_errors[name])
            continue
        METHODS.add(name, factory)


def fuse(method: str | Method, ir: Any, vis: Any, *, data_range: DataRange = None) -> np.ndarray:
    """Fuse one IR/VIS pair held in memory and return the ``uint8`` image as it would be written.

    Parameters
    ----------
    method
        A method id (see :func:`get_method`) or a :class:`Method`; not a precomputed one.
    ir
        ``(H, W)`` gray, or ``(H, W, 3)`` with three identical channels (reduced to one).
    vis
        ``(H, W)`` gray or ``(H, W, 3)`` RGB (RGB order).
    data_range
        Full-scale value of the pixels, one number or per role (``{"ir": 65535}``). Defaults:
        255 for ``uint8``, 1.0 for floats (which must then lie in [0, 1]); ``uint16`` and other
        integer images need it.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W)`` when ``vis`` is gray, ``(H, W, 3)`` RGB when it is colour: the fused
        luminance with the VIS chrominance, clipped and rounded half up, never stretched. A method
        whose ``colour_output`` is False gives the fused luminance ``(H, W)`` for a colour ``vis`` too.

    Raises
    ------
    MethodError
        Sizes differ, IR has distinct colour channels, a dtype needs ``data_range``, values lie
        outside the data range or are not finite, or the method produces NaN/inf.

    Examples
    --------
    >>> img = np.full((4, 5), 100, dtype=np.uint8)
    >>> fuse("average", img, img)[0, :3]
    array([100, 100, 100], dtype=uint8)
    """
    method = get_method(method)
    ir = _gray_ir(np.asarray(ir))
    vis = _vis_layout(np.asarray(vis))
    if ir.shape[:2] != vis.shape[:2]:
        raise MethodError(
            f"IR is {ir.shape[0]}x{ir.shape[1]} but VIS is {vis.shape[0]}x{vis.shape[1]} (height x width); "
            f"a pair must have one size"
        )
    ir_unit = to_unit(ir, "IR", _range_for("ir", data_range))
    vis_unit = to_unit(vis, "VIS", _range_for("vis", data_range))
    if vis_unit.ndim == 3:
        y, cb, cr = split_y(vis_unit)
        fused_y = method.fuse(ir_unit.astype(np.float32), y)
        return merge_y(fused_y, cb, cr) if method.colour_output else to_uint8(fused_y)
    return to_uint8(method.fuse(ir_unit.astype(np.float32), vis_unit.astype(np.float32)))


def _gray_ir(ir: np.ndarray) -> np.ndarray:
    if ir.ndim == 3 and ir.shape[2] == 1:
        return ir[..., 0]
    if ir.ndim == 3 and ir.shape[2] == 3:
        if not ((ir[..., 0] == ir[..., 1]).all() and (ir[..., 0] == ir[..., 2]).all()):
            raise MethodError(
                "IR has 3 different colour channels; expected a gray IR image (H, W), or (H, W, 3) with "
                "identical channels; convert it to gray first"
            )
        return ir[..., 0]
    if ir.ndim != 2:
        raise MethodError(f"IR: expected a gray image (H, W), got shape {ir.shape}")
    return ir


def _vis_layout(vis: np.ndarray) -> np.ndarray:
    if vis.ndim == 3 and vis.shape[2] == 1:
        return vis[..., 0]
    if vis.ndim == 2 or (vis.ndim == 3 and vis.shape[2] == 3):
        return vis
    raise MethodError(f"VIS: expected a gray (H, W) or RGB (H, W, 3) image, got shape {vis.shape}")


def _range_for(role: str, data_range: DataRange) -> float | None:
    if isinstance(data_range, Mapping):
        unknown = set(data_range) - set(_ROLES)
        if unknown:
            raise MethodError(f"data_range keys must be among {_ROLES}, got {sorted(unknown)}")
        return data_range.get(role)
    return data_range


def to_unit(x: np.ndarray, role: str, data_range: float | None) -> np.ndarray:
    """Scale pixels to float64 on [0, 1]: ``uint8`` / 255, floats as they are, other integer
    types / ``data_range`` (required); ``data_range`` overrides the default for any dtype.

    Raises :class:`MethodError` for unsupported dtypes, a missing ``data_range``, non-finite
    values and values outside [0, data range].
    """
    if x.dtype.kind not in "uif" or x.dtype == np.bool_:
        raise MethodError(f"{role}: expected uint8, uint16 or float pixels, got dtype {x.dtype}")
    if x.size == 0:
        raise MethodError(f"{role}: empty image of shape {x.shape}")
    if data_range is None:
        if x.dtype == np.uint8:
            data_range = 255.0
        elif x.dtype.kind == "f":
            data_range = 1.0
        else:
            raise MethodError(
                f"{role}: {x.dtype} pixels need data_range, the value of full scale (e.g. data_range=65535 "
                f"for 16-bit, 4095 for 12-bit data)"
            )
    if not data_range > 0:
        raise MethodError(f"{role}: data_range must be positive, got {data_range!r}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise MethodError(f"{role}: contains NaN or infinite values")
    lo, hi = float(x.min()), float(x.max())
    if lo < 0 or hi > data_range:
        hint = "; pass data_range=255 for floats on 0..255" if x.dtype.kind == "f" and data_range == 1.0 else ""
        raise MethodError(f"{role}: expected values in [0, {data_range:g}], got {lo:.6g}..{hi:.6g}{hint}")
    return x.astype(np.float64) / data_range
