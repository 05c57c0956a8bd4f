"""CLI: method listing, the efficiency table and the weights commands."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from fusionbench.cli import main


def run(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def test_list_methods_shows_classic_learned_and_published():
    result = run("list", "methods", "--format", "csv")
    assert result.exit_code == 0, result.output
    ids = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    for expected in ("gff", "lp", "seafusion", "u2fusion", "densefuse", "sdnet", "ifcnn", "published:piafusion"):
        assert expected in ids


def test_efficiency_table_for_classic_methods():
    result = run("table", "--methods", "average,gff", "--efficiency", "--format", "csv")
    assert result.exit_code == 0, result.output
    header, *rows = result.stdout.strip().splitlines()
    assert header.startswith("method,method_id,kind,params,gflops,cpu_ms")
    assert [r.split(",")[1] for r in rows] == ["average", "gff"]
    assert all(float(r.split(",")[5]) > 0 for r in rows)


def test_efficiency_table_refuses_published_methods():
    result = run("table", "--methods", "published:piafusion", "--efficiency")
    assert result.exit_code == 2 and "provides precomputed images" in result.output


def test_weights_verify_reports_a_corrupt_file(shared_root, tmp_path):
    good = shared_root / "weights"
    assert run("weights", "verify", "--weights", good).exit_code == 0
    bad = tmp_path / "weights"
    shutil.copytree(good, bad)
    target = bad / "sdnet" / "SDNet.model.tf2torch.pth"
    target.chmod(0o644)
    target.write_bytes(target.read_bytes()[:1000])
    result = run("weights", "verify", "--weights", bad)
    assert result.exit_code == 1
    assert "sdnet: FAILED" in result.stdout and "does not match the published" in result.stdout
    assert "seafusion: OK" in result.stdout


def test_weights_list_names_the_search_order(tmp_path):
    result = run("weights", "list", "--weights", tmp_path)
    assert result.exit_code == 0
    assert "missing" in result.stdout and "search order: --weights, $FUSIONBENCH_WEIGHTS" in result.stdout


def test_flop_count_includes_in_place_matmuls_and_cpu_attention():
    """The efficiency table's extra formulas against torch's own count of the same products written
    out: ``out.addmm_(a, b)`` as ``out + a @ b``, fused CPU attention as ``softmax(q k^T) v``."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    from fusionbench.methods.learned import _extra_flop_formulas

    def count(fn) -> int:
        with torch.inference_mode(), FlopCounterMode(display=False, custom_mapping=_extra_flop_formulas()) as counter:
            fn()
        return counter.get_total_flops()

    a, b, out = torch.randn(50, 16), torch.randn(16, 8), torch.randn(50, 8)
    assert count(lambda: out.addmm_(a, b)) == count(lambda: out + a @ b) == 2 * 50 * 16 * 8 > 0
    q, k, v = torch.randn(3, 2, 16, 8), torch.randn(3, 2, 16, 8), torch.randn(3, 2, 16, 8)
    bias = torch.randn(1, 2, 16, 16)
    written_out = count(lambda: torch.softmax(q @ k.transpose(-1, -2) + bias, dim=-1) @ v)
    assert count(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=bias)) == written_out > 0
