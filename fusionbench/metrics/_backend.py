"""The few array primitives the metrics need beyond elementwise maths, for numpy and torch.

Metric formulas are written once against the array API (``array_api_compat.array_namespace``);
what differs between numpy and torch is only here: separable filtering with a border rule,
256-bin histograms (single and joint) and conversion to Python floats. All arrays are stacks of
images shaped ``(M, H, W)`` in float64.

numpy filters with OpenCV's ``sepFilter2D`` (SIMD, float64 accumulation); torch with two 1-D
``conv2d`` passes, so the torch path runs batched on CPU or GPU.
"""

from __future__ import annotations

from typing import Any, Literal

import array_api_compat
import cv2
import numpy as np

Border = Literal["valid", "zero", "replicate", "reflect101"]

_CV2_BORDER = {
    "valid": cv2.BORDER_REFLECT_101,  # any rule: the border rows are cropped away
    "zero": cv2.BORDER_CONSTANT,
    "replicate": cv2.BORDER_REPLICATE,
    "reflect101": cv2.BORDER_REFLECT_101,
}
_TORCH_PAD = {"zero": "constant", "replicate": "replicate", "reflect101": "reflect"}


def is_torch(x: Any) -> bool:
    return array_api_compat.is_torch_array(x)


def namespace(x: Any) -> Any:
    """The array-API namespace of ``x`` (numpy or torch flavoured)."""
    return array_api_compat.array_namespace(x)


def sep_filter(x: Any, kernel_rows: np.ndarray, kernel_cols: np.ndarray, border: Border) -> Any:
    """Correlate every image of ``x`` (M, H, W) with ``outer(kernel_rows, kernel_cols)``.

    ``kernel_rows`` runs down the rows (vertical taps), ``kernel_cols`` along the columns. The result
    is correlation, not convolution (flip the kernels for MATLAB ``conv2``). ``border``:
    ``valid`` (MATLAB ``filter2(...,'valid')``: no padding, output shrinks by the kernel size - 1),
    ``zero``/``replicate``/``reflect101`` ('same' size with that padding; reflect101 mirrors
    without repeating the edge pixel).
    """
    kr = np.asarray(kernel_rows, dtype=np.float64).ravel()
    kc = np.asarray(kernel_cols, dtype=np.float64).ravel()
    if is_torch(x):
        return _sep_filter_torch(x, kr, kc, border)
    return _sep_filter_numpy(x, kr, kc, border)


def _sep_filter_numpy(x: np.ndarray, kr: np.ndarray, kc: np.ndarray, border: Border) -> np.ndarray:
    m, h, w = x.shape
    if border == "valid":
        oh, ow = h - kr.size + 1, w - kc.size + 1
        if oh <= 0 or ow <= 0:
            return np.zeros((m, max(oh, 0), max(ow, 0)), dtype=np.float64)
    out = np.empty_like(x, dtype=np.float64)
    for i in range(m):
        out[i] = cv2.sepFilter2D(
            np.ascontiguousarray(x[i], dtype=np.float64),
            cv2.CV_64F,
            kc,
            kr,
            anchor=(-1, -1),
            delta=0.0,
            borderType=_CV2_BORDER[border],
        )
    if border == "valid":
        r0, c0 = (kr.size - 1) // 2, (kc.size - 1) // 2
        out = out[:, r0 : r0 + oh, c0 : c0 + ow]
    return out


def _sep_filter_torch(x: Any, kr: np.ndarray, kc: np.ndarray, border: Border) -> Any:
    import torch
    import torch.nn.functional as F

    m, h, w = x.shape
    if border == "valid" and (h < kr.size or w < kc.size):
        return x.new_zeros((m, max(h - kr.size + 1, 0), max(w - kc.size + 1, 0)))
    y = x.reshape(m, 1, h, w)
    if border != "valid":
        pr, pc = (kr.size - 1) // 2, (kc.size - 1) // 2
        y = F.pad(y, (pc, kc.size - 1 - pc, pr, kr.size - 1 - pr), mode=_TORCH_PAD[border])
    wr = torch.as_tensor(kr, dtype=x.dtype, device=x.device).reshape(1, 1, -1, 1)
    wc = torch.as_tensor(kc, dtype=x.dtype, device=x.device).reshape(1, 1, 1, -1)
    y = F.conv2d(F.conv2d(y, wr), wc)
    return y.reshape(m, y.shape[-2], y.shape[-1])


def histogram256(levels: Any) -> Any:
    """Counts of the integer levels 0..255 per image: (M, H, W) integer -> (M, 256) float64."""
    m = levels.shape[0]
    if is_torch(levels):
        import torch

        offsets = torch.arange(m, device=levels.device).reshape(m, 1, 1) * 256
        counts = torch.bincount((levels.long() + offsets).reshape(-1), minlength=m * 256)
        return counts.reshape(m, 256).to(torch.float64)
    offsets = np.arange(m).reshape(m, 1, 1) * 256
    counts = np.bincount((levels.astype(np.int64) + offsets).ravel(), minlength=m * 256)
    return counts.reshape(m, 256).astype(np.float64)


def joint_histogram256(x_levels: Any, y_levels: Any) -> Any:
    """Joint counts of two level images: (M, H, W) x (M, H, W) -> (M, 65536) float64 (row x*256 + y)."""
    m = x_levels.shape[0]
    if is_torch(x_levels):
        import torch

        offsets = torch.arange(m, device=x_levels.device).reshape(m, 1, 1) * 65536
        index = x_levels.long() * 256 + y_levels.long() + offsets
        counts = torch.bincount(index.reshape(-1), minlength=m * 65536)
        return counts.reshape(m, 65536).to(torch.float64)
    offsets = np.arange(m).reshape(m, 1, 1) * 65536
    index = x_levels.astype(np.int64) * 256 + y_levels.astype(np.int64) + offsets
    counts = np.bincount(index.ravel(), minlength=m * 65536)
    return counts.reshape(m, 65536).astype(np.float64)


def to_numpy(x: Any) -> np.ndarray:
    """A numpy copy of a numpy or torch array (detached, on the CPU)."""
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def fft2(x: Any) -> Any:
    """2-D FFT over the last two axes."""
    if is_torch(x):
        import torch

        return torch.fft.fft2(x)
    return np.fft.fft2(x)


def ifft2(x: Any) -> Any:
    """Inverse 2-D FFT over the last two axes."""
    if is_torch(x):
        import torch

        return torch.fft.ifft2(x)
    return np.fft.ifft2(x)
