"""fusionbench: the IR/VIS image-fusion benchmark suite.

The Python API mirrors the command line::

    import fusionbench
    frame = fusionbench.run("gff", "tno")                  # per-image metrics, one row per pair
    fusionbench.table(["gff", "lp"], ["tno", "msrs"])      # Table 1 means
    fused = fusionbench.fuse("gff", ir, vis)               # uint8 image as written to disk
    values = fusionbench.compute(fused, ir, vis)           # {"mi": ..., "vif": ..., ...}

Metrics live in :mod:`fusionbench.metrics`, datasets in :mod:`fusionbench.datasets`, methods in
:mod:`fusionbench.methods`. Heavy modules are imported on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "run": ("fusionbench.engine.runner", "run"),
    "table": ("fusionbench.api", "table"),
    "fuse": ("fusionbench.methods", "fuse"),
    "compute": ("fusionbench.metrics", "compute"),
}

__all__ = ["__version__", "compute", "fuse", "run", "table"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fusionbench' has no attribute {name!r}")
