"""Shipping trained SIDM checkpoints: names per seed, the index entry, the curves copied beside them."""

from __future__ import annotations

import hashlib
import json

import pytest

from fusionbench.training import ship


def _run_folder(root, seed: int, with_png: bool = True):
    run = root / f"seed{seed}"
    run.mkdir()
    weights = f"weights of seed {seed}".encode()
    (run / "sidm-lite-g3.pt").write_bytes(weights)
    info = {
        "checkpoint": "sidm-lite-g3.pt",
        "sha256": hashlib.sha256(weights).hexdigest(),
        "data": ["msrs/trainpool"],
        "config": {"width": "lite", "ablation": "g3", "seed": seed},
        "parameters": 79349,
        "stage2": {"steps": 2000},
        "wall_seconds": 12.5,
        "threads": 1,
        "torch": "2.13.0",
        "fusionbench": "0.1.0",
    }
    (run / "training.json").write_text(json.dumps(info))
    (run / "log.csv").write_text(f"stage,step,loss\n2,10,{seed}.5\n")
    (run / "validation.csv").write_text("step,score\n500,0.1\n")
    if with_png:
        (run / "loss.png").write_bytes(b"\x89PNG fake")
    return run


def test_seeds_ship_under_their_names_with_curves_and_index(tmp_path, monkeypatch, capsys):
    target = tmp_path / "checkpoints"
    monkeypatch.setattr(ship, "CHECKPOINT_DIR", target)
    runs = [_run_folder(tmp_path, 0), _run_folder(tmp_path, 2, with_png=False)]
    assert ship.main(["--seeds", *map(str, runs)]) == 0
    assert (target / "sidm-lite-g3.pt").read_bytes() == b"weights of seed 0"
    assert (target / "sidm-lite-g3-seed2.pt").read_bytes() == b"weights of seed 2"
    assert (target / "sidm-lite-g3-seed2.log.csv").read_text() == "stage,step,loss\n2,10,2.5\n"
    assert (target / "sidm-lite-g3.validation.csv").is_file() and (target / "sidm-lite-g3.loss.png").is_file()
    assert not (target / "sidm-lite-g3-seed2.loss.png").exists()  # the run had none
    index = json.loads((target / "CHECKPOINTS.json").read_text())
    assert sorted(index) == ["sidm-lite-g3-seed2.pt", "sidm-lite-g3.pt"]
    assert index["sidm-lite-g3-seed2.pt"]["sha256"] == hashlib.sha256(b"weights of seed 2").hexdigest()
    assert "sidm-lite-g3-seed2.pt" in capsys.readouterr().out


def test_a_checkpoint_that_differs_from_its_record_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(ship, "CHECKPOINT_DIR", tmp_path / "checkpoints")
    run = _run_folder(tmp_path, 1)
    (run / "sidm-lite-g3.pt").write_bytes(b"changed after training")
    with pytest.raises(SystemExit, match=r"differs from training\.json"):
        ship.main([str(run)])
    assert not (tmp_path / "checkpoints" / "sidm-lite-g3.pt").exists()
