"""The registered ``sidm`` method: checkpoints, options, colour, errors, the shipped models, the CLI."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.methods import fuse, get_method
from fusionbench.methods.base import MethodError
from fusionbench.methods.sidm.config import SIDMConfig, resolve_group
from fusionbench.methods.sidm.method import CHECKPOINT_DIR, shipped_checkpoints
from fusionbench.methods.sidm.network import SIDMNet
from fusionbench.methods.weights import WeightsError
from fusionbench.training.train import save_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = SIDMNet(SIDMConfig("lite", resolve_group("g7")))
    model.set_temperature()
    path = tmp_path_factory.mktemp("ckpt") / "sidm-lite-g7.pt"
    save_model(model, path, {"note": "untrained, for tests"})
    return path


def test_fuse_gray_and_colour_on_odd_sizes(checkpoint: Path) -> None:
    method = get_method("sidm", checkpoint=checkpoint)
    rng = np.random.default_rng(0)
    ir = rng.integers(0, 256, (37, 53), dtype=np.uint8)
    gray = fuse(method, ir, rng.integers(0, 256, (37, 53), dtype=np.uint8))
    colour = fuse(method, ir, rng.integers(0, 256, (37, 53, 3), dtype=np.uint8))
    assert gray.shape == (37, 53) and gray.dtype == np.uint8
    assert colour.shape == (37, 53, 3)


def test_fused_luminance_equals_the_network_output(checkpoint: Path) -> None:
    from fusionbench.methods.sidm.method import load_checkpoint

    rng = np.random.default_rng(1)
    ir = rng.random((40, 48), dtype=np.float32)
    vis = rng.random((40, 48), dtype=np.float32)
    fused = get_method("sidm", checkpoint=checkpoint).fuse(ir, vis)
    with torch.no_grad():
        direct = load_checkpoint(checkpoint).eval()(torch.from_numpy(ir)[None, None], torch.from_numpy(vis)[None, None])
    assert np.allclose(fused, direct[0, 0].numpy(), atol=1e-6)


def test_cache_key_follows_the_checkpoint_bytes(checkpoint: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pt"
    model = SIDMNet(SIDMConfig("lite", resolve_group("g7")))
    save_model(model, other, {})
    a = get_method("sidm", checkpoint=checkpoint)
    b = get_method("sidm", checkpoint=other)
    assert a.weights_sha256() == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert a.cache_key() != b.cache_key()
    assert get_method("sidm", checkpoint=checkpoint, spc_short_side=240).cache_key() != a.cache_key()


def test_too_small_images_are_refused(checkpoint: Path) -> None:
    with pytest.raises(MethodError, match="at least 16x16 pixels, got 8x40"):
        get_method("sidm", checkpoint=checkpoint).fuse(np.zeros((8, 40), np.float32), np.zeros((8, 40), np.float32))


def test_bad_options_are_refused() -> None:
    with pytest.raises(MethodError, match="unknown ablation group 'g8'"):
        get_method("sidm", ablation="g8")
    with pytest.raises(MethodError, match="unknown width 'tiny'"):
        get_method("sidm", width="tiny")


class _Payload:
    def __reduce__(self) -> tuple:
        return (print, ("pwned",))


def test_a_checkpoint_with_a_pickle_payload_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "evil.pt"
    torch.save({"format": "fusionbench-sidm-1", "config": {}, "state_dict": {}, "x": _Payload()}, bad)
    with pytest.raises(WeightsError, match="cannot be loaded safely"):
        get_method("sidm", checkpoint=bad).network()
    plain = tmp_path / "plain.pt"
    torch.save({"format": "something else"}, plain)
    with pytest.raises(WeightsError, match="not a fusionbench SIDM checkpoint"):
        get_method("sidm", checkpoint=plain).network()
    with pytest.raises(WeightsError, match="no such file"):
        get_method("sidm", checkpoint=tmp_path / "missing.pt").network()


def test_a_checkpoint_whose_weights_do_not_fit_is_refused(tmp_path: Path) -> None:
    model = SIDMNet(SIDMConfig("lite", resolve_group("g7")))
    path = tmp_path / "mismatch.pt"
    save_model(model, path, {})
    state = torch.load(path, weights_only=True)
    state["config"]["width"] = "full"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"weights do not fit its configuration.*size mismatch for fusion\."):
        get_method("sidm", checkpoint=path).network()


def test_run_records_the_ablation_row_in_the_manifest(checkpoint: Path, tmp_path: Path) -> None:
    import fusionbench

    frame = fusionbench.run(get_method("sidm", checkpoint=checkpoint), "demo", out=tmp_path / "out", metrics="en")
    config = frame.attrs["manifest"]["method"]["config"]
    assert config["ablation"] == "g7" and config["checkpoint"] == str(checkpoint)
    assert len(frame) == 6 and frame["en"].notna().all()


# -- the shipped checkpoints ----------------------------------------------------------------------

SHIPPED = shipped_checkpoints()
needs_shipped = pytest.mark.skipif(
    not SHIPPED, reason="no SIDM checkpoint shipped in fusionbench/methods/sidm/checkpoints"
)


@needs_shipped
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_checkpoints_match_their_recorded_hash_and_load(name: str) -> None:
    from fusionbench.methods.sidm.method import load_checkpoint

    path = CHECKPOINT_DIR / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHIPPED[name]["sha256"]
    network = load_checkpoint(path)
    record = SHIPPED[name]
    assert record["command"].startswith("fusionbench ")
    assert sum(p.numel() for p in network.parameters()) == record["parameters"]["total"]


@needs_shipped
def test_a_format_1_checkpoint_loads_with_the_edge_scales_fixed_at_one(tmp_path: Path) -> None:
    """Format-1 files (the first shipped models) predate MEGB's edge scale: the same network with gamma = 1."""
    from fusionbench.methods.sidm.method import load_checkpoint

    state = torch.load(CHECKPOINT_DIR / "sidm-lite-g7.pt", weights_only=True)
    assert state["format"] == "fusionbench-sidm-2"
    legacy = {k: v for k, v in state["state_dict"].items() if not k.endswith("edge_scale")}
    torch.save({**state, "format": "fusionbench-sidm-1", "state_dict": legacy}, tmp_path / "old.pt")
    network = load_checkpoint(tmp_path / "old.pt")
    scales = [float(m.edge_scale.detach()) for m in (network.fusion.megb_ir, network.fusion.megb_vi)]
    assert scales == [1.0, 1.0]
    loaded = network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in legacy.items())


@needs_shipped
def test_cli_run_sidm_on_demo_from_the_shipped_checkpoint(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["run", "--method", "sidm", "--dataset", "demo", "--cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "SIDM-Fusion" in result.output and "Qabf" in result.output


def test_cli_choices_equal_the_configuration() -> None:
    from fusionbench.cli import training as cli
    from fusionbench.methods.sidm import config

    assert tuple(config.ABLATION_GROUPS) == cli.ABLATION_GROUPS
    assert tuple(config.WIDTHS) == cli.WIDTHS


def test_train_and_ablate_refuse_bad_options(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["train", "--method", "seafusion", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "only 'sidm' can be trained" in result.output
    result = CliRunner().invoke(main, ["ablate", "--groups", "g1,g9", "--shipped"])
    assert result.exit_code == 2 and "unknown row(s) ['g9']" in result.output


def test_sidm_lite_defaults_to_lite_widths_for_every_row() -> None:
    assert get_method("sidm-lite").config()["width"] == "lite"
    assert get_method("sidm-lite", ablation="g3").config() == get_method("sidm", ablation="g3").config()
    assert get_method("sidm").config()["width"] == "full"


@needs_shipped
def test_cli_run_with_an_ablation_row_records_it_in_the_manifest(tmp_path: Path) -> None:
    import json

    args = [
        "run",
        "--method",
        "sidm",
        "--ablation",
        "g3",
        "--dataset",
        "demo",
        "--metrics",
        "en",
        "--cache",
        str(tmp_path),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    (manifest,) = tmp_path.glob("runs/**/manifest.json")
    config = json.loads(manifest.read_text())["method"]["config"]
    assert config == {"ablation": "g3", "width": "lite", "spc_short_side": 0}
    bad = CliRunner().invoke(
        main, ["run", "--method", "sidm", "--option", "spc_short_side=-1", "--cache", str(tmp_path)]
    )
    assert bad.exit_code == 2 and "spc_short_side must be a whole number >= 0" in bad.output
