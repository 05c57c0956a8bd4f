"""Table 2: train the seven ablation rows of SIDM-Fusion and evaluate them (spec section 8).

The rows share everything but the four switches: seed, data order, stage-2 length and loss
weights. Rows with SPC-Net (g5, g7) share one stage-1 classifier, trained once. Rows run as
independent single-thread processes, ``jobs`` at a time (spec section 10.5: one per core avoids
OpenMP oversubscription). A row whose final checkpoint already exists with the same settings is
not retrained; an interrupted row resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import pandas as pd

from fusionbench.methods.sidm.config import ABLATION_GROUPS, SIDMConfig, resolve_group
from fusionbench.training.train import TrainConfig


def _train_row(config: TrainConfig, out_dir: str, data_root: str | None, command: str | None) -> str:
    from fusionbench.training.train import train

    return str(train(config, out_dir, data_root, progress=False, command=command))


def train_stage1_once(base: TrainConfig, out_dir: Path, data_root: str | os.PathLike[str] | None) -> Path:
    """The shared stage 1 of the SPC-Net rows: ``<out_dir>/stage1/stage1.pt`` (trained if missing)."""
    import torch

    from fusionbench.methods.sidm.network import SIDMNet
    from fusionbench.training.data import load_pool
    from fusionbench.training.train import TrainingLog, ensure_stage1, seed_everything

    folder = out_dir / "stage1"
    if (folder / "stage1.pt").is_file():
        return folder / "stage1.pt"
    folder.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(base.threads)
    seed_everything(base.seed)
    model = SIDMNet(SIDMConfig(width=base.width, ablation=resolve_group("g7")))
    pool = load_pool(base.sources, data_root, base.masks, base.use_masks)
    return ensure_stage1(model, base, pool, folder, TrainingLog(folder / "log.csv"), data_root)


def row_configs(
    base: TrainConfig,
    out: Path,
    groups: list[str],
    seeds: list[int],
    data_root: str | os.PathLike[str] | None,
    spc_from: str | os.PathLike[str] | None = None,
) -> dict[tuple[str, int], TrainConfig]:
    """The training settings of every (row, seed): rows with SPC-Net share one stage 1 per seed.

    With ``spc_from`` (a finished checkpoint of the same width), the SPC-Net rows take that
    classifier and its tau instead (``init_from`` with ``init_parts="spc"``): every seed then
    differs in stage 2 only.
    """
    configs = {}
    for seed in seeds:
        seeded = replace(base, seed=seed)
        stage1 = None
        if spc_from is None and any(ABLATION_GROUPS[g].spc for g in groups):
            stage1 = train_stage1_once(seeded, out / f"stage1-seed{seed}", data_root)
        for g in groups:
            if not ABLATION_GROUPS[g].spc:
                configs[g, seed] = replace(seeded, ablation=g)
            elif spc_from is not None:
                configs[g, seed] = replace(seeded, ablation=g, init_from=str(spc_from), init_parts="spc")
            else:
                configs[g, seed] = replace(seeded, ablation=g, stage1_from=str(stage1))
    return configs


def train_rows(
    base: TrainConfig,
    out_dir: str | os.PathLike[str],
    groups: list[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    jobs: int = 2,
    command: str | None = None,
    seeds: list[int] | None = None,
    spc_from: str | os.PathLike[str] | None = None,
) -> dict[tuple[str, int], Path]:
    """Train every (row, seed) into ``<out_dir>/<group>/seed<seed>``, ``jobs`` at a time; returns the checkpoints."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups = [_group_name(g) for g in (groups or list(ABLATION_GROUPS))]
    configs = row_configs(base, out, groups, list(seeds or [base.seed]), data_root, spc_from)
    root = None if data_root is None else str(data_root)
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("spawn")) as pool:
        futures = {
            key: pool.submit(_train_row, c, str(out / key[0] / f"seed{key[1]}"), root, command)
            for key, c in configs.items()
        }
        return {key: Path(f.result()) for key, f in futures.items()}


def _group_name(group: str) -> str:
    flags = resolve_group(group)
    return next(name for name, f in ABLATION_GROUPS.items() if f == flags)


def evaluate_rows(
    checkpoints: dict[tuple[str, int], Path],
    dataset: str = "msrs",
    split: str = "test",
    metrics: str | list[str] | None = None,
    convention: str = "tang",
    data_root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
    progress: bool | None = None,
) -> pd.DataFrame:
    """Run each (row, seed) checkpoint on ``dataset``/``split``; Table 2 with seed statistics.

    One row per group: its flags, ``n`` pairs, ``seeds``, and per metric the mean over seeds of the
    per-seed means (``<m>``), their standard deviation over seeds (``<m>_std``, ddof 1), and against
    row ``g7``: the Wilcoxon signed-rank p-value over the images of the seed-averaged per-image
    values (``<m>_p``; images where either row has no value, e.g. no target box, left out) and
    whether the difference of means exceeds the seed-to-seed spread,
    ``|mean - mean_g7| > 2 sqrt((s^2 + s_g7^2) / k)`` for k seeds (``<m>_beyond_seeds``).
    ``progress`` is passed to each run (None: a bar only when stderr is a terminal).
    """
    from fusionbench.metrics import resolve_metrics

    metric_ids = resolve_metrics(metrics)
    per_image = _per_image_values(
        checkpoints, dataset, split, metric_ids, convention, data_root, out, workers, progress
    )
    rows = [_row_statistics(group, frames, metric_ids) for group, frames in per_image.items()]
    result = pd.DataFrame(rows)
    if "g7" in per_image:
        _compare_with_full_model(result, per_image, metric_ids)
    result.attrs["metrics"] = metric_ids
    result.attrs["dataset"] = dataset
    return result


def _per_image_values(
    checkpoints: dict[tuple[str, int], Path],
    dataset: str,
    split: str,
    metric_ids: list[str],
    convention: str,
    data_root: Any,
    out: Any,
    workers: int,
    progress: bool | None = None,
) -> dict[str, dict[int, pd.DataFrame]]:
    """``{group: {seed: per-image frame indexed by image}}`` (each checkpoint run through the runner)."""
    from fusionbench.engine.runner import run
    from fusionbench.methods import get_method

    found: dict[str, dict[int, pd.DataFrame]] = {}
    for (group, seed), checkpoint in sorted(checkpoints.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        method = get_method("sidm", checkpoint=str(checkpoint))
        frame = run(method, dataset, split, metric_ids, convention, data_root, out, workers=workers, progress=progress)
        found.setdefault(group, {})[seed] = frame.set_index("image")[metric_ids]
    return found


def _row_statistics(group: str, frames: dict[int, pd.DataFrame], metric_ids: list[str]) -> dict[str, Any]:
    seed_means = pd.DataFrame({seed: frame.mean() for seed, frame in frames.items()}).T  # seeds x metrics
    first = next(iter(frames.values()))
    row: dict[str, Any] = {"group": group, **ABLATION_GROUPS[group].marks(), "n": len(first), "seeds": len(frames)}
    for m in metric_ids:
        row[m] = float(seed_means[m].mean())
        row[f"{m}_std"] = float(seed_means[m].std(ddof=1)) if len(frames) > 1 else float("nan")
    return row


def _compare_with_full_model(
    result: pd.DataFrame, per_image: dict[str, dict[int, pd.DataFrame]], metric_ids: list[str]
) -> None:
    """Add ``<m>_p`` (Wilcoxon over images vs g7) and ``<m>_beyond_seeds`` to ``result`` in place."""
    from scipy.stats import wilcoxon

    averaged = {g: cast(pd.DataFrame, sum(f for f in frames.values()) / len(frames)) for g, frames in per_image.items()}
    full = result.set_index("group").loc["g7"]
    for m in metric_ids:
        p_values, beyond = [], []
        for group in result["group"]:
            if group == "g7":
                p_values.append(float("nan"))
                beyond.append(False)
                continue
            a, b = averaged[group][m].align(averaged["g7"][m], join="inner")
            scored = a.notna() & b.notna()  # an image without a value (e.g. no box) drops out of the pair
            a, b = a[scored], b[scored]
            p_values.append(float("nan") if a.empty else float(wilcoxon(a, b).pvalue) if (a != b).any() else 1.0)
            row = result.set_index("group").loc[group]
            k = min(row["seeds"], full["seeds"])
            spread = 2 * ((row[f"{m}_std"] ** 2 + full[f"{m}_std"] ** 2) / k) ** 0.5 if k > 1 else float("nan")
            beyond.append(bool(abs(row[m] - full[m]) > spread))
        result[f"{m}_p"] = p_values
        result[f"{m}_beyond_seeds"] = beyond


def _training_record(checkpoint: Path) -> dict[str, Any]:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return state.get("training", {}) if isinstance(state, dict) else {}


def shipped_rows(width: str = "lite") -> dict[tuple[str, int], Path]:
    """The shipped Table 2 checkpoints that exist, keyed by (group, seed): ``sidm-<width>-<group>.pt``
    is seed 0 (the model ``--ablation gK`` loads), ``sidm-<width>-<group>-seed<k>.pt`` seed k."""
    from fusionbench.methods.sidm.method import CHECKPOINT_DIR

    found: dict[tuple[str, int], Path] = {}
    for g in ABLATION_GROUPS:
        if (CHECKPOINT_DIR / f"sidm-{width}-{g}.pt").is_file():
            found[g, 0] = CHECKPOINT_DIR / f"sidm-{width}-{g}.pt"
        for path in sorted(CHECKPOINT_DIR.glob(f"sidm-{width}-{g}-seed*.pt")):
            found[g, int(path.stem.rsplit("seed", 1)[1])] = path
    return found


def summary_json(frame: pd.DataFrame) -> str:
    return json.dumps(frame.to_dict(orient="records"), indent=2, default=str)
