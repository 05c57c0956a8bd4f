"""The few array primitives the metrics need beyond elementwise maths, for numpy and torch.

Metric formulas are written once against the array API (``array_api_compat.array_namespace``);
what differs between numpy and torch is only here: separable filtering with a border rule,
256-bin histograms (single and joint) and conversion to Python floats. All arrays are stacks of
images shaped ``(M, H, W)`` in float64.

numpy filters with OpenCV's ``sepFilter2D`` (SIMD, float64 accumulation). torch filters CPU
tensors with the same OpenCV call on a shared-memory numpy view (torch's CPU ``conv2d`` has no fast
float64 kernel: it falls back to im2col + GEMM, ~40 ms per 17-tap 2-D filter of a 480 x 640 image on
one core, 35x slower than OpenCV) and GPU tensors with two 1-D ``conv2d`` passes (cuDNN), batched.

:func:`pixel_sums`, :func:`row_bands` and :func:`map_images` let the metrics work on blocks of
rows on the CPU, so that temporaries stay in cache instead of allocating (and page-faulting)
full-image arrays.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator, Sequence
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


def _numpy_namespace() -> Any:
    """numpy itself where it implements the array API (2.1 and later: ``concat``, ``atan``,
    ``astype``, ``permute_dims``), else array_api_compat's wrapper. numpy's own namespace imports in
    no time; the wrapper's import walks numpy's lazy submodules (f2py, testing, ma: about 0.1 s of
    every command's start-up)."""
    if int(np.__version__.split(".")[0]) >= 2 and hasattr(np, "astype"):
        return np
    return array_api_compat.array_namespace(np.empty(0))


_NUMPY_NAMESPACE = _numpy_namespace()


def is_torch(x: Any) -> bool:
    if type(x) is np.ndarray:  # the common case, answered without array_api_compat's checks
        return False
    return array_api_compat.is_torch_array(x)


def namespace(x: Any) -> Any:
    """The array-API namespace of ``x`` (numpy or torch flavoured)."""
    if type(x) is np.ndarray:
        return _NUMPY_NAMESPACE
    return array_api_compat.array_namespace(x)


def sep_filter(
    x: Any, kernel_rows: np.ndarray, kernel_cols: np.ndarray, border: Border, out: np.ndarray | None = None
) -> Any:
    """Correlate every image of ``x`` (M, H, W) with ``outer(kernel_rows, kernel_cols)``.

    ``kernel_rows`` runs down the rows (vertical taps), ``kernel_cols`` along the columns. The result
    is correlation, not convolution (flip the kernels for MATLAB ``conv2``). ``border``:
    ``valid`` (MATLAB ``filter2(...,'valid')``: no padding, output shrinks by the kernel size - 1),
    ``zero``/``replicate``/``reflect101`` ('same' size with that padding; reflect101 mirrors
    without repeating the edge pixel). ``out``: a float64 (M, H, W) array the numpy path writes
    into (e.g. a :func:`scratch` buffer); ignored for torch.
    """
    kr = np.asarray(kernel_rows, dtype=np.float64).ravel()
    kc = np.asarray(kernel_cols, dtype=np.float64).ravel()
    if is_torch(x):
        return _sep_filter_torch(x, kr, kc, border)
    return _sep_filter_numpy(x, kr, kc, border, out)


def _sep_filter_numpy(
    x: np.ndarray, kr: np.ndarray, kc: np.ndarray, border: Border, out: np.ndarray | None = None
) -> np.ndarray:
    m, h, w = x.shape
    if border == "valid":
        oh, ow = h - kr.size + 1, w - kc.size + 1
        if oh <= 0 or ow <= 0:
            return np.zeros((m, max(oh, 0), max(ow, 0)), dtype=np.float64)
    if out is None:
        out = np.empty((m, h, w), dtype=np.float64)
    for i in range(m):
        dst = out[i]  # OpenCV writes straight into this contiguous (H, W) view: no extra copy
        res = cv2.sepFilter2D(
            np.ascontiguousarray(x[i], dtype=np.float64),
            cv2.CV_64F,
            kc,
            kr,
            dst=dst,
            anchor=(-1, -1),
            delta=0.0,
            borderType=_CV2_BORDER[border],
        )
        if res is not dst:
            dst[...] = res
    if border == "valid":
        r0, c0 = (kr.size - 1) // 2, (kc.size - 1) // 2
        out = out[:, r0 : r0 + oh, c0 : c0 + ow]
    return out


def _sep_filter_torch(x: Any, kr: np.ndarray, kc: np.ndarray, border: Border) -> Any:
    import torch
    import torch.nn.functional as F

    if is_cpu(x) and not x.requires_grad:
        # OpenCV on a shared-memory view: same numbers as the numpy path, ~35x faster than conv2d.
        return torch.from_numpy(_sep_filter_numpy(x.numpy(), kr, kc, border))
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


# Blocked evaluation on the CPU. Whole-image float64 temporaries (2.4 MB for 480 x 640) spill out
# of the caches, and every fresh one costs a page fault per 4 kB page when the allocator has handed
# the memory back to the OS; working on blocks of rows that fit in L2 avoids both. On a GPU the
# whole stack is processed at once.

#: Pixels per strip of an elementwise formula (128 kB per float64 temporary: they fit in L2).
STRIP_PIXELS = 1 << 14
#: Pixels per band of filtered images (:func:`row_bands`, ``per_band`` of :func:`pixel_sums`).
BAND_PIXELS = 1 << 16


_SCRATCH = threading.local()
#: Largest scratch buffer kept between calls (a 480 x 640 float64 image is 2.4 MB).
SCRATCH_MAX_BYTES = 4 << 20


def scratch(name: str, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` for temporaries, kept by this thread and reused by later calls.

    The kernels' band- and strip-sized temporaries live here instead of being allocated afresh:
    glibc hands freed memory above its trim threshold back to the OS, and every new page then costs
    a page fault (~1.5 us per 4 kB page: ~3000 faults, 4-5 ms, per 480 x 640 triple measured before).
    Thread-local (so thread-safe); each ``name`` is one buffer, grown to the largest shape asked.
    Only buffers up to :data:`SCRATCH_MAX_BYTES` are kept (band-sized ones, and whole-image ones of
    ordinary images); a larger request gets a fresh array, so that a huge image leaves no huge
    buffers behind. The caller must not return it.
    """
    views = _SCRATCH.__dict__.setdefault("views", {})
    key = (name, shape, dtype)
    view = views.get(key)  # the common case: the same request as in an earlier call
    if view is not None:
        return view
    if math.prod(shape) * np.dtype(dtype).itemsize > SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype=dtype)
    if len(views) > 4096:  # many image sizes seen: keep the lookup table small
        views.clear()
    buffers = _SCRATCH.__dict__.setdefault("buffers", {})
    size = math.prod(shape)
    buf = buffers.get((name, dtype))
    if buf is None or buf.size < size:
        buf = buffers[(name, dtype)] = np.empty(max(size, 1), dtype=dtype)
        for stale in [k for k in views if k[0] == name and k[2] == dtype]:  # views of the old buffer
            del views[stale]
    view = views[key] = buf[:size].reshape(shape)
    return view


def bands(height: int, width: int, halo: int = 0) -> Iterator[tuple[slice, slice]]:
    """Bands of about :data:`BAND_PIXELS` pixels for filters of radius ``halo``: pairs of the rows
    read (the band widened by ``halo`` rows where the image has them) and, within those, the rows
    whose outputs are kept (every output row once; each kept row sees all its true neighbours)."""
    step = max(1, BAND_PIXELS // max(width, 1), 8 * halo)
    for b0 in range(0, height, step):
        b1 = min(b0 + step, height)
        lo, hi = max(b0 - halo, 0), min(b1 + halo, height)
        yield slice(lo, hi), slice(b0 - lo, b1 - lo)


def filter_valid_2d(x: np.ndarray, kernel: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """MATLAB ``filter2(outer(k, k), X, 'valid')`` of one 2-D float64 image with OpenCV's
    ``sepFilter2D`` (``out``: an (H, W) float64 buffer to write into); a view of the valid region."""
    h, w = x.shape
    r = (kernel.size - 1) // 2
    if h <= 2 * r or w <= 2 * r:
        return np.zeros((max(h - 2 * r, 0), max(w - 2 * r, 0)))
    res = cv2.sepFilter2D(x, cv2.CV_64F, kernel, kernel, dst=out, borderType=cv2.BORDER_REFLECT_101)
    return res[r : h - r, r : w - r]


def filter_valid_rows(x: np.ndarray, kernel: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`filter_valid_2d` with every column kept: the valid rows, whole (contiguous); columns
    closer than the kernel radius to the sides hold OpenCV's border-rule values, for callers that
    crop them later."""
    h, w = x.shape
    r = (kernel.size - 1) // 2
    if h <= 2 * r or w <= 2 * r:
        return np.zeros((max(h - 2 * r, 0), w))
    res = cv2.sepFilter2D(x, cv2.CV_64F, kernel, kernel, dst=out, borderType=cv2.BORDER_REFLECT_101)
    return res[r : h - r]


def is_cpu(x: Any) -> bool:
    """True for numpy arrays and CPU tensors."""
    return not is_torch(x) or x.device.type == "cpu"


def pixel_sums(
    terms: Callable[..., Sequence[Any]],
    *arrays: Any,
    per_band: Callable[..., Sequence[Any]] | None = None,
    halo: int = 0,
) -> tuple[Any, ...]:
    """Per-image sums over (H, W) of the per-pixel terms ``terms(*per_band(*arrays))``.

    ``arrays`` are stacks of the same shape (M, H, W), or per-image constants shaped (M, 1, 1).
    ``per_band`` (optional) maps them to the stacks that ``terms`` reads, typically by filtering
    with 'same'-size kernels of radius <= ``halo`` (any border rule); ``terms`` is an elementwise
    formula that returns a sequence of per-pixel arrays. Both are written with the array API. The
    result is one (M,) array of sums per term.

    On the CPU each image goes band by band of about :data:`BAND_PIXELS` pixels through
    ``per_band`` (with ``halo`` extra rows above and below where the image has them, cropped from
    its outputs, so that every kept pixel sees its true neighbours), and each band strip by strip
    of about :data:`STRIP_PIXELS` pixels through ``terms``: temporaries stay in cache (2-3x faster
    for formulas of 20-70 operations). Only the summation order differs from the whole-array
    evaluation used on a GPU. CPU tensors are evaluated with numpy on shared-memory views: the same
    numbers as the numpy path (torch's vectorised float64 ``sqrt`` on the CPU is not correctly
    rounded, which is enough to flip equality tests such as Q^AB/F's ``gA == gF``) and less
    per-call overhead on small strips.
    """
    first = arrays[0]
    if not is_cpu(first):
        xp = namespace(first)
        inputs = per_band(*arrays) if per_band is not None else arrays
        return tuple(xp.sum(t, axis=(-2, -1)) for t in terms(*inputs))
    if is_torch(first):
        import torch

        sums = pixel_sums(terms, *(x.detach().numpy() for x in arrays), per_band=per_band, halo=halo)
        return tuple(torch.from_numpy(t) for t in sums)
    m, h, w = first.shape
    band_rows = max(1, BAND_PIXELS // max(w, 1), 8 * halo) if per_band is not None else max(h, 1)
    strip_rows = max(1, STRIP_PIXELS // max(w, 1))
    totals: list[list[float]] = []
    for i in range(m):
        for b0 in range(0, max(h, 1), band_rows):  # one empty band when h == 0
            b1 = min(b0 + band_rows, h)
            lo, hi = max(b0 - halo, 0), min(b1 + halo, h)
            band = [_rows(x[i : i + 1], lo, hi) for x in arrays]
            if per_band is not None:
                band = [_rows(y, b0 - lo, b1 - lo) for y in per_band(*band)]
            for s0 in range(0, max(b1 - b0, 1), strip_rows):
                parts = terms(*(_rows(y, s0, s0 + strip_rows) for y in band))
                if not totals:
                    totals = [[0.0] * m for _ in parts]
                for k, part in enumerate(parts):
                    totals[k][i] += float(part.sum())
    return tuple(np.array(t, dtype=np.float64) for t in totals)


def _rows(x: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a stack (M, H, W); a per-image constant (M, 1, 1) as it is."""
    return x if x.shape[-2:] == (1, 1) else x[:, start:stop]


def row_bands(x: Any, overlap: int) -> list[slice]:
    """Row ranges of ``x`` (M, H, W) for 'valid' filtering band by band.

    Output rows ``[r0, r1)`` of a 'valid' filter with a kernel of ``overlap + 1`` rows need input
    rows ``[r0, r1 + overlap)``: consecutive ranges overlap by ``overlap`` rows. On the CPU the bands
    hold about :data:`BAND_PIXELS` output pixels per image and start at even output rows (so that
    subsampling by 2 band by band keeps the global even rows); on a GPU there is one band.
    """
    m, h, w = x.shape
    out_rows = h - overlap
    if not is_cpu(x) or out_rows <= 0:
        return [slice(0, h)]
    step = max(2, BAND_PIXELS // max(m * w, 1) // 2 * 2)
    return [slice(r0, min(r0 + step, out_rows) + overlap) for r0 in range(0, out_rows, step)]


def map_images(fn: Callable[..., Sequence[Any]], *arrays: Any) -> list[Any]:
    """``fn(*arrays)`` for stacks with the images along axis 0 (e.g. (M, H, W)) that returns a
    sequence of such stacks (e.g. (M,) scores), one image at a time on the CPU (so that temporaries
    stay image- or cache-sized whatever the batch size), the whole stack at once on a GPU."""
    first = arrays[0]
    if not is_cpu(first) or first.shape[0] == 1:
        return list(fn(*arrays))
    xp = namespace(first)
    per_image = [fn(*(x[i : i + 1] for x in arrays)) for i in range(first.shape[0])]
    return [xp.concat([r[k] for r in per_image]) for k in range(len(per_image[0]))]


def map_strips(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn(x)`` for an elementwise ``fn`` of arrays with rows on axis -2, evaluated strip by strip
    of rows on the CPU (only the result is allocated whole), at once on a GPU."""
    h = x.shape[-2]
    rows = max(1, STRIP_PIXELS // max(x.shape[-1], 1))
    if not is_cpu(x) or h <= rows:
        return fn(x)
    return namespace(x).concat([fn(x[..., r0 : r0 + rows, :]) for r0 in range(0, h, rows)], axis=-2)


def clamp_min(x: Any, low: float) -> Any:
    """``max(x, low)`` elementwise (NaN propagates); a lighter call than ``xp.clip`` in hot loops."""
    if is_torch(x):
        return x.clamp(min=low)
    return np.maximum(x, low)


#: OpenCV's calcHist counts in float32, exact up to 2^24 per bin: used for images below that size.
CALC_HIST_MAX_PIXELS = 1 << 24


def histogram256(levels: Any) -> Any:
    """Counts of the integer levels 0..255 per image: (M, H, W) integer -> (M, 256) float64."""
    if is_torch(levels):
        import torch

        if is_cpu(levels):
            return torch.from_numpy(histogram256(levels.numpy()))
        m = levels.shape[0]
        offsets = torch.arange(m, device=levels.device).reshape(m, 1, 1) * 256
        counts = torch.bincount((levels.long() + offsets).reshape(-1), minlength=m * 256)
        return counts.reshape(m, 256).to(torch.float64)
    m, h, w = levels.shape
    if levels.dtype == np.uint8 and h * w < CALC_HIST_MAX_PIXELS:
        hists = [cv2.calcHist([np.ascontiguousarray(img)], [0], None, [256], [0, 256]) for img in levels]
        return np.stack(hists).reshape(m, 256).astype(np.float64)
    offsets = np.arange(m).reshape(m, 1, 1) * 256
    counts = np.bincount((levels.astype(np.int64) + offsets).ravel(), minlength=m * 256)
    return counts.reshape(m, 256).astype(np.float64)


def joint_histogram256(x_levels: Any, y_levels: Any) -> Any:
    """Joint counts of two level images: (M, H, W) x (M, H, W) -> (M, 65536) float64 (row x*256 + y)."""
    if is_torch(x_levels):
        import torch

        if is_cpu(x_levels):
            return torch.from_numpy(joint_histogram256(x_levels.numpy(), y_levels.numpy()))
        m = x_levels.shape[0]
        offsets = torch.arange(m, device=x_levels.device).reshape(m, 1, 1) * 65536
        index = x_levels.long() * 256 + y_levels.long() + offsets
        counts = torch.bincount(index.reshape(-1), minlength=m * 65536)
        return counts.reshape(m, 65536).to(torch.float64)
    m, h, w = x_levels.shape
    if x_levels.dtype == np.uint8 and y_levels.dtype == np.uint8 and h * w < CALC_HIST_MAX_PIXELS:
        pairs = zip(x_levels, y_levels, strict=True)
        hists = [
            cv2.calcHist([np.ascontiguousarray(z) for z in xy], [0, 1], None, [256, 256], [0, 256] * 2) for xy in pairs
        ]
        return np.stack(hists).reshape(m, 65536).astype(np.float64)
    offsets = np.arange(m).reshape(m, 1, 1) * 65536
    index = x_levels.astype(np.int64) * 256 + y_levels.astype(np.int64) + offsets
    counts = np.bincount(index.ravel(), minlength=m * 65536)
    return counts.reshape(m, 65536).astype(np.float64)


def to_float64(x: Any) -> Any:
    """``x`` as float64: for numpy a C-ordered copy (an (N, C, H, W) view of (H, W, C) images becomes
    planar: contiguous channels); for torch ``.to`` (the tensor itself if already float64)."""
    if is_torch(x):
        import torch

        return x.to(torch.float64)
    return x.astype(np.float64, order="C")


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
