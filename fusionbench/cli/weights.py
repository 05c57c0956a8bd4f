"""``fusionbench weights list|verify|download``: the published weights of the learned baselines."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import click

from fusionbench.cli.common import one_line, progress_option, show_progress, user_errors
from fusionbench.metrics.cards import render_table


@click.group("weights")
def weights_group() -> None:
    """The published weights of the learned baselines: where they are and whether they verify."""


@weights_group.command("list")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="Folder of weight files.")
def weights_list_command(weights: Path | None) -> None:
    """Every registered weight file, its sha256, source and where it was found."""
    from fusionbench.methods.weights import WEIGHT_FILES, WeightsError, default_weights_root, locate

    rows = []
    for w in WEIGHT_FILES.values():
        try:
            where = str(locate(w, weights))
        except WeightsError:
            where = "missing"
        rows.append(
            {"method": w.method, "file": w.filename, "sha256": w.sha256[:16], "source": w.source, "found": where}
        )
    click.echo(render_table(rows, "text"))
    click.echo(f"\nsearch order: --weights, $FUSIONBENCH_WEIGHTS, {default_weights_root()}")


@weights_group.command("verify")
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="Folder of weight files.")
def weights_verify_command(weights: Path | None) -> None:
    """Check every weight file's sha256 and that it loads into its network; exit 1 on any failure."""
    from fusionbench.methods import get_method, list_methods
    from fusionbench.methods.learned import LearnedMethod
    from fusionbench.methods.weights import WeightsError

    failures = 0
    for method in list_methods():
        if not isinstance(method, LearnedMethod):
            continue
        learned = cast(LearnedMethod, get_method(method.id, weights=weights)) if weights else method
        try:
            learned.network()
            click.echo(f"{method.id}: OK ({learned.parameter_count():,} parameters)")
        except WeightsError as exc:
            failures += 1
            click.echo(f"{method.id}: FAILED: {one_line(exc)}")
    if failures:
        raise SystemExit(1)


@weights_group.command("download")
@click.argument("name")
@click.option(
    "--weights",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to put them in (default: $FUSIONBENCH_WEIGHTS, else the user data folder's weights/).",
)
@progress_option
def weights_download_command(name: str, weights: Path | None, progress: bool | None) -> None:
    """Fetch method NAME's published weight files (pinned sha256) into the weights folder."""
    import fusionbench.methods  # noqa: F401 - the baselines register their weight files on import
    from fusionbench.methods.weights import download

    with user_errors():
        paths = download(name, weights, progressbar=show_progress(progress))
    for path in paths:
        click.echo(f"{path}: sha256 verified")
