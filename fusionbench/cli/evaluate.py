"""``fusionbench eval``: score a folder of fused images against their IR and VIS sources."""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import click

from fusionbench.cli.common import (
    FOLDER,
    check_output,
    deprecated_option,
    pick,
    progress_option,
    show_progress,
    user_errors,
)
from fusionbench.io import Pair, load_header_readers, pair_files, read_image, write_text_atomic
from fusionbench.metrics import SEED_METRICS, Convention, compute, get_convention, parallel, resolve_metrics

log = logging.getLogger(__name__)


@click.command("eval")
@click.option("--ir", "ir_dir", type=FOLDER, required=True, help="Folder of infrared source images.")
@click.option("--vi", "vi_dir", type=FOLDER, required=True, help="Folder of visible source images.")
@click.option("--fused", "fused_dir", type=FOLDER, required=True, help="Folder of fused images.")
@click.option(
    "--metrics",
    default=None,
    metavar="IDS",
    help=f"Comma-separated metric ids, or 'all'. Default: the seed metrics ({','.join(SEED_METRICS)}).",
)
@click.option("--convention", default="tang", show_default=True, help="Metric convention (see 'list conventions').")
@click.option(
    "--out",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the per-image values to this CSV file.",
)
@deprecated_option("--csv", "csv_old", file=True)
@click.option(
    "--data-range",
    type=float,
    default=None,
    help="Full scale of the pixel values, required for 16-bit images (e.g. 65535).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Score on this many local processes (same values as one).",
)
@click.option(
    "--allow-missing",
    is_flag=True,
    help="Score the fused images present when some pairs have none (says how many and which are missing).",
)
@progress_option
def eval_command(
    ir_dir: Path,
    vi_dir: Path,
    fused_dir: Path,
    metrics: str | None,
    convention: str,
    csv_path: Path | None,
    csv_old: Path | None,
    data_range: float | None,
    workers: int,
    allow_missing: bool,
    progress: bool | None,
) -> None:
    """Score the fused images against their IR and VIS sources, matched by file name.

    Prints one row per image and a mean row (NaN values left out of the mean).
    """
    csv_path = pick(csv_path, csv_old, "--out", "--csv")
    with user_errors():
        ids = list(dict.fromkeys(resolve_metrics(metrics)))  # "en,EN" is one column
        conv = get_convention(convention)
        if csv_path is not None:
            check_output(csv_path)
        pairs = _eval_pairs(ir_dir, vi_dir, fused_dir, allow_missing)
    log.info("scoring %d images with %s under convention %s", len(pairs), ",".join(ids), conv.name)
    started = time.perf_counter()

    rows = []
    score = functools.partial(_score_pair, ids=ids, convention=conv, data_range=data_range)
    load_header_readers()  # before the workers fork, so that they share it
    results = parallel.imap(score, pairs, workers)  # with workers > 1, they start scoring now
    import pandas as pd  # imported while the workers score (0.2-0.3 s), not before they start

    scored: Iterable[tuple[Pair, tuple[dict[str, float] | None, tuple[str, Exception] | None]]]
    scored = zip(pairs, results, strict=True)
    if show_progress(progress):  # tqdm imported only to draw a bar (its import is 20-30 ms)
        from tqdm import tqdm

        scored = tqdm(scored, total=len(pairs), desc="eval", unit="img", file=sys.stderr)
    for pair, (values, failure) in scored:
        if failure is not None:  # raised here, as one process would have raised it
            stage, exc = failure
            with user_errors(prefix="" if stage == "read" else f"{pair.stem}: "):
                raise exc
        rows.append({"image": pair.stem, **(values or {})})
    log.info(
        "scored %d images in %.2f s (%d worker%s)",
        len(rows),
        time.perf_counter() - started,
        workers,
        "s" * (workers > 1),
    )
    table = pd.DataFrame(rows, columns=["image", *ids])

    if csv_path is not None:
        with user_errors():
            write_text_atomic(csv_path, table.to_csv(index=False))
        log.info("wrote %s", csv_path)
    mean = {"image": "mean", **table[ids].mean(skipna=True).to_dict()}
    shown = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
    click.echo(shown.to_string(index=False, float_format=lambda v: f"{v:.4f}"))


def _eval_pairs(ir_dir: Path, vi_dir: Path, fused_dir: Path, allow_missing: bool) -> list[Pair]:
    """Every pair with its fused image; with ``allow_missing``, those present (the rest named on stderr)."""
    from fusionbench.io import PairingError, pair_present_fused

    if not allow_missing:
        try:
            return pair_files(ir_dir, vi_dir, fused_dir)
        except PairingError as error:
            raise PairingError(f"{error}; to score only the fused images present, pass --allow-missing") from None
    pairs, missing = pair_present_fused(ir_dir, vi_dir, fused_dir)
    if not pairs:
        raise PairingError(f"no fused image in {fused_dir} matches a source pair")
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        click.echo(
            f"scoring {len(pairs)} of {len(pairs) + len(missing)} pairs; missing {len(missing)}: {shown}", err=True
        )
    return pairs


def _score_pair(
    pair: Pair, *, ids: list[str], convention: Convention, data_range: float | None
) -> tuple[dict[str, float] | None, tuple[str, Exception] | None]:
    """Read and score one pair (in a worker with ``--workers``): ``(values, None)``, or
    ``(None, ("read" | "score", exception))`` for the caller to raise in order."""
    try:
        if pair.fused is None:
            raise ValueError(f"{pair.stem}: no fused image to score")
        fused, ir, vi = (read_image(p) for p in (pair.fused, pair.ir, pair.vi))
    except Exception as exc:  # re-raised by the caller
        return None, ("read", exc)
    try:
        return compute(fused, ir, vi, metrics=ids, convention=convention, data_range=data_range), None
    except Exception as exc:  # re-raised by the caller
        return None, ("score", exc)
