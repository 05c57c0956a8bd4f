"""Plots of per-image metric values: sorted curves per method, bar charts of the means, tag splits.

Every function takes ``frames``, a mapping from a method's label to its per-image results (the
DataFrame :func:`fusionbench.run` returns: ``image``, one column per metric id, tag columns), and
returns a :class:`matplotlib.figure.Figure` with one subplot per metric.

- :func:`metric_curves`: each method's per-image values sorted ascending against their rank, the
  mean in the legend, as the MATLAB fusion toolkits plot them;
- :func:`metric_bars`: the mean per method with the standard deviation as an error bar;
- :func:`tag_bars`: the mean per method for each value of a tag column (MSRS ``tag``: day/night).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fusionbench.metrics import get_spec

Frames = Mapping[str, pd.DataFrame]
#: Line styles cycled with the colours, so that more than ten methods stay distinguishable.
_STYLES = ("-", "--", "-.", ":")


def _check(frames: Frames, metrics: Sequence[str]) -> list[str]:
    if not frames:
        raise ValueError("no methods to plot")
    metrics = list(metrics)
    if not metrics:
        raise ValueError("no metrics to plot")
    for label, frame in frames.items():
        missing = [m for m in metrics if m not in frame.columns]
        if missing:
            raise ValueError(f"{label}: no per-image values for metric(s) {', '.join(missing)}")
    return metrics


def _grid(count: int, cell: tuple[float, float] = (4.0, 3.0), max_cols: int = 3) -> tuple[Figure, list[Axes]]:
    cols = min(count, max_cols)
    rows = -(-count // cols)
    fig = Figure(figsize=(cell[0] * cols, cell[1] * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[count:]:
        ax.set_visible(False)
    return fig, axes[:count]


def _axis_label(metric: str) -> str:
    spec = get_spec(metric)
    return f"{spec.name} {'↑' if spec.higher_is_better else '↓'}"


def _colour(index: int, count: int) -> tuple[float, ...]:
    import matplotlib as mpl

    cmap = mpl.colormaps["tab10" if count <= 10 else "tab20"]
    return cmap(index % cmap.N)


def metric_curves(frames: Frames, metrics: Sequence[str], title: str | None = None) -> Figure:
    """Per metric, each method's per-image values sorted ascending; the legend gives each mean."""
    metrics = _check(frames, metrics)
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        for i, (label, frame) in enumerate(frames.items()):
            values = np.sort(frame[metric].dropna().to_numpy(dtype=float))
            ax.plot(
                np.arange(1, len(values) + 1),
                values,
                _STYLES[(i // 10) % len(_STYLES)],
                color=_colour(i, len(frames)),
                linewidth=1.2,
                label=f"{label} ({values.mean():.3f})" if len(values) else f"{label} (n/a)",
            )
        ax.set_title(_axis_label(metric), fontsize=10)
        ax.set_xlabel("image (sorted by value)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, title="method (mean)", title_fontsize=6, loc="best")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def metric_bars(frames: Frames, metrics: Sequence[str], title: str | None = None) -> Figure:
    """Per metric, a bar per method: the mean over images, the sample standard deviation as error bar."""
    metrics = _check(frames, metrics)
    labels = list(frames)
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        means = [frames[k][metric].mean() for k in labels]
        stds = [frames[k][metric].std(ddof=1) for k in labels]
        colours = [_colour(i, len(labels)) for i in range(len(labels))]
        ax.bar(np.arange(len(labels)), means, yerr=stds, color=colours, capsize=2, error_kw={"linewidth": 0.8})
        ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(_axis_label(metric), fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def tag_bars(frames: Frames, metrics: Sequence[str], by: str = "tag", title: str | None = None) -> Figure:
    """Per metric, grouped bars: for each method, the mean of each value of tag column ``by`` (day/night)."""
    metrics = _check(frames, metrics)
    missing = [k for k, f in frames.items() if by not in f.columns]
    if missing:
        raise ValueError(f"no tag column {by!r} in the results of {', '.join(missing)}")
    tags = sorted({str(t) for f in frames.values() for t in f[by].dropna().unique()})
    labels = list(frames)
    width = 0.8 / max(len(tags), 1)
    fig, axes = _grid(len(metrics))
    for ax, metric in zip(axes, metrics, strict=True):
        for j, tag in enumerate(tags):
            means = [frames[k].loc[frames[k][by].astype(str) == tag, metric].mean() for k in labels]
            ax.bar(np.arange(len(labels)) + (j - (len(tags) - 1) / 2) * width, means, width, label=tag)
        ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(_axis_label(metric), fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig
