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
from typing import Any

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


def train_rows(
    base: TrainConfig,
    out_dir: str | os.PathLike[str],
    groups: list[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    jobs: int = 2,
    command: str | None = None,
) -> dict[str, Path]:
    """Train every row of ``groups`` (default all seven) into ``<out_dir>/<group>``; returns the checkpoints."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    groups = [_group_name(g) for g in (groups or list(ABLATION_GROUPS))]
    stage1 = None
    if any(ABLATION_GROUPS[g].spc for g in groups):
        stage1 = train_stage1_once(base, out, data_root)
    configs = {
        g: replace(base, ablation=g, stage1_from=str(stage1) if ABLATION_GROUPS[g].spc else None) for g in groups
    }
    root = None if data_root is None else str(data_root)
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("spawn")) as pool:
        futures = {g: pool.submit(_train_row, c, str(out / g), root, command) for g, c in configs.items()}
        return {g: Path(f.result()) for g, f in futures.items()}


def _group_name(group: str) -> str:
    flags = resolve_group(group)
    return next(name for name, f in ABLATION_GROUPS.items() if f == flags)


def evaluate_rows(
    checkpoints: dict[str, Path],
    dataset: str = "msrs",
    split: str = "test",
    metrics: str | list[str] | None = None,
    convention: str = "tang",
    data_root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Run each row's checkpoint on ``dataset``/``split``; one row per group with its flags and metric means."""
    from fusionbench.methods import get_method
    from fusionbench.metrics import resolve_metrics
    from fusionbench.runner import run

    metric_ids = resolve_metrics(metrics)
    rows: list[dict[str, Any]] = []
    for group, checkpoint in checkpoints.items():
        method = get_method("sidm", checkpoint=str(checkpoint))
        frame = run(method, dataset, split, metric_ids, convention, data_root, out, workers=workers)
        training = _training_record(Path(checkpoint))
        row: dict[str, Any] = {"group": group, **ABLATION_GROUPS[group].marks(), "n": len(frame)}
        for m in metric_ids:
            row[m] = float(frame[m].mean())
            row[f"{m}_std"] = float(frame[m].std(ddof=0))
        row["fusion_params"] = training.get("parameters", {}).get("fusion")
        row["rho_ir_range"] = (training.get("stage1") or {}).get("full_image", {}).get(f"{dataset}/{split}")
        row["checkpoint"] = Path(checkpoint).name
        rows.append(row)
    result = pd.DataFrame(rows)
    result.attrs["metrics"] = metric_ids
    result.attrs["dataset"] = dataset
    return result


def _training_record(checkpoint: Path) -> dict[str, Any]:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return state.get("training", {}) if isinstance(state, dict) else {}


def shipped_rows(width: str = "lite") -> dict[str, Path]:
    """The shipped Table 2 checkpoints ``sidm-<width>-g1.pt`` .. ``g7`` that exist."""
    from fusionbench.methods.sidm.method import CHECKPOINT_DIR

    found = {g: CHECKPOINT_DIR / f"sidm-{width}-{g}.pt" for g in ABLATION_GROUPS}
    return {g: p for g, p in found.items() if p.is_file()}


def summary_json(frame: pd.DataFrame) -> str:
    return json.dumps(frame.to_dict(orient="records"), indent=2, default=str)
