"""``fusionbench data``: list, verify and download the datasets (attach with ``main.add_command(data)``).

::

    fusionbench data list [--data-root DIR]
    fusionbench data verify NAME [--split test] [--data-root DIR]
    fusionbench data download NAME [--split S] [--data-root DIR] [--offline] [--url URL] [--sha256 HEX]

Errors follow the main command: one ``Error: ...`` line on stderr and exit status 2 for a user error
(unknown dataset or split, missing files, failed download); ``verify`` exits with status 1 when
files are missing or differ from their pins, after listing them on stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from fusionbench.cli.common import data_root_option, user_errors
from fusionbench.datasets.api import get_dataset, list_datasets
from fusionbench.datasets.base import Dataset, resolve_data_root, split_folder
from fusionbench.datasets.demo import DemoDataset
from fusionbench.datasets.download import download
from fusionbench.datasets.pinned import FOLDER_OF, PinnedDataset


class VerificationFailed(click.ClickException):
    """Files missing or not matching their pins: ``Error: ...`` and exit status 1."""

    exit_code = 1


@click.group("data")
def data() -> None:
    """Datasets: list them, verify their files, download them."""


@data.command("list")
@data_root_option
def list_command(data_root: Path | None) -> None:
    """List datasets and splits: pairs, hashes, version, pairs present."""
    root = resolve_data_root(data_root)
    rows = []
    for ds in list_datasets():
        for split in ds.splits:
            rows.append({"dataset": ds.name, "split": split, **_describe(ds, split, root)})
    click.echo(f"data root: {root}")
    click.echo(pd.DataFrame(rows).to_string(index=False))
    click.echo("")
    for ds in list_datasets():
        click.echo(f"{ds.name}: {ds.description}")


def _describe(ds: Dataset, split: str, root: Path) -> dict[str, object]:
    if isinstance(ds, PinnedDataset):
        spec = ds.split(split)
        folder = split_folder(root, ds.name, split)
        present = sum(
            all((folder / FOLDER_OF[key] / f.file).is_file() for key, f in pair.files().items()) for pair in spec.pairs
        )
        return {
            "pairs": len(spec.pairs),
            "hashes": "sha256" if spec.pinned else "ids only",
            "version": ds.version(split),
            "present": f"{present}/{len(spec.pairs)}",
        }
    if isinstance(ds, DemoDataset):
        return {"pairs": 6, "hashes": "generated", "version": ds.version(split), "present": "on first use"}
    return {"pairs": "-", "hashes": "-", "version": "-", "present": "--ir/--vi"}


@data.command("verify")
@click.argument("name")
@click.option("--split", default="test", show_default=True, help="Split to check.")
@data_root_option
def verify_command(name: str, split: str, data_root: Path | None) -> None:
    """Check NAME's files against their pinned sha256."""
    with user_errors():
        ds = get_dataset(name)
        report = ds.verify(split, data_root=data_root)
    for path in report.mismatched:
        click.echo(f"mismatch  {path}")
    if len(report.missing) < report.checked:  # when nothing is there, the summary says it all
        for path in report.missing:
            click.echo(f"missing   {path}")
    if report.ok:
        click.echo(report.summary())
        return
    hint = f"; run 'fusionbench data download {name}'" if getattr(ds, "sources", ()) else ""
    raise VerificationFailed(report.summary() + hint)


@data.command("download")
@click.argument("name")
@click.option("--split", default=None, help="Only this split (default: every split with a source).")
@data_root_option
@click.option("--offline", is_flag=True, help="Never touch the network; fail if files are missing.")
@click.option("--url", default=None, help="Fetch the dataset's (first) archive from this mirror instead.")
@click.option("--sha256", "known_hash", default=None, help="Expected sha256 of the archive at --url.")
def download_command(
    name: str,
    split: str | None,
    data_root: Path | None,
    offline: bool,
    url: str | None,
    known_hash: str | None,
) -> None:
    """Fetch NAME's files from its public source (checksummed).

    Files already present with the pinned sha256 are kept; archives are cached under
    <data root>/downloads.
    """
    with user_errors():
        folder = download(
            name,
            data_root=data_root,
            offline=offline,
            url=url,
            split=split,
            known_hash=known_hash,
            progressbar=sys.stderr.isatty(),
        )
    click.echo(str(folder))
