"""Swin Transformer layer (STL) on feature maps of any size (spec section 3.5.1).

Liu et al., "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows", ICCV 2021.
Tokens are the pixels of a ``(B, C, h, w)`` map (no patch embedding). One layer is

    x = x + Proj(W-MSA(LN(x)))        (window attention, optionally on a map rolled by -window/2)
    x = x + MLP(LN(x))                MLP = Linear(C, 4C) -> GELU -> Linear(4C, C)

with attention ``softmax(q k^T / sqrt(d) + B_rel + mask) v`` inside non-overlapping windows,
``B_rel`` a learned table of ``(2 ws - 1)^2`` relative-position biases per head. Maps whose sides
are not multiples of the window are zero-padded at the bottom/right after the LayerNorm (as the
Swin detection backbone does); padded *key* positions are masked with -100 so that the output
does not depend on the amount of padding (our addition). Shifting is off when the padded map fits
in one window.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import nn

MASK_VALUE = -100.0
#: Bytes of the MLP's hidden activations per chunk of tokens at inference (see SwinLayer._mlp_residual).
MLP_CHUNK_BYTES = 2 << 20


def _windows(x: torch.Tensor, ws: int) -> torch.Tensor:
    """``(B, H, W, C)`` -> ``(B * nW, ws * ws, C)``."""
    b, h, w, c = x.shape
    x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, ws * ws, c)


def _merge(x: torch.Tensor, ws: int, b: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_windows`."""
    c = x.shape[-1]
    x = x.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def attention_mask(hp: int, wp: int, h: int, w: int, ws: int, shift: int, device: torch.device) -> torch.Tensor | None:
    """Additive mask ``(nW, ws*ws, ws*ws)``: -100 across shifted regions and on padded keys; None if unneeded."""
    if shift == 0 and hp == h and wp == w:
        return None
    region = torch.zeros((1, hp, wp, 1), device=device)
    if shift:
        count = 0
        for hs in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
            for wsl in (slice(0, -ws), slice(-ws, -shift), slice(-shift, None)):
                region[:, hs, wsl, :] = count
                count += 1
    padded = torch.zeros((1, hp, wp, 1), device=device)
    padded[:, h:, :, :] = 1
    padded[:, :, w:, :] = 1
    if shift:
        padded = torch.roll(padded, shifts=(-shift, -shift), dims=(1, 2))
    region_w = _windows(region, ws).squeeze(-1)  # (nW, ws*ws)
    padded_w = _windows(padded, ws).squeeze(-1)
    mask = (region_w[:, None, :] != region_w[:, :, None]).float() * MASK_VALUE
    mask = mask + padded_w[:, None, :] * MASK_VALUE
    return mask


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a relative-position bias table."""

    relative_index: torch.Tensor  # the buffer registered in __init__

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by {heads} heads")
        self.heads = heads
        self.window = window
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.relative_bias = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
        self.register_buffer("relative_index", rel[..., 0] * (2 * window - 1) + rel[..., 1], persistent=False)
        nn.init.trunc_normal_(self.relative_bias, std=0.02)
        for layer in (self.qkv, self.proj):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        bw, n, c = x.shape
        qkv = self.qkv(x).view(bw, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        bias = self.relative_bias[self.relative_index.view(-1)].view(n, n, self.heads).permute(2, 0, 1)
        if mask is None:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias[None].to(q.dtype), scale=self.scale)
        else:
            # Image by image against the (windows, heads, n, n) bias + mask: a 4-D call takes torch's
            # fused CPU kernel, where one 5-D call over all images falls back to the unfused math
            # path (about 4x slower); windows are ordered image by image (see _windows).
            nw = mask.shape[0]
            attn_bias = (bias[None] + mask[:, None]).to(q.dtype)
            out = torch.cat(
                [
                    F.scaled_dot_product_attention(
                        q[i : i + nw], k[i : i + nw], v[i : i + nw], attn_mask=attn_bias, scale=self.scale
                    )
                    for i in range(0, bw, nw)
                ]
            )
        return self.proj(out.transpose(1, 2).reshape(bw, n, c))


class SwinLayer(nn.Module):
    """One STL: (shifted) window attention and an MLP, each with a pre-LayerNorm and a residual."""

    def __init__(self, dim: int, heads: int, window: int = 8, shifted: bool = False) -> None:
        super().__init__()
        self.window = window
        self.shift = window // 2 if shifted else 0
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        for layer in (cast(nn.Linear, self.mlp[0]), cast(nn.Linear, self.mlp[2])):
            nn.init.trunc_normal_(layer.weight, std=0.02)
            nn.init.zeros_(layer.bias)
        self._masks: dict[tuple[int, int, int, int, int, str], torch.Tensor | None] = {}
        #: Extra zero padding (in windows) beyond the next multiple of the window; 0 in use. Only to
        #: check that the padded-key mask makes the output independent of the padding amount.
        self.extra_windows = 0

    def _mask(self, hp: int, wp: int, h: int, w: int, shift: int, device: torch.device) -> torch.Tensor | None:
        key = (hp, wp, h, w, shift, str(device))
        if key not in self._masks:
            self._masks[key] = attention_mask(hp, wp, h, w, self.window, shift, device)
        return self._masks[key]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        ws = self.window
        x = x.permute(0, 2, 3, 1)
        shortcut = x
        y = self.norm1(x)
        hp, wp = (-(-h // ws) + self.extra_windows) * ws, (-(-w // ws) + self.extra_windows) * ws
        if hp != h or wp != w:
            y = F.pad(y, (0, 0, 0, wp - w, 0, hp - h))
        shift = self.shift if min(hp, wp) > ws else 0
        if shift:
            y = torch.roll(y, shifts=(-shift, -shift), dims=(1, 2))
        y = self.attn(_windows(y, ws), self._mask(hp, wp, h, w, shift, x.device))
        y = _merge(y, ws, b, hp, wp)
        if shift:
            y = torch.roll(y, shifts=(shift, shift), dims=(1, 2))
        x = y[:, :h, :w, :].add_(shortcut)  # y is fresh: added to in place
        x = self._mlp_residual(x)
        return x.permute(0, 3, 1, 2)  # (B, C, h, w) in channels-last memory: no copy back to NCHW

    def _mlp_residual(self, x: torch.Tensor) -> torch.Tensor:
        """``x + MLP(LN(x))`` for a fresh ``(B, h, w, C)`` map (its memory is reused for the result).

        Every operation acts on each token alone, so at inference (no autograd) the tokens go
        through in chunks whose 4C-wide hidden activations take about :data:`MLP_CHUNK_BYTES`,
        each chunk updated in place, with the same result as one chunk bit for bit (tested). In one
        piece the hidden map is four times the feature map: tens of megabytes at half of 480 x 640
        for two images, allocated afresh twice per layer (the linear and the GELU) and faulted in
        page by page.
        """
        if torch.is_grad_enabled():
            return self.mlp(self.norm2(x)).add_(x)
        c = x.shape[-1]
        tokens = x.reshape(-1, c)  # a view of the contiguous map (a copy of a cropped one, returned)
        step = max(1, MLP_CHUNK_BYTES // (4 * c * x.element_size()))
        for start in range(0, tokens.shape[0], step):
            chunk = tokens[start : start + step]
            chunk.add_(self.mlp(self.norm2(chunk)))
        return tokens.view(x.shape)
