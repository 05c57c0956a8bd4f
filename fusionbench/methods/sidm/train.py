"""Stage-wise training of SIDM-Fusion (``docs/sidm-spec.md`` section 6).

Stage 1 trains SPC-Net alone (cross-entropy, Adam 1e-3, 128 px patches, 8 pairs = 16 images per
step, stopping early once the patch accuracy of the last 100 steps reaches 0.95), then fixes the
fusion temperature ``tau``. Stage 2 trains stems, MEGBs, SDRB, SBM and decoder with SPC-Net frozen
(``lambda1 L_content + lambda2 L_sal``, Adam 1e-3 with cosine decay to 1e-5, 64 px patches). Rows
without SPC-Net skip stage 1; ``stage1_from`` reuses another run's stage 1 (Table 2's rows 5 and 7
share one).

Everything is deterministic for a seed (Python, NumPy and torch seeded; the patch sampler is a
seeded NumPy generator) and resumable: ``stage1-last.pt`` / ``stage2-last.pt`` hold the model,
optimiser, scheduler and sampler states every ``checkpoint_every`` steps; a rerun with the same
output folder continues from them. The folder also receives ``log.csv`` (one row per logged
step), ``loss.png`` and the final ``sidm-<width>-<group>.pt`` (see :func:`save_model`).
"""

from __future__ import annotations

import csv
import json
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

from fusionbench.methods.sidm.config import SIDMConfig, resolve_group
from fusionbench.methods.sidm.data import DEFAULT_SOURCES, PatchSampler, load_pool
from fusionbench.methods.sidm.losses import classification_loss, content_loss, saliency_loss
from fusionbench.methods.sidm.network import SIDMNet

CHECKPOINT_FORMAT = "fusionbench-sidm-1"
LOG_FIELDS = (
    "stage",
    "step",
    "lr",
    "loss",
    "content",
    "saliency",
    "accuracy",
    "rho_min",
    "rho_mean",
    "rho_max",
    "seconds",
)


@dataclass
class TrainConfig:
    """Every setting of a training run (stored in the checkpoint). Defaults: the spec's CPU recipe."""

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
    stage1_stop_accuracy: float = 0.95
    seed: int = 0
    sources: list[str] = field(default_factory=lambda: list(DEFAULT_SOURCES))
    masks: str | None = None
    use_masks: bool = True
    stage1_from: str | None = None
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
        return config


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _git_sha() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class TrainingLog:
    """Rows of ``log.csv``; on resume, rows after the resumed step of the current stage are dropped."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows: list[dict[str, Any]] = []
        if path.is_file():
            with path.open(newline="") as handle:
                self.rows = list(csv.DictReader(handle))

    def truncate(self, stage: int, step: int) -> None:
        self.rows = [
            r for r in self.rows if int(r["stage"]) < stage or (int(r["stage"]) == stage and int(r["step"]) <= step)
        ]

    def add(self, **row: Any) -> None:
        self.rows.append({k: row.get(k, "") for k in LOG_FIELDS})

    def write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=LOG_FIELDS)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)


def plot_log(log_csv: Path, out_png: Path) -> None:
    """Loss curves of both stages (and stage 1's patch accuracy) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    frame = pd.read_csv(log_csv)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    s1, s2 = frame[frame["stage"] == 1], frame[frame["stage"] == 2]
    if len(s1):
        axes[0].plot(s1["step"], s1["loss"], label="cross-entropy")
        axes[0].plot(s1["step"], s1["accuracy"], label="patch accuracy (last 100 steps)")
        axes[0].legend()
    axes[0].set(title="Stage 1: SPC-Net", xlabel="step")
    if len(s2):
        for column in ("loss", "content", "saliency"):
            axes[1].plot(s2["step"], s2[column], label=column)
        axes[1].set_yscale("log")
        axes[1].legend()
    axes[1].set(title="Stage 2: fusion network", xlabel="step")
    fig.tight_layout()
    tmp = out_png.with_name(f".{out_png.stem}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, out_png)


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
    state = torch.load(path, weights_only=True)
    for key, obj in stateful.items():
        obj.load_state_dict(state[key])
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
    spc.eval()
    for p in spc.parameters():
        p.requires_grad_(False)
    tau = model.set_temperature()
    result = {
        "steps": step,
        "patch_accuracy": float(np.mean(recent)) if recent else float("nan"),
        "tau": tau,
        "seconds": round(seconds, 1),
    }
    _atomic_save({"spc": spc.state_dict(), "tau": tau, "width": config.width, "result": result}, out_dir / "stage1.pt")
    return result


def load_stage1(model: SIDMNet, path: Path, width: str) -> dict:
    """Load a saved stage 1 (SPC-Net weights and tau) into ``model``; returns its result record."""
    state = torch.load(path, weights_only=True)
    if state.get("width") != width:
        raise ValueError(f"{path}: stage 1 was trained for width {state.get('width')!r}, not {width!r}")
    assert model.spc is not None
    model.spc.load_state_dict(state["spc"])
    model.spc.eval()
    for p in model.spc.parameters():
        p.requires_grad_(False)
    model.tau.fill_(float(state["tau"]))
    return {**state["result"], "from": str(path)}


def train_stage2(
    model: SIDMNet, config: TrainConfig, pool: list, out_dir: Path, log: TrainingLog, progress: bool
) -> dict:
    """Train the fusion network with SPC-Net frozen; returns ``{"steps", "seconds", "final_loss", "rho"}``."""
    fusion = model.fusion
    optimizer = torch.optim.Adam(fusion.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.stage2_steps, eta_min=config.lr_min)
    sampler = PatchSampler(pool, config.stage2_patch, config.batch, seed=config.seed)
    resume = out_dir / "stage2-last.pt"
    start_step, seconds, _ = _resume(resume, 2, log, sampler, fusion=fusion, optimizer=optimizer, scheduler=scheduler)
    fusion.train()
    step = start_step
    recent: deque[float] = deque(maxlen=50)
    rho_seen = [1.0, 0.0]
    bar = _progress(config.stage2_steps, start_step, "stage 2 (fusion)", progress)
    while step < config.stage2_steps:
        tick = time.perf_counter()
        batch = {k: torch.from_numpy(v) for k, v in sampler.sample().items()}
        out = model.run(batch["ir"], batch["vis"])
        l_content = content_loss(out["fused"], batch["ir"], batch["vis"], config.alpha)
        l_sal = saliency_loss(out["psi_ir"], out["psi_vi"], batch["ir"], batch["mask"], batch["has_mask"])
        loss = config.lambda_content * l_content + config.lambda_saliency * l_sal
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        lr = scheduler.get_last_lr()[0]
        scheduler.step()
        step += 1
        seconds += time.perf_counter() - tick
        recent.append(loss.item())
        rho = out["rho_ir"]
        rho_seen = [min(rho_seen[0], float(rho.min())), max(rho_seen[1], float(rho.max()))]
        bar.update(1)
        if step % config.log_every == 0 or step == config.stage2_steps:
            log.add(
                stage=2,
                step=step,
                lr=f"{lr:.6g}",
                loss=f"{loss.item():.6f}",
                content=f"{l_content.item():.6f}",
                saliency=f"{l_sal.item():.6f}",
                rho_min=f"{float(rho.min()):.4f}",
                rho_mean=f"{float(rho.mean()):.4f}",
                rho_max=f"{float(rho.max()):.4f}",
                seconds=f"{seconds:.2f}",
            )
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % config.checkpoint_every == 0 and step < config.stage2_steps:
            _atomic_save(
                {
                    "fusion": fusion.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "sampler": sampler.state,
                    "torch_rng": torch.get_rng_state(),
                    "step": step,
                    "seconds": seconds,
                },
                resume,
            )
            log.write()
    bar.close()
    log.write()
    fusion.eval()
    return {
        "steps": step,
        "seconds": round(seconds, 1),
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
    state = torch.load(stage1_file, weights_only=True)
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


def train(
    config: TrainConfig,
    out_dir: str | os.PathLike[str],
    data_root: str | os.PathLike[str] | None = None,
    *,
    progress: bool = False,
    evaluate_classifier: bool = True,
    command: str | None = None,
) -> Path:
    """Run both stages into ``out_dir`` (resuming what is there); returns the final checkpoint's path."""
    from fusionbench import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    final = out / f"sidm-{config.width}-{config.group}.pt"
    if final.is_file() and (out / "training.json").is_file():
        done = json.loads((out / "training.json").read_text())
        if done.get("config") == json.loads(json.dumps(asdict(config), default=str)):
            return final  # finished earlier with the same settings
    torch.set_num_threads(config.threads)
    seed_everything(config.seed)
    started = time.perf_counter()
    model_config = config.model_config
    model = SIDMNet(model_config)
    pool = load_pool(config.sources, data_root, config.masks, config.use_masks)
    log = TrainingLog(out / "log.csv")
    stage1: dict[str, Any] | None = None
    if model.spc is not None:
        if config.stage1_from:
            stage1_file = Path(config.stage1_from)
            if not stage1_file.is_file():
                raise ValueError(f"stage1_from {stage1_file}: no such file")
        else:
            stage1_file = ensure_stage1(
                model, config, pool, out, log, data_root, progress=progress, evaluate=evaluate_classifier
            )
        stage1 = load_stage1(model, stage1_file, config.width)
    seed_everything(config.seed)
    stage2 = train_stage2(model, config, pool, out, log, progress)
    plot_log(out / "log.csv", out / "loss.png")
    fusion_params = sum(p.numel() for p in model.fusion.parameters())
    spc_params = sum(p.numel() for p in model.spc.parameters()) if model.spc is not None else 0
    training = {
        "config": asdict(config),
        "data": {
            "sources": config.sources,
            "pairs": len(pool),
            "with_mask": sum(p.mask is not None for p in pool),
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
    digest = save_model(model, final, training)
    (out / "training.json").write_text(json.dumps({**training, "checkpoint": final.name, "sha256": digest}, indent=2))
    return final
