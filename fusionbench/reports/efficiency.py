"""Render the efficiency table measured by :mod:`fusionbench.engine.efficiency`.

Columns: parameters, GFLOPs and CPU milliseconds per 480 x 640 pair, per method.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def render_efficiency(frame: pd.DataFrame, fmt: str = "markdown") -> str:
    """The efficiency table as ``csv``, ``markdown``, ``latex`` (booktabs) or ``text``."""
    from fusionbench.metrics.cards import render_table

    if fmt == "csv":
        return frame.to_csv(index=False, float_format="%.6g")
    shown = pd.DataFrame(
        {
            "Method": frame["method"],
            "Kind": frame["kind"],
            "Params": [f"{p:,}" if p else "-" for p in frame["params"]],
            "GFLOPs": ["-" if np.isnan(g) else f"{g:.1f}" for g in frame["gflops"]],
            "CPU ms / pair": [f"{t:.0f}" for t in frame["cpu_ms"]],
        }
    )
    if fmt == "latex":
        return shown.style.hide(axis="index").to_latex(column_format="llrrr", hrules=True)
    text = render_table(shown.to_dict(orient="records"), "markdown" if fmt == "markdown" else "text")
    size, threads = frame["size"].iloc[0], frame["threads"].iloc[0]
    return text + f"\n\nCPU time for one {size} pair, median of repeats, {threads} torch thread(s).\n"
