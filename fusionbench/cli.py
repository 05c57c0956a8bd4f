"""The ``fusionbench`` command: a thin layer over the Python API.

::

    fusionbench run --method gff --dataset msrs [--metrics ...] [--convention tang] [--workers N]
                    [--scheduler local|tcp://host:port]
    fusionbench doctor [--data-root DIR] [--out DIR] [--weights DIR]
    fusionbench table --methods gff,lp --datasets tno,msrs --format latex [--by tag] [--std] [--ci]
                      [--versus METHOD] [--protocol tang|cddfuse]
    fusionbench weights list | verify | download NAME
    fusionbench show method ID
    fusionbench data list | verify NAME | download NAME
    fusionbench eval --ir DIR --vi DIR --fused DIR [--metrics mi,vif|all] [--convention tang] [--csv OUT]
                     [--allow-missing]
    fusionbench list metrics [--format text|markdown|csv]
    fusionbench list conventions [--format text|markdown|csv]

Results go to stdout, messages (logging, progress bars) to stderr. A user error (unknown metric or
convention, missing folder, unmatched or unreadable file, bad pixel values) prints one line
``Error: ...`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
import pandas as pd
from tqdm import tqdm

from fusionbench import __version__
from fusionbench.io import Pair, pair_files, read_image, write_text_atomic
from fusionbench.metrics import SEED_METRICS, Convention, compute, get_convention, parallel, resolve_metrics
from fusionbench.metrics.cards import (
    FORMATS,
    convention_rows,
    metric_rows,
    render_metrics_markdown,
    render_table,
)
from fusionbench.registry import UnknownNameError

log = logging.getLogger(__name__)

#: Exit status of a user error (click uses 2 for usage errors too).
USER_ERROR = 2


class UserError(click.ClickException):
    """Printed as one ``Error: ...`` line on stderr; exits with status 2."""

    exit_code = USER_ERROR


@contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Turn the errors a user can cause (bad names, files or pixel values) into :class:`UserError`."""
    try:
        yield
    except (UnknownNameError, ValueError, TypeError, OSError) as exc:
        raise UserError(prefix + _one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fusionbench")
@click.option("-v", "--verbose", count=True, help="Log more on stderr (-v: info, -vv: debug).")
def main(verbose: int) -> None:
    """IR/VIS image-fusion benchmark: run methods on datasets, score fused images, print tables."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s: %(message)s")


_folder = click.Path(file_okay=False, path_type=Path)


def _use_weights(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--weights DIR``: the folder every learned method this command builds loads from.

    Set as ``$FUSIONBENCH_WEIGHTS`` for this process (and so for its worker processes), which is
    where :func:`fusionbench.methods.weights.locate` looks after an explicit ``weights`` argument.
    """
    if value is not None:
        from fusionbench.methods.weights import WEIGHTS_ENV

        if not value.exists():
            raise click.BadParameter(f"{value} does not exist", ctx=ctx, param=param)
        os.environ[WEIGHTS_ENV] = str(value.resolve())
    return value


def weights_option(expose_value: bool = False) -> Any:
    """``--weights DIR`` (see :func:`_use_weights`)."""
    return click.option(
        "--weights",
        type=click.Path(path_type=Path),
        default=None,
        callback=_use_weights,
        expose_value=expose_value,
        help="Folder of the learned methods' weight files (default: $FUSIONBENCH_WEIGHTS, else the user data folder).",
    )


_progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar with count, rate and ETA on stderr (default: only when stderr is a terminal).",
)


@main.command("eval")
@click.option("--ir", "ir_dir", type=_folder, required=True, help="Folder of infrared source images.")
@click.option("--vi", "vi_dir", type=_folder, required=True, help="Folder of visible source images.")
@click.option("--fused", "fused_dir", type=_folder, required=True, help="Folder of fused images.")
@click.option(
    "--metrics",
    default=None,
    metavar="IDS",
    help=f"Comma-separated metric ids, or 'all'. Default: the seed metrics ({','.join(SEED_METRICS)}).",
)
@click.option("--convention", default="tang", show_default=True, help="Metric convention (see 'list conventions').")
@click.option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the per-image values to this CSV file.",
)
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
@_progress_option
def eval_command(
    ir_dir: Path,
    vi_dir: Path,
    fused_dir: Path,
    metrics: str | None,
    convention: str,
    csv_path: Path | None,
    data_range: float | None,
    workers: int,
    allow_missing: bool,
    progress: bool | None,
) -> None:
    """Score the fused images against their IR and VIS sources, matched by file name.

    Prints one row per image and a mean row (NaN values left out of the mean).
    """
    with user_errors():
        ids = list(dict.fromkeys(resolve_metrics(metrics)))  # "en,EN" is one column
        conv = get_convention(convention)
        if csv_path is not None and not csv_path.parent.is_dir():
            raise UserError(f"cannot write {csv_path}: folder {csv_path.parent} does not exist")
        pairs = _eval_pairs(ir_dir, vi_dir, fused_dir, allow_missing)
    log.info("scoring %d images with %s under convention %s", len(pairs), ",".join(ids), conv.name)
    started = time.perf_counter()

    rows = []
    score = functools.partial(_score_pair, ids=ids, convention=conv, data_range=data_range)
    results = parallel.imap(score, pairs, workers)
    for pair, (values, failure) in tqdm(
        zip(pairs, results, strict=True),
        total=len(pairs),
        desc="eval",
        unit="img",
        file=sys.stderr,
        disable=not _show_progress(progress),
    ):
        if failure is not None:  # raised here, as one process would have raised it
            stage, exc = failure
            with user_errors(prefix="" if stage == "read" else f"{pair.stem}: "):
                raise exc
        rows.append({"image": pair.stem, **values})
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


def _show_progress(progress: bool | None) -> bool:
    """``--progress``/``--no-progress``, else a bar only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def _score_pair(
    pair: Pair, *, ids: list[str], convention: Convention, data_range: float | None
) -> tuple[dict[str, float] | None, tuple[str, Exception] | None]:
    """Read and score one pair (in a worker with ``--workers``): ``(values, None)``, or
    ``(None, ("read" | "score", exception))`` for the caller to raise in order."""
    try:
        fused, ir, vi = (read_image(p) for p in (pair.fused, pair.ir, pair.vi))
    except Exception as exc:  # re-raised by the caller
        return None, ("read", exc)
    try:
        return compute(fused, ir, vi, metrics=ids, convention=convention, data_range=data_range), None
    except Exception as exc:  # re-raised by the caller
        return None, ("score", exc)


@main.group("list")
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
        rows = [m.as_row() for m in methods]
        if details:
            from fusionbench.reports.efficiency import efficiency_table

            fusing = [m.id for m in methods if not m.provides_images]
            cost = efficiency_table(fusing, weights=str(weights) if weights else None).set_index("method_id")
            for row in rows:
                known = row["id"] in cost.index
                row["params"] = int(cost.at[row["id"], "params"]) if known else "-"
                gflops = cost.at[row["id"], "gflops"] if known else float("nan")
                row["GFLOPs"] = "-" if gflops != gflops else f"{gflops:.1f}"
                row["CPU ms/pair"] = f"{cost.at[row['id'], 'cpu_ms']:.0f}" if known else "-"
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


@main.group("show")
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


# -- runs and tables -------------------------------------------------------------------------------

_data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder holding datasets/ (default: $FUSIONBENCH_DATA, else the user data folder).",
)
_out_option = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder for caches and runs (default: $FUSIONBENCH_OUT, else ./fusionbench-out).",
)
_metrics_option = click.option(
    "--metrics",
    default=None,
    metavar="IDS",
    help="Comma-separated metric ids or 'all' (default: the seed six).",
)
_convention_option = click.option(
    "--convention", default="tang", show_default=True, help="Metric convention (see 'list conventions')."
)
_protocol_option = click.option(
    "--protocol",
    default=None,
    metavar="tang|cddfuse",
    help="A paper's protocol: its metric convention, method options and pair subsets (docs/protocols.md).",
)


def _protocol_convention(protocol: str | None, convention: str) -> str:
    """The convention of ``--protocol`` (``--convention`` must then be left out or agree)."""
    if protocol is None:
        return convention
    from fusionbench.protocols import get_protocol

    fixed = get_protocol(protocol).convention
    if convention not in ("tang", fixed):
        raise UserError(f"--protocol {protocol} fixes the convention ({fixed}); leave out --convention {convention}")
    return fixed


_scheduler_option = click.option(
    "--scheduler",
    default=None,
    metavar="local|tcp://HOST:PORT",
    help="Run on Dask: 'local' starts a LocalCluster of --workers processes; an address joins a running "
    "scheduler. Needs pip install 'fusionbench[dask]'.",
)


@main.command("run")
@click.option("--method", "method_id", required=True, help="Method id: gff, lp, published:piafusion, folder:DIR ...")
@click.option("--dataset", default="demo", show_default=True, help="Dataset: tno, msrs, roadscene, demo, folder.")
@click.option("--split", default="test", show_default=True)
@click.option("--ir", "ir_dir", type=_folder, default=None, help="IR folder (with --dataset folder).")
@click.option("--vi", "vi_dir", type=_folder, default=None, help="VIS folder (with --dataset folder).")
@_metrics_option
@_convention_option
@_data_root_option
@_out_option
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@_scheduler_option
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
@_progress_option
@_protocol_option
def run_command(
    method_id: str,
    dataset: str,
    split: str,
    ir_dir: Path | None,
    vi_dir: Path | None,
    metrics: str | None,
    convention: str,
    data_root: Path | None,
    out: Path | None,
    workers: int,
    scheduler: str | None,
    per_image: bool,
    method_option: tuple[str, ...],
    ablation: str | None,
    progress: bool | None,
    protocol: str | None,
) -> None:
    """Fuse every pair of a dataset split with one method, score it, and print the Table-1 row.

    Fused images and metric values are cached; an interrupted run resumes where it stopped.
    """
    from fusionbench.reports.tables import render
    from fusionbench.runner import run

    options = {}
    if dataset == "folder":
        if ir_dir is None or vi_dir is None:
            raise UserError("--dataset folder needs --ir DIR and --vi DIR")
        options = {"ir": ir_dir, "vi": vi_dir}
    with user_errors():
        paper = _run_protocol(protocol, convention)
        method_options = _method_options(method_option, ablation)
        if paper is not None:
            method_options = paper.options_for(method_id, method_options)
        frame = run(
            method_id,
            dataset,
            split=split,
            metrics=metrics,
            convention=paper.convention if paper is not None else convention,
            data_root=data_root,
            out=out,
            workers=workers,
            scheduler=scheduler,
            dataset_options=options,
            method_options=method_options,
            progress=progress,
        )
        if paper is not None:
            frame = paper.select(frame, dataset, data_root)
    ids = [c for c in frame.columns if c not in ("image", "tag")]
    if per_image:
        click.echo(frame.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        click.echo()
    manifest = frame.attrs["manifest"]
    summary = _one_row_table(frame, ids, dataset, manifest["method"])
    click.echo(render(summary, "text", decimals=4, std=True))
    click.echo(f"\n{len(frame)} pairs; results in {frame.attrs['run_dir']}")


def _run_protocol(protocol: str | None, convention: str) -> Any:
    """The :class:`~fusionbench.protocols.Protocol` of ``--protocol``, or None; checks ``--convention``."""
    if protocol is None:
        return None
    from fusionbench.protocols import get_protocol

    _protocol_convention(protocol, convention)
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


@main.command("table")
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
@_metrics_option
@_convention_option
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
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the table to this file (atomically) instead of stdout.",
)
@_data_root_option
@_out_option
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@_scheduler_option
@_progress_option
@_protocol_option
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
    output: Path | None,
    data_root: Path | None,
    out: Path | None,
    workers: int,
    scheduler: str | None,
    progress: bool | None,
    protocol: str | None,
) -> None:
    """Table 1: rows dataset x method, columns metrics; best in bold, second underlined.

    Uses the cached runs and runs what is missing.
    """
    from fusionbench.reports.tables import render, table

    if efficiency:
        from fusionbench.reports.efficiency import efficiency_table, render_efficiency

        with user_errors():
            ids = [m.strip() for m in methods.split(",") if m.strip()]
            cost = efficiency_table(ids, weights=str(weights) if weights else None)
            text = render_efficiency(cost, "text" if fmt == "text" else fmt)
        _emit(text, output)
        return
    with user_errors():
        convention = _protocol_convention(protocol, convention)
    with user_errors():
        frame = table(
            methods,
            datasets,
            split=split,
            metrics=metrics,
            convention=convention,
            data_root=data_root,
            out=out,
            by=by,
            workers=workers,
            scheduler=scheduler,
            progress=progress,
            ci=ci,
            versus=versus,
            protocol=protocol,
        )
        text = render(frame, fmt, decimals=decimals, std=std)
    _emit(text, output)


def _emit(text: str, output: Path | None) -> None:
    """Print ``text`` or write it atomically to ``output``."""
    text = text if text.endswith("\n") else text + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with user_errors():
        write_text_atomic(output, text)
    click.echo(f"wrote {output}", err=True)


@main.group("weights")
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
        learned = get_method(method.id, weights=weights) if weights else method
        try:
            learned.network()
            click.echo(f"{method.id}: OK ({learned.parameter_count():,} parameters)")
        except WeightsError as exc:
            failures += 1
            click.echo(f"{method.id}: FAILED: {_one_line(exc)}")
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
@_progress_option
def weights_download_command(name: str, weights: Path | None, progress: bool | None) -> None:
    """Fetch method NAME's published weight files (pinned sha256) into the weights folder."""
    import fusionbench.methods  # noqa: F401 - the baselines register their weight files on import
    from fusionbench.methods.weights import download

    with user_errors():
        paths = download(name, weights, progressbar=_show_progress(progress))
    for path in paths:
        click.echo(f"{path}: sha256 verified")


@main.command("doctor")
@_data_root_option
@_out_option
@click.option("--weights", type=click.Path(path_type=Path), default=None, help="Folder of weight files.")
def doctor_command(data_root: Path | None, out: Path | None, weights: Path | None) -> None:
    """Check the environment in one screen: versions, data root, weights, write access, backends.

    Exits with status 1 when a check fails (WARN lines do not).
    """
    from fusionbench.doctor import FAIL, render, run_checks

    checks = run_checks(data_root=data_root, out=out, weights=weights)
    click.echo(render(checks))
    if any(c.status == FAIL for c in checks):
        raise SystemExit(1)


def _attach_data_group() -> None:
    from fusionbench.datasets.cli import data

    main.add_command(data)


_attach_data_group()


def _attach_report_commands() -> None:
    from fusionbench.reports.cli import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_attach_report_commands()


def _attach_sidm_commands() -> None:
    from fusionbench.sidm_cli import ablate_command, train_command

    main.add_command(train_command)
    main.add_command(ablate_command)


_attach_sidm_commands()


if __name__ == "__main__":
    main()
