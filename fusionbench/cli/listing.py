"""``fusionbench list metrics|methods|conventions`` and ``fusionbench show method ID``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fusionbench.cli.common import user_errors, weights_option
from fusionbench.metrics.cards import FORMATS, convention_rows, metric_rows, render_metrics_markdown, render_table


@click.group("list")
def list_group() -> None:
    """Show what is registered: metrics, conventions, methods."""


_format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="Output format.",
)


@list_group.command("metrics")
@_format_option
def list_metrics_command(fmt: str) -> None:
    """The metrics with their metadata. '--format markdown' prints docs/metrics.md."""
    if fmt == "markdown":
        click.echo(render_metrics_markdown(), nl=False)
    else:
        click.echo(render_table(metric_rows(), fmt))


@list_group.command("methods")
@_format_option
@click.option("--details", is_flag=True, help="Also measure params, FLOPs and CPU ms per 480x640 pair (slow).")
@click.option("--long", "long_", is_flag=True, help="Every field in full (text is otherwise cut to 100 columns).")
@weights_option(expose_value=True)
def list_methods_command(fmt: str, details: bool, long_: bool, weights: Path | None) -> None:
    """The registered fusion methods (classic, learned, published results).

    Text output fits 100 columns (id, name, kind and a shortened description); ``--long`` or
    another format gives every field, ``fusionbench show method ID`` one method in full.
    """
    from fusionbench.methods import list_methods

    with user_errors():
        methods = list_methods()
        rows: list[dict[str, Any]] = [m.as_row() for m in methods]
        if details:
            from fusionbench.engine.efficiency import efficiency_table

            fusing = [m.id for m in methods if not m.provides_images]
            frame = efficiency_table(fusing, weights=str(weights) if weights else None)
            cost = frame.set_index("method_id").to_dict(orient="index")
            for row in rows:
                known = row["id"] in cost
                row["params"] = int(cost[row["id"]]["params"]) if known else "-"
                gflops = cost[row["id"]]["gflops"] if known else float("nan")
                row["GFLOPs"] = "-" if gflops != gflops else f"{gflops:.1f}"
                row["CPU ms/pair"] = f"{cost[row['id']]['cpu_ms']:.0f}" if known else "-"
    if fmt == "text" and not long_ and not details:
        rows = _fit_columns(rows, ["id", "name", "kind", "description"], LIST_WIDTH)
    click.echo(render_table(rows, fmt))


#: Width of ``fusionbench list methods`` in text (``--long`` for every field in full).
LIST_WIDTH = 100


def _fit_columns(rows: list[dict[str, Any]], keep: list[str], width: int) -> list[dict[str, Any]]:
    """``rows`` cut to the ``keep`` columns, the last one shortened (``...``) so each line fits ``width``."""
    import textwrap

    rows = [{k: str(row[k]) for k in keep} for row in rows]
    fixed = sum(max(len(k), *(len(r[k]) for r in rows)) + 2 for k in keep[:-1])
    room = max(width - fixed, 20)
    for row in rows:
        row[keep[-1]] = textwrap.shorten(" ".join(row[keep[-1]].split()), room, placeholder="...")
    return rows


@click.group("show")
def show_group() -> None:
    """One registered item in full."""


@show_group.command("method")
@click.argument("method_id")
def show_method_command(method_id: str) -> None:
    """Every field of one method's card (id, name, kind, description, parameters, reference)."""
    from fusionbench.methods import get_method

    with user_errors():
        row = get_method(method_id).as_row()
    for key, value in row.items():
        click.echo(f"{key + ':':<13}{value}")


@list_group.command("conventions")
@_format_option
def list_conventions_command(fmt: str) -> None:
    """The metric conventions and the choices in which each differs from the defaults."""
    click.echo(render_table(convention_rows(), fmt))
