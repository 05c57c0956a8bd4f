"""Copy trained SIDM checkpoints into the package and index them in ``checkpoints/CHECKPOINTS.json``.

``python -m fusionbench.training.ship RUN_DIR [RUN_DIR ...]`` takes each ``fusionbench train``
folder (its ``sidm-<width>-<group>.pt`` and ``training.json``), copies the checkpoint to
``fusionbench/methods/sidm/checkpoints/`` and records, per file: SHA-256, the command that trained
it, the training data, step counts, stage-1 classifier accuracy, parameters and wall time. The
run's loss curves and validation scores are copied beside the checkpoint under its name
(``<name>.log.csv``, ``<name>.validation.csv``, ``<name>.loss.png``).

With ``--seeds``, a Table 2 row trained with seed k > 0 ships as ``sidm-<width>-<group>-seed<k>.pt``
(seed 0 keeps the plain name, the model ``--ablation gK`` loads), so that ``fusionbench ablate
--shipped`` finds every seed of every row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from fusionbench.methods.sidm.method import CHECKPOINT_DIR


def record(run_dir: Path) -> tuple[Path, dict[str, Any]]:
    """The checkpoint of a training folder and its index entry."""
    info = json.loads((run_dir / "training.json").read_text())
    checkpoint = run_dir / info["checkpoint"]
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    if digest != info["sha256"]:
        raise SystemExit(f"{checkpoint}: SHA-256 {digest} differs from training.json's {info['sha256']}")
    stage1 = info.get("stage1") or {}
    entry = {
        "sha256": digest,
        "bytes": checkpoint.stat().st_size,
        "command": info.get("command"),
        "data": info["data"],
        "config": info["config"],
        "parameters": info["parameters"],
        "stage1": {k: stage1.get(k) for k in ("steps", "patch_accuracy", "tau", "seconds", "full_image", "from")}
        if stage1
        else None,
        "stage2": info["stage2"],
        "wall_seconds": info["wall_seconds"],
        "threads": info["threads"],
        "torch": info["torch"],
        "fusionbench": info["fusionbench"],
        "git": info.get("git"),
    }
    return checkpoint, entry


#: Files of a training folder shipped beside its checkpoint: source name -> suffix after the checkpoint's stem.
CURVES = {"log.csv": ".log.csv", "validation.csv": ".validation.csv", "loss.png": ".loss.png"}


def copy_curves(run_dir: Path, shipped: Path) -> None:
    """Copy the run's loss curves and validation table beside ``shipped`` (those the run has)."""
    for source, suffix in CURVES.items():
        if (run_dir / source).is_file():
            shutil.copyfile(run_dir / source, shipped.with_name(shipped.stem + suffix))


def shipped_name(name: str, seed: int) -> str:
    """``sidm-lite-g3.pt`` for seed 0, ``sidm-lite-g3-seed2.pt`` for seed 2."""
    return name if seed == 0 else name.replace(".pt", f"-seed{seed}.pt")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="fusionbench train output folders")
    parser.add_argument("--seeds", action="store_true", help="name seed k > 0 checkpoints ...-seed<k>.pt")
    args = parser.parse_args(argv)
    index_file = CHECKPOINT_DIR / "CHECKPOINTS.json"
    index = json.loads(index_file.read_text()) if index_file.is_file() else {}
    CHECKPOINT_DIR.mkdir(parents=True, exist_ok=True)
    for run_dir in args.runs:
        checkpoint, entry = record(run_dir)
        name = shipped_name(checkpoint.name, int(entry["config"].get("seed", 0)) if args.seeds else 0)
        shutil.copyfile(checkpoint, CHECKPOINT_DIR / name)
        copy_curves(run_dir, CHECKPOINT_DIR / name)
        index[name] = entry
        print(f"{name}: {entry['sha256'][:16]}  {entry['bytes']:,} bytes  {entry['wall_seconds']} s")
    index_file.write_text(json.dumps(dict(sorted(index.items())), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
