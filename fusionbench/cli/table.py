"""``fusionbench table``: Table 1 (rows dataset x method, columns metrics) or the efficiency table."""

from __future__ import annotations

from pathlib import Path

import click

from fusionbench.cli.common import (
    deprecated_option,
    emit,
    experiment_options,
    pick,
    protocol_convention,
    split_out,
    user_errors,
    weights_option,
)


@click.command("table")
@click.option(
    "--methods",
    required=True,
    metavar="IDS",
    help="Comma-separated method ids; id@tno+msrs runs one on those datasets only.",
)
@click.option("--efficiency", is_flag=True, help="Instead: params, FLOPs and CPU ms per 480x640 pair per method.")
@weights_option(expose_value=True)
@click.option("--datasets", default="demo", show_default=True, metavar="IDS", help="Comma-separated dataset ids.")
@click.option("--split", default="test", show_default=True)
@experiment_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "latex", "csv", "text"]),
    default="markdown",
    show_default=True,
)
@click.option("--by", default=None, help="Break rows down by a tag column (e.g. 'tag' for MSRS day/night).")
@click.option("--std", is_flag=True, help="Show the standard deviation next to each mean.")
@click.option("--ci", is_flag=True, help="Add the 95 % bootstrap confidence interval of each mean.")
@click.option(
    "--versus",
    default=None,
    metavar="METHOD",
    help="Paired Wilcoxon signed-rank p (raw and Holm-adjusted) and win/tie/loss against this method's row.",
)
@click.option("--decimals", type=click.IntRange(0, 8), default=2, show_default=True)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the table to this file (atomically) instead of stdout.",
)
@deprecated_option("--output", "output_old", file=True)
def table_command(
    methods: str,
    efficiency: bool,
    weights: Path | None,
    datasets: str,
    split: str,
    metrics: str | None,
    convention: str,
    fmt: str,
    by: str | None,
    std: bool,
    ci: bool,
    versus: str | None,
    decimals: int,
    out: Path | None,
    output_old: Path | None,
    data_root: Path | None,
    cache: Path | None,
    workers: int,
    scheduler: str | None,
    progress: bool | None,
    protocol: str | None,
) -> None:
    """Table 1: rows dataset x method, columns metrics; best in bold, second underlined.

    Uses the cached runs and runs what is missing.
    """
    from fusionbench.api import table
    from fusionbench.reports.tables import render

    output, cache = split_out(out, cache)
    output = pick(output, output_old, "--out", "--output")
    if efficiency:
        emit(_efficiency_text(methods, weights, fmt), output)
        return
    with user_errors():
        convention = protocol_convention(protocol, convention)
        frame = table(
            methods,
            datasets,
            split=split,
            metrics=metrics,
            convention=convention,
            data_root=data_root,
            out=cache,
            by=by,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            ci=ci,
            versus=versus,
            protocol=protocol,
        )
        text = render(frame, fmt, decimals=decimals, std=std)
    emit(text, output)


def _efficiency_text(methods: str, weights: Path | None, fmt: str) -> str:
    """``table --efficiency``: the cost table of ``methods`` (measured now) in ``fmt``."""
    from fusionbench.engine.efficiency import efficiency_table
    from fusionbench.reports.efficiency import render_efficiency

    with user_errors():
        ids = [m.strip() for m in methods.split(",") if m.strip()]
        cost = efficiency_table(ids, weights=str(weights) if weights else None)
        return render_efficiency(cost, fmt)
