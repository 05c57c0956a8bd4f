"""SIDM-Fusion losses (paper Eqs. 7-10; ``docs/sidm-spec.md`` section 4, with the deviations below).

- content (Eq. 8, SeAFusion's form, the spec's loss; ``gradient="magnitude"``):
  ``mean|I_f - max(I_ir, I_vi)| + alpha * mean||grad I_f| - max(|grad I_ir|, |grad I_vi|)|``
  with ``|grad| = |Sobel_x| + |Sobel_y|`` (replicate padding), alpha = 10;
- signed gradient target (``gradient="signed"``, fusionbench's default, a deviation): at each pixel
  the Sobel components of the source with the larger ``|grad|`` are the target,
  ``mean(|Gx_f - Gx_s| + |Gy_f - Gy_s|)``. The magnitude target ignores the sign, so a thin bright
  line along a dark target's outline matches an edge's gradient magnitude without raising the
  target's intensity; the signed target does not reward that ridge;
- target intensity (a deviation): ``mean over mask pixels |I_f - max(I_ir, I_vi)|`` inside the
  target masks, plus the same term weighted by ``w = clip((I_ir - I_vi - 0.05) / 0.10, 0, 1)``
  (infrared-hot pixels, mask-free, so pairs without boxes count too);
- saliency (Eq. 9): ``mean over labelled samples of mean_px |M * I_ir - CA(Psi_ir, Psi_vi)|``, CA = the
  channel mean of the concatenated encoder outputs, M the binary target mask; samples without a
  mask (``has_mask = 0``) are left out; 0 when no sample of the batch has one;
- classification (Eq. 7): two-class cross-entropy on SPC-Net's logits (0 = IR, 1 = VIS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusionbench.methods.sidm.network import sobel, sobel_magnitude

ALPHA = 10.0
#: Infrared-hot weight ramp: 0 at IR - VIS = HOT_START, 1 at HOT_START + HOT_RAMP (images on [0, 1]).
HOT_START = 0.05
HOT_RAMP = 0.10
GRADIENT_TARGETS = ("magnitude", "signed")


def gradient_loss(fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, kind: str = "signed") -> torch.Tensor:
    """The content loss's gradient term: ``"magnitude"`` (spec Eq. 8) or ``"signed"`` (stronger source's Sobel)."""
    if kind == "magnitude":
        target = torch.maximum(sobel_magnitude(ir), sobel_magnitude(vis))
        return (sobel_magnitude(fused) - target).abs().mean()
    if kind != "signed":
        raise ValueError(f"unknown gradient target {kind!r}; expected one of {GRADIENT_TARGETS}")
    ir_x, ir_y = sobel(ir)
    vis_x, vis_y = sobel(vis)
    ir_stronger = (ir_x.abs() + ir_y.abs()) >= (vis_x.abs() + vis_y.abs())
    target_x = torch.where(ir_stronger, ir_x, vis_x)
    target_y = torch.where(ir_stronger, ir_y, vis_y)
    fused_x, fused_y = sobel(fused)
    return ((fused_x - target_x).abs() + (fused_y - target_y).abs()).mean()


def content_loss(
    fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, alpha: float = ALPHA, gradient: str = "magnitude"
) -> torch.Tensor:
    """Intensity + ``alpha`` x gradient L1 loss against the element-wise maxima of the sources."""
    intensity = (fused - torch.maximum(ir, vis)).abs().mean()
    return intensity + alpha * gradient_loss(fused, ir, vis, gradient)


def hot_weight(ir: torch.Tensor, vis: torch.Tensor) -> torch.Tensor:
    """``clip((I_ir - I_vi - HOT_START) / HOT_RAMP, 0, 1)``: where infrared is clearly the brighter source."""
    return ((ir - vis - HOT_START) / HOT_RAMP).clamp(0.0, 1.0)


def _weighted_l1(error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``sum(w |e|) / sum(w)``, 0 (with a gradient path) when the weights are all zero."""
    total = weight.sum()
    if total <= 0:
        return error.sum() * 0.0
    return (weight * error.abs()).sum() / total


def target_loss(
    fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, mask: torch.Tensor, has_mask: torch.Tensor
) -> torch.Tensor:
    """Intensity towards ``max(I_ir, I_vi)`` inside the target masks plus on infrared-hot pixels.

    ``L_target = sum(M |e|) / sum(M) + sum(w |e|) / sum(w)`` with ``e = I_f - max(I_ir, I_vi)``,
    ``M`` the masks of the samples with ``has_mask`` and ``w`` :func:`hot_weight`. Each part is 0
    when its weights are all zero.
    """
    error = fused - torch.maximum(ir, vis)
    boxed = mask * has_mask.to(mask.dtype)[:, None, None, None]
    return _weighted_l1(error, boxed) + _weighted_l1(error, hot_weight(ir, vis))


def saliency_loss(
    psi_ir: torch.Tensor, psi_vi: torch.Tensor, ir: torch.Tensor, mask: torch.Tensor, has_mask: torch.Tensor
) -> torch.Tensor:
    """``|M * I_ir - CA|`` averaged over pixels and over the samples with ``has_mask`` (B,) true."""
    ca = torch.cat((psi_ir, psi_vi), dim=1).mean(dim=1, keepdim=True)
    per_sample = (mask * ir - ca).abs().mean(dim=(1, 2, 3))
    labelled = has_mask.to(per_sample.dtype)
    count = labelled.sum()
    if count == 0:
        return per_sample.sum() * 0.0
    return (per_sample * labelled).sum() / count


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of SPC-Net's logits ``(B, 2)`` against labels 0 (IR) / 1 (VIS)."""
    return F.cross_entropy(logits, labels)
