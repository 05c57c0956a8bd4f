"""``fusionbench train`` and ``fusionbench ablate``: train SIDM-Fusion and regenerate Table 2.

The method itself lives in :mod:`fusionbench.methods.sidm`; this module only holds its commands, so that
the CLI starts without importing the method registry.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click

from fusionbench.cli.common import (
    F,
    UserError,
    cache_option,
    convention_option,
    data_root_option,
    deprecated_option,
    metrics_option,
    pick,
    progress_option,
    split_out,
    user_errors,
    weights_option,
)

# Kept literal so that ``fusionbench --help`` does not import the method registry (and torch);
# tests/test_sidm_method.py checks they equal fusionbench.methods.sidm.config's.
ABLATION_GROUPS = ("g1", "g2", "g3", "g4", "g5", "g6", "g7")
WIDTHS = ("full", "lite")


def steps_options(func: F) -> F:
    """``--stage1-steps`` and ``--stage2-steps`` (default: the training configuration's)."""
    for name in ("--stage2-steps", "--stage1-steps"):
        func = click.option(name, type=click.IntRange(min=0), default=None, help="Default: the configuration's.")(func)
    return func


def _command_line() -> str:
    return shlex.join(["fusionbench", *sys.argv[1:]])


@click.command("train")
@click.option("--method", "method_id", default="sidm", show_default=True, help="Method to train (only 'sidm').")
@click.option(
    "--ablation", type=click.Choice(list(ABLATION_GROUPS)), default=None, help="Table 2 row (default g7 = all)."
)
@click.option("--width", type=click.Choice(list(WIDTHS)), default=None, help="Channel widths (default lite).")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML or JSON file of training settings (see fusionbench.training.train.TrainConfig).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Training folder (checkpoints, log.csv, loss.png); reruns resume from it.",
)
@data_root_option
@click.option(
    "--masks",
    "masks_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Folder of MSRS segmentation label PNGs <id>.png (target masks instead of detection boxes).",
)
@click.option("--no-masks", is_flag=True, help="Train without target masks (lambda2 = 0 in effect).")
@click.option(
    "--sources", default=None, help="Comma-separated training sources, e.g. msrs/trainpool,roadscene/train:45."
)
@steps_options
@click.option(
    "--stage1-from",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Reuse a trained stage 1 (stage1.pt of another run) instead of training one.",
)
@click.option(
    "--init-from",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Start from a finished checkpoint (a .pt written by fusionbench train, or a shipped one); trains stage 2.",
)
@click.option(
    "--init-parts",
    type=click.Choice(["all", "spc"]),
    default=None,
    help="With --init-from: load everything (default) or only SPC-Net and tau (a fresh fusion network).",
)
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None, help="Stage-2 peak learning rate.")
@click.option(
    "--validation-pairs",
    type=click.IntRange(min=0),
    default=None,
    help="Held-out msrs/trainpool pairs (half day, half night) for model selection (default 20; 0 = none).",
)
@click.option("--snapshot-every", type=click.IntRange(min=1), default=None, help="Steps between scored snapshots.")
@click.option("--seed", type=int, default=None)
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Torch threads (default 1).")
@click.option(
    "--progress/--no-progress", default=None, help="Progress bar on stderr (default: only when it is a terminal)."
)
def train_command(
    method_id: str,
    ablation: str | None,
    width: str | None,
    config_file: Path | None,
    out_dir: Path | None,
    data_root: Path | None,
    masks_dir: str | None,
    no_masks: bool,
    sources: str | None,
    stage1_steps: int | None,
    stage2_steps: int | None,
    stage1_from: str | None,
    init_from: str | None,
    init_parts: str | None,
    lr: float | None,
    validation_pairs: int | None,
    snapshot_every: int | None,
    seed: int | None,
    threads: int | None,
    progress: bool | None,
) -> None:
    """Train SIDM-Fusion (stage 1: SPC-Net; stage 2: the fusion network), resumable."""
    from fusionbench.training.train import TrainConfig, train

    with user_errors():
        if method_id.strip().lower() != "sidm":
            raise UserError(f"--method {method_id}: only 'sidm' can be trained by fusionbench train")
        overrides = {
            "ablation": ablation,
            "width": width,
            "masks": masks_dir,
            "use_masks": False if no_masks else None,
            "sources": [s.strip() for s in sources.split(",") if s.strip()] if sources else None,
            "stage1_steps": stage1_steps,
            "stage2_steps": stage2_steps,
            "stage1_from": stage1_from,
            "init_from": init_from,
            "init_parts": init_parts,
            "lr": lr,
            "validation_pairs": validation_pairs,
            "snapshot_every": snapshot_every,
            "seed": seed,
            "threads": threads,
        }
        if config_file is not None:
            config = TrainConfig.from_file(config_file, **overrides)
        else:
            config = TrainConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
        out = out_dir or Path("fusionbench-train") / f"sidm-{config.width}-{config.group}"
        final = train(
            config,
            out,
            data_root,
            progress=sys.stderr.isatty() if progress is None else progress,
            command=_command_line(),
        )
    click.echo(f"checkpoint: {final}")
    click.echo(f"log: {out / 'log.csv'}  plot: {out / 'loss.png'}")


@click.command("ablate")
@click.option("--method", "method_id", default="sidm", show_default=True, help="Method to ablate (only 'sidm').")
@click.option("--dataset", default="msrs", show_default=True, help="Evaluation dataset (the paper's Table 2: msrs).")
@click.option("--split", default="test", show_default=True)
@click.option("--groups", default=",".join(ABLATION_GROUPS), show_default=True, help="Rows to train and evaluate.")
@click.option("--width", type=click.Choice(list(WIDTHS)), default="lite", show_default=True)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML or JSON training settings shared by every row.",
)
@steps_options
@click.option("--shipped", is_flag=True, help="Evaluate the shipped checkpoints instead of training.")
@click.option(
    "--seeds",
    default=None,
    help="Comma-separated training seeds; each row is trained once per seed (default 0; with --shipped: every "
    "shipped seed).",
)
@click.option(
    "--spc-from",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A finished checkpoint whose SPC-Net (and tau) the SPC-Net rows take instead of training stage 1.",
)
@click.option(
    "--train-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the row trainings (default ./fusionbench-train/ablation-<width>); reruns resume.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="Rows trained at once (one single-thread process each).",
)
@data_root_option
@cache_option
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Evaluation processes.")
@metrics_option
@convention_option
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "markdown", "latex", "text"]), default="text", show_default=True
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the table here; with --all-formats, the stem for .csv, .md and .tex.",
)
@deprecated_option("--output", "output_old", file=True)
@click.option("--all-formats", is_flag=True, help="Write CSV, Markdown and LaTeX next to --out.")
@click.option("--decimals", type=click.IntRange(0, 8), default=2, show_default=True)
@weights_option()
@progress_option
def ablate_command(
    method_id: str,
    dataset: str,
    split: str,
    groups: str,
    width: str,
    config_file: Path | None,
    stage1_steps: int | None,
    stage2_steps: int | None,
    shipped: bool,
    seeds: str,
    spc_from: str | None,
    train_dir: Path | None,
    jobs: int,
    data_root: Path | None,
    cache: Path | None,
    workers: int,
    metrics: str | None,
    convention: str,
    fmt: str,
    out: Path | None,
    output_old: Path | None,
    all_formats: bool,
    decimals: int,
    progress: bool | None,
) -> None:
    """Train (or load) the Table 2 rows of SIDM-Fusion, evaluate them, print Table 2."""
    from fusionbench.training.ablation import evaluate_rows, train_rows
    from fusionbench.training.train import TrainConfig

    output, cache = split_out(out, cache)
    output = pick(output, output_old, "--out", "--output")
    with user_errors():
        if method_id.strip().lower() != "sidm":
            raise UserError(f"--method {method_id}: only 'sidm' has ablation rows")
        wanted = [g.strip().lower() for g in groups.split(",") if g.strip()]
        unknown = [g for g in wanted if g not in ABLATION_GROUPS]
        if unknown:
            raise UserError(f"--groups: unknown row(s) {unknown}; expected some of {', '.join(ABLATION_GROUPS)}")
        if all_formats and output is None:
            raise UserError("--all-formats needs --out STEM")
        seed_list = _seed_list(seeds)
        if shipped:
            checkpoints = _shipped_checkpoints(width, wanted, seed_list if seeds is not None else None)
        else:
            overrides = {"width": width, "stage1_steps": stage1_steps, "stage2_steps": stage2_steps, "threads": 1}
            if config_file is not None:
                base = TrainConfig.from_file(config_file, **overrides)
            else:
                base = TrainConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
            folder = train_dir or Path("fusionbench-train") / f"ablation-{width}"
            click.echo(f"training {len(wanted)} rows into {folder} ({jobs} at a time) ...", err=True)
            checkpoints = train_rows(
                base, folder, wanted, data_root, jobs=jobs, command=_command_line(), seeds=seed_list, spc_from=spc_from
            )
        frame = evaluate_rows(
            checkpoints, dataset, split, metrics, convention, data_root, cache, workers=workers, progress=progress
        )
        seeds_note = f", {int(frame['seeds'].max())} seeds per row" if int(frame["seeds"].max()) > 1 else ""
        pairs = int(frame["n"].iloc[0])
        caption = f"Ablation of SIDM-Fusion on {dataset} ({split}, {pairs} pairs, {width} widths{seeds_note})"
        _emit_table2(frame, caption, fmt, output, all_formats, decimals)


def _seed_list(seeds: str | None) -> list[int]:
    """``--seeds`` as whole numbers (``[0]`` when not given); a UserError on anything else."""
    if seeds is None:
        return [0]
    try:
        values = [int(v) for v in seeds.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise UserError(f"--seeds {seeds!r}: expected comma-separated whole numbers, e.g. 0,1,2")
    return values


def _shipped_checkpoints(width: str, wanted: list[str], seeds: list[int] | None) -> dict[tuple[str, int], Path]:
    """The shipped checkpoints of the ``wanted`` rows at ``width`` (only ``seeds``, if given); a UserError
    names missing rows."""
    from fusionbench.training.ablation import shipped_rows

    available = {k: p for k, p in shipped_rows(width).items() if seeds is None or k[1] in seeds}
    missing = [g for g in wanted if not any(key[0] == g for key in available)]
    if missing:
        seeds_note = f" with seed(s) {seeds}" if seeds is not None else ""
        raise UserError(
            f"no shipped {width} checkpoint{seeds_note} for row(s) {missing}; run without --shipped to train"
        )
    return {key: path for key, path in available.items() if key[0] in wanted}


def _emit_table2(frame: Any, caption: str, fmt: str, output: Path | None, all_formats: bool, decimals: int = 2) -> None:
    """Print Table 2 in ``fmt`` (and write it to ``output``), or write CSV, Markdown and LaTeX next to
    the stem ``output`` and print it as text."""
    from fusionbench.io import write_text_atomic
    from fusionbench.reports.ablation_table import render_ablation

    if all_formats:
        assert output is not None
        for suffix, kind in ((".csv", "csv"), (".md", "markdown"), (".tex", "latex")):
            write_text_atomic(
                output.with_suffix(suffix), render_ablation(frame, kind, decimals=decimals, caption=caption)
            )
        click.echo(render_ablation(frame, "text", decimals=decimals))
        return
    text = render_ablation(frame, fmt, decimals=decimals, caption=caption)
    if output is not None:
        write_text_atomic(output, text)
    click.echo(text)
