"""The runner's work units: fuse one pair with one method; score one fused pair with a metric set.

Units run wherever the backend puts them (this process, a local worker process, a Dask worker),
so they take everything they need as arguments, write nothing but the fused PNG (atomically) and
return a small :class:`UnitResult` that the driving process stores.

An error that belongs to one pair comes back as a :class:`Failure` whose message names the pair
and its file, and the rest of the run goes on: an unreadable, truncated or 16-bit source, an IR
image with distinct colour channels, IR and VIS of different sizes, a method that raises or
returns NaN/inf or the wrong size, a precomputed fused image that is missing or of the wrong size.
An error no pair can survive is raised and ends the run: a fused image that cannot be written
(disk full) as :class:`~fusionbench.store.StoreError`, missing or corrupt weights as
:class:`~fusionbench.methods.weights.WeightsError`.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.io import read_image, write_image_atomic
from fusionbench.metrics.conventions import Convention
from fusionbench.store import StoreError


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
    pair_id: str
    values: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failure: Failure | None = None


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


def read_source(path: Path, role: str) -> np.ndarray:
    """Read an IR or VIS source image, refusing what the runner cannot fuse or score as it is."""
    image = read_image(path)
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


def read_pair(pair: Any) -> tuple[np.ndarray, np.ndarray]:
    """The IR and VIS images of ``pair``, checked to have one size."""
    ir = read_source(Path(pair.ir), "IR")
    vis = read_source(Path(pair.vis), "VIS")
    if ir.shape[:2] != vis.shape[:2]:
        raise InputError(
            f"{pair.ir} is {ir.shape[0]}x{ir.shape[1]} but {pair.vis} is {vis.shape[0]}x{vis.shape[1]} "
            f"(height x width): the IR and VIS images of pair {pair.id!r} must have one size"
        )
    return ir, vis


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
    """Read the pair, fuse it and write the PNG atomically to ``<fused_dir>/<pair id>.png``."""
    from fusionbench.methods import fuse
    from fusionbench.methods.weights import WeightsError

    ctx, pair = unit.context, unit.pair
    assert ctx.fused_dir is not None, "fuse units are for methods that fuse"
    method = _shared_method(ctx)
    seconds = {"io": 0.0, "fuse": 0.0}
    try:
        t = time.perf_counter()
        ir, vis = read_pair(pair)
        seconds["io"] += time.perf_counter() - t
        t = time.perf_counter()
        fused = fuse(method, ir, vis)
        seconds["fuse"] += time.perf_counter() - t
    except WeightsError:
        raise
    except Exception as exc:  # a method may raise anything on one pair; the run goes on
        return UnitResult(pair.id, seconds=seconds, failure=_failure(pair, "fuse", exc, method))
    path = ctx.fused_dir / f"{pair.id}.png"
    t = time.perf_counter()
    try:
        write_image_atomic(path, fused)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot write the fused image ({exc.strerror or exc}); what was written before is kept: "
            f"free space (or fix the folder) and run again to resume"
        ) from None
    seconds["io"] += time.perf_counter() - t
    return UnitResult(pair.id, seconds=seconds)


def score_unit(unit: ScoreUnit) -> UnitResult:
    """Read the pair and its fused image (cached PNG or the method's own file) and compute the metrics."""
    from fusionbench.methods import load_fused
    from fusionbench.methods.weights import WeightsError
    from fusionbench.metrics import compute

    ctx, pair = unit.context, unit.pair
    seconds = {"io": 0.0, "metrics": 0.0}
    fused_file = None if ctx.fused_dir is None else ctx.fused_dir / f"{pair.id}.png"
    try:
        t = time.perf_counter()
        ir, vis = read_pair(pair)
        if fused_file is None:
            fused = load_fused(
                ctx.method, pair.id, ir.shape[:2], dataset=ctx.dataset, split=ctx.split, data_root=ctx.data_root
            )
        else:
            fused = read_image(fused_file)
        seconds["io"] += time.perf_counter() - t
        t = time.perf_counter()
        values = compute(fused, ir, vis, metrics=list(unit.metric_ids), convention=ctx.convention)
        seconds["metrics"] += time.perf_counter() - t
    except WeightsError:
        raise
    except Exception as exc:
        return UnitResult(pair.id, seconds=seconds, failure=_failure(pair, "score", exc, ctx.method, fused_file))
    return UnitResult(pair.id, values=values, seconds=seconds)
