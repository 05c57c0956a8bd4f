"""Table 2: ablation rows with check marks per block and metric means, best bold and second underlined.

The layout of the seed paper's Table 2: one row per group, the blocks (MEGB, Sobel, SBM, SDRB,
SPC-Net) as check-mark columns, then the metrics. Input: :func:`fusionbench.training.ablation.evaluate_rows`.
"""

from __future__ import annotations

import io

import pandas as pd

from fusionbench.metrics import get_spec
from fusionbench.metrics.cards import render_table
from fusionbench.reports.tables import FORMATS, _cell, rank_marks

BLOCKS = ("MEGB", "Sobel", "SBM", "SDRB", "SPC-Net")
CHECK = {"latex": r"\checkmark", "markdown": "✓", "text": "✓"}


def render_ablation(
    frame: pd.DataFrame, fmt: str = "markdown", *, decimals: int = 2, caption: str | None = None
) -> str:
    """Format Table 2 as ``csv`` (flags as 1/0, plain numbers), ``markdown``, ``latex`` (booktabs) or ``text``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    metric_ids = list(frame.attrs["metrics"])
    if fmt == "csv":
        out = frame[["group", *BLOCKS, "n", *metric_ids, *[f"{m}_std" for m in metric_ids], "fusion_params"]].copy()
        for block in BLOCKS:
            out[block] = out[block].astype(int)
        buffer = io.StringIO()
        out.to_csv(buffer, index=False, float_format="%.6g")
        return buffer.getvalue()

    ranked = frame.assign(dataset="all")
    marks = rank_marks(ranked, metric_ids, ["dataset"], decimals)
    cells = pd.DataFrame(index=frame.index)
    cells["Group"] = frame["group"].str.upper().str.replace("G", "", regex=False)
    for block in BLOCKS:
        cells[block] = frame[block].map(lambda on: CHECK[fmt] if on else "")
    for m in metric_ids:
        spec = get_spec(m)
        if fmt == "latex":
            arrow = r"\uparrow" if spec.higher_is_better else r"\downarrow"
            inner = (
                spec.latex[1:-1]
                if spec.latex.startswith("$") and spec.latex.endswith("$")
                else rf"\mathrm{{{spec.latex}}}"
            )
            header = f"${inner}{arrow}$"
        else:
            header = f"{spec.name} {'↑' if spec.higher_is_better else '↓'}"
        cells[header] = [_cell(frame.at[i, m], None, marks.at[i, m], fmt, decimals) for i in frame.index]
    if fmt == "latex":
        styler = cells.style.hide(axis="index")
        column_format = "l" + "c" * (len(cells.columns) - 1)
        return styler.to_latex(column_format=column_format, hrules=True, caption=caption)
    return render_table(cells.to_dict(orient="records"), "markdown" if fmt == "markdown" else "text")
