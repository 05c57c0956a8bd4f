"""``fusionbench run``: one method over one dataset split, scored, with its Table-1 row."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pandas as pd

from fusionbench.cli.common import (
    FOLDER,
    UserError,
    deprecated_option,
    experiment_options,
    pick,
    protocol_convention,
    user_errors,
    weights_option,
)


@click.command("run")
@click.option("--method", "method_id", required=True, help="Method id: gff, lp, published:piafusion, folder:DIR ...")
@click.option("--dataset", default="demo", show_default=True, help="Dataset: tno, msrs, roadscene, demo, folder.")
@click.option("--split", default="test", show_default=True)
@click.option("--ir", "ir_dir", type=FOLDER, default=None, help="IR folder (with --dataset folder).")
@click.option("--vi", "vi_dir", type=FOLDER, default=None, help="VIS folder (with --dataset folder).")
@experiment_options
@deprecated_option("--out", "out_old")
@click.option("--pairs", "pair_ids", default=None, metavar="IDS", help="Only these pair ids (comma-separated stems).")
@click.option("--per-image", is_flag=True, help="Print every image's values, not only the summary.")
@click.option(
    "--option",
    "method_option",
    multiple=True,
    metavar="KEY=VALUE",
    help="A method option, e.g. --option levels=3 or --option checkpoint=run/sidm-full-g7.pt (repeatable).",
)
@click.option("--ablation", default=None, metavar="gK", help="Ablation row of a method that has them (sidm: g1..g7).")
@weights_option()
def run_command(
    method_id: str,
    dataset: str,
    split: str,
    ir_dir: Path | None,
    vi_dir: Path | None,
    metrics: str | None,
    convention: str,
    data_root: Path | None,
    cache: Path | None,
    out_old: Path | None,
    workers: int,
    scheduler: str | None,
    pair_ids: str | None,
    per_image: bool,
    method_option: tuple[str, ...],
    ablation: str | None,
    progress: bool | None,
    protocol: str | None,
) -> None:
    """Fuse every pair of a dataset split with one method, score it, and print the Table-1 row.

    Fused images and metric values are cached; an interrupted run resumes where it stopped.
    """
    from fusionbench.engine.runner import run
    from fusionbench.reports.tables import render, split_names

    cache = pick(cache, out_old, "--cache", "--out")
    options = _folder_options(dataset, ir_dir, vi_dir)
    with user_errors():
        paper = _run_protocol(protocol, convention)
        method_options = _method_options(method_option, ablation)
        pairs = split_names(pair_ids) if pair_ids is not None else None
        if paper is not None:
            method_options = paper.options_for(method_id, method_options)
            pairs = paper.pairs_to_run(dataset, data_root, pairs)
        frame = run(
            method_id,
            dataset,
            split=split,
            metrics=metrics,
            convention=paper.convention if paper is not None else convention,
            data_root=data_root,
            out=cache,
            workers=workers,
            scheduler=scheduler,
            dataset_options=options,
            method_options=method_options,
            progress=progress,
            pairs=pairs,  # under a protocol: only the pairs it scores
        )
    ids = [c for c in frame.columns if c not in ("image", "tag")]
    if per_image:
        click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        click.echo()
    manifest = frame.attrs["manifest"]
    summary = _one_row_table(frame, ids, dataset, manifest["method"])
    click.echo(render(summary, "text", decimals=4, std=True))
    click.echo(f"\n{len(frame)} pairs; results in {frame.attrs['run_dir']}")


def _folder_options(dataset: str, ir_dir: Path | None, vi_dir: Path | None) -> dict[str, Any]:
    """``--ir``/``--vi`` of ``--dataset folder`` (both required there)."""
    if dataset != "folder":
        return {}
    if ir_dir is None or vi_dir is None:
        raise UserError("--dataset folder needs --ir DIR and --vi DIR")
    return {"ir": ir_dir, "vi": vi_dir}


def _run_protocol(protocol: str | None, convention: str) -> Any:
    """The :class:`~fusionbench.protocols.Protocol` of ``--protocol``, or None; checks ``--convention``."""
    if protocol is None:
        return None
    from fusionbench.protocols import get_protocol

    protocol_convention(protocol, convention)
    return get_protocol(protocol)


def _method_options(pairs: tuple[str, ...], ablation: str | None) -> dict[str, object]:
    """``("levels=3", "stretch=true")`` -> ``{"levels": 3, "stretch": True}`` (JSON values, else strings)."""
    from fusionbench.methods.base import parse_option

    options: dict[str, object] = {}
    for pair in pairs:
        try:
            key, value = parse_option(pair)
        except ValueError:
            raise UserError(f"--option {pair!r}: expected KEY=VALUE") from None
        options[key] = value
    if ablation is not None:
        options["ablation"] = ablation
    return options


def _one_row_table(frame: pd.DataFrame, ids: list[str], dataset: str, method: dict) -> pd.DataFrame:
    from fusionbench.reports.tables import means_row

    row = {"dataset": dataset, "method": method["name"], "method_id": method["id"], **means_row(frame, ids)}
    table = pd.DataFrame([row])
    table.attrs["metrics"] = ids
    table.attrs["by"] = None
    return table
