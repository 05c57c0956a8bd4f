"""Frequency-domain helpers for Qcb and Qcv: MATLAB ``freqspace`` grids, filtering, blocks."""

from __future__ import annotations

from typing import Any

import numpy as np

from fusionbench.metrics import _backend


def freqspace_radius(height: int, width: int, cycles_x: float, cycles_y: float) -> np.ndarray:
    """``r = hypot(u * cycles_x, v * cycles_y)`` on MATLAB's ``freqspace([H W], 'meshgrid')`` grid.

    For an axis of length k the frequencies are ``(j - floor(k/2)) * 2/k``, j = 0..k-1, with DC
    where ``fftshift`` puts it; ``u`` runs along the columns, ``v`` down the rows.
    """
    fu = (np.arange(width) - width // 2) * (2.0 / width) * cycles_x
    fv = (np.arange(height) - height // 2) * (2.0 / height) * cycles_y
    return np.sqrt(fu[None, :] ** 2 + fv[:, None] ** 2)


def filter_centred(x: Any, response: np.ndarray) -> Any:
    """Real part of ``ifft2(ifftshift(fftshift(fft2(x)) .* response))`` for a stack (M, H, W).

    ``response`` is laid out on the centred grid; shifting it back instead of the spectrum is the
    same permutation. See :func:`filter_spectrum`.
    """
    return filter_spectrum(x, half_spectrum(response))


def half_spectrum(response: np.ndarray) -> np.ndarray:
    """The columns ``0..W/2`` of ``ifftshift(response)``: what :func:`filter_spectrum` multiplies the
    real FFT with (read-only, so that callers may cache it per image size)."""
    half = np.ascontiguousarray(np.fft.ifftshift(response)[:, : response.shape[1] // 2 + 1])
    half.flags.writeable = False
    return half


def filter_spectrum(x: Any, half: np.ndarray) -> Any:
    """``irfft2(rfft2(x) * half)``: filtering by an even frequency response given by its half
    spectrum (:func:`half_spectrum`).

    The responses used here depend on |u| and |v| only, so the shifted response is even
    (H[k] = H[-k]) and its product with the spectrum of a real image stays Hermitian: the filtered
    image is real, and the real FFT pair computes it with half the work of the complex pair (whose
    result agrees up to rounding and has a ~1e-14 imaginary part, dropped by the reference).
    """
    h, w = x.shape[-2:]
    if _backend.is_torch(x):
        import torch

        if _backend.is_cpu(x):  # the numpy path's FFT on a shared-memory view: the same numbers
            return torch.from_numpy(filter_spectrum(x.detach().numpy(), half))
        kernel = torch.tensor(half, dtype=torch.float64, device=x.device)  # a copy: `half` is read-only
        return torch.fft.irfft2(torch.fft.rfft2(x) * kernel, s=(h, w))
    import scipy.fft  # here, not at import: it is a fifth of the command line's start-up

    return scipy.fft.irfft2(scipy.fft.rfft2(x) * half, s=(h, w))


def block_reduce(x: Any, block: int, reduce: str) -> Any:
    """MATLAB ``blkproc(x, [block block], fun)``: zero-pad bottom/right to whole blocks, then
    ``sum`` or ``mean`` over each block (padding zeros included in the mean). (M, H, W) -> (M, bh, bw)."""
    xp = _backend.namespace(x)
    m, h, w = x.shape
    bh, bw = -(-h // block), -(-w // block)
    pad_h, pad_w = bh * block - h, bw * block - w
    if pad_h:
        x = xp.concat([x, xp.zeros((m, pad_h, w), dtype=x.dtype, device=_device(x))], axis=1)
    if pad_w:
        x = xp.concat([x, xp.zeros((m, bh * block, pad_w), dtype=x.dtype, device=_device(x))], axis=2)
    blocks = xp.reshape(x, (m, bh, block, bw, block))
    total = xp.sum(xp.sum(blocks, axis=4), axis=2)
    return total / (block * block) if reduce == "mean" else total


def _device(x: Any) -> Any:
    return x.device if _backend.is_torch(x) else None


def minmax_stretch(x: Any) -> Any:
    """Z. Liu's ``normalize1``: ``round(255 (x - min) / (max - min))`` per image, MATLAB rounding.

    An all-zero image is returned unchanged; any other constant image gives NaN, as in MATLAB.
    """
    xp = _backend.namespace(x)
    lo = xp.min(x, axis=(-2, -1), keepdims=True)
    hi = xp.max(x, axis=(-2, -1), keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        y = xp.floor((x - lo) / (hi - lo) * 255.0 + 0.5)
    all_zero = (hi == 0) & (lo == 0)
    return xp.where(all_zero, x, y)
