"""SIDM-Fusion blocks: shapes on odd sizes, gradient flow, ablation toggles, Swin padding, fusion rule.

Reference values: the parameter counts of docs/sidm-spec.md sections 9 and 10.2 (measured on the
spec authors' independent prototype), hand-written attention and closed-form fusion weights.
"""

from __future__ import annotations

import math

import pytest
import torch

from fusionbench.methods.sidm.config import ABLATION_GROUPS, SIDMConfig, resolve_group
from fusionbench.methods.sidm.network import MEGB, SBM, SDRB, SIDMNet, SPCNet, conv, pointwise, sobel_magnitude
from fusionbench.methods.sidm.swin import SwinLayer, WindowAttention, attention_mask

# docs/sidm-spec.md section 10.2: fusion-network parameters per Table 2 row; section 9: SPC-Net.
SPEC_FUSION_PARAMS = {
    "full": {"g1": 79_377, "g2": 80_465, "g3": 82_801, "g4": 116_513, "g5": 80_465, "g6": 118_849, "g7": 118_849},
    "lite": {"g1": 20_041, "g2": 20_329, "g3": 20_921, "g4": 29_393, "g5": 20_329, "g6": 29_985, "g7": 29_985},
}
SPEC_SPC_PARAMS = {"full": 191_974, "lite": 49_364}


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("width", ["full", "lite"])
@pytest.mark.parametrize("group", list(ABLATION_GROUPS))
def test_every_row_builds_with_the_spec_parameter_count(width: str, group: str) -> None:
    model = SIDMNet(SIDMConfig(width, resolve_group(group)))
    # + one learnable edge-path scale per MEGB where the Sobel path exists (docs/sidm.md deviation)
    edge_scales = 2 if ABLATION_GROUPS[group].megb_sobel else 0
    assert count(model.fusion) == SPEC_FUSION_PARAMS[width][group] + edge_scales
    expected_spc = SPEC_SPC_PARAMS[width] if ABLATION_GROUPS[group].spc else 0
    assert (count(model.spc) if model.spc is not None else 0) == expected_spc


@pytest.mark.parametrize("width", ["full", "lite"])
@pytest.mark.parametrize("shape", [pytest.param((483, 641), marks=pytest.mark.slow), (270, 361)])
def test_output_and_cam_shapes_on_odd_sizes(width: str, shape: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = SIDMNet(SIDMConfig(width)).eval()
    h, w = shape
    ir, vis = torch.rand(1, 1, h, w), torch.rand(1, 1, h, w)
    with torch.inference_mode():
        out = model.run(ir, vis)
        cam = model.spc.features(ir)
    assert out["fused"].shape == (1, 1, h, w)
    assert out["psi_ir"].shape == out["psi_vi"].shape == (1, model.config.widths.encoder_out, h, w)
    assert cam.shape == (1, model.config.widths.encoder_out, math.ceil(h / 4), math.ceil(w / 4))
    assert float(out["fused"].min()) > 0.0 and float(out["fused"].max()) < 1.0  # tanh / 2 + 0.5


def test_batch_of_patches() -> None:
    model = SIDMNet(SIDMConfig("lite")).eval()
    with torch.inference_mode():
        fused = model(torch.rand(8, 1, 64, 64), torch.rand(8, 1, 64, 64))
    assert fused.shape == (8, 1, 64, 64)


def test_gradients_reach_every_trained_block_and_not_the_frozen_classifier() -> None:
    torch.manual_seed(0)
    model = SIDMNet(SIDMConfig("lite"))
    for p in model.spc.parameters():
        p.requires_grad_(False)
    out = model.run(torch.rand(2, 1, 33, 47), torch.rand(2, 1, 33, 47))
    (out["fused"].mean() + out["psi_ir"].mean() + out["psi_vi"].mean()).backward()
    for name, block in model.fusion.named_children():
        grads = [p.grad for p in block.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert any(float(g.abs().sum()) > 0 for g in grads), name
    assert all(p.grad is None for p in model.spc.parameters())
    # The VIS branch reads the IR features through the spatial bias: the IR stem gets VIS-side gradient.
    model.zero_grad()
    _, psi_vi = model.fusion.encode(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    psi_vi.sum().backward()
    assert float(model.fusion.stem_ir.weight.grad.abs().sum()) > 0


def test_megb_sobel_toggle_removes_only_the_gradient_path() -> None:
    with_sobel, without = MEGB(8, 8, 16, sobel=True), MEGB(8, 8, 16, sobel=False)
    assert with_sobel.gradient is not None and without.gradient is None
    assert count(with_sobel) - count(without) == 8 * 16 + 16 + 1  # 1x1 conv + the edge scale
    without.load_state_dict(
        {k: v for k, v in with_sobel.state_dict().items() if not k.startswith(("gradient", "edge_scale"))}
    )
    x = torch.rand(1, 8, 20, 20)
    with torch.no_grad():
        torch.nn.init.zeros_(with_sobel.gradient.weight)
        torch.nn.init.zeros_(with_sobel.gradient.bias)
        assert torch.allclose(with_sobel(x), without(x), atol=1e-6)


def test_sdrb_off_is_its_shortcut_and_sbm_off_ignores_the_ir_features() -> None:
    on, off = SDRB(16, 32, enabled=True), SDRB(16, 32, enabled=False)
    off.shortcut.load_state_dict(on.shortcut.state_dict())
    x = torch.rand(1, 16, 12, 12)
    with torch.no_grad():
        assert torch.equal(off(x), on.shortcut(x))
    sbm = SBM(16, 32, 8, 8, 32, enabled=False)
    vis = torch.rand(1, 16, 12, 12)
    with torch.no_grad():
        assert torch.equal(sbm(vis, torch.rand(1, 32, 12, 12)), sbm(vis, torch.rand(1, 32, 12, 12)))
    sbm_on = SBM(16, 32, 8, 8, 32, enabled=True)
    with torch.no_grad():
        assert sbm_on.spatial_bias(torch.rand(1, 32, 13, 15)).shape == (1, 8, 13, 15)  # odd size: pooled, cropped


def test_sobel_magnitude_matches_a_hand_computed_ramp() -> None:
    ramp = torch.arange(6, dtype=torch.float32).repeat(6, 1)[None, None]  # +1 per column
    grad = sobel_magnitude(ramp)
    # Interior: Gx = (1 + 2 + 1) * 2 = 8, Gy = 0; replicate padding halves Gx at the side columns.
    assert torch.allclose(grad[0, 0, 1:-1, 1:-1], torch.full((4, 4), 8.0))
    assert torch.allclose(grad[0, 0, :, 0], torch.full((6,), 4.0))


def _reference_window_attention(attn: WindowAttention, tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Attention of every token of one window over the kept keys only, written out by hand."""
    n, c = tokens.shape
    heads, d = attn.heads, c // attn.heads
    q, k, v = attn.qkv(tokens).view(n, 3, heads, d).permute(1, 2, 0, 3)
    bias = attn.relative_bias[attn.relative_index.view(-1)].view(n, n, heads).permute(2, 0, 1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(d) + bias
    scores = scores[:, :, keep]
    out = torch.softmax(scores, dim=-1) @ v[:, keep]
    return attn.proj(out.transpose(0, 1).reshape(n, c))


def test_padded_keys_are_masked_out_of_the_attention() -> None:
    torch.manual_seed(0)
    attn = WindowAttention(16, 2, 8)
    # A 5x6 map padded to 8x8: one window, 30 real tokens.
    mask = attention_mask(8, 8, 5, 6, 8, 0, torch.device("cpu"))
    assert mask is not None and mask.shape == (1, 64, 64)
    tokens = torch.randn(1, 64, 16)
    keep = torch.zeros(8, 8, dtype=torch.bool)
    keep[:5, :6] = True
    keep = keep.flatten()
    with torch.no_grad():
        ours = attn(tokens, mask)[0]
        reference = _reference_window_attention(attn, tokens[0], keep)
    # -100 instead of -inf leaves exp(-100) ~ 4e-44 of weight on padded keys.
    assert torch.allclose(ours[keep], reference[keep], atol=1e-5)


def test_no_mask_is_built_when_the_map_divides_into_windows() -> None:
    assert attention_mask(16, 24, 16, 24, 8, 0, torch.device("cpu")) is None
    shifted = attention_mask(16, 24, 16, 24, 8, 4, torch.device("cpu"))
    assert shifted is not None and float(shifted.min()) == -100.0  # shift regions only


@pytest.mark.parametrize("shifted", [False, True])
def test_swin_output_does_not_depend_on_the_padding_amount(shifted: bool) -> None:
    torch.manual_seed(0)
    layer = SwinLayer(16, 2, window=8, shifted=shifted).eval()
    x = torch.randn(1, 16, 19, 21)  # padded to 24x24; with one more window, 32x32
    with torch.no_grad():
        normal = layer(x)
        layer.extra_windows = 1
        more = layer(x)
    assert normal.shape == x.shape
    assert torch.allclose(normal, more, atol=1e-5)


def test_spc_logits_change_less_than_1e_4_with_extra_padding() -> None:
    """docs/sidm-spec.md section 12: logits change by < 1e-4 when another +8 of padding is added."""
    torch.manual_seed(0)
    spc = SPCNet(16, 32, (1, 1)).eval()
    x = torch.rand(1, 1, 70, 93)  # maps 35x47 and 18x24: both need padding
    with torch.no_grad():
        normal = spc(x)
        for layer in (spc.stl1, spc.stl2, spc.stl3, spc.stl4):
            layer.extra_windows = 1
        more = spc(x)
    assert float((normal - more).abs().max()) < 1e-4


def test_spc_net_classifies_mean_removed_images() -> None:
    spc = SPCNet(16, 32, (1, 1)).eval()
    x = torch.rand(2, 1, 40, 56)
    with torch.no_grad():
        # Per-image mean removal: a brightness offset does not change the logits.
        assert torch.allclose(spc(x), spc(x + 0.3), atol=1e-5)
        assert spc(x).shape == (2, 2)
    assert spc.classifier.bias is None  # CAM form


def test_fusion_weights_follow_the_closed_form() -> None:
    torch.manual_seed(0)
    model = SIDMNet(SIDMConfig("lite")).eval()
    ce = model.config.widths.encoder_out
    with torch.no_grad():
        model.spc.classifier.weight.copy_(torch.randn(2, ce) * 0.1)
    tau = model.set_temperature()
    w = model.spc.classifier.weight
    assert tau == pytest.approx(float((w[0] - w[1]).detach().std()), rel=1e-6)
    p_ir, p_vi = torch.tensor([0.9]), torch.tensor([0.6])
    model.class_probabilities = lambda ir, vis: (p_ir, p_vi)  # type: ignore[method-assign]
    ir, vis = torch.rand(1, 1, 24, 24), torch.rand(1, 1, 24, 24)
    with torch.no_grad():
        rho = model.fusion_weights(ir, vis)
        expected = torch.exp(0.9 * w[0] / tau) / (torch.exp(0.9 * w[0] / tau) + torch.exp(0.6 * w[1] / tau))
        assert torch.allclose(rho[0], expected, atol=1e-6)
        # Scaling W scales tau too: rho is unchanged.
        model.spc.classifier.weight.mul_(7.0)
        model.set_temperature()
        assert torch.allclose(model.fusion_weights(ir, vis), rho, atol=1e-6)
        out = model.run(ir, vis)
        psi_ir, psi_vi = model.fusion.encode(ir, vis)
        fused = model.fusion.decoder(rho[:, :, None, None] * psi_ir + (1 - rho[:, :, None, None]) * psi_vi)
        assert torch.allclose(out["fused"], fused, atol=1e-6)


def test_without_spc_every_weight_is_one_half() -> None:
    model = SIDMNet(SIDMConfig("lite", resolve_group("g6")))
    assert model.spc is None
    rho = model.fusion_weights(torch.rand(3, 1, 20, 20), torch.rand(3, 1, 20, 20))
    assert rho.shape == (3, 32) and bool((rho == 0.5).all())


def test_spc_short_side_runs_the_classifier_on_a_smaller_copy() -> None:
    model = SIDMNet(SIDMConfig("lite"), spc_short_side=32).eval()
    seen = []
    original = model.spc.forward
    model.spc.forward = lambda x: (seen.append(tuple(x.shape[-2:])), original(x))[1]  # type: ignore[method-assign]
    with torch.no_grad():
        model(torch.rand(1, 1, 64, 96), torch.rand(1, 1, 64, 96))
    assert seen == [(32, 48)]


def test_unknown_width_or_group_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown SIDM width 'huge'"):
        SIDMConfig("huge")
    with pytest.raises(ValueError, match="unknown ablation group 'g9'"):
        resolve_group("g9")


def test_fast_inference_layout_keeps_the_output() -> None:
    """1x1 convolutions built without the (zero-width) reflection pad give the same numbers as with it,
    and channels-last inference stays within float rounding of the contiguous layout (far below 1/255)."""
    torch.manual_seed(0)
    model = SIDMNet(SIDMConfig("lite")).eval()
    ir, vis = torch.rand(1, 1, 70, 90), torch.rand(1, 1, 70, 90)
    with torch.no_grad():
        fast = model(ir, vis)
        ones = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (1, 1)]
        assert ones and all(m.padding_mode == "zeros" for m in ones)
        for m in ones:
            if m in set(model.fusion.modules()):
                m.padding_mode = "reflect"  # the spec's layer as first built: pads by zero pixels first
        assert torch.equal(model(ir, vis), fast)
        model.to(memory_format=torch.channels_last)
        layout = torch.channels_last
        last = model(ir.contiguous(memory_format=layout), vis.contiguous(memory_format=layout))
    assert float((last - fast).abs().max()) < 1e-4


@pytest.mark.parametrize("kernel", [3, 5, 7])
@pytest.mark.parametrize("shape", [(40, 52), (7, 19), (4, 4)])
def test_reflect_conv_equals_torch_reflection_padding(kernel: int, shape: tuple[int, int]) -> None:
    """The fusion net's convolution (zero-padded, borders redone from reflected strips) against
    torch's reflection-padded ``nn.Conv2d`` with the same weights: outputs and gradients, both layouts
    (a 4 x 4 map is too small for the 5x5 and 7x7 strips and takes torch's path)."""
    torch.manual_seed(kernel)
    ours = conv(4, 6, kernel)
    reference = torch.nn.Conv2d(4, 6, kernel, padding=kernel // 2, padding_mode="reflect")
    reference.load_state_dict(ours.state_dict())
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(2, 4, *shape).contiguous(memory_format=layout).requires_grad_(True)
        x_ref = x.detach().clone().requires_grad_(True)
        out, out_ref = ours(x), reference(x_ref)
        assert torch.allclose(out, out_ref, atol=1e-5)
        out.square().sum().backward()
        out_ref.square().sum().backward()
        assert x.grad is not None and x_ref.grad is not None
        assert torch.allclose(x.grad, x_ref.grad, atol=1e-4)
        assert ours.weight.grad is not None and reference.weight.grad is not None
        assert torch.allclose(ours.weight.grad, reference.weight.grad, rtol=1e-5, atol=1e-3)
        ours.zero_grad()
        reference.zero_grad()


def test_pointwise_equals_the_layer_on_the_concatenation() -> None:
    """``pointwise(layer, a, b, c)`` (per-part matrix products on channels-last maps) against
    ``layer(cat(a, b, c))``; other layouts take the concatenation itself."""
    torch.manual_seed(0)
    layer = torch.nn.Conv2d(48, 24, 1)
    parts = [torch.randn(2, c, 9, 13) for c in (16, 8, 24)]
    expected = layer(torch.cat(parts, dim=1))
    for layout in (torch.contiguous_format, torch.channels_last):
        got = pointwise(layer, *(p.contiguous(memory_format=layout) for p in parts))
        assert got.shape == expected.shape
        assert torch.allclose(got, expected, atol=1e-5)


def test_masked_window_attention_equals_the_written_out_formula() -> None:
    """Shifted-window attention over two images (the per-image fused-kernel path) against
    ``softmax(q k^T / sqrt(d) + B_rel + mask) v`` written out window by window."""
    torch.manual_seed(0)
    ws, heads, dim = 4, 2, 8
    attention = WindowAttention(dim, heads, ws).eval()
    torch.nn.init.normal_(attention.relative_bias, std=0.5)
    mask = attention_mask(8, 12, 7, 10, ws, ws // 2, torch.device("cpu"))
    assert mask is not None
    n_windows, n = mask.shape[0], ws * ws
    x = torch.randn(2 * n_windows, n, dim)
    with torch.no_grad():
        got = attention(x, mask)
        qkv = attention.qkv(x).view(2 * n_windows, n, 3, heads, dim // heads).permute(2, 0, 3, 1, 4)
        bias = attention.relative_bias[attention.relative_index.view(-1)].view(n, n, heads).permute(2, 0, 1)
        window_mask = mask.repeat(2, 1, 1)[:, None]  # windows are ordered image by image
        scores = qkv[0] @ qkv[1].transpose(-1, -2) / math.sqrt(dim // heads) + bias[None] + window_mask
        out = torch.softmax(scores, dim=-1) @ qkv[2]
        expected = attention.proj(out.transpose(1, 2).reshape(2 * n_windows, n, dim))
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 24, 40), (1, 19, 21)])  # divides into windows; padded and cropped
def test_swin_mlp_in_chunks_at_inference_equals_the_whole_map(shape: tuple[int, int, int], monkeypatch) -> None:
    """At inference the MLP runs chunk by chunk of tokens, in place: the output must equal the one
    of a single chunk (the whole map) bit for bit, the ragged last chunk and the cropped
    (non-contiguous) map of a padded layer included, and the autograd path's within rounding."""
    from fusionbench.methods.sidm import swin

    torch.manual_seed(0)
    b, h, w = shape
    layer = SwinLayer(16, 2, window=8, shifted=True).eval()
    for linear in (layer.mlp[0], layer.mlp[2]):
        torch.nn.init.normal_(linear.bias, std=0.5)
    x = torch.randn(b, 16, h, w)
    with_autograd = layer(x).detach()  # the MLP over the whole map, out of place
    with torch.inference_mode():
        monkeypatch.setattr(swin, "MLP_CHUNK_BYTES", 1 << 30)
        one_chunk = layer(x)
        monkeypatch.setattr(swin, "MLP_CHUNK_BYTES", 4 * 16 * 4 * 37)  # 37 tokens per chunk
        chunked = layer(x)
    assert chunked.shape == x.shape
    assert torch.equal(chunked, one_chunk)
    assert torch.allclose(chunked, with_autograd, rtol=0, atol=1e-6)
