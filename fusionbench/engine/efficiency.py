"""Measure the efficiency table: parameters, FLOPs and CPU milliseconds per 480 x 640 pair, per method.

Learned methods report their network's parameter count, the FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` for one forward pass, and the median wall time of that
pass; classic methods the median wall time of :meth:`Method.fuse` (no parameters, FLOPs not
counted). Inputs are random planes of the requested size; the torch thread count is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd


def efficiency_table(
    methods: Sequence[str], height: int = 480, width: int = 640, repeats: int = 3, weights: str | None = None
) -> pd.DataFrame:
    """One row per method: ``method``, ``kind``, ``params``, ``gflops``, ``cpu_ms``, ``threads``.

    ``weights`` (a folder) is where learned methods look for their weight files.
    """
    import torch

    from fusionbench.methods import get_method
    from fusionbench.methods.learned import LearnedMethod

    rows = []
    for method_id in methods:
        method = get_method(method_id)
        if isinstance(method, LearnedMethod) and weights is not None:
            method.weights = weights
        if method.provides_images:
            raise ValueError(f"method {method.id!r} provides precomputed images: it has no cost to measure")
        if isinstance(method, LearnedMethod):
            cost = method.complexity(height, width, repeats)
            row = {"params": int(cost["params"]), "gflops": cost["gflops"], "cpu_ms": cost["ms"]}
        else:
            rng = np.random.default_rng(0)
            ir, vis = (rng.random((height, width), dtype=np.float32) for _ in range(2))
            method.fuse(ir, vis)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                method.fuse(ir, vis)
                times.append(time.perf_counter() - start)
            row = {"params": 0, "gflops": float("nan"), "cpu_ms": 1000 * float(np.median(times))}
        rows.append(
            {
                "method": method.name,
                "method_id": method.id,
                "kind": method.kind,
                **row,
                "threads": torch.get_num_threads(),
                "size": f"{height}x{width}",
            }
        )
    return pd.DataFrame(rows)
