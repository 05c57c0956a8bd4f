"""``fusionbench doctor``: the environment in one screen."""

from __future__ import annotations

from pathlib import Path

import click

from fusionbench.cli.common import cache_option, data_root_option, deprecated_option, pick


@click.command("doctor")
@data_root_option
@cache_option
@deprecated_option("--out", "out_old")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="Folder of weight files.")
def doctor_command(data_root: Path | None, cache: Path | None, out_old: Path | None, weights: Path | None) -> None:
    """Check the environment in one screen: versions, data root, weights, write access, backends.

    Exits with status 1 when a check fails (WARN lines do not).
    """
    from fusionbench.engine.doctor import FAIL, render, run_checks

    cache = pick(cache, out_old, "--cache", "--out")
    checks = run_checks(data_root=data_root, out=cache, weights=weights)
    click.echo(render(checks))
    if any(c.status == FAIL for c in checks):
        raise SystemExit(1)
