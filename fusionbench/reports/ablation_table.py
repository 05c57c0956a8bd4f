"""Table 2: ablation rows with check marks per block and metric means, best bold and second underlined.

The layout of the seed paper's Table 2: one row per group, the blocks (MEGB, Sobel, SBM, SDRB,
SPC-Net) as check-mark columns, then the metrics. Input: :func:`fusionbench.training.ablation.evaluate_rows`.
With several seeds per row a cell reads ``mean ± std`` over the seeds, marked ``*`` when the
Wilcoxon signed-rank test over the images against row 7 gives p < 0.05 and ``†`` when the
difference from row 7 also exceeds the seed-to-seed spread (a footnote says so).
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
        extra = [c for m in metric_ids for c in (f"{m}_p", f"{m}_beyond_seeds") if c in frame]
        columns = ["group", *BLOCKS, "n", *[c for c in ("seeds",) if c in frame], *metric_ids]
        out = frame[[*columns, *[f"{m}_std" for m in metric_ids], *extra]].copy()
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
        cells[header] = [_seed_cell(row, m, str(marks.at[i, m]), fmt, decimals) for i, row in frame.iterrows()]
    note = _footnote(frame, fmt)
    if fmt == "latex":
        styler = cells.style.hide(axis="index")
        column_format = "l" + "c" * (len(cells.columns) - 1)
        return styler.to_latex(column_format=column_format, hrules=True, caption=caption) + note
    return render_table(cells.to_dict(orient="records"), "markdown" if fmt == "markdown" else "text") + note


def _seed_cell(row: pd.Series, m: str, mark: str, fmt: str, decimals: int) -> str:
    """``mean ± std`` (over seeds, when there are several) with the best/second mark and the test marks."""
    several = "seeds" in row and int(row["seeds"]) > 1
    text = _cell(row[m], row[f"{m}_std"] if several else None, mark, fmt, decimals)
    significant = f"{m}_p" in row and row[f"{m}_p"] < 0.05
    beyond = f"{m}_beyond_seeds" in row and bool(row[f"{m}_beyond_seeds"])
    if fmt == "latex":
        marks = ("*" if significant else "") + (r"\dagger" if beyond else "")
        return text + (f"$^{{{marks}}}$" if marks else "")
    return text + ("*" if significant else "") + ("†" if beyond else "")


def _footnote(frame: pd.DataFrame, fmt: str) -> str:
    if "seeds" not in frame or int(frame["seeds"].max()) < 2:
        return ""
    text = (
        f"Mean ± std over {int(frame['seeds'].max())} training seeds per row. * Wilcoxon signed-rank test over the "
        "images (seed-averaged per-image values) against row 7: p < 0.05. † The difference from row 7 exceeds the "
        "seed-to-seed spread (|difference| > 2 sqrt((s^2 + s7^2) / seeds))."
    )
    return f"\n% {text}\n" if fmt == "latex" else f"\n\n{text}\n"
