"""Stage-wise training of SIDM-Fusion (``docs/sidm-spec.md`` section 6, with the additions below).

Stage 1 trains SPC-Net alone (cross-entropy, Adam 1e-3, 128 px patches, 8 pairs = 16 images per
step, stopping early once the patch accuracy of the last 100 steps reaches 0.95), then fixes the
fusion temperature ``tau``. Stage 2 trains stems, MEGBs, SDRB, SBM and decoder with SPC-Net frozen
(``lambda1 L_content + lambda2 L_sal + lambda_t L_target``, Adam with cosine decay from ``lr`` to
``lr_min``, 64 px patches). Rows without SPC-Net skip stage 1; ``stage1_from`` reuses another
run's stage 1 (Table 2's rows 5 and 7 share one); ``init_from`` starts from a finished checkpoint
(its SPC-Net, ``tau`` and fusion weights) and trains stage 2 only.

The learning-rate schedule is a pure function of the step and the schedule length fixed when stage 2
starts (stored in ``stage2-last.pt``): a resumed run follows exactly the curve of an uninterrupted
one, and asking a resumed run for another length is refused (start a new run with ``init_from``).

Everything is deterministic for a seed (Python, NumPy and torch seeded; the patch sampler is a
seeded NumPy generator) and resumable: ``stage1-last.pt`` / ``stage2-last.pt`` hold the model,
optimiser and sampler states every ``checkpoint_every`` steps; a rerun with the same output folder
continues from them. Every ``snapshot_every`` steps (and at the last step) the model is saved as
``snapshots/step-NNNNNN.pt`` and scored on the validation pairs carved from ``msrs/trainpool``
(``validation.csv``, :mod:`fusionbench.training.validation`); the final ``sidm-<width>-<group>.pt``
is the snapshot :func:`~fusionbench.training.validation.select` picks. The folder also receives
``log.csv`` (one row per logged step) and ``loss.png``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import subprocess
import time
from collections import deque
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomllib
import torch

from fusionbench.methods.sidm.checkpoint import CHECKPOINT_FORMAT, mismatch_summary, read_checkpoint
from fusionbench.methods.sidm.config import SIDMConfig, resolve_group
from fusionbench.methods.sidm.network import SIDMNet
from fusionbench.training.data import DEFAULT_SOURCES, PatchSampler, load_pool, validation_ids
from fusionbench.training.losses import classification_loss, content_loss, saliency_loss, target_loss

LOG_FIELDS = (
    "stage",
    "step",
    "lr",
    "loss",
    "content",
    "saliency",
    "target",
    "accuracy",
    "rho_min",
    "rho_mean",
    "rho_max",
    "seconds",
)
VALIDATION_FIELDS = (
    "step",
    "score",
    "mi",
    "vif",
    "ag",
    "scd",
    "en",
    "qabf",
    "target_contrast",
    "ir_roughness",
    "ir_self_roughness",
)


class TrainingStateError(ValueError):
    """A resume state, stage-1 file or starting checkpoint that cannot be used; the message says how to go on."""


@dataclass
class TrainConfig:
    """Every setting of a training run (stored in the checkpoint).

    Defaults: the spec's CPU recipe plus fusionbench's objective (signed gradient target,
    ``lambda_target`` on target masks and infrared-hot pixels, half the patches centred on
    targets) and model selection on ``validation_pairs`` held-out ``msrs/trainpool`` pairs. The
    spec's original objective is ``gradient_target="magnitude", lambda_target=0, target_fraction=0``.
    """

    width: str = "lite"
    ablation: str = "g7"
    stage1_steps: int = 1000
    stage2_steps: int = 3000
    batch: int = 8
    stage1_patch: int = 128
    stage2_patch: int = 64
    lr: float = 1e-3
    lr_min: float = 1e-5
    alpha: float = 10.0
    lambda_content: float = 1.0
    lambda_saliency: float = 1.0
    lambda_target: float = 2.0
    gradient_target: str = "signed"
    target_fraction: float = 0.5
    edge_scale_init: float = 0.1
    edge_scale_trainable: bool = True
    stage1_stop_accuracy: float = 0.95
    seed: int = 0
    sources: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCES))
    masks: str | None = None
    use_masks: bool = True
    stage1_from: str | None = None
    init_from: str | None = None
    init_parts: str = "all"
    validation_pairs: int = 20
    snapshot_every: int = 500
    threads: int = 1
    log_every: int = 10
    checkpoint_every: int = 200

    @property
    def model_config(self) -> SIDMConfig:
        return SIDMConfig(width=self.width, ablation=resolve_group(self.ablation))

    @property
    def group(self) -> str:
        return self.model_config.group or self.ablation

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """Read a TOML or JSON file of :class:`TrainConfig` fields; ``overrides`` (not None) win."""
        path = Path(path)
        text = path.read_text()
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
        return cls.from_dict({**data, **{k: v for k, v in overrides.items() if v is not None}}, origin=str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "training config") -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{origin}: unknown setting(s) {unknown}; known: {sorted(known)}")
        config = cls(**data)
        config.model_config  # validates width and ablation  # noqa: B018
        if config.init_parts not in ("all", "spc"):
            raise ValueError(f"{origin}: init_parts must be 'all' or 'spc', got {config.init_parts!r}")
        if config.gradient_target not in ("magnitude", "signed"):
            raise ValueError(
                f"{origin}: gradient_target must be 'magnitude' or 'signed', got {config.gradient_target!r}"
            )
        return config


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def cosine_lr(step: int, total: int, lr: float, lr_min: float) -> float:
    """``lr_min + (lr - lr_min) (1 + cos(pi step / total)) / 2``: the rate of step ``step`` (0-based) of ``total``."""
    if total <= 0:
        return lr
    return lr_min + (lr - lr_min) * (1 + math.cos(math.pi * min(step, total) / total)) / 2


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _load_state(path: Path, what: str, keys: tuple[str, ...]) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a training file, or a :class:`TrainingStateError` saying how to go on."""
    fresh = f"delete {path} (or train into a new --out folder) to start that part fresh"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise TrainingStateError(
            f"{path}: cannot read this {what} ({type(exc).__name__}: {reason}); expected a file written by "
            f"'fusionbench train' for this run; {fresh}"
        ) from None
    missing = [k for k in keys if not isinstance(state, dict) or k not in state]
    if missing:
        raise TrainingStateError(f"{path}: not a {what} written by 'fusionbench train' (no {missing}); {fresh}")
    return state


def _load_into(obj: Any, state: Any, path: Path, what: str) -> None:
    try:
        obj.load_state_dict(state)
    except (RuntimeError, ValueError, KeyError) as exc:
        raise TrainingStateError(
            f"{path}: this {what} does not fit the model being trained ({mismatch_summary(exc)}); it was written "
            f"for other settings (width/ablation): use the same settings, or delete it to start fresh"
        ) from None


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class CsvLog:
    """Rows of a CSV file rewritten atomically; on resume, rows past the resumed point are dropped."""

    def __init__(self, path: Path, columns: tuple[str, ...]) -> None:
        self.path = path
        self.columns = columns
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with path.open(newline="") as handle:
                self.rows = list(csv.DictReader(handle))

    def add(self, **row: Any) -> None:
        self.rows.append({k: row.get(k, "") for k in self.columns})

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)


class TrainingLog(CsvLog):
    """``log.csv``: one row per logged step of either stage."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, LOG_FIELDS)

    def truncate(self, stage: int, step: int) -> None:
        self.rows = [
            r for r in self.rows if int(r["stage"]) < stage or (int(r["stage"]) == stage and int(r["step"]) <= step)
        ]


def plot_log(log_csv: Path, out_png: Path, validation_csv: Path | None = None) -> None:
    """Loss curves of both stages (stage 1's patch accuracy too) and, when given, the validation scores, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_csv(log_csv)
    validation = pd.read_csv(validation_csv) if validation_csv is not None and validation_csv.is_file() else None
    fig, axes = plt.subplots(1, 3 if validation is not None else 2, figsize=(15 if validation is not None else 10, 3.6))
    s1, s2 = frame[frame["stage"] == 1], frame[frame["stage"] == 2]
    if len(s1):
        axes[0].plot(s1["step"], s1["loss"], label="cross-entropy")
        axes[0].plot(s1["step"], s1["accuracy"], label="patch accuracy (last 100 steps)")
        axes[0].legend()
    else:
        axes[0].text(0.5, 0.5, "not trained in this run\n(SPC-Net from --init-from)", ha="center", va="center")
    axes[0].set(title="Stage 1: SPC-Net", xlabel="step")
    if len(s2):
        for column in ("loss", "content", "saliency", "target"):
            if column in s2 and s2[column].notna().any():
                axes[1].plot(s2["step"], s2[column], label=column, linewidth=0.8)
        axes[1].set_yscale("log")
        axes[1].legend()
    axes[1].set(title="Stage 2: fusion network", xlabel="step")
    if validation is not None:
        _plot_validation(axes[2], validation[validation["step"] > 0])
    fig.tight_layout()
    tmp = out_png.with_name(f".{out_png.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out_png)


def _plot_validation(ax: Any, validation: Any) -> None:
    """Selection score and the object-level measures of each snapshot on the validation pairs."""
    ax.plot(validation["step"], validation["score"] / validation["score"].max(), "o-", label="score / max")
    ax.plot(validation["step"], validation["target_contrast"], "s-", label="target contrast kept")
    ratio = validation["ir_roughness"] / validation["ir_self_roughness"]
    ax.plot(validation["step"], ratio / 2, "^-", label="roughness / IR's own, / 2")
    ax.set(title="Validation (20 held-out pairs)", xlabel="step", ylim=(0, 1.05))
    ax.legend(fontsize=8)


def _progress(total: int, initial: int, desc: str, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, dynamic_ncols=True)


def _resume(
    path: Path, stage: int, log: TrainingLog, sampler: PatchSampler, **stateful: Any
) -> tuple[int, float, dict]:
    """Restore ``stateful`` objects (by key), the sampler and torch's RNG from a ``*-last.pt`` checkpoint.

    Returns ``(step, seconds, state)``; ``(0, 0.0, {})`` when there is nothing to resume. Log rows of
    this stage after the resumed step are dropped.
    """
    if not path.is_file():
        return 0, 0.0, {}
    state = _load_state(path, f"stage-{stage} resume state", (*stateful, "sampler", "torch_rng", "step", "seconds"))
    for key, obj in stateful.items():
        _load_into(obj, state[key], path, f"stage-{stage} resume state")
    sampler.restore(state["sampler"])
    torch.set_rng_state(state["torch_rng"])
    log.truncate(stage, state["step"])
    return state["step"], state["seconds"], state


def ensure_stage1(
    model: SIDMNet,
    config: TrainConfig,
    pool: list,
    folder: Path,
    log: TrainingLog,
    data_root: Any,
    *,
    progress: bool = False,
    evaluate: bool = True,
) -> Path:
    """``<folder>/stage1.pt``, trained (and measured on whole test images when ``evaluate``) if missing."""
    target = folder / "stage1.pt"
    if not target.is_file():
        train_stage1(model, config, pool, folder, log, progress)
        if evaluate:
            add_classifier_accuracy(model, target, data_root)
    return target


def train_stage1(
    model: SIDMNet, config: TrainConfig, pool: list, out_dir: Path, log: TrainingLog, progress: bool
) -> dict:
    """Train SPC-Net; returns ``{"steps", "patch_accuracy", "tau", "seconds"}`` and saves ``stage1.pt``."""
    assert model.spc is not None
    spc = model.spc
    optimizer = torch.optim.Adam(spc.parameters(), lr=config.lr)
    sampler = PatchSampler(pool, config.stage1_patch, config.batch, seed=config.seed + 1)
    recent: deque[float] = deque(maxlen=100)
    resume = out_dir / "stage1-last.pt"
    start_step, seconds, state = _resume(resume, 1, log, sampler, spc=spc, optimizer=optimizer)
    recent.extend(state.get("recent", []))
    labels = torch.cat((torch.zeros(config.batch, dtype=torch.long), torch.ones(config.batch, dtype=torch.long)))
    spc.train()
    step = start_step
    bar = _progress(config.stage1_steps, start_step, "stage 1 (SPC-Net)", progress)
    while step < config.stage1_steps and not (len(recent) == 100 and np.mean(recent) >= config.stage1_stop_accuracy):
        tick = time.perf_counter()
        batch = sampler.sample()
        images = torch.from_numpy(np.concatenate((batch["ir"], batch["vis"])))
        logits = spc(images)
        loss = classification_loss(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        recent.append(float((logits.argmax(1) == labels).float().mean()))
        seconds += time.perf_counter() - tick
        bar.update(1)
        if step % config.log_every == 0 or step == config.stage1_steps:
            log.add(
                stage=1,
                step=step,
                lr=config.lr,
                loss=f"{loss.item():.6f}",
                accuracy=f"{np.mean(recent):.4f}",
                seconds=f"{seconds:.2f}",
            )
            bar.set_postfix(ce=f"{loss.item():.3f}", acc=f"{np.mean(recent):.3f}")
        if step % config.checkpoint_every == 0:
            _atomic_save(
                {
                    "spc": spc.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "sampler": sampler.state,
                    "torch_rng": torch.get_rng_state(),
                    "recent": list(recent),
                    "step": step,
                    "seconds": seconds,
                },
                resume,
            )
            log.write()
    bar.close()
    log.write()
    return _finish_stage1(model, config, out_dir, step, recent, seconds)


def _finish_stage1(
    model: SIDMNet, config: TrainConfig, out_dir: Path, step: int, recent: deque[float], seconds: float
) -> dict:
    """Freeze SPC-Net, set its temperature tau, save ``stage1.pt``; returns the stage's record."""
    assert model.spc is not None
    model.spc.eval()
    for p in model.spc.parameters():
        p.requires_grad_(False)
    tau = model.set_temperature()
    result = {
        "steps": step,
        "patch_accuracy": float(np.mean(recent)) if recent else float("nan"),
        "tau": tau,
        "seconds": round(seconds, 1),
    }
    state = {"spc": model.spc.state_dict(), "tau": tau, "width": config.width, "result": result}
    _atomic_save(state, out_dir / "stage1.pt")
    return result


def load_stage1(model: SIDMNet, path: Path, width: str) -> dict:
    """Load a saved stage 1 (SPC-Net weights and tau) into ``model``; returns its result record."""
    state = _load_state(path, "stage-1 file (stage1.pt)", ("spc", "tau", "width", "result"))
    if state.get("width") != width:
        raise TrainingStateError(f"{path}: stage 1 was trained for width {state.get('width')!r}, not {width!r}")
    assert model.spc is not None
    _load_into(model.spc, state["spc"], path, "stage-1 file")
    model.spc.eval()
    for p in model.spc.parameters():
        p.requires_grad_(False)
    model.tau.fill_(float(state["tau"]))
    return {**state["result"], "from": str(path)}


@dataclass
class _Stage2:
    """What one stage-2 run carries between steps."""

    model: SIDMNet
    config: TrainConfig
    optimizer: torch.optim.Optimizer
    sampler: PatchSampler
    total: int  # the schedule length, fixed when the stage started
    step: int = 0
    seconds: float = 0.0


def _stage2_step(run: _Stage2) -> dict[str, Any]:
    """One optimisation step at the scheduled learning rate; returns the logged values."""
    config = run.config
    lr = cosine_lr(run.step, run.total, config.lr, config.lr_min)
    for group in run.optimizer.param_groups:
        group["lr"] = lr
    batch = {k: torch.from_numpy(v) for k, v in run.sampler.sample().items()}
    out = run.model.run(batch["ir"], batch["vis"])
    l_content = content_loss(out["fused"], batch["ir"], batch["vis"], config.alpha, config.gradient_target)
    l_sal = saliency_loss(out["psi_ir"], out["psi_vi"], batch["ir"], batch["mask"], batch["has_mask"])
    l_target = target_loss(out["fused"], batch["ir"], batch["vis"], batch["mask"], batch["has_mask"])
    loss = config.lambda_content * l_content + config.lambda_saliency * l_sal + config.lambda_target * l_target
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    run.step += 1
    rho = out["rho_ir"]
    return {
        "stage": 2,
        "step": run.step,
        "lr": f"{lr:.6g}",
        "loss": f"{loss.item():.6f}",
        "content": f"{l_content.item():.6f}",
        "saliency": f"{l_sal.item():.6f}",
        "target": f"{l_target.item():.6f}",
        "rho_min": f"{float(rho.min()):.4f}",
        "rho_mean": f"{float(rho.mean()):.4f}",
        "rho_max": f"{float(rho.max()):.4f}",
    }


def _save_stage2_state(run: _Stage2, path: Path) -> None:
    _atomic_save(
        {
            "fusion": run.model.fusion.state_dict(),
            "optimizer": run.optimizer.state_dict(),
            "sampler": run.sampler.state,
            "torch_rng": torch.get_rng_state(),
            "step": run.step,
            "seconds": run.seconds,
            "schedule_total": run.total,
        },
        path,
    )


def _start_stage2(model: SIDMNet, config: TrainConfig, pool: list, out_dir: Path, log: TrainingLog) -> _Stage2:
    """A fresh stage-2 run, or the one ``stage2-last.pt`` holds (its schedule length kept)."""
    fusion = model.fusion
    optimizer = torch.optim.Adam(fusion.parameters(), lr=config.lr)
    sampler = PatchSampler(
        pool, config.stage2_patch, config.batch, seed=config.seed, target_fraction=config.target_fraction
    )
    run = _Stage2(model, config, optimizer, sampler, total=config.stage2_steps)
    resume = out_dir / "stage2-last.pt"
    run.step, run.seconds, state = _resume(resume, 2, log, sampler, fusion=fusion, optimizer=optimizer)
    total = int(state.get("schedule_total", config.stage2_steps)) if state else config.stage2_steps
    if total != config.stage2_steps:
        raise TrainingStateError(
            f"{resume}: this run's learning-rate schedule was fixed at {total} stage-2 steps when it started; "
            f"stage2_steps={config.stage2_steps} would change it. Resume with --stage2-steps {total}, or start a "
            f"new run from a finished checkpoint with --init-from"
        )
    return run


def train_stage2(
    model: SIDMNet,
    config: TrainConfig,
    pool: list,
    out_dir: Path,
    log: TrainingLog,
    progress: bool,
    snapshot: Any = None,
) -> dict:
    """Train the fusion network with SPC-Net frozen; returns ``{"steps", "seconds", "final_loss", "rho_ir_range"}``.

    ``snapshot(step)`` (optional) is called every ``snapshot_every`` steps and after the last one.
    """
    run = _start_stage2(model, config, pool, out_dir, log)
    model.fusion.train()
    recent: deque[float] = deque(maxlen=50)
    rho_seen = [1.0, 0.0]
    bar = _progress(run.total, run.step, "stage 2 (fusion)", progress)
    while run.step < run.total:
        tick = time.perf_counter()
        row = _stage2_step(run)
        run.seconds += time.perf_counter() - tick
        recent.append(float(row["loss"]))
        rho_seen = [min(rho_seen[0], float(row["rho_min"])), max(rho_seen[1], float(row["rho_max"]))]
        bar.update(1)
        if run.step % config.log_every == 0 or run.step == run.total:
            log.add(**row, seconds=f"{run.seconds:.2f}")
            bar.set_postfix(loss=row["loss"])
        if snapshot is not None and (run.step % config.snapshot_every == 0 or run.step == run.total):
            snapshot(run.step)
        if run.step % config.checkpoint_every == 0 and run.step < run.total:
            _save_stage2_state(run, out_dir / "stage2-last.pt")
            log.write()
    bar.close()
    log.write()
    model.fusion.eval()
    return {
        "steps": run.step,
        "schedule_steps": run.total,
        "seconds": round(run.seconds, 1),
        "final_loss": float(np.mean(recent)) if recent else None,
        "rho_ir_range": rho_seen,
    }


def classifier_accuracy(model: SIDMNet, dataset: str, split: str, data_root: Any) -> dict[str, float]:
    """SPC-Net's accuracy on whole images of a split (IR should be class 0, VIS class 1) and the rho range."""
    from fusionbench.datasets import get_dataset, resolve_data_root
    from fusionbench.io import read_image
    from fusionbench.methods.colour import split_y

    correct, total, rhos = 0, 0, []
    with torch.inference_mode():
        for record in get_dataset(dataset).pairs(split, data_root=resolve_data_root(data_root)):
            ir = torch.from_numpy(read_image(record.ir).astype(np.float32) / 255.0)[None, None]
            vis = read_image(record.vis)
            vis_y = split_y(vis)[0] if vis.ndim == 3 else vis.astype(np.float32) / 255.0
            vis_t = torch.from_numpy(vis_y)[None, None]
            p_ir, p_vi = model.class_probabilities(ir, vis_t)
            correct += int(p_ir.item() > 0.5) + int(p_vi.item() > 0.5)
            total += 2
            rhos.append(model.fusion_weights(ir, vis_t))
    rho = torch.cat(rhos)
    return {
        "accuracy": correct / total,
        "images": total,
        "rho_ir_min": float(rho.min()),
        "rho_ir_mean": float(rho.mean()),
        "rho_ir_max": float(rho.max()),
    }


def add_classifier_accuracy(model: SIDMNet, stage1_file: Path, data_root: Any) -> None:
    """Measure SPC-Net on the whole images of MSRS-142 and TNO-42 and store it in ``stage1.pt``."""
    state = _load_state(stage1_file, "stage-1 file (stage1.pt)", ("result",))
    state["result"]["full_image"] = {
        f"{d}/test": classifier_accuracy(model, d, "test", data_root) for d in ("msrs", "tno")
    }
    _atomic_save(state, stage1_file)


def save_model(model: SIDMNet, path: Path, training: dict[str, Any]) -> str:
    """Write the final checkpoint (plain tensors and JSON-able metadata; loads with ``weights_only=True``).

    Returns its SHA-256.
    """
    import hashlib

    state = {
        "format": CHECKPOINT_FORMAT,
        "config": model.config.as_dict(),
        "state_dict": {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()},
        "training": json.loads(json.dumps(training, default=str)),
    }
    _atomic_save(state, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Snapshots:
    """Numbered snapshots of stage 2 scored on the validation pairs (``snapshots/``, ``validation.csv``)."""

    def __init__(self, model: SIDMNet, out_dir: Path, pairs: list) -> None:
        from fusionbench.training.validation import reference_scores

        self.model = model
        self.folder = out_dir / "snapshots"
        self.folder.mkdir(exist_ok=True)
        self.pairs = pairs
        self.table = CsvLog(out_dir / "validation.csv", VALIDATION_FIELDS)
        self.reference = reference_scores(pairs) if pairs else {}

    def path(self, step: int) -> Path:
        return self.folder / f"step-{step:06d}.pt"

    def __call__(self, step: int) -> None:
        """Save the model as ``step-NNNNNN.pt`` and add its validation row (replacing an older row of that step)."""
        from fusionbench.training.validation import fuse_all, score_images, selection_score

        save_model(self.model, self.path(step), {"snapshot_step": step})
        if not self.pairs:
            return
        scores = score_images(fuse_all(self.model, self.pairs), self.pairs)
        self.table.rows = [r for r in self.table.rows if int(r["step"]) != step]
        row = {k: f"{v:.6f}" for k, v in scores.items()}
        self.table.add(step=step, score=f"{selection_score(scores, self.reference):.6f}", **row)
        self.table.rows.sort(key=lambda r: int(r["step"]))
        self.table.write()

    def chosen(self, last_step: int) -> tuple[int, dict[str, Any] | None]:
        """The selected step and its validation row (the last step when there are no validation pairs)."""
        from fusionbench.training.validation import select

        rows = [{**r, **{k: float(r[k]) for k in VALIDATION_FIELDS}} for r in self.table.rows if r.get("score")]
        if not rows:
            return last_step, None
        best = select(rows)
        return int(best["step"]), best


def initialise_from(model: SIDMNet, path: str | os.PathLike[str], config: TrainConfig) -> dict[str, Any]:
    """Load a finished checkpoint into ``model``; returns its provenance.

    ``config.init_parts``: ``"all"`` (SPC-Net, tau and the fusion network) or ``"spc"`` (SPC-Net and
    tau only: a fresh fusion network on a trained classifier).
    """
    from fusionbench.methods.sidm.checkpoint import WeightsError

    try:
        state = read_checkpoint(path)
    except WeightsError as exc:
        raise TrainingStateError(f"--init-from: {exc}") from None
    theirs = SIDMConfig.from_dict(state["config"])
    spc_only = config.init_parts == "spc"  # then only SPC-Net's shape (the width) has to match
    if theirs.width != model.config.width if spc_only else theirs != model.config:
        raise TrainingStateError(
            f"--init-from {path}: the checkpoint is {theirs.width}/{theirs.group}, but this run trains "
            f"{config.width}/{config.group}; pass --width {'' if spc_only else 'and --ablation '}matching it"
        )
    weights = state["state_dict"]
    if spc_only:
        if model.spc is None or not theirs.ablation.spc:
            raise TrainingStateError(
                f"--init-from {path}: init_parts='spc' needs SPC-Net in the checkpoint and in this row (g5 or g7)"
            )
        weights = {**model.state_dict(), **{k: v for k, v in weights.items() if k == "tau" or k.startswith("spc.")}}
    _load_into(model, weights, Path(path), "checkpoint")
    if model.spc is not None:
        model.spc.eval()
        for p in model.spc.parameters():
            p.requires_grad_(False)
    import hashlib

    return {
        "init_from": str(path),
        "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "tau": float(model.tau),
    }


def _prepare_stage1(
    model: SIDMNet,
    config: TrainConfig,
    pool: list,
    out: Path,
    log: TrainingLog,
    data_root: Any,
    progress: bool,
    evaluate: bool,
) -> dict[str, Any] | None:
    """Start from ``init_from``, or load/train stage 1 (SPC-Net) when the model has one."""
    if config.init_from:
        return initialise_from(model, config.init_from, config)
    if model.spc is None:
        return None
    if config.stage1_from:
        stage1_file = Path(config.stage1_from)
        if not stage1_file.is_file():
            raise TrainingStateError(f"stage1_from {stage1_file}: no such file")
    else:
        stage1_file = ensure_stage1(model, config, pool, out, log, data_root, progress=progress, evaluate=evaluate)
    return load_stage1(model, stage1_file, config.width)


def _set_edge_scale(model: SIDMNet, config: TrainConfig) -> None:
    """MEGB's edge-path scale: started at ``edge_scale_init``, learnt unless ``edge_scale_trainable`` is off
    (``edge_scale_init=1, edge_scale_trainable=False`` is the spec's unscaled edge path). ``init_from``
    loads a checkpoint's own scale over it."""
    for megb in (model.fusion.megb_ir, model.fusion.megb_vi):
        if megb.edge_scale is not None:
            with torch.no_grad():
                megb.edge_scale.fill_(config.edge_scale_init)
            megb.edge_scale.requires_grad_(config.edge_scale_trainable)


def _finished(config: TrainConfig, out: Path, final: Path) -> bool:
    if not (final.is_file() and (out / "training.json").is_file()):
        return False
    done = json.loads((out / "training.json").read_text())
    return bool(done.get("config") == json.loads(json.dumps(asdict(config), default=str)))


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
    evaluate_classifier: bool = True,
    command: str | None = None,
) -> Path:
    """Run both stages into ``out_dir`` (resuming what is there); returns the final (selected) checkpoint's path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"sidm-{config.width}-{config.group}.pt"
    if _finished(config, out, final):
        return final  # finished earlier with the same settings
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    started = time.perf_counter()
    model = SIDMNet(config.model_config)
    _set_edge_scale(model, config)
    held_out = validation_ids(data_root, config.validation_pairs)
    pool = load_pool(config.sources, data_root, config.masks, config.use_masks, exclude=held_out)
    log = TrainingLog(out / "log.csv")
    stage1 = _prepare_stage1(model, config, pool, out, log, data_root, progress, evaluate_classifier)
    from fusionbench.training.validation import load_validation

    snapshots = Snapshots(model, out, load_validation(held_out, data_root))
    seed_everything(config.seed)
    if not (out / "stage2-last.pt").is_file() and not snapshots.path(0).is_file() and config.init_from:
        snapshots(0)  # the starting point, for comparison
    stage2 = train_stage2(model, config, pool, out, log, progress, snapshot=snapshots)
    plot_log(out / "log.csv", out / "loss.png", out / "validation.csv")
    training = _training_record(config, model, pool, held_out, stage1, stage2, started, command)
    return _write_selected(model, snapshots, stage2["steps"], training, final)


def _write_selected(
    model: SIDMNet, snapshots: Snapshots, last_step: int, training: dict[str, Any], final: Path
) -> Path:
    """Load the snapshot :meth:`Snapshots.chosen` picks into ``model`` and write it as the final checkpoint."""
    step, chosen = snapshots.chosen(last_step)
    selected = read_checkpoint(snapshots.path(step))
    model.load_state_dict(selected["state_dict"])
    training = {**training, "selected": {"step": step, "validation": chosen}}
    digest = save_model(model, final, training)
    record = {**training, "checkpoint": final.name, "sha256": digest}
    (final.parent / "training.json").write_text(json.dumps(record, indent=2))
    return final


def reselect(out_dir: str | os.PathLike[str]) -> Path:
    """Apply the current selection rule to a finished run's ``validation.csv`` and rewrite its final checkpoint.

    For a run that finished under an earlier rule; the training record is kept and ``selected`` replaced.
    """
    out = Path(out_dir)
    record = json.loads((out / "training.json").read_text())
    final = out / record["checkpoint"]
    model = SIDMNet(SIDMConfig.from_dict(read_checkpoint(final)["config"]))
    snapshots = Snapshots(model, out, [])  # reads validation.csv; scores nothing
    training = {k: v for k, v in record.items() if k not in ("checkpoint", "sha256", "selected")}
    return _write_selected(model, snapshots, int(record["stage2"]["steps"]), training, final)


def _training_record(
    config: TrainConfig,
    model: SIDMNet,
    pool: list,
    held_out: list[str],
    stage1: dict[str, Any] | None,
    stage2: dict[str, Any],
    started: float,
    command: str | None,
) -> dict[str, Any]:
    from fusionbench import __version__

    fusion_params = sum(p.numel() for p in model.fusion.parameters())
    spc_params = sum(p.numel() for p in model.spc.parameters()) if model.spc is not None else 0
    return {
        "config": asdict(config),
        "data": {
            "sources": config.sources,
            "pairs": len(pool),
            "with_mask": sum(p.mask is not None for p in pool),
            "validation": held_out,
        },
        "stage1": stage1,
        "stage2": stage2,
        "parameters": {"fusion": fusion_params, "spc": spc_params, "total": fusion_params + spc_params},
        "wall_seconds": round(time.perf_counter() - started, 1),
        "threads": config.threads,
        "fusionbench": __version__,
        "torch": torch.__version__,
        "git": _git_sha(),
        "command": command,
    }
