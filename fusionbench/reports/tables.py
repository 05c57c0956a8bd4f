"""Table 1: methods x datasets x metrics, best in bold and second underlined, as CSV, Markdown, LaTeX.

:func:`summarize` makes the means from the per-image results of runs (:func:`fusionbench.table`
collects them from the run cache, running what is missing); :func:`render` formats them. Best and
second are chosen per dataset (and tag) and per metric, in the direction the metric's spec gives
(``higher_is_better``), on the values as shown (rounded to ``decimals``), so equal printed values
share a mark.

A mean is over the values that are not NaN (a metric undefined on a pair, e.g. VIF of a constant
image). Where that is fewer than the pairs of the split, :func:`summarize` says so in ``<id>_n`` and
:func:`render` marks the cell with :data:`PARTIAL_MARK` and adds a footnote saying over how many.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fusionbench.methods.base import parse_option
from fusionbench.metrics import get_spec
from fusionbench.metrics.cards import render_table
from fusionbench.reports.stats import ALPHA, add_statistics, significance

FORMATS = ("csv", "markdown", "latex", "text")
#: Marks a mean over fewer values than the split has pairs (NaN values left out); see the footnote.
PARTIAL_MARK = "\u2020"


def split_list(text: str) -> list[str]:
    """Split a comma-separated list, keeping commas inside ``[...]`` (``a,sidm[x=1,y=2]`` -> 2 items)."""
    return [part for part in re.split(r",(?![^\[]*\])", text)]


def split_names(names: str | Sequence[str], option: str | None = None) -> list[str]:
    """Names from a comma-separated string (:func:`split_list`) or a sequence: stripped, empty ones
    dropped, duplicates dropped in order; a ValueError (naming ``option``) when none is left."""
    if isinstance(names, str):
        names = split_list(names)
    result = [n.strip() for n in names if n and n.strip()]
    if not result:
        raise ValueError(f"{option}: no names given" if option else "no names given")
    return list(dict.fromkeys(result))


def split_dataset_limit(spec: str) -> tuple[str, set[str] | None]:
    """``"published:piafusion@tno"`` -> ``("published:piafusion", {"tno"})``; no ``@``: all datasets.

    ``@`` limits a method to some datasets (``+``-separated: ``m@tno+msrs``), for methods whose fused
    images exist only for those (published results).
    """
    method_id, at, limit = spec.rpartition("@") if "@" in spec else (spec, "", "")
    if not at:
        return spec, None
    names = {n.strip() for n in limit.split("+") if n.strip()}
    if not method_id.strip() or not names:
        raise ValueError(f"method {spec!r}: expected 'id@dataset[+dataset...]'")
    return method_id.strip(), names


def split_method_options(spec: str) -> tuple[str, dict[str, Any]]:
    """``"seafusion[stretch=false]"`` -> ``("seafusion", {"stretch": False})``; no brackets: no options.

    Values are read as JSON (``3``, ``true``, ``"text"``) and otherwise kept as strings; several
    options are comma-separated: ``sidm[ablation=g3,width=lite]``.
    """
    spec = spec.strip()
    if not spec.endswith("]") or "[" not in spec:
        return spec, {}
    method_id, _, inner = spec[:-1].partition("[")
    options: dict[str, Any] = {}
    for pair in (p.strip() for p in inner.split(",") if p.strip()):
        try:
            key, value = parse_option(pair)
        except ValueError:
            raise ValueError(f"method {spec!r}: expected 'id[key=value,...]'") from None
        options[key] = value
    return method_id.strip(), options


@dataclass(frozen=True)
class TableRun:
    """One method's per-image results on one dataset, as a row of Table 1 is made from them."""

    dataset: str
    method: str  # the row's label: display name, with the options it was run with
    method_id: str  # as given, options included (``seafusion[stretch=false]``)
    frame: pd.DataFrame  # one row per image: image[, tag], one column per metric


def method_label(name: str, options: dict[str, Any]) -> str:
    """``"SeAFusion (stretch=False)"``: a method's display name and the options it was run with."""
    return f"{name} ({', '.join(f'{k}={v}' for k, v in options.items())})" if options else name


def summarize(
    runs: Sequence[TableRun],
    metric_ids: Sequence[str],
    *,
    by: str | None = None,
    ci: bool = False,
    versus: str | None = None,
    protocol: str | None = None,
) -> pd.DataFrame:
    """Mean metric values per (dataset, method[, tag]) of ``runs`` (made by :func:`fusionbench.table`).

    Returns a DataFrame with columns ``dataset``, ``method`` (display name), ``method_id``,
    [``by``], ``n`` (pairs) and, per metric id, the mean, ``<id>_std`` (sample standard deviation)
    and ``<id>_n`` (how many values the mean is over: ``n`` less the NaN values).

    ``ci=True`` adds ``<id>_ci_low``/``<id>_ci_high``, the 95 % bootstrap confidence interval of each
    mean; ``versus="average"`` adds, against that method's row of the same dataset (and tag),
    ``<id>_p`` (paired Wilcoxon signed-rank over the images), ``<id>_p_holm`` (Holm-adjusted over the
    dataset's comparisons) and ``<id>_win``/``_tie``/``_loss`` (see :mod:`fusionbench.reports.stats`).
    """
    metric_ids = list(metric_ids)
    rows: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []  # each row's per-image values, for the statistics
    for run in runs:
        for tag, part in _tag_groups(run, by):
            row: dict[str, Any] = {"dataset": run.dataset, "method": run.method, "method_id": run.method_id}
            if by is not None:
                row[by] = tag
            rows.append({**row, **means_row(part, metric_ids)})
            parts.append(part)
    result = pd.DataFrame(rows)
    if ci or versus is not None:
        group_cols = ["dataset"] + ([by] if by is not None else [])
        result = add_statistics(result, dict(enumerate(parts)), metric_ids, group_cols, ci=ci, versus=versus)
    if by is not None:  # group the tags of a dataset together, methods in the order given
        result = result.sort_values(["dataset", by], kind="stable", key=_keep_first_seen_order).reset_index(drop=True)
    result.attrs.update(metrics=metric_ids, by=by, ci=ci, versus=versus, protocol=protocol)
    return result


def _tag_groups(run: TableRun, by: str | None) -> list[tuple[Any, pd.DataFrame]]:
    """``[(None, frame)]``, or one ``(tag, rows)`` per value of the ``by`` column."""
    if by is None:
        return [(None, run.frame)]
    if by not in run.frame.columns:
        raise ValueError(f"dataset {run.dataset!r} has no tag column {by!r} (columns: {list(run.frame.columns)})")
    return [(tag, part) for tag, part in run.frame.groupby(by, sort=True)]


def means_row(part: pd.DataFrame, metric_ids: Sequence[str]) -> dict[str, Any]:
    """``n`` (pairs) and, per metric, the mean, ``<id>_std`` and ``<id>_n`` (values that are not NaN)."""
    row: dict[str, Any] = {"n": len(part)}
    for m in metric_ids:
        row[m] = part[m].mean()
        row[f"{m}_std"] = part[m].std(ddof=1)
        row[f"{m}_n"] = int(part[m].count())
    return row


def partial_counts(frame: pd.DataFrame, metric_ids: Sequence[str]) -> pd.DataFrame:
    """Per cell, True where the mean is over fewer values than ``n`` (needs ``<id>_n``; else all False)."""
    partial = pd.DataFrame(False, index=frame.index, columns=list(metric_ids))
    for m in metric_ids:
        if f"{m}_n" in frame.columns and "n" in frame.columns:
            partial[m] = frame[f"{m}_n"] < frame["n"]
    return partial


def partial_footnote(frame: pd.DataFrame, metric_ids: Sequence[str], label_cols: Sequence[str]) -> str:
    """One line naming every mean that is not over the full split, or "" when there is none.

    Grouped by dataset (the first label column) and count: ``msrs: Target contrast kept, Roughness
    over 126 of 142 pairs (every row)``; rows are named where only some of the dataset's share it.
    """
    partial = partial_counts(frame, metric_ids)
    rows_of: dict[str, list[str]] = {}
    shared: dict[tuple[str, int, int], dict[str, list[str]]] = {}  # (dataset, valid, n) -> metric -> rows
    for i, row in frame.iterrows():
        head, rest = str(row[label_cols[0]]), " / ".join(str(row[c]) for c in label_cols[1:])
        rows_of.setdefault(head, []).append(rest)
        for m in metric_ids:
            if partial.at[i, m]:
                key = (head, int(row[f"{m}_n"]), int(row["n"]))
                shared.setdefault(key, {}).setdefault(get_spec(m).name, []).append(rest)
    cells = []
    for (head, valid, n), by_metric in shared.items():
        metrics_by_rows: dict[tuple[str, ...], list[str]] = {}
        for metric, rows in by_metric.items():
            metrics_by_rows.setdefault(tuple(rows), []).append(metric)
        for rows, metrics in metrics_by_rows.items():
            who = "every row" if list(rows) == rows_of[head] else "; ".join(rows)
            where = f" ({who})" if len(label_cols) > 1 else ""
            cells.append(f"{head}: {', '.join(metrics)} over {valid} of {n} pairs{where}")
    if not cells:
        return ""
    return f"{PARTIAL_MARK} mean of the values that are not NaN (the metric is undefined on the other pairs): " + (
        "; ".join(cells)
    )


def _keep_first_seen_order(column: pd.Series) -> pd.Series:
    order = {value: i for i, value in enumerate(dict.fromkeys(column))}
    return column.map(order)


def rank_marks(
    frame: pd.DataFrame, metric_ids: Sequence[str], group_cols: Sequence[str], decimals: int = 2
) -> pd.DataFrame:
    """``best`` / ``second`` / ``""`` per cell, per group and metric, direction-aware, on rounded values."""
    marks = pd.DataFrame("", index=frame.index, columns=list(metric_ids))
    for _, part in frame.groupby(list(group_cols), sort=False):
        for m in metric_ids:
            values = part[m].round(decimals)
            distinct = sorted(values.dropna().unique(), reverse=get_spec(m).higher_is_better)
            if len(part) < 2 or not distinct:
                continue
            marks.loc[values.index[values == distinct[0]], m] = "best"
            if len(distinct) > 1:
                marks.loc[values.index[values == distinct[1]], m] = "second"
    return marks


def render(
    frame: pd.DataFrame,
    fmt: str = "markdown",
    *,
    decimals: int = 2,
    std: bool = False,
    caption: str | None = None,
) -> str:
    """Format a :func:`table` result: ``csv`` (plain numbers), ``markdown``, ``latex`` (booktabs), ``text``."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    metric_ids = list(frame.attrs.get("metrics") or [c for c in frame.columns if f"{c}_std" in frame.columns])
    by = frame.attrs.get("by")
    group_cols = ["dataset"] + ([by] if by else [])
    label_cols = ["dataset"] + ([by] if by else []) + ["method"]
    if fmt == "csv":
        return _csv(frame, label_cols, metric_ids, std)

    marks = rank_marks(frame, metric_ids, group_cols, decimals)
    partial = partial_counts(frame, metric_ids)
    cells = pd.DataFrame(index=frame.index)
    for col in label_cols:
        cells[_header(col, fmt)] = frame[col].astype(str).map(lambda s: _escape(s, fmt))
    for m in metric_ids:
        cells[_metric_header(m, fmt)] = [
            _cell(row[m], row[f"{m}_std"] if std else None, str(marks.at[i, m]), fmt, decimals)
            + ci_text(row, m, fmt, decimals)
            + significance_mark(significance(row, m), fmt)
            + (_partial_mark(fmt) if partial.at[i, m] else "")
            for i, row in frame.iterrows()
        ]
    if _has(frame, metric_ids, "_win"):
        cells["W/T/L"] = [win_tie_loss(frame.loc[i], metric_ids) for i in frame.index]
    # Show each dataset (and tag) name only on its first row.
    for col in label_cols[:-1]:
        header = _header(col, fmt)
        repeated = frame[col].astype(str).eq(frame[col].astype(str).shift())
        if col != "dataset":
            repeated &= frame["dataset"].astype(str).eq(frame["dataset"].astype(str).shift())
        cells.loc[repeated, header] = ""
    note = " ".join(filter(None, [partial_footnote(frame, metric_ids, label_cols), statistics_note(frame, metric_ids)]))
    if fmt == "latex":
        return _latex(cells, frame, caption, _escape(note, fmt).replace(PARTIAL_MARK, r"$^\dagger$"))
    rows = cells.to_dict(orient="records")
    table = render_table(rows, "markdown" if fmt == "markdown" else "text")
    return table if not note else f"{table.rstrip()}\n\n{note}\n"


def _csv(frame: pd.DataFrame, label_cols: list[str], metric_ids: list[str], std: bool) -> str:
    """Plain numbers; ``<id>_n`` columns for the metrics whose means are not all over the full split."""
    partial = partial_counts(frame, metric_ids)
    columns = [*label_cols, "n"]
    for m in metric_ids:
        columns += [m, f"{m}_std"] if std else [m]
        if partial[m].any():
            columns.append(f"{m}_n")
        columns += [f"{m}{s}" for s in STAT_SUFFIXES if f"{m}{s}" in frame.columns]
    buffer = io.StringIO()
    frame[columns].to_csv(buffer, index=False, float_format="%.6g")
    return buffer.getvalue()


#: The statistics columns of :mod:`fusionbench.reports.stats` a CSV carries, in this order after each metric.
STAT_SUFFIXES = ("_ci_low", "_ci_high", "_p", "_p_holm", "_win", "_tie", "_loss")


def _has(frame: pd.DataFrame, metric_ids: Sequence[str], suffix: str) -> bool:
    return any(f"{m}{suffix}" in frame.columns for m in metric_ids)


def ci_text(row: pd.Series, metric: str, fmt: str, decimals: int) -> str:
    """`` [low, high]`` (LaTeX: in small type) where the row has a confidence interval, else ``""``."""
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return ""
    text = f"[{low:.{decimals}f}, {high:.{decimals}f}]"
    return rf"\,{{\scriptsize {text}}}" if fmt == "latex" else f" {text}"


def significance_mark(direction: str, fmt: str) -> str:
    """A significant difference from the reference: ``+`` (better) or ``-`` (worse), superscript in LaTeX."""
    if not direction:
        return ""
    sign = "+" if direction == "better" else "-"
    return f"$^{{{sign}}}$" if fmt == "latex" else f" ({sign})"


def win_tie_loss(row: pd.Series, metric_ids: Sequence[str]) -> str:
    """Wins/ties/losses against the reference, summed over the metrics ("" on the reference's row)."""
    if all(pd.isna(row.get(f"{m}_p")) for m in metric_ids):
        return ""
    totals = [int(sum(row.get(f"{m}{s}", 0) for m in metric_ids)) for s in ("_win", "_tie", "_loss")]
    return "/".join(map(str, totals))


def statistics_note(frame: pd.DataFrame, metric_ids: Sequence[str]) -> str:
    """The footnote explaining the confidence intervals and significance marks ("" when there are none)."""
    notes = []
    if _has(frame, metric_ids, "_ci_low"):
        notes.append("[low, high]: 95 % bootstrap (BCa) confidence interval of the mean.")
    versus = frame.attrs.get("versus")
    if _has(frame, metric_ids, "_p_holm"):
        notes.append(
            f"(+)/(-): significantly better/worse than {versus or 'the reference'} (paired Wilcoxon signed-rank "
            f"test over the images, Holm-adjusted p < {ALPHA} over the dataset's comparisons); "
            "W/T/L: images where the method is better/equal/worse, summed over the metrics."
        )
    return " ".join(notes)


def _metric_header(metric: str, fmt: str) -> str:
    spec = get_spec(metric)
    arrow = "\u2191" if spec.higher_is_better else "\u2193"
    if fmt != "latex":
        return f"{spec.name} {arrow}"
    arrow_tex = r"\uparrow" if spec.higher_is_better else r"\downarrow"
    inner = spec.latex[1:-1] if spec.latex.startswith("$") and spec.latex.endswith("$") else rf"\mathrm{{{spec.latex}}}"
    return f"${inner}{arrow_tex}$"


def _partial_mark(fmt: str) -> str:
    return r"$^\dagger$" if fmt == "latex" else PARTIAL_MARK


def _header(col: str, fmt: str) -> str:
    return {"dataset": "Dataset", "method": "Method", "tag": "Tag"}.get(col, col)


#: LaTeX's special characters and what stands for each in text (one pass, so no replacement is re-escaped).
_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "_": r"\_",
    "#": r"\#",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(c) for c in _LATEX_SPECIAL))


def _escape(text: str, fmt: str) -> str:
    """``text`` as LaTeX text (every special character escaped, so a name cannot form a command)."""
    if fmt != "latex":
        return text
    return _LATEX_PATTERN.sub(lambda m: _LATEX_SPECIAL[m.group(0)], text)


def _cell(value: float, std: float | None, mark: str, fmt: str, decimals: int) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "--" if fmt == "latex" else "n/a"
    text = f"{value:.{decimals}f}"
    if std is not None and not np.isnan(std):
        text += (r" $\pm$ " if fmt == "latex" else " ± ") + f"{std:.{decimals}f}"
    if mark == "best":
        return {"latex": rf"\textbf{{{text}}}", "markdown": f"**{text}**"}.get(fmt, f"{text} *")
    if mark == "second":
        return {"latex": rf"\underline{{{text}}}", "markdown": f"<u>{text}</u>"}.get(fmt, f"{text} _")
    return text


def _latex(cells: pd.DataFrame, frame: pd.DataFrame, caption: str | None, note: str = "") -> str:
    styler = cells.style.hide(axis="index")
    n_label = sum(1 for c in cells.columns if c in ("Dataset", "Tag", "Method"))
    column_format = "l" * n_label + "c" * (len(cells.columns) - n_label)
    latex = styler.to_latex(column_format=column_format, hrules=True, caption=caption)
    # A \midrule between datasets, as in the paper's Table 1.
    lines = latex.splitlines()
    out: list[str] = []
    body_started = False
    previous = None
    datasets = iter(frame["dataset"].astype(str).tolist())
    for line in lines:
        if line.strip() == r"\midrule":
            body_started = True
            out.append(line)
            continue
        if body_started and line.rstrip().endswith(r"\\"):
            current = next(datasets, None)
            if previous is not None and current != previous:
                out.append(r"\midrule")
            previous = current
        out.append(line)
    if note:  # under the tabular, inside the table environment when there is one
        at = next((i for i, line in enumerate(out) if line.startswith(r"\end{table}")), len(out))
        out.insert(at, rf"\par\smallskip{{\footnotesize {note}}}")
    return "\n".join(out) + "\n"
