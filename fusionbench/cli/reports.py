"""The ``figure``, ``plot`` and ``report`` commands .

::

    fusionbench figure --dataset msrs --pair 00537D --methods ir,vis,u2fusion,seafusion [--boxes auto] [--out fig.pdf]
    fusionbench figure --dataset msrs --pair 00537D --methods ir,vis,sidm --ablation g1..g7     # Figure 7
    fusionbench plot --dataset msrs --methods gff,lp --kind curves|bars|tags --out curves.pdf
    fusionbench report --methods gff,lp --datasets tno,msrs --out report.html

All of them read the cached runs under the output folder (``--cache``, else ``$FUSIONBENCH_OUT``,
else ``./fusionbench-out``) and run only what is missing, as ``fusionbench table`` does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from fusionbench.cli.common import cache_option, check_output, data_root_option, user_errors, weights_option
from fusionbench.engine.results import CachedResults


def results_options(func: Callable[..., None]) -> Callable[..., None]:
    """The options every command here shares (where the data and the cached runs are), handed to the
    command as one ``results`` argument: the :class:`CachedResults` they describe."""

    @functools.wraps(func)
    def command(
        split: str,
        data_root: Path | None,
        cache: Path | None,
        convention: str,
        workers: int,
        progress: bool | None,
        **kwargs: Any,
    ) -> None:
        results = CachedResults(
            split=split, data_root=data_root, out=cache, convention=convention, workers=workers, progress=progress
        )
        func(results=results, **kwargs)

    options = [
        click.option("--split", default="test", show_default=True),
        data_root_option,
        cache_option,
        click.option("--convention", default="tang", show_default=True, help="Metric convention of the runs."),
        click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="For missing runs."),
        weights_option(),
        click.option(
            "--progress/--no-progress",
            default=None,
            help="Progress bars of the missing runs (default: only when stderr is a terminal).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.command("figure")
@click.option("--dataset", required=True, help="Dataset id: tno, msrs, roadscene, demo.")
@click.option("--pair", "pair_id", required=True, help="Pair id (file stem), e.g. 00537D.")
@click.option(
    "--methods", required=True, metavar="IDS", help="Comma-separated panels: 'ir', 'vis' (the sources) and method ids."
)
@click.option(
    "--boxes",
    default="auto",
    show_default=True,
    help="Zoom boxes 'x,y,w,h[;x,y,w,h]' in pixels, 'auto' (where the methods disagree most) or 'none'.",
)
@click.option("--ablation", default=None, metavar="VARIANTS", help="One panel per variant, e.g. 'g1..g7' (Figure 7).")
@click.option("--cols", type=click.IntRange(min=1), default=None, help="Panels per row (default: up to 5, balanced).")
@click.option(
    "--out",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Figure file (.pdf or .png; both are written). Default: figure_<dataset>_<pair>.pdf.",
)
@results_options
def figure_command(
    dataset: str,
    pair_id: str,
    methods: str,
    boxes: str,
    ablation: str | None,
    cols: int | None,
    output: Path | None,
    results: CachedResults,
) -> None:
    """A comparison figure (Figures 5-7): sources and fused images of one pair, with zoom boxes and insets."""
    from fusionbench.reports.figures import comparison, parse_ablation, save_figure

    output = output or Path(f"figure_{dataset}_{pair_id}.pdf")
    check_output(output)
    with user_errors():
        variants = parse_ablation(ablation) if ablation else None
        fig, chosen = comparison(results, dataset, pair_id, methods, boxes=boxes, ablation=variants, cols=cols)
        written = save_figure(fig, output)
    click.echo(f"boxes (x,y,w,h): {'; '.join(str(b) for b in chosen) or 'none'}")
    for path in written:
        click.echo(f"wrote {path}")


@click.command("plot")
@click.option("--dataset", required=True, help="Dataset id.")
@click.option("--methods", required=True, metavar="IDS", help="Comma-separated method ids.")
@click.option(
    "--kind",
    type=click.Choice(["curves", "bars", "tags"]),
    default="curves",
    show_default=True,
    help="curves: per-image values sorted; bars: mean and std; tags: mean per tag (MSRS day/night).",
)
@click.option("--metrics", default=None, metavar="IDS", help="Comma-separated metric ids (default: the seed six).")
@click.option(
    "--out",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Plot file (.pdf or .png; both are written).",
)
@results_options
def plot_command(
    dataset: str,
    methods: str,
    kind: str,
    metrics: str | None,
    output: Path,
    results: CachedResults,
) -> None:
    """Per-image metric curves, bar charts of the means, or a per-tag split, for one dataset."""
    from fusionbench.metrics import resolve_metrics
    from fusionbench.reports.figures import save_figure
    from fusionbench.reports.plots import metric_bars, metric_curves, tag_bars

    check_output(output)
    plots: dict[str, Callable[..., Any]] = {"curves": metric_curves, "bars": metric_bars, "tags": tag_bars}
    draw = plots[kind]
    with user_errors():
        ids = resolve_metrics(metrics)
        results.metrics = ids
        names = [m.strip() for m in methods.split(",") if m.strip()]
        if not names:
            raise ValueError("--methods: no methods given")
        frames = {}
        for name in dict.fromkeys(names):
            result = results.run(name, dataset)
            frames[result.method.name] = result.frame
        written = save_figure(draw(frames, ids, title=dataset), output, dpi=150)
    for path in written:
        click.echo(f"wrote {path}")


@click.command("report")
@click.option("--methods", required=True, metavar="IDS", help="Comma-separated method ids.")
@click.option("--datasets", required=True, metavar="IDS", help="Comma-separated dataset ids.")
@click.option(
    "--pairs",
    default=None,
    metavar="D:PAIR,...",
    help="Pair of each dataset's figure, e.g. msrs:00537D (default: its first pair).",
)
@click.option("--boxes", default="auto", show_default=True, help="Zoom boxes of the figures, as for 'figure'.")
@click.option("--metrics", default=None, metavar="IDS", help="Comma-separated metric ids (default: the seed six).")
@click.option(
    "--efficiency",
    default="measure",
    show_default=True,
    metavar="measure|none|CSV",
    help="Measure params/FLOPs/CPU ms now, leave the table out, or read a 'table --efficiency --format csv' file.",
)
@click.option("--title", default="fusionbench report", show_default=True)
@click.option("--ci", is_flag=True, help="Table 1: the 95 % bootstrap confidence interval of each mean.")
@click.option(
    "--protocol",
    default=None,
    metavar="tang|cddfuse",
    help="A paper's protocol: convention, method options and pairs (docs/protocols.md).",
)
@click.option(
    "--versus", default=None, metavar="METHOD", help="Table 1: paired Wilcoxon tests and win/tie/loss against METHOD."
)
@click.option(
    "--out",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="The HTML file (self-contained: images are embedded).",
)
@results_options
def report_command(
    methods: str,
    datasets: str,
    pairs: str | None,
    boxes: str,
    metrics: str | None,
    efficiency: str,
    title: str,
    ci: bool,
    protocol: str | None,
    versus: str | None,
    output: Path,
    results: CachedResults,
) -> None:
    """One self-contained HTML report: Table 1, figures, plots, per-image tables, efficiency, manifests."""
    from fusionbench.metrics import resolve_metrics
    from fusionbench.reports.html import build_report, parse_pairs, write_report

    check_output(output)
    with user_errors():
        results.metrics = resolve_metrics(metrics)
        html = build_report(
            results,
            methods,
            datasets,
            pairs=parse_pairs(pairs),
            boxes=boxes,
            efficiency=efficiency,
            title=title,
            ci=ci,
            versus=versus,
            protocol=protocol,
        )
        write_report(html, output)
    click.echo(f"wrote {output} ({len(html.encode()) / 1e6:.1f} MB)")


#: The commands of this module, added to ``fusionbench`` by :mod:`fusionbench.cli`.
COMMANDS = (figure_command, plot_command, report_command)
