"""The runner's work units: fuse one pair with one method; score one fused pair with a metric set.

Units run wherever the backend puts them (this process, a local worker process, a Dask worker),
so they take everything they need as arguments, write nothing but the fused PNG (atomically) and
return a small :class:`UnitResult` that the driving process stores.

A cached fused image is named by what it was made from: ``<fused_dir>/<sources digest>.png``,
where the folder is keyed by the method's id, config and weights and the digest is
:func:`content_digest` of the sha256 of the IR and VIS bytes. A unit hashes the very bytes it
decodes, so the fused image a score unit reads is the one made from the sources it reads, and the
digest it returns (:attr:`UnitResult.inputs`) names exactly the bytes its values were computed
from, whatever another run writes into the same output folder meanwhile.

An error that belongs to one pair comes back as a :class:`Failure` whose message names the pair
and its file, and the rest of the run goes on: an unreadable, truncated or 16-bit source, an IR
image with distinct colour channels, IR and VIS of different sizes, a method that raises or
returns NaN/inf or the wrong size, a precomputed fused image that is missing or of the wrong size.
An error no pair can survive is raised and ends the run: a fused image that cannot be written
(disk full) as :class:`~fusionbench.engine.store.StoreError`, missing or corrupt weights as
:class:`~fusionbench.methods.weights.WeightsError`.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.engine.store import StoreError
from fusionbench.io import decode_image, encode_png, read_image_bytes, write_bytes_atomic
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.objects import OBJECT_METRICS


class InputError(ValueError):
    """A source image the runner cannot use as it is; the message names the file."""


@dataclass(frozen=True)
class UnitContext:
    """What every unit of one run shares."""

    method: Any  # fusionbench.methods.Method
    dataset: str
    split: str
    data_root: Path
    fused_dir: Path | None  # None for methods that provide their fused images
    convention: Convention
    token: str = field(default_factory=lambda: uuid.uuid4().hex)  # one per run


@dataclass(frozen=True)
class FuseUnit:
    """Fuse ``pair`` with the context's method and cache the PNG in ``context.fused_dir``."""

    context: UnitContext
    pair: Any  # fusionbench.datasets.PairRecord


@dataclass(frozen=True)
class ScoreUnit:
    """Score the fused image of ``pair`` with ``metric_ids``."""

    context: UnitContext
    pair: Any
    metric_ids: tuple[str, ...]


@dataclass(frozen=True)
class Failure:
    """A pair that could not be fused or scored: the stage, the error's type and its message."""

    pair_id: str
    stage: str  # "fuse" or "score"
    error: str
    message: str


@dataclass
class UnitResult:
    """What a unit sends back: the pair's values (score units), stage seconds, a failure, and the
    digests of the bytes it read and wrote (``sources``: IR and VIS; ``fused``: the fused PNG a
    fuse unit wrote; ``inputs``: IR, VIS and fused bytes a score unit scored)."""

    pair_id: str
    values: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failure: Failure | None = None
    sources: str = ""
    fused: str = ""
    inputs: str = ""


def sha256_hex(data: bytes) -> str:
    """The sha256 of ``data`` as 64 hex digits."""
    return hashlib.sha256(data).hexdigest()


def content_digest(*digests: str) -> str:
    """One sha256 (64 hex digits) for a sequence of file digests: the key of what was made from them."""
    return sha256_hex("\n".join(digests).encode("ascii"))


def fused_path(fused_dir: Path, sources: str) -> Path:
    """Where the fused PNG made from the sources of digest ``sources`` is cached in ``fused_dir``."""
    return fused_dir / f"{sources}.png"


#: The method of each recent run in this process, by run token (see :func:`_shared_method`).
_methods: dict[str, Any] = {}
_KEPT_METHODS = 4


def _shared_method(ctx: UnitContext) -> Any:
    """One method instance per run in each process, so that a learned method loads its network once
    per worker rather than once per unit (each unit arrives with its own unpickled copy)."""
    if ctx.token not in _methods:
        while len(_methods) >= _KEPT_METHODS:
            del _methods[next(iter(_methods))]
        _methods[ctx.token] = ctx.method
    return _methods[ctx.token]


def read_source(path: Path, role: str, data: bytes | None = None) -> np.ndarray:
    """Read (or decode ``data`` of) an IR or VIS source image, refusing what the runner cannot fuse
    or score as it is."""
    image = decode_image(read_image_bytes(path) if data is None else data, path)
    if image.dtype != np.uint8:
        raise InputError(
            f"{path}: {role} image has {8 * image.dtype.itemsize}-bit pixels; the runner takes 8-bit sources: "
            f"convert it to 8-bit first (fusionbench eval --data-range 65535 scores 16-bit images as they are)"
        )
    if role == "IR" and image.ndim == 3 and not (image == image[..., :1]).all():
        raise InputError(
            f"{path}: IR image has 3 different colour channels; expected a gray IR image "
            f"(or 3 identical channels): convert it to gray first"
        )
    return image


def read_pair(pair: Any) -> tuple[np.ndarray, np.ndarray, str]:
    """The IR and VIS images of ``pair``, checked to have one size, and the digest of their bytes
    (:func:`content_digest` of the two sha256)."""
    ir_data, vis_data = read_image_bytes(Path(pair.ir)), read_image_bytes(Path(pair.vis))
    ir = read_source(Path(pair.ir), "IR", ir_data)
    vis = read_source(Path(pair.vis), "VIS", vis_data)
    if ir.shape[:2] != vis.shape[:2]:
        raise InputError(
            f"{pair.ir} is {ir.shape[0]}x{ir.shape[1]} but {pair.vis} is {vis.shape[0]}x{vis.shape[1]} "
            f"(height x width): the IR and VIS images of pair {pair.id!r} must have one size"
        )
    return ir, vis, content_digest(sha256_hex(ir_data), sha256_hex(vis_data))


def _failure(pair: Any, stage: str, exc: Exception, method: Any, fused: Path | None = None) -> Failure:
    """The failure record of ``pair``; the message names the pair and, unless the error already
    names one of its files, the IR and VIS files."""
    from fusionbench.io import ImageReadError
    from fusionbench.methods import MethodError

    message = " ".join(str(exc).split()) or type(exc).__name__
    if stage == "fuse" and not isinstance(exc, (InputError, ImageReadError, MethodError)):
        message = f"method {method.id!r} raised {type(exc).__name__}: {message}"
    files = [str(pair.ir), str(pair.vis)] + ([str(fused)] if fused is not None else [])
    if not any(f in message for f in files):
        message = f"{message} (IR {pair.ir}, VIS {pair.vis})"
    return Failure(pair_id=pair.id, stage=stage, error=type(exc).__name__, message=f"pair {pair.id!r}: {message}")


def fuse_unit(unit: FuseUnit) -> UnitResult:
    """Read the pair, fuse it and write the PNG atomically to ``<fused_dir>/<sources digest>.png``."""
    from fusionbench.methods import fuse
    from fusionbench.methods.weights import WeightsError

    ctx, pair = unit.context, unit.pair
    if ctx.fused_dir is None:
        raise ValueError("fuse units are for methods that fuse; this method provides its images")
    method = _shared_method(ctx)
    seconds = {"io": 0.0, "fuse": 0.0}
    try:
        t = time.perf_counter()
        ir, vis, sources = read_pair(pair)
        seconds["io"] += time.perf_counter() - t
        t = time.perf_counter()
        fused = fuse(method, ir, vis)
        seconds["fuse"] += time.perf_counter() - t
    except WeightsError:
        raise
    except Exception as exc:  # a method may raise anything on one pair; the run goes on
        return UnitResult(pair.id, seconds=seconds, failure=_failure(pair, "fuse", exc, method))
    path = fused_path(ctx.fused_dir, sources)
    t = time.perf_counter()
    png = encode_png(fused, path)
    try:
        write_bytes_atomic(path, png)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot write the fused image of pair {pair.id!r} ({exc.strerror or exc}); what was written "
            f"before is kept: free space (or fix the folder) and run again to resume"
        ) from None
    seconds["io"] += time.perf_counter() - t
    return UnitResult(pair.id, seconds=seconds, sources=sources, fused=sha256_hex(png))


def _boxes(ctx: UnitContext, pair: Any) -> Any:
    """The pair's object boxes for the object-level measures (None where the dataset has none)."""
    from fusionbench.datasets.boxes import pair_boxes

    name = ctx.dataset if isinstance(ctx.dataset, str) else getattr(ctx.dataset, "name", "")
    return pair_boxes(name, ctx.split, pair.id, ctx.data_root)


def score_unit(unit: ScoreUnit) -> UnitResult:
    """Read the pair and its fused image (the cached PNG made from these very sources, or the
    method's own file) and compute the metrics."""
    from fusionbench.methods.weights import WeightsError
    from fusionbench.metrics import compute

    ctx, pair = unit.context, unit.pair
    seconds = {"io": 0.0, "metrics": 0.0}
    fused_file = None
    try:
        t = time.perf_counter()
        ir, vis, sources = read_pair(pair)
        if ctx.fused_dir is not None:
            fused_file = fused_path(ctx.fused_dir, sources)
        fused, fused_data = _read_fused(ctx, pair, ir.shape, fused_file)
        seconds["io"] += time.perf_counter() - t
        t = time.perf_counter()
        boxes = _boxes(ctx, pair) if any(m in OBJECT_METRICS for m in unit.metric_ids) else None
        values = compute(fused, ir, vis, metrics=list(unit.metric_ids), convention=ctx.convention, boxes=boxes)
        seconds["metrics"] += time.perf_counter() - t
    except WeightsError:
        raise
    except Exception as exc:
        return UnitResult(pair.id, seconds=seconds, failure=_failure(pair, "score", exc, ctx.method, fused_file))
    inputs = content_digest(sources, sha256_hex(fused_data))
    return UnitResult(pair.id, values=values, seconds=seconds, sources=sources, inputs=inputs)


def _read_fused(ctx: UnitContext, pair: Any, shape: tuple[int, ...], path: Path | None) -> tuple[np.ndarray, bytes]:
    """The fused image of ``pair`` and its file's bytes: the cached PNG at ``path``, or the file of a
    method that provides its images (checked to have the pair's size)."""
    from fusionbench.methods.precomputed import read_fused

    if path is None:
        return read_fused(ctx.method, pair.id, shape, dataset=ctx.dataset, split=ctx.split, data_root=ctx.data_root)
    data = read_image_bytes(path)
    return decode_image(data, path), data
