"""The HTML report: one self-contained file with Table 1, figures, plots, per-image tables and manifests.

:func:`build_report` gathers every method's run on every dataset from a result source
(:class:`~fusionbench.reports.sources.ResultSource`; the CLI's reads the run cache and computes only
what is missing) and renders
``templates/report.html.j2`` with jinja2. Tables are rendered by pandas' Styler; figures and plots
are embedded as ``data:`` URIs, so the file needs no server and no folder beside it. The per-image
tables sort by a click on a column header (a few lines of vanilla JavaScript in the template).

Sections: Table 1 (means per dataset and method, best in bold, second underlined, per dataset and
metric in the metric's direction), the comparison figure of one pair per dataset, per-image metric
curves and bar charts, per-tag breakdowns (MSRS day/night), the per-image tables, the efficiency
table, and the run manifests (versions, method config and cache key, weights hash, dataset version).

Everything a user, a file name or a dataset supplies (title, method and dataset names, pair ids,
folder paths, manifests) is HTML-escaped: the jinja environment autoescapes every value, and every
Styler table escapes its cells and headers (``escape="html"``) before it is marked safe. The only
script in the page is the template's own sorting code.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape
from matplotlib.figure import Figure

from fusionbench import __version__
from fusionbench.io import write_text_atomic
from fusionbench.metrics import get_spec, resolve_metrics
from fusionbench.protocols import get_protocol
from fusionbench.reports.sources import ResultSource, RunView
from fusionbench.reports.stats import add_statistics, significance
from fusionbench.reports.tables import (
    PARTIAL_MARK,
    ci_text,
    means_row,
    partial_counts,
    partial_footnote,
    rank_marks,
    significance_mark,
    split_names,
    statistics_note,
    win_tie_loss,
)

#: Efficiency sources: measure now, leave out, or read a CSV written by ``table --efficiency --format csv``.
EFFICIENCY_MEASURE = "measure"
EFFICIENCY_NONE = "none"


@dataclass
class Section:
    """One dataset's part of the report."""

    dataset: str
    pair: str
    figure: str  # data URI of the comparison figure
    boxes: str
    plots: list[tuple[str, str]] = field(default_factory=list)  # (caption, data URI)
    tag_table: Markup | None = None
    per_image: list[tuple[str, Markup]] = field(default_factory=list)  # (metric name, table)


def figure_uri(fig: Figure, fmt: str = "png", dpi: int = 100) -> str:
    """``fig`` as a ``data:`` URI (``png``, or ``jpeg`` for photographs)."""
    buffer = io.BytesIO()
    options: dict[str, Any] = {"pil_kwargs": {"quality": 88}} if fmt == "jpeg" else {}
    fig.savefig(buffer, format=fmt, dpi=dpi, **options)
    return f"data:image/{fmt};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def summary_rows(
    runs: Mapping[str, Sequence[RunView]],
    metrics: Sequence[str],
    by: str | None = None,
    *,
    ci: bool = False,
    versus: str | None = None,
) -> pd.DataFrame:
    """Means and standard deviations per (dataset, method[, tag]) in :func:`fusionbench.table`'s layout.

    ``ci`` and ``versus`` add the statistics columns as :func:`fusionbench.table` does.
    """
    rows: list[dict[str, Any]] = []
    parts: list[pd.DataFrame] = []
    for dataset, results in runs.items():
        for result in results:
            frame = result.frame
            if by is not None and by not in frame.columns:
                continue
            groups = frame.groupby(by, sort=True) if by is not None else [(None, frame)]
            for tag, part in groups:
                row: dict[str, Any] = {"dataset": dataset, "method": result.method.name, "method_id": result.method.id}
                if by is not None:
                    row[by] = tag
                rows.append({**row, **means_row(part, metrics)})
                parts.append(part)
    table = pd.DataFrame(rows)
    if (ci or versus is not None) and not table.empty:
        groups = ["dataset"] + ([by] if by is not None else [])
        table = add_statistics(table, dict(enumerate(parts)), metrics, groups, ci=ci, versus=versus)
    if by is not None and not table.empty:
        table = table.sort_values(["dataset", by], kind="stable").reset_index(drop=True)
    return table


def marked_table(
    summary: pd.DataFrame, metrics: Sequence[str], by: str | None = None, decimals: int = 2, css: str = "table1"
) -> Markup:
    """A Table-1-style HTML table: best per group and metric in bold (class ``best``), second
    underlined (class ``second``), in each metric's direction, on the values as shown. A mean over
    fewer values than pairs (NaN values left out) is marked and explained in a footnote."""
    groups = ["dataset"] + ([by] if by else [])
    marks = rank_marks(summary, metrics, groups, decimals)
    partial = partial_counts(summary, metrics)
    labels = {"dataset": "Dataset", "method": "Method", "n": "Pairs"}
    if by:
        labels[by] = by.capitalize()
    shown = summary[[*groups, "method", "n"]].rename(columns=labels)
    classes = pd.DataFrame("", index=summary.index, columns=shown.columns)
    for m in metrics:
        header = _metric_header(m)
        shown[header] = [
            "n/a"
            if pd.isna(v)
            else f"{v:.{decimals}f}"
            + ci_text(summary.loc[i], m, "html", decimals)
            + significance_mark(significance(summary.loc[i], m), "html")
            + (PARTIAL_MARK if partial.at[i, m] else "")
            for i, v in zip(summary.index, summary[m], strict=True)
        ]
        classes[header] = marks[m]
    if any(f"{m}_win" in summary.columns for m in metrics):
        shown["W/T/L"] = [win_tie_loss(summary.loc[i], metrics) for i in summary.index]
        classes["W/T/L"] = ""
    styler = shown.style.hide(axis="index").format(escape="html").format_index(escape="html", axis=1)
    html = styler.set_td_classes(classes).to_html(table_attributes=f'class="marked {css}"')
    note = " ".join(
        filter(None, [partial_footnote(summary, metrics, [*groups, "method"]), statistics_note(summary, metrics)])
    )
    return Markup(html) + (Markup('<p class="meta footnote">{}</p>').format(note) if note else "")


def _metric_header(metric: str) -> str:
    spec = get_spec(metric)
    return f"{spec.name} {'↑' if spec.higher_is_better else '↓'}"


def per_image_table(results: Sequence[RunView], metric: str, decimals: int = 4) -> Markup:
    """One metric's per-image values: a row per image, a column per method; sortable in the browser."""
    first = results[0].frame
    tags = [c for c in first.columns if c == "tag"]
    table = first[["image", *tags]].copy()
    for result in results:
        values = result.frame.set_index("image")[metric]
        table[result.method.name] = table["image"].map(values)
    return _bare_table(table, "sortable per-image", decimals)


def _bare_table(frame: pd.DataFrame, css: str, decimals: int = 2) -> Markup:
    """``frame`` as a table without per-cell ids and styles (compact for long tables), of class ``css``;
    cells and column headers are HTML-escaped (they hold method names and file names)."""
    styler = frame.style.hide(axis="index").format(precision=decimals, na_rep="n/a", escape="html")
    html = styler.format_index(escape="html", axis=1).to_html(exclude_styles=True)
    return Markup(html.replace("<table>", f'<table class="{escape(css)}">', 1))


def efficiency_html(
    source: str, methods: Sequence[RunView], results: ResultSource | None = None
) -> tuple[Markup | None, str]:
    """The efficiency table and a note on where it came from: measured now (by ``results``), read from a
    CSV, or none."""
    if source == EFFICIENCY_NONE:
        return None, "left out (--efficiency none)"
    if source == EFFICIENCY_MEASURE:
        fusing = list(dict.fromkeys(r.method.id for r in methods if not r.method.provides_images))
        if not fusing:
            return None, "no fusing methods: published and folder results have no cost to measure"
        if results is None:
            raise ValueError("measuring the efficiency table needs a result source")
        frame = results.efficiency(fusing)
        note = "measured while this report was made"
    else:
        path = Path(source)
        frame = pd.read_csv(path)
        missing = {"method", "params", "gflops", "cpu_ms"} - set(frame.columns)
        if missing:
            raise ValueError(
                f"{path}: not an efficiency CSV ('fusionbench table --efficiency --format csv'): "
                f"no column(s) {', '.join(sorted(missing))}"
            )
        note = f"read from {path.name}"
    shown = pd.DataFrame(
        {
            "Method": frame["method"],
            "Params": [f"{int(p):,}" if p else "-" for p in frame["params"]],
            "GFLOPs": ["-" if pd.isna(g) else f"{g:.1f}" for g in frame["gflops"]],
            "CPU ms / pair": [f"{t:.0f}" for t in frame["cpu_ms"]],
        }
    )
    if {"size", "threads"} <= set(frame.columns):
        note += f"; one {frame['size'].iloc[0]} pair, median of repeats, {frame['threads'].iloc[0]} torch thread(s)"
    return _bare_table(shown, "sortable efficiency"), note


def manifest_rows(runs: Mapping[str, Sequence[RunView]]) -> list[dict[str, Any]]:
    """One row per run: what produced its numbers (versions, config, hashes) and its full manifest."""
    rows = []
    for dataset, results in runs.items():
        for result in results:
            m = result.manifest
            method = m.get("method", {})
            env = m.get("environment", {})
            rows.append(
                {
                    "dataset": dataset,
                    "method": method.get("name", result.method.name),
                    "config": ", ".join(f"{k}={v}" for k, v in (method.get("config") or {}).items()) or "-",
                    "cache_key": method.get("cache_key", ""),
                    "weights": (method.get("weights_sha256") or "-")[:16],
                    "dataset_version": str(m.get("dataset", {}).get("version", "")),
                    "fusionbench": m.get("fusionbench", ""),
                    "git": (env.get("git_sha") or "-")[:12],
                    "torch": env.get("torch", ""),
                    "started": m.get("started", ""),
                    "json": json.dumps(m, indent=2, sort_keys=True, default=str),
                }
            )
    return rows


def dataset_section(
    source: ResultSource,
    dataset: str,
    results: Sequence[RunView],
    method_ids: Sequence[str],
    metrics: Sequence[str],
    pair: str | None,
    boxes: str,
) -> Section:
    """One dataset's part: the comparison figure of ``pair`` (default: the first), the plots, the
    per-tag table (datasets with tags) and the per-image tables."""
    from fusionbench.reports.figures import comparison
    from fusionbench.reports.plots import metric_bars, metric_curves, tag_bars

    pair = pair or str(results[0].frame["image"].iloc[0])
    fig, chosen = comparison(source, dataset, pair, ["ir", "vis", *method_ids], boxes=boxes)
    frames = {r.method.name: r.frame for r in results}
    section = Section(
        dataset=dataset,
        pair=pair,
        figure=figure_uri(fig, "jpeg", dpi=110),
        boxes="; ".join(str(b) for b in chosen) or "none",
    )
    section.plots.append((f"{dataset}: per-image values, sorted", figure_uri(metric_curves(frames, metrics))))
    section.plots.append((f"{dataset}: mean ± std per method", figure_uri(metric_bars(frames, metrics))))
    if all("tag" in f.columns for f in frames.values()):
        section.plots.append((f"{dataset}: mean per tag", figure_uri(tag_bars(frames, metrics))))
        tags = summary_rows({dataset: results}, metrics, by="tag")
        section.tag_table = marked_table(tags, metrics, by="tag", css="tag-table")
    section.per_image = [(_metric_header(m), per_image_table(results, m)) for m in metrics]
    return section


def build_report(
    source: ResultSource,
    methods: str | Sequence[str],
    datasets: str | Sequence[str],
    *,
    pairs: Mapping[str, str] | None = None,
    boxes: str = "auto",
    efficiency: str = EFFICIENCY_MEASURE,
    title: str = "fusionbench report",
    ci: bool = False,
    versus: str | None = None,
    protocol: str | None = None,
) -> str:
    """The report as one HTML string (see the module docstring for its sections).

    ``pairs`` maps a dataset to the pair of its comparison figure (default: its first pair);
    ``boxes`` is as for ``fusionbench figure``; ``efficiency`` is ``"measure"``, ``"none"`` or a CSV path;
    ``ci`` and ``versus`` add confidence intervals and paired tests to Table 1 (as ``fusionbench table``);
    ``protocol`` fixes the convention, method options and pairs (:mod:`fusionbench.protocols`).
    """
    method_ids = split_names(methods, "--methods")
    dataset_ids = split_names(datasets, "--datasets")
    unknown = set(pairs or {}) - set(dataset_ids)
    if unknown:
        raise ValueError(f"--pairs names dataset(s) {', '.join(sorted(unknown))} not in --datasets")
    metrics = resolve_metrics(source.metrics)
    runs = {d: [source.run(m, d, protocol=protocol) for m in method_ids] for d in dataset_ids}

    sections = [
        dataset_section(source, dataset, results, method_ids, metrics, (pairs or {}).get(dataset), boxes)
        for dataset, results in runs.items()
    ]
    all_results = [r for results in runs.values() for r in results]
    efficiency_table, efficiency_note = efficiency_html(efficiency, all_results, source)
    # autoescape=True: the template is report.html.j2, which select_autoescape()'s extension test misses.
    env = Environment(loader=PackageLoader("fusionbench.reports", "templates"), autoescape=True)
    return env.get_template("report.html.j2").render(
        title=title,
        version=__version__,
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        convention=get_protocol(protocol).convention if protocol else source.convention,
        split=source.split,
        methods=[r.method.name for r in runs[dataset_ids[0]]],
        datasets=dataset_ids,
        metrics=[_metric_header(m) for m in metrics],
        table1=marked_table(summary_rows(runs, metrics, ci=ci, versus=versus), metrics),
        sections=sections,
        efficiency=efficiency_table,
        efficiency_note=efficiency_note,
        manifests=manifest_rows(runs),
    )


def parse_pairs(text: str | None) -> dict[str, str]:
    """``"msrs:00537D,tno:05"`` -> ``{"msrs": "00537D", "tno": "05"}``."""
    result: dict[str, str] = {}
    for part in (p.strip() for p in (text or "").split(",")):
        if not part:
            continue
        dataset, colon, pair = part.partition(":")
        if not colon or not dataset.strip() or not pair.strip():
            raise ValueError(f"--pairs: {part!r} is not DATASET:PAIR (e.g. msrs:00537D)")
        result[dataset.strip()] = pair.strip()
    return result


def write_report(html: str, path: str | Path) -> Path:
    """Write the report atomically; the folder must exist."""
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {path.parent} does not exist")
    write_text_atomic(path, html)
    return path
