"""SIDM-Fusion network: DBL-IFCN encoder (MEGB, SDRB, SBM), SPC-Net, class-activation fusion, decoder.

S. Yang, "Multimodal Image Fusion Network Based on Class Activation and Multiscale Edge
Gradients" (SIDM-Fusion), IJSER 14(3), 2026, built as ``docs/sidm-spec.md`` (in the shared data)
fixes it; section numbers below refer to that specification. Inputs are ``(B, 1, H, W)`` float
tensors on [0, 1] (IR and the VIS luminance), the output is the fused luminance on (0, 1).

Blocks (``full`` widths; ``lite`` halves them):

- stems: conv3x3 1 -> C0, LReLU(0.2), one per modality;
- MEGB (Eq. 1): ``phi_k = LReLU(conv_k(x) + phi_prev)`` for k = 1, 3, 5, 7 (scales added to
  their neighbour after the convolution), ``M = conv1x1(cat(phi_1..phi_7))``, gradient path
  ``G = conv1x1(|Sobel_x x| + |Sobel_y x|)``, output ``LReLU(conv1x1(M + gamma G))`` with a
  learnable scalar ``gamma`` started at :data:`EDGE_SCALE_INIT` (a deviation from the spec, which
  adds ``G`` unscaled: the unscaled path drew thin ridges along infrared outlines; ``docs/sidm.md``);
- SDRB (Eqs. 2-3, IR branch): two-layer dense block, 1x1 compression to Ce, SE channel attention
  (r = 4) ``a``, output ``a * E + conv1x1(x)`` (linear);
- SBM (Eq. 4, VIS branch): spatial bias from the IR features (1x1 to Ce/4, 2x2 max pool, 1x1,
  bilinear x2) concatenated with the VIS MEGB output, 1x1 to Ce (linear);
- SPC-Net (section 3.5): conv, conv(s2), STL, shifted STL, conv, conv(s2), STL, shifted STL,
  LayerNorm, GAP, bias-free FC to 2 classes (CAM, Zhou et al. 2016) on the mean-removed image;
- fusion (Eqs. 5-6, section 3.6): ``rho_ir^m = sigmoid((P_ir W_ir^m - P_vi W_vi^m) / tau)``,
  ``F^m = rho_ir^m Psi_ir^m + (1 - rho_ir^m) Psi_vi^m``, ``tau = std_m(W_ir - W_vi)``;
  ``rho = 0.5`` when SPC-Net is ablated;
- decoder: conv3x3 Ce -> D1 -> D2 -> D3 (LReLU), conv1x1 -> 1, ``tanh / 2 + 0.5``.

Convolutions of the fusion network use reflection padding, SPC-Net's zero padding (section 1).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from fusionbench.methods.sidm.config import MIN_SIDE, SIDMConfig  # noqa: F401  (MIN_SIDE re-exported)
from fusionbench.methods.sidm.swin import SwinLayer

SLOPE = 0.2
#: Initial value of MEGB's learnable edge-path scale ``gamma`` (checkpoints of format 1 had none: 1.0).
EDGE_SCALE_INIT = 0.1


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """Leaky ReLU of slope :data:`SLOPE`, in place: every caller passes a result nothing else holds
    (a fresh feature map costs its allocation, which on the CPU is much of an elementwise op's time)."""
    return F.leaky_relu(x, SLOPE, inplace=True)


def conv(c_in: int, c_out: int, kernel: int, *, reflect: bool = True, stride: int = 1) -> nn.Conv2d:
    """A same-padded convolution with bias (reflection padding in the fusion net, zeros in SPC-Net).

    A 1x1 convolution has no padding, so it is built with ``padding_mode="zeros"`` whatever
    ``reflect`` says: the result is the same, and torch would otherwise copy the input through a
    zero-width reflection pad first.
    """
    if reflect and kernel > 1 and stride == 1:
        return ReflectConv2d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="reflect")
    mode: Literal["reflect", "zeros"] = "reflect" if reflect and kernel > 1 else "zeros"
    return nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, padding_mode=mode)


class ReflectConv2d(nn.Conv2d):
    """A stride-1 ``nn.Conv2d`` with reflection padding that never copies its whole input.

    torch runs a reflection-padded convolution on a padded copy of the input (``F.pad``: a full
    pass and allocation per layer). Here the convolution runs with zero padding, which oneDNN does
    inside its kernel, and is then right everywhere except in the ``p = k // 2`` outermost rows and
    columns; those are recomputed from reflection-padded strips ``2p`` pixels thick. The numbers
    are those of ``conv(F.pad(x, (p, p, p, p), "reflect"))`` up to float rounding. Same parameters
    (and state-dict keys) as ``nn.Conv2d``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = int(self.padding[0])  # an int pair for a "same"-padded layer
        h, w = x.shape[-2:]
        if min(h, w) <= 2 * p:  # no room for the strips: torch's own padded path
            return super().forward(x)
        out = F.conv2d(x, self.weight, self.bias, padding=p)
        edge = 2 * p
        out[..., :p, :] = self._strip(x[..., :edge, :], (p, p, p, 0))
        out[..., h - p :, :] = self._strip(x[..., h - edge :, :], (p, p, 0, p))
        out[..., :p] = self._strip(x[..., :edge], (p, 0, p, p))
        out[..., w - p :] = self._strip(x[..., w - edge :], (0, p, p, p))
        return out

    def _strip(self, x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
        """The outputs along one side: the strip padded by reflection on its other three sides."""
        return F.conv2d(F.pad(x, pad, mode="reflect"), self.weight, self.bias)


def pointwise(layer: nn.Conv2d, *parts: torch.Tensor) -> torch.Tensor:
    """``layer(torch.cat(parts, dim=1))`` for a 1x1 convolution, without building the concatenation.

    On channels-last tensors (the inference layout) a 1x1 convolution is a matrix product over each
    pixel's channels, ``Y = b + sum_k X_k W_k^T`` with ``X_k`` the (pixels, channels) view of part
    k and ``W_k`` the weight columns that read it: one ``addmm`` per part into one output, with no
    concatenated copy of the inputs (a fresh allocation as large as all of them). One part, or
    another layout: the layer itself. The sums are the same up to float rounding.
    """
    first = parts[0]
    if len(parts) == 1 or first.shape[1] == 1 or not first.is_contiguous(memory_format=torch.channels_last):
        return layer(parts[0] if len(parts) == 1 else torch.cat(parts, dim=1))
    n, _, h, w = first.shape
    weight = layer.weight[:, :, 0, 0]
    out: torch.Tensor | None = None
    start = 0
    for x in parts:
        c = x.shape[1]
        rows = x.permute(0, 2, 3, 1).reshape(-1, c)  # a view for channels-last input
        columns = weight[:, start : start + c].t()
        if out is None:
            out = rows @ columns if layer.bias is None else torch.addmm(layer.bias, rows, columns)
        else:
            out.addmm_(rows, columns)
        start += c
    assert out is not None
    return out.view(n, h, w, -1).permute(0, 3, 1, 2)


def sobel(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Signed ``(Sobel_x * x, Sobel_y * x)`` per channel with replicate padding (fixed kernels)."""
    kx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=x.dtype, device=x.device)
    kernels = torch.stack((kx, kx.T))[:, None]  # (2, 1, 3, 3)
    c = x.shape[1]
    padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels.repeat(c, 1, 1, 1), groups=c)  # (B, 2C, H, W): gx, gy per channel
    return grads[:, 0::2], grads[:, 1::2]


def sobel_magnitude(x: torch.Tensor) -> torch.Tensor:
    """``|Sobel_x * x| + |Sobel_y * x|`` per channel with replicate padding (fixed kernels)."""
    gx, gy = sobel(x)
    return gx.abs() + gy.abs()


class MEGB(nn.Module):
    """Multiscale edge-gradient block (Eq. 1): four cascaded scales + an optional Sobel residual.

    The Sobel residual is scaled by a learnable scalar ``edge_scale`` (started at
    :data:`EDGE_SCALE_INIT`), so the edge path starts as a small correction to the multiscale path
    instead of dominating it.
    """

    def __init__(self, c_in: int, branch: int, c_out: int, sobel: bool = True) -> None:
        super().__init__()
        self.scales = nn.ModuleList(conv(c_in, branch, k) for k in (1, 3, 5, 7))
        self.merge = conv(4 * branch, c_out, 1)
        self.gradient = conv(c_in, c_out, 1) if sobel else None
        self.edge_scale = nn.Parameter(torch.tensor(EDGE_SCALE_INIT)) if sobel else None
        self.out = conv(c_out, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        previous: torch.Tensor | int = 0
        for layer in self.scales:
            previous = lrelu(layer(x).add_(previous))
            features.append(previous)
        y = pointwise(self.merge, *features)
        if self.gradient is not None:
            assert self.edge_scale is not None
            y = torch.addcmul(y, self.edge_scale, pointwise(self.gradient, sobel_magnitude(x)))
        return lrelu(pointwise(self.out, y))


class SqueezeExcitation(nn.Module):
    """SE channel attention (Hu et al. 2018): ``sigmoid(FC(ReLU(FC(GAP(x)))))``, reduction r."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, channels // reduction)
        self.fc2 = nn.Linear(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3))))))


class SDRB(nn.Module):
    """Salient dense residual block (Eqs. 2-3); with ``enabled=False`` only its 1x1 shortcut remains."""

    def __init__(self, c_in: int, c_out: int, enabled: bool = True) -> None:
        super().__init__()
        self.shortcut = conv(c_in, c_out, 1)
        self.enabled = enabled
        if enabled:
            self.dense1 = conv(c_in, c_in, 3)
            self.dense2 = conv(2 * c_in, c_in, 3)
            self.compress = conv(3 * c_in, c_out, 1)
            self.attention = SqueezeExcitation(c_out, reduction=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return pointwise(self.shortcut, x)
        d1 = lrelu(self.dense1(x))
        d2 = lrelu(self.dense2(torch.cat((x, d1), dim=1)))
        e = pointwise(self.compress, x, d1, d2)
        return torch.addcmul(pointwise(self.shortcut, x), self.attention(e)[:, :, None, None], e)


class SBM(nn.Module):
    """Spatial-bias module (Eq. 4): VIS features + a spatial bias read from the IR features."""

    def __init__(self, c_vis: int, c_ir: int, reduced: int, bias_out: int, c_out: int, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = enabled
        if enabled:
            self.reduce = conv(c_ir, reduced, 1)
            self.expand = conv(reduced, bias_out, 1)
            self.compress = conv(c_vis + bias_out, c_out, 1)
        else:
            self.compress = conv(c_vis, c_out, 1)

    def spatial_bias(self, ir_features: torch.Tensor) -> torch.Tensor:
        h, w = ir_features.shape[-2:]
        r = lrelu(pointwise(self.reduce, ir_features))
        r = F.max_pool2d(r, 2, stride=2, ceil_mode=True)
        r = lrelu(pointwise(self.expand, r))
        r = F.interpolate(r, scale_factor=2.0, mode="bilinear", align_corners=False)
        return r[:, :, :h, :w]

    def forward(self, vis_features: torch.Tensor, ir_features: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return pointwise(self.compress, vis_features)
        return pointwise(self.compress, vis_features, self.spatial_bias(ir_features))


class SPCNet(nn.Module):
    """Semantic prior classification network: IR (class 0) vs VIS (class 1) with a CAM head."""

    def __init__(self, first: int, last: int, heads: tuple[int, int], window: int = 8) -> None:
        super().__init__()
        self.conv1 = conv(1, first, 3, reflect=False)
        self.conv2 = conv(first, first, 3, reflect=False, stride=2)
        self.stl1 = SwinLayer(first, heads[0], window, shifted=False)
        self.stl2 = SwinLayer(first, heads[0], window, shifted=True)
        self.conv3 = conv(first, last, 3, reflect=False)
        self.conv4 = conv(last, last, 3, reflect=False, stride=2)
        self.stl3 = SwinLayer(last, heads[1], window, shifted=False)
        self.stl4 = SwinLayer(last, heads[1], window, shifted=True)
        self.norm = nn.LayerNorm(last)
        self.classifier = nn.Linear(last, 2, bias=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The CAM maps ``(B, M, ceil(H/4), ceil(W/4))`` of mean-removed images."""
        x = x - x.mean(dim=(2, 3), keepdim=True)
        x = lrelu(self.conv2(lrelu(self.conv1(x))))
        x = self.stl2(self.stl1(x))
        x = lrelu(self.conv4(lrelu(self.conv3(x))))
        x = self.stl4(self.stl3(x))
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(B, 2)``: index 0 = IR, 1 = VIS."""
        return self.classifier(self.features(x).mean(dim=(2, 3)))


class Decoder(nn.Module):
    """Three reflection-padded 3x3 convolutions (LReLU) and a 1x1 convolution, ``tanh / 2 + 0.5``."""

    def __init__(self, c_in: int, widths: tuple[int, int, int]) -> None:
        super().__init__()
        d1, d2, d3 = widths
        self.layers = nn.ModuleList((conv(c_in, d1, 3), conv(d1, d2, 3), conv(d2, d3, 3)))
        self.out = conv(d3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = lrelu(layer(x))
        return torch.tanh(pointwise(self.out, x)) / 2 + 0.5


class FusionNetwork(nn.Module):
    """Stems, MEGBs, SDRB, SBM and decoder: the part trained in stage 2."""

    def __init__(self, config: SIDMConfig) -> None:
        super().__init__()
        w = config.widths
        flags = config.ablation
        self.stem_ir = conv(1, w.stem, 3)
        self.stem_vi = conv(1, w.stem, 3)
        self.megb_ir = MEGB(w.stem, w.branch, w.megb_out, sobel=flags.megb_sobel)
        self.megb_vi = MEGB(w.stem, w.branch, w.megb_out, sobel=flags.megb_sobel)
        self.sdrb = SDRB(w.megb_out, w.encoder_out, enabled=flags.sdrb)
        self.sbm = SBM(w.megb_out, w.encoder_out, w.sbm_reduced, w.sbm_out, w.encoder_out, enabled=flags.sbm)
        self.decoder = Decoder(w.encoder_out, w.decoder)

    def encode(self, ir: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(Psi_ir, Psi_vi)``, each ``(B, Ce, H, W)``: the features fused and supervised by L_sal."""
        psi_ir = self.sdrb(self.megb_ir(lrelu(self.stem_ir(ir))))
        psi_vi = self.sbm(self.megb_vi(lrelu(self.stem_vi(vis))), psi_ir)
        return psi_ir, psi_vi


class SIDMNet(nn.Module):
    """The whole model. ``forward(ir, vis)`` returns the fused luminance; :meth:`run` also the intermediates.

    ``tau`` (a buffer) is the fusion temperature fixed after stage 1; ``spc_short_side`` (0 = off)
    runs SPC-Net on a copy whose short side is at most that many pixels (it only yields per-image
    class probabilities; the speed knob of spec section 0).
    """

    tau: torch.Tensor  # the buffer registered in __init__

    def __init__(self, config: SIDMConfig, spc_short_side: int = 0) -> None:
        super().__init__()
        self.config = config
        w = config.widths
        self.fusion = FusionNetwork(config)
        self.spc = SPCNet(w.spc_first, w.encoder_out, w.heads, w.window) if config.ablation.spc else None
        self.register_buffer("tau", torch.ones(()))
        self.spc_short_side = int(spc_short_side)

    @torch.no_grad()
    def set_temperature(self) -> float:
        """``tau = std over m of (W_ir^m - W_vi^m)`` from the frozen classifier (spec section 3.6)."""
        if self.spc is None:
            return 1.0
        weight = self.spc.classifier.weight
        self.tau.fill_(float((weight[0] - weight[1]).std()))
        return float(self.tau)

    def class_probabilities(self, ir: torch.Tensor, vis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(P_ir, P_vi)``, each ``(B,)``: each modality's probability of being classified as itself."""
        assert self.spc is not None
        images = torch.cat((ir, vis), dim=0)
        side = min(images.shape[-2:])
        if self.spc_short_side and side > self.spc_short_side:
            scale = self.spc_short_side / side
            images = F.interpolate(images, scale_factor=scale, mode="bilinear", align_corners=False, antialias=True)
        probabilities = torch.softmax(self.spc(images), dim=1)
        b = ir.shape[0]
        return probabilities[:b, 0], probabilities[b:, 1]

    def fusion_weights(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        """``rho_ir`` ``(B, Ce)``; 0.5 everywhere when SPC-Net is ablated."""
        b, ce = ir.shape[0], self.config.widths.encoder_out
        if self.spc is None:
            return torch.full((b, ce), 0.5, dtype=ir.dtype, device=ir.device)
        with torch.no_grad():
            p_ir, p_vi = self.class_probabilities(ir, vis)
            weight = self.spc.classifier.weight  # (2, Ce)
            s_ir = p_ir[:, None] * weight[0][None]
            s_vi = p_vi[:, None] * weight[1][None]
            return torch.sigmoid((s_ir - s_vi) / self.tau)

    def run(self, ir: torch.Tensor, vis: torch.Tensor) -> dict[str, torch.Tensor]:
        """Fused image and intermediates: ``fused``, ``psi_ir``, ``psi_vi``, ``rho_ir``."""
        psi_ir, psi_vi = self.fusion.encode(ir, vis)
        rho_ir = self.fusion_weights(ir, vis)[:, :, None, None]
        fused_features = torch.lerp(psi_vi, psi_ir, rho_ir)  # rho psi_ir + (1 - rho) psi_vi
        return {
            "fused": self.fusion.decoder(fused_features),
            "psi_ir": psi_ir,
            "psi_vi": psi_vi,
            "rho_ir": rho_ir[:, :, 0, 0],
        }

    def forward(self, ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
        return self.run(ir, vis)["fused"]
