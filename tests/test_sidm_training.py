"""SIDM-Fusion losses, target masks, patch sampling and the training loop (CI-sized smoke runs)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from fusionbench.datasets.boxes import BoxError, parse_yolo
from fusionbench.training.data import PatchSampler, TrainingDataError, TrainingPair, box_mask, parse_source
from fusionbench.training.losses import classification_loss, content_loss, saliency_loss
from fusionbench.training.train import TrainConfig, train


def test_content_loss_is_zero_for_identical_images_and_positive_otherwise() -> None:
    x = torch.rand(2, 1, 16, 16)
    assert float(content_loss(x, x, x)) == 0.0
    assert float(content_loss(torch.zeros_like(x), x, x)) > 0.0


def test_content_loss_targets_the_elementwise_maxima() -> None:
    ir = torch.zeros(1, 1, 8, 8)
    vis = torch.full((1, 1, 8, 8), 0.5)
    # Flat images: no gradient term; intensity term |f - max(ir, vis)| = |0.2 - 0.5|.
    assert float(content_loss(torch.full_like(ir, 0.2), ir, vis)) == pytest.approx(0.3, abs=1e-6)


def test_saliency_loss_ignores_samples_without_mask() -> None:
    torch.manual_seed(0)
    psi_ir, psi_vi = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    ir = torch.rand(2, 1, 8, 8)
    mask = torch.ones(2, 1, 8, 8)
    has = torch.tensor([1.0, 0.0])
    base = saliency_loss(psi_ir, psi_vi, ir, mask, has)
    changed = mask.clone()
    changed[1] = 0
    psi_ir2 = psi_ir.clone()
    psi_ir2[1] += 5
    assert torch.equal(saliency_loss(psi_ir2, psi_vi, ir, changed, has), base)
    ca = torch.cat((psi_ir, psi_vi), 1).mean(1, keepdim=True)
    assert float(base) == pytest.approx(float((ir[0] - ca[0]).abs().mean()), rel=1e-6)
    assert float(saliency_loss(psi_ir, psi_vi, ir, mask, torch.zeros(2))) == 0.0


def test_classification_loss_is_cross_entropy() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    expected = -(np.log(np.exp(2) / (np.exp(2) + 1)) + np.log(np.e / (np.e + 1))) / 2
    assert float(classification_loss(logits, torch.tensor([0, 1]))) == pytest.approx(expected, rel=1e-6)


def test_box_mask_fills_yolo_boxes_and_shifts_crops(tmp_path: Path) -> None:
    boxes = tmp_path / "00001N.txt"
    # One box: cx = 0.25 * 640 = 160, cy = 0.5 * 480 = 240, w = 64, h = 48 -> x 128..192, y 216..264.
    boxes.write_text("0 0.25 0.5 0.1 0.1\n")
    parsed = parse_yolo(boxes.read_text(), origin=str(boxes))
    full = box_mask(parsed, (480, 640))
    assert full.sum() == 64 * 48 and full[216, 128] == 1 and full[215, 128] == 0 and full[216, 192] == 0
    crop = box_mask([b.shifted(200, 150, 100, 100) for b in parsed], (100, 100))  # rows 200..299, cols 150..249
    assert crop.sum() == 42 * 48 and crop[16, 0] == 1 and crop[15, 0] == 0
    boxes.write_text("0 0.25 0.5\n")
    with pytest.raises(BoxError, match=r"00001N.txt:1: expected 'class cx cy w h'"):
        parse_yolo(boxes.read_text(), origin=str(boxes))


def test_parse_source() -> None:
    assert parse_source("roadscene/train:45") == ("roadscene", "train", 45)
    assert parse_source("msrs/trainpool") == ("msrs", "trainpool", None)
    with pytest.raises(TrainingDataError, match="expected 'dataset/split'"):
        parse_source("msrs")


def test_patch_sampler_crops_the_same_window_from_every_plane() -> None:
    rng = np.random.default_rng(0)
    ir = rng.random((40, 50), dtype=np.float32)
    pair = TrainingPair("a", "x/y", ir, ir * 0.5, (ir > 0.5).astype(np.float32))
    no_mask = TrainingPair("b", "x/y", ir, ir, None)
    sampler = PatchSampler([pair, no_mask], patch=16, batch=6, seed=3)
    batch = sampler.sample()
    assert batch["ir"].shape == (6, 1, 16, 16)
    for i in range(6):
        if batch["has_mask"][i]:
            assert np.allclose(batch["vis"][i], batch["ir"][i] * 0.5)
            assert np.array_equal(batch["mask"][i], (batch["ir"][i] > 0.5).astype(np.float32))
        else:
            assert not batch["mask"][i].any()
    state = sampler.state
    again = sampler.sample()
    sampler.restore(state)
    assert all(np.array_equal(again[k], v) for k, v in sampler.sample().items())


def _demo_batch(data_root: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from fusionbench.training.data import load_pool

    pool = load_pool(["demo/test"], data_root)
    ir = torch.from_numpy(np.stack([p.ir for p in pool]))[:, None]
    vis = torch.from_numpy(np.stack([p.vis for p in pool]))[:, None]
    return ir, vis


@pytest.mark.slow
def test_training_smoke_run_lowers_the_content_loss(tmp_path: Path) -> None:
    """docs/sidm-spec.md section 12: lite, 20 stage-1 + 50 stage-2 steps on the demo pairs."""
    from fusionbench.methods.sidm.method import load_checkpoint
    from fusionbench.methods.sidm.network import SIDMNet

    config = TrainConfig(
        width="lite",
        ablation="g7",
        stage1_steps=20,
        stage2_steps=50,
        stage1_patch=64,
        sources=["demo/test"],
        log_every=5,
        checkpoint_every=20,
        validation_pairs=0,
    )
    torch.manual_seed(config.seed)
    untrained = SIDMNet(config.model_config).eval()
    final = train(config, tmp_path / "run", data_root=tmp_path / "data", evaluate_classifier=False)
    trained = load_checkpoint(final).eval()
    ir, vis = _demo_batch(tmp_path / "data")
    with torch.no_grad():
        before = float(content_loss(untrained(ir, vis), ir, vis))
        after = float(content_loss(trained(ir, vis), ir, vis))
    assert after < 0.9 * before, (before, after)
    state = torch.load(final, weights_only=True)
    assert state["training"]["stage1"]["steps"] == 20 and state["training"]["stage2"]["steps"] == 50
    assert state["config"] == {"width": "lite", "megb_sobel": True, "sbm": True, "sdrb": True, "spc": True}
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert log[0].startswith("stage,step,lr,loss") and len(log) == 1 + 4 + 10
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000


def test_interrupted_training_resumes_to_the_same_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = TrainConfig(
        width="lite",
        ablation="g3",
        stage2_steps=30,
        stage2_patch=32,
        batch=2,
        sources=["demo/test"],
        log_every=5,
        checkpoint_every=10,
        validation_pairs=0,
    )
    straight = train(config, tmp_path / "straight", data_root=tmp_path / "data")

    import fusionbench.training.train as training

    calls = {"n": 0}
    original = training.saliency_loss

    def crash_at_step_25(*args: object) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 25:
            raise KeyboardInterrupt("simulated kill")
        return original(*args)

    monkeypatch.setattr(training, "saliency_loss", crash_at_step_25)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "resumed", data_root=tmp_path / "data")
    assert not (tmp_path / "resumed" / "sidm-lite-g3.pt").exists()
    monkeypatch.setattr(training, "saliency_loss", original)
    resumed = train(config, tmp_path / "resumed", data_root=tmp_path / "data")
    a = torch.load(straight, weights_only=True)["state_dict"]
    b = torch.load(resumed, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    rows = (tmp_path / "resumed" / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[1]) for r in rows] == [5, 10, 15, 20, 25, 30]
    # the learning rates and the losses of the resumed run are those of the uninterrupted one
    straight_rows = (tmp_path / "straight" / "log.csv").read_text().splitlines()[1:]
    assert [r.split(",")[2:9] for r in rows] == [r.split(",")[2:9] for r in straight_rows]
    lrs = [float(r.split(",")[2]) for r in rows]
    assert lrs == sorted(lrs, reverse=True) and lrs[0] < config.lr and lrs[-1] >= config.lr_min


def test_a_resumed_run_keeps_its_schedule_length(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking an interrupted run for more steps is refused: the cosine schedule was fixed when it started."""
    import fusionbench.training.train as training

    config = TrainConfig(
        width="lite", ablation="g3", stage2_steps=20, stage2_patch=32, batch=2, sources=["demo/test"],
        checkpoint_every=10, validation_pairs=0,
    )  # fmt: skip
    original = training.saliency_loss
    calls = {"n": 0}

    def crash_at_step_15(*args: object) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 15:
            raise KeyboardInterrupt("simulated kill")
        return original(*args)

    monkeypatch.setattr(training, "saliency_loss", crash_at_step_15)
    with pytest.raises(KeyboardInterrupt):
        train(config, tmp_path / "run", data_root=tmp_path / "data")
    monkeypatch.setattr(training, "saliency_loss", original)
    longer = TrainConfig(**{**config.__dict__, "stage2_steps": 40})
    with pytest.raises(training.TrainingStateError, match=r"fixed at 20 stage-2 steps.*--init-from"):
        train(longer, tmp_path / "run", data_root=tmp_path / "data")


def test_cosine_schedule_is_a_function_of_step_and_length() -> None:
    from fusionbench.training.train import cosine_lr

    assert cosine_lr(0, 100, 1e-3, 1e-5) == pytest.approx(1e-3)
    assert cosine_lr(50, 100, 1e-3, 1e-5) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cosine_lr(100, 100, 1e-3, 1e-5) == pytest.approx(1e-5)
    assert cosine_lr(150, 100, 1e-3, 1e-5) == pytest.approx(1e-5)  # never climbs back past the end


def test_init_from_starts_stage_2_from_a_finished_checkpoint(tmp_path: Path) -> None:
    from fusionbench.methods.sidm.method import CHECKPOINT_DIR
    from fusionbench.training.train import TrainingStateError

    base = dict(width="lite", ablation="g7", stage2_patch=32, batch=2, sources=["demo/test"], validation_pairs=0)
    shipped = CHECKPOINT_DIR / "sidm-lite-g7.pt"
    config = TrainConfig(**base, stage2_steps=0, init_from=str(shipped))
    final = train(config, tmp_path / "zero", data_root=tmp_path / "data")
    mine = torch.load(final, weights_only=True)
    theirs = torch.load(shipped, weights_only=True)["state_dict"]
    assert set(mine["state_dict"]) == set(theirs)
    assert all(torch.equal(mine["state_dict"][k], v) for k, v in theirs.items())  # SPC-Net, tau, fusion, scales
    assert mine["training"]["stage1"]["init_from"] == str(shipped)
    tuned = train(TrainConfig(**base, stage2_steps=5, init_from=str(shipped)), tmp_path / "five", tmp_path / "data")
    after = torch.load(tuned, weights_only=True)["state_dict"]
    assert torch.equal(after["spc.classifier.weight"], theirs["spc.classifier.weight"])  # SPC-Net stays frozen
    assert not torch.equal(after["fusion.decoder.out.weight"], theirs["fusion.decoder.out.weight"])
    wrong = TrainConfig(**{**base, "ablation": "g3"}, stage2_steps=1, init_from=str(shipped))
    with pytest.raises(TrainingStateError, match=r"checkpoint is lite/g7, but this run trains lite/g3"):
        train(wrong, tmp_path / "wrong", data_root=tmp_path / "data")


def test_init_from_spc_only_moves_the_classifier_into_another_spc_row(tmp_path: Path) -> None:
    """Table 2's SPC-Net rows share one classifier: g7's SPC-Net (and tau) go into a g5 row, whose
    fusion network differs from g7's; a row without SPC-Net refuses."""
    from fusionbench.methods.sidm.method import CHECKPOINT_DIR
    from fusionbench.training.train import TrainingStateError

    base = dict(width="lite", stage2_patch=32, batch=2, sources=["demo/test"], validation_pairs=0, stage2_steps=0)
    shipped = CHECKPOINT_DIR / "sidm-lite-g7.pt"
    config = TrainConfig(**base, ablation="g5", init_from=str(shipped), init_parts="spc")
    mine = torch.load(train(config, tmp_path / "g5", data_root=tmp_path / "data"), weights_only=True)["state_dict"]
    theirs = torch.load(shipped, weights_only=True)["state_dict"]
    spc = [k for k in theirs if k == "tau" or k.startswith("spc.")]
    assert spc and all(torch.equal(mine[k], theirs[k]) for k in spc)
    assert set(mine) != set(theirs)  # g5 has no SBM/SDRB: another fusion network
    no_spc = TrainConfig(**base, ablation="g6", init_from=str(shipped), init_parts="spc")
    with pytest.raises(TrainingStateError, match=r"needs SPC-Net in the checkpoint and in this row"):
        train(no_spc, tmp_path / "g6", data_root=tmp_path / "data")


def test_config_file_and_unknown_settings(tmp_path: Path) -> None:
    good = tmp_path / "c.toml"
    good.write_text('width = "full"\nstage2_steps = 7\nsources = ["demo/test"]\n')
    config = TrainConfig.from_file(good, stage2_steps=9)
    assert (config.width, config.stage2_steps, config.sources) == ("full", 9, ["demo/test"])
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"widht": "full"}))
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['widht'\]"):
        TrainConfig.from_file(bad)


def test_signed_gradient_target_refuses_an_edge_of_the_wrong_polarity() -> None:
    """IR rises left to right; a fused image that falls instead has the same |gradient|: the
    spec's magnitude target sees no error, the signed target sees twice the edge (hand-computed)."""
    from fusionbench.training.losses import gradient_loss

    ir = torch.zeros(1, 1, 16, 16)
    ir[..., 8:] = 1.0
    vis = torch.zeros(1, 1, 16, 16)
    inverted = 1.0 - ir
    assert float(gradient_loss(inverted, ir, vis, "magnitude")) == 0.0
    # Sobel_x of the step is 4 on columns 7 and 8 (16 rows each): |(-4) - 4| * 32 pixels / 256 pixels
    assert float(gradient_loss(inverted, ir, vis, "signed")) == pytest.approx(8 * 32 / 256)
    assert float(gradient_loss(ir, ir, vis, "signed")) == 0.0
    with pytest.raises(ValueError, match="gradient target"):
        gradient_loss(ir, ir, vis, "sign")


def test_target_loss_on_a_known_case() -> None:
    """Fused 0 everywhere, IR 0.8 / VIS 0.2 in a 4x4 target (mask), 0.2 / 0.2 elsewhere:
    mask part mean|0 - 0.8| = 0.8; hot weight 1 on the 16 target pixels (IR - VIS = 0.6), 0 elsewhere: 0.8."""
    from fusionbench.training.losses import hot_weight, target_loss

    ir = torch.full((2, 1, 8, 8), 0.2)
    ir[:, :, 2:6, 2:6] = 0.8
    vis = torch.full((2, 1, 8, 8), 0.2)
    mask = torch.zeros(2, 1, 8, 8)
    mask[:, :, 2:6, 2:6] = 1.0
    fused = torch.zeros(2, 1, 8, 8)
    assert float(target_loss(fused, ir, vis, mask, torch.tensor([1.0, 1.0]))) == pytest.approx(1.6)
    # without masks only the infrared-hot part is left; it is 0 when nothing is hot
    assert float(target_loss(fused, ir, vis, mask, torch.tensor([0.0, 0.0]))) == pytest.approx(0.8)
    assert float(target_loss(fused, vis, vis, mask * 0, torch.tensor([0.0, 0.0]))) == 0.0
    ramp = hot_weight(torch.tensor([0.05, 0.10, 0.15, 0.5]), torch.zeros(4))
    assert torch.allclose(ramp, torch.tensor([0.0, 0.5, 1.0, 1.0]))


def test_table2_seed_statistics_and_paired_tests_against_row_7() -> None:
    """mean/std over seeds of the per-seed means; Wilcoxon over images of seed-averaged values vs g7
    (checked against scipy directly); 'beyond seeds' from the two-standard-error rule."""
    import pandas as pd
    from scipy.stats import wilcoxon

    from fusionbench.training.ablation import _compare_with_full_model, _row_statistics

    rng = np.random.default_rng(0)
    images = [f"{i:03d}" for i in range(30)]

    def frames(offset: float, jitter: float) -> dict[int, pd.DataFrame]:
        base = rng.normal(3.0, 0.3, len(images))
        return {
            s: pd.DataFrame({"mi": base + offset + s * jitter + rng.normal(0, 0.01, len(images))}, index=images)
            for s in range(3)
        }

    per_image = {"g1": frames(-0.5, 0.01), "g3": frames(0.0, 0.2), "g7": frames(0.0, 0.01)}
    result = pd.DataFrame([_row_statistics(g, f, ["mi"]) for g, f in per_image.items()])
    seed_means = [float(per_image["g3"][s]["mi"].mean()) for s in range(3)]
    row = result.set_index("group").loc["g3"]
    assert row["mi"] == pytest.approx(np.mean(seed_means))
    assert row["mi_std"] == pytest.approx(np.std(seed_means, ddof=1))
    assert row["seeds"] == 3 and row["n"] == 30
    _compare_with_full_model(result, per_image, ["mi"])
    result = result.set_index("group")
    averaged = {g: sum(f.values()) / 3 for g, f in per_image.items()}
    expected = wilcoxon(averaged["g1"]["mi"], averaged["g7"]["mi"]).pvalue
    assert result.loc["g1", "mi_p"] == pytest.approx(expected, rel=1e-12)
    assert bool(result.loc["g1", "mi_beyond_seeds"])  # 0.5 apart with tiny seed spread
    assert not bool(result.loc["g3", "mi_beyond_seeds"])  # the seeds of g3 spread by 0.2 each
    assert np.isnan(result.loc["g7", "mi_p"])


def test_table2_paired_test_leaves_out_images_without_a_value() -> None:
    """Object measures are NaN on images without a box: the Wilcoxon pairs only images scored in both rows."""
    import pandas as pd
    from scipy.stats import wilcoxon

    from fusionbench.training.ablation import _compare_with_full_model, _row_statistics

    rng = np.random.default_rng(1)
    images = [f"{i:03d}" for i in range(20)]
    full = rng.normal(0.6, 0.05, 20)
    other = full - 0.05 + rng.normal(0, 0.01, 20)
    full[[2, 7]], other[[7, 11]] = np.nan, np.nan
    per_image = {g: {0: pd.DataFrame({"target_contrast": v}, index=images)} for g, v in (("g1", other), ("g7", full))}
    result = pd.DataFrame([_row_statistics(g, f, ["target_contrast"]) for g, f in per_image.items()])
    _compare_with_full_model(result, per_image, ["target_contrast"])
    kept = ~(np.isnan(full) | np.isnan(other))
    expected = wilcoxon(other[kept], full[kept]).pvalue
    assert result.set_index("group").loc["g1", "target_contrast_p"] == pytest.approx(expected, rel=1e-12)


def test_edge_scale_starts_small_and_can_be_fixed_as_the_spec_has_it(tmp_path: Path) -> None:
    base = dict(width="lite", ablation="g2", stage2_steps=3, stage2_patch=32, batch=2, sources=["demo/test"])
    learnt = train(TrainConfig(**base, validation_pairs=0), tmp_path / "learnt", data_root=tmp_path / "data")
    fixed = train(
        TrainConfig(**base, validation_pairs=0, edge_scale_init=1.0, edge_scale_trainable=False),
        tmp_path / "fixed",
        data_root=tmp_path / "data",
    )
    learnt_scale = float(torch.load(learnt, weights_only=True)["state_dict"]["fusion.megb_ir.edge_scale"])
    fixed_scale = float(torch.load(fixed, weights_only=True)["state_dict"]["fusion.megb_ir.edge_scale"])
    assert learnt_scale != 0.1 and abs(learnt_scale - 0.1) < 0.01  # started at 0.1, moved by Adam's steps
    assert fixed_scale == 1.0


def test_selection_gates_on_targets_and_roughness_then_takes_the_best_score() -> None:
    from fusionbench.training.validation import select

    def row(step: int, score: float, contrast: float, rough: float) -> dict:
        return {"step": step, "score": score, "target_contrast": contrast, "ir_roughness": rough,
                "ir_self_roughness": 0.05}  # fmt: skip

    rows = [row(500, 8.0, 0.7, 0.06), row(1000, 9.5, 0.1, 0.13), row(1500, 8.8, 0.65, 0.07), row(2000, 8.9, 0.6, 0.08)]
    assert select(rows)["step"] == 1500  # 1000 lost its targets (ridges); 2000 is 1.6x as rough as the IR
    assert select([row(500, 8.0, 0.2, 0.06), row(1000, 9.0, 0.3, 0.2)])["step"] == 1000  # none qualifies: most contrast
    # the spec's objective inverts the targets: the untrained step 0 (contrast ~0) must not win the fallback
    inverted = [row(0, 0.08, -1e-6, 0.0), row(500, 6.9, -0.15, 0.054), row(2000, 7.3, -0.11, 0.065)]
    assert select(inverted)["step"] == 2000


def test_table2_seeds_ship_under_names_ablate_shipped_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fusionbench.training.ablation import shipped_rows
    from fusionbench.training.ship import shipped_name

    assert shipped_name("sidm-lite-g3.pt", 0) == "sidm-lite-g3.pt"
    assert shipped_name("sidm-lite-g3.pt", 2) == "sidm-lite-g3-seed2.pt"
    for name in ("sidm-lite-g3.pt", "sidm-lite-g3-seed1.pt", "sidm-lite-g3-seed2.pt", "sidm-full-g3.pt"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr("fusionbench.methods.sidm.method.CHECKPOINT_DIR", tmp_path)
    assert shipped_rows("lite") == {
        ("g3", 0): tmp_path / "sidm-lite-g3.pt",
        ("g3", 1): tmp_path / "sidm-lite-g3-seed1.pt",
        ("g3", 2): tmp_path / "sidm-lite-g3-seed2.pt",
    }
