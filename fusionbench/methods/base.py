"""The :class:`Method` interface, its error type and the method registry.

A *fusing* method turns one IR plane and one VIS luminance plane, both ``float32`` ``(H, W)`` on
[0, 1], into a fused plane of the same shape and scale (:meth:`Method.fuse`), or a stack
``(N, H, W)`` of them (:meth:`Method.fuse_batch`). Colour, dtypes and rounding are handled once,
outside the methods, by :func:`fusionbench.methods.fuse`.

A *precomputed* method (``published:<name>``, ``folder:<path>``) fuses nothing: it says where the
fused image of a pair is (:meth:`Method.fused_path`), and the runner reads it.

Subclasses implement :meth:`Method._fuse` (and, when they can do better than a loop,
:meth:`Method._fuse_batch`); the public ``fuse``/``fuse_batch`` check the inputs, then check,
clip and type the output, so every method gets the same guarantees.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np

from fusionbench.registry import Registry


class MethodError(ValueError):
    """A method that cannot run on the given inputs, or a fused image that cannot be used.

    The message names the method, the pair or file, and what was expected.
    """


class Method(ABC):
    """One fusion method: a classic or learned algorithm, or a source of precomputed images."""

    #: Registry id (``"gff"``; ``"published:piafusion"``, ``"folder:/abs/path"`` for adapters).
    id: str
    #: Display name for tables (``"GFF"``, ``"PIAFusion"``).
    name: str
    #: One line saying what the method does.
    description: str
    #: ``"classic"``, ``"learned"``, ``"published"`` or ``"folder"``.
    kind: str
    #: The paper the method comes from ("" when there is none).
    reference: ClassVar[str] = ""
    #: Version of this implementation; bump it when a change alters the output (part of the cache key).
    version: ClassVar[int] = 1
    #: True for methods whose fused images already exist (``published:``/``folder:``).
    provides_images: ClassVar[bool] = False
    #: For a colour VIS image: True writes RGB (the fused luminance with the VIS chrominance); False
    #: writes the fused luminance alone as a gray image, as some authors' test scripts saved it.
    colour_output: bool = True

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Every parameter that changes the output (JSON-serialisable; hashed into :meth:`cache_key`)."""

    def weights_sha256(self) -> str | None:
        """SHA-256 of the weight file(s) a learned method loads; None for methods without weights."""
        return None

    def cache_key(self) -> str:
        """A short hash of (id, config, weights, implementation version), stable across runs."""
        payload = {
            "id": self.id,
            "config": self.config(),
            "weights_sha256": self.weights_sha256(),
            "version": self.version,
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def as_row(self) -> dict[str, str]:
        """One row of the method card (``fusionbench list methods``)."""
        config = ", ".join(f"{k}={v}" for k, v in self.config().items())
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "parameters": config,
            "reference": self.reference,
        }

    # Fusing methods ---------------------------------------------------------------------------

    def fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        """Fuse one pair: ``ir`` and ``vis_y`` float ``(H, W)`` on [0, 1] -> float32 ``(H, W)`` on [0, 1].

        Raises :class:`MethodError` for inputs that are not equal-shape 2-D float planes on
        [0, 1], and when the method produces NaN or infinite values. The output is clipped to
        [0, 1].
        """
        self._require_fusing()
        ir, vis_y = check_planes(ir, vis_y, ndim=2)
        return self._finish(self._fuse(ir, vis_y), ir.shape)

    def fuse_batch(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        """Fuse a stack of pairs: float ``(N, H, W)`` on [0, 1] -> float32 ``(N, H, W)`` on [0, 1]."""
        self._require_fusing()
        ir, vis_y = check_planes(ir, vis_y, ndim=3)
        return self._finish(self._fuse_batch(ir, vis_y), ir.shape)

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        """The algorithm, on checked float32 ``(H, W)`` planes; may return any float dtype."""
        raise NotImplementedError(f"method {self.id!r} does not implement _fuse()")

    def _fuse_batch(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        """The batch algorithm on checked ``(N, H, W)`` stacks; by default one :meth:`_fuse` per pair."""
        return np.stack([self._fuse(a, b) for a, b in zip(ir, vis_y, strict=True)])

    def _finish(self, fused: Any, shape: tuple[int, ...]) -> np.ndarray:
        fused = np.asarray(fused)
        if fused.shape != shape:
            raise MethodError(f"method {self.id!r} returned shape {fused.shape} for inputs of shape {shape}")
        bad = int(np.count_nonzero(~np.isfinite(fused)))
        if bad:
            raise MethodError(
                f"method {self.id!r} produced {bad} non-finite value(s) (NaN or inf) in a fused image of shape {shape}"
            )
        return np.clip(fused, 0.0, 1.0).astype(np.float32)

    def _require_fusing(self) -> None:
        if self.provides_images:
            raise MethodError(
                f"method {self.id!r} provides precomputed fused images and cannot fuse arrays; "
                f"read its images with fusionbench.methods.load_fused()"
            )

    # Precomputed methods ----------------------------------------------------------------------

    def fused_path(self, pair_id: str, dataset: str, split: str, data_root: str | Path | None) -> Path:
        """The file holding the fused image of ``pair_id`` (precomputed methods only)."""
        raise MethodError(f"method {self.id!r} fuses images itself; it has no precomputed fused files")


def check_planes(ir: Any, vis_y: Any, *, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    """Check that ``ir`` and ``vis_y`` are equal-shape float arrays of ``ndim`` dims on [0, 1].

    Returns both as contiguous ``float32``. Raises :class:`MethodError` saying what was expected.
    """
    layout = "(H, W)" if ndim == 2 else "(N, H, W)"
    out = []
    for role, x in (("IR", ir), ("VIS Y", vis_y)):
        x = np.asarray(x)
        if x.ndim != ndim:
            raise MethodError(f"{role}: expected a {layout} array, got shape {x.shape}")
        if x.dtype.kind != "f":
            raise MethodError(
                f"{role}: expected float pixels on [0, 1], got dtype {x.dtype} "
                f"(fusionbench.methods.fuse() converts uint8/uint16 images)"
            )
        if x.size == 0:
            raise MethodError(f"{role}: empty image of shape {x.shape}")
        if not np.isfinite(x).all():
            raise MethodError(f"{role}: contains NaN or infinite values")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise MethodError(f"{role}: expected values in [0, 1], got {lo:.6g}..{hi:.6g}")
        out.append(np.ascontiguousarray(x, dtype=np.float32))
    if out[0].shape != out[1].shape:
        raise MethodError(f"IR has shape {out[0].shape} but VIS Y has shape {out[1].shape}; expected equal shapes")
    return out[0], out[1]


class ClassicMethod(Method):
    """Base of the hand-designed methods: a dataclass whose fields are its parameters."""

    kind = "classic"

    def config(self) -> dict[str, Any]:
        if not is_dataclass(self):
            raise TypeError(f"{type(self).__name__} must be a dataclass to use ClassicMethod.config()")
        return {f.name: getattr(self, f.name) for f in fields(self)}


MethodFactory = Callable[..., Method]

#: Built-in and entry-point methods: id -> factory taking the method's options as keywords.
METHODS: Registry[MethodFactory] = Registry("method")

F = TypeVar("F", bound=MethodFactory)


def register_method(factory: F) -> F:
    """Class decorator: register a :class:`Method` subclass under its ``id``."""
    METHODS.add(factory.id, factory)  # type: ignore[attr-defined]
    name = getattr(factory, "name", None)
    if isinstance(name, str) and name:
        METHODS.alias(name, factory.id)  # type: ignore[attr-defined]  # the display name: "SIDM-Fusion"
    return factory


def parse_option(pair: str) -> tuple[str, Any]:
    """``"levels=3"`` -> ``("levels", 3)``: a method option, its value read as JSON and otherwise kept as text.

    Shared by ``fusionbench run --option KEY=VALUE`` and table specs ``id[key=value,...]``;
    raises ``ValueError`` when there is no ``=`` or no key.
    """
    key, eq, value = pair.partition("=")
    if not eq or not key.strip():
        raise ValueError(f"{pair!r}: expected KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value
