"""SIDM-Fusion losses (paper Eqs. 7-10; ``docs/sidm-spec.md`` section 4).

- content (Eq. 8, SeAFusion's form):
  ``mean|I_f - max(I_ir, I_vi)| + alpha * mean||grad I_f| - max(|grad I_ir|, |grad I_vi|)|``
  with ``|grad| = |Sobel_x| + |Sobel_y|`` (replicate padding), alpha = 10;
- saliency (Eq. 9): ``mean over labelled samples of mean_px |M * I_ir - CA(Psi_ir, Psi_vi)|``, CA = the
  channel mean of the concatenated encoder outputs, M the binary target mask; samples without a
  mask (``has_mask = 0``) are left out; 0 when no sample of the batch has one;
- classification (Eq. 7): two-class cross-entropy on SPC-Net's logits (0 = IR, 1 = VIS).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from fusionbench.methods.sidm.network import sobel_magnitude

ALPHA = 10.0


def content_loss(fused: torch.Tensor, ir: torch.Tensor, vis: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """Intensity + ``alpha`` x gradient L1 loss against the element-wise maxima of the sources."""
    intensity = (fused - torch.maximum(ir, vis)).abs().mean()
    target = torch.maximum(sobel_magnitude(ir), sobel_magnitude(vis))
    gradient = (sobel_magnitude(fused) - target).abs().mean()
    return intensity + alpha * gradient


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
