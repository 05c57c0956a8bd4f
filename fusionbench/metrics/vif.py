"""VIF: multi-scale pixel-domain visual information fidelity, summed over the two sources.

``VIF = VIF(A, F) + VIF(B, F)`` with each source as reference R and the fused image as distorted D
(float 0..255), pooled over four scales s = 1..4 before dividing:

* window: Gaussian of size ``N_s = 2^(5-s) + 1`` (17, 9, 5, 3), ``sigma = N_s / 5`` (MATLAB
  ``fspecial``; separable here, exact up to rounding);
* for s > 1, R and D are filtered ('valid') with the current window and subsampled by 2;
* ``mu = filter_valid(w, X)``, ``sigma_R^2 = filter_valid(w, R^2) - mu_R^2`` (and D, RD alike);
* ``g = sigma_RD / (sigma_R^2 + 1e-10)``, ``sv^2 = sigma_D^2 - g sigma_RD`` with the LIVE code's
  guards (sigma_R^2 < 1e-10, sigma_D^2 < 1e-10, g < 0, sv^2 <= 1e-10);
* ``num += sum log10(1 + g^2 sigma_R^2 / (sv^2 + 2))``, ``den += sum log10(1 + sigma_R^2 / 2)``.

This is ``vifp_mscale`` of the LIVE lab (H. R. Sheikh, A. C. Bovik, "Image information and visual
quality", IEEE TIP 15(2), 2006), as used by TANG and CDD (whose ``VIFF`` is this, not Han et al.'s
VIFF). A constant source gives ``den = 0`` and a NaN score (CDD replaces it by 1.0:
``vif_nan_to_one``). The pre-refactor TANG toolkit (``tang-old``) passed uint8 images, so at
scale 1 its products R.R, D.D and R.D saturated at 255 (``vif_uint8_products``), which raises VIF
by 15-35 % on TNO. torchmetrics' ``visual_information_fidelity(F, R)`` computes the same VIF(R, F).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from fusionbench.metrics import _backend
from fusionbench.metrics._common import gaussian_1d
from fusionbench.metrics.api import _functional
from fusionbench.metrics.conventions import Convention
from fusionbench.metrics.spec import register

SIGMA_N_SQ = 2.0
EPS = 1e-10
SCALES = 4


def _window(scale: int) -> Any:
    size = 2 ** (SCALES - scale + 1) + 1
    return gaussian_1d(size, size / 5.0)


def _valid(x: Any, w: Any) -> Any:
    return _backend.sep_filter(x, w, w, "valid")


def _downsample(x: Any, scale: int) -> Any:
    """The next level of ``vifp_mscale``'s pyramid: filter 'valid' with this scale's window and keep
    every second row and column (band by band on the CPU: no full-size filter output)."""
    w = _window(scale)
    xp = _backend.namespace(x)
    parts = [_valid(x[:, rows], w)[:, ::2, ::2] for rows in _backend.row_bands(x, w.size - 1)]
    return xp.concat(parts, axis=1) if len(parts) > 1 else xp.asarray(parts[0], copy=True)


def _product(x: Any, y: Any, saturate: bool) -> Any:
    """``x * y``; with ``saturate`` the uint8 product of the old TANG toolkit, ``min(x y, 255)``."""
    p = x * y
    return _backend.namespace(p).clip(p, None, 255.0) if saturate else p


def _moments(x: Any, w: Any, saturate: bool = False) -> tuple[Any, Any]:
    """Local mean ``mu = filter_valid(w, X)`` and second moment ``filter_valid(w, X^2)``."""
    return _valid(x, w), _valid(_product(x, x, saturate), w)


def _scale_terms(mu1: Any, e11: Any, mu2: Any, e22: Any, e12: Any) -> tuple[Any, Any]:
    """Per-pixel numerator and denominator terms of one scale, from the local moments.

    ``s1 = max(E[R^2] - mu_R^2, 0)``, ``s2`` alike for D, ``s12 = E[RD] - mu_R mu_D``,
    ``g = s12 / (s1 + eps)``, ``sv = max(s2 - g s12, eps)``;
    ``num = log10(1 + g^2 s1 / (sv + sigma_n^2))``, ``den = log10(1 + s1 / sigma_n^2)``.

    The LIVE code's guards, folded in without changing any value: s1 < eps sets s1 = 0 (both
    terms) and g = 0 (here g stays finite and the zero s1 zeroes the numerator); s2 < eps and
    g < 0 set g = 0, which zeroes the numerator whatever sv is.
    """
    xp = _backend.namespace(mu1)
    s1 = _backend.clamp_min(e11 - mu1 * mu1, 0.0)
    s1 = s1 * (s1 >= EPS)
    s2 = _backend.clamp_min(e22 - mu2 * mu2, 0.0)
    s12 = e12 - mu1 * mu2
    g = _backend.clamp_min(s12 / (s1 + EPS), 0.0) * (s2 >= EPS)
    sv = _backend.clamp_min(s2 - g * s12, EPS)
    num = xp.log10(1.0 + g * g * s1 / (sv + SIGMA_N_SQ))
    den = xp.log10(1.0 + s1 / SIGMA_N_SQ)
    return num, den


def vif_pairs(dist: Any, refs: list[Any], uint8_products: bool = False) -> list[Any]:
    """``[VIF(R, D) for R in refs]`` per image (stacks (M, H, W)), sharing D's moments.

    Per reference, the sums of :func:`_scale_terms`'s numerator and denominator terms are
    accumulated over the four scales and divided at the end, as ``vifp_mscale`` does. On the CPU
    (numpy, or CPU tensors through shared-memory views) each image goes through
    :func:`_vif_image`; on a GPU the whole stack goes through :func:`_vif_pairs_stack`.
    """
    if not _backend.is_cpu(dist):
        return list(_vif_pairs_stack(dist, *refs, uint8_products=uint8_products))
    as_numpy = [_backend.to_numpy(x) if _backend.is_torch(x) else x for x in (dist, *refs)]
    scores = np.array([_vif_image(*(x[i] for x in as_numpy), uint8_products=uint8_products) for i in range(len(dist))])
    columns = [np.ascontiguousarray(scores[:, k]) for k in range(len(refs))]
    if _backend.is_torch(dist):
        import torch

        return [torch.from_numpy(c) for c in columns]
    return columns


def _vif_pairs_stack(dist: Any, *refs: Any, uint8_products: bool = False) -> list[Any]:
    num = [0.0] * len(refs)
    den = [0.0] * len(refs)
    for scale in range(1, SCALES + 1):
        w = _window(scale)
        if scale > 1:
            dist = _downsample(dist, scale)
            refs = tuple(_downsample(r, scale) for r in refs)
        saturate = uint8_products and scale == 1  # later scales are filtered doubles
        for rows in _backend.row_bands(dist, w.size - 1):
            d = dist[:, rows]
            mu2, e22 = _moments(d, w, saturate)
            for k, ref in enumerate(refs):
                r = ref[:, rows]
                mu1, e11 = _moments(r, w, saturate)
                e12 = _valid(_product(r, d, saturate), w)
                num_s, den_s = _backend.pixel_sums(_scale_terms, mu1, e11, mu2, e22, e12)
                num[k] = num[k] + num_s
                den[k] = den[k] + den_s
    return [n / d for n, d in zip(num, den, strict=True)]


# CPU path: one image at a time, band by band of rows (see _backend.row_bands) so that the filtered
# moments stay in cache, with every band-sized temporary in reused scratch buffers.


def _vif_image(dist: np.ndarray, *refs: np.ndarray, uint8_products: bool = False) -> list[float]:
    """``[VIF(R, D) for R in refs]`` of one image (2-D float64 arrays on 0..255)."""
    num = [0.0] * len(refs)
    den = [0.0] * len(refs)
    images = (dist, *refs)
    for scale in range(1, SCALES + 1):
        w = _window(scale)
        if scale > 1:
            images = tuple(_downsample_image(x, w, f"vif_down{k}_{scale}") for k, x in enumerate(images))
        saturate = uint8_products and scale == 1
        for rows in _backend.row_bands(images[0][None], w.size - 1):
            band_num, band_den = _band_sums([x[rows] for x in images], w, saturate)
            num = [n + b for n, b in zip(num, band_num, strict=True)]
            den = [d + b for d, b in zip(den, band_den, strict=True)]
    with np.errstate(divide="ignore", invalid="ignore"):
        return [float(np.float64(n) / d) for n, d in zip(num, den, strict=True)]


def _downsample_image(x: np.ndarray, w: np.ndarray, name: str) -> np.ndarray:
    """``filter_valid(w, X)[::2, ::2]`` (the next level of the pyramid) by polyphase filtering: only
    the kept outputs are computed (rows, then columns through a transpose), into scratch."""
    h, wd = x.shape
    n, m = (h - w.size + 2) // 2, (wd - w.size + 2) // 2  # ceil of the valid size / 2
    if n <= 0 or m <= 0:
        return np.zeros((max(n, 0), max(m, 0)))
    rows = _decimate_rows(x, w, n, "vif_decimate_r")  # (n, W); temporaries shared by all images
    across = _decimate_rows(
        cv2.transpose(rows, dst=_backend.scratch("vif_decimate_t", (wd, n))), w, m, "vif_decimate_c"
    )
    return cv2.transpose(across, dst=_backend.scratch(name, (n, m)))


def _decimate_rows(x: np.ndarray, w: np.ndarray, n: int, name: str) -> np.ndarray:
    """``sum_k w[k] x[2i + k]`` for rows i < n: the even taps on the even rows plus the odd taps on
    the odd rows (OpenCV ``filter2D`` on row-strided views, correlation anchored at the first tap)."""
    parts: list[np.ndarray] = []
    for phase in (0, 1):
        src = x[phase::2]
        dst = _backend.scratch(f"{name}{phase}", src.shape)
        taps = np.ascontiguousarray(w[phase::2, None])
        parts.append(cv2.filter2D(src, -1, taps, dst=dst, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)[:n])
    parts[0] += parts[1]
    return parts[0]


def _band_sums(images: list[np.ndarray], w: np.ndarray, saturate: bool) -> tuple[list[float], list[float]]:
    """Numerator and denominator sums of one band for each reference ``images[1:]`` against the
    distorted ``images[0]``: the local moments by 'valid' filtering, then :func:`_band_terms_sums`.

    The second moments are filtered with the column taps negated, which negates them exactly
    (``-E[X Y]``): adding ``mu_X mu_Y`` in place then gives the negated (co)variances. The formula
    runs on whole rows (contiguous arrays, faster than column-cropped views); the border columns,
    which hold finite values from OpenCV's border rule, are dropped before summing.
    """
    d = images[0]
    h, width = d.shape
    r = (w.size - 1) // 2
    n_refs = len(images) - 1
    if h <= 2 * r or width <= 2 * r:  # no 'valid' output
        return [0.0] * n_refs, [0.0] * n_refs
    negated = -w

    def moment(name: str, x: np.ndarray, y: np.ndarray | None = None) -> np.ndarray:
        """The valid rows of ``filter_valid(w, X)``, or with ``y`` of ``-filter_valid(w, X Y)``."""
        taps_down = w
        if y is not None:
            x = _product_into(x, y, saturate, _backend.scratch("vif_prod", d.shape))
            taps_down = negated
        dst = _backend.scratch(name, d.shape)
        cv2.sepFilter2D(x, cv2.CV_64F, w, taps_down, dst=dst, borderType=cv2.BORDER_REFLECT_101)
        return dst[r : h - r]

    mu2 = moment("vif_mu2", d)
    ns2 = moment("vif_ns2", d, d)
    ns2 += np.multiply(mu2, mu2, out=_backend.scratch("vif_t0", ns2.shape))  # -s2 = -(E[D^2] - mu_D^2)
    d_ok = np.less_equal(ns2, -EPS, out=_backend.scratch("vif_dok", ns2.shape), casting="unsafe")  # s2 >= eps: 1.0
    num, den = [], []
    for ref in images[1:]:
        mu1, ns1, ns12 = moment("vif_mu1", ref), moment("vif_ns1", ref, ref), moment("vif_ns12", ref, d)
        n, dd = _band_terms_sums(mu1, ns1, mu2, ns2, d_ok, ns12, r)
        num.append(n)
        den.append(dd)
    return num, den


def _product_into(x: np.ndarray, y: np.ndarray, saturate: bool, out: np.ndarray) -> np.ndarray:
    """``x * y`` into ``out``; with ``saturate`` the old toolkit's uint8 product ``min(x y, 255)``."""
    np.multiply(x, y, out=out)
    if saturate:
        np.minimum(out, 255.0, out=out)
    return out


def _band_terms_sums(
    mu1: np.ndarray, ns1: np.ndarray, mu2: np.ndarray, ns2: np.ndarray, d_ok: np.ndarray, ns12: np.ndarray, r: int
) -> tuple[float, float]:
    """Sums over the valid columns (``r:-r``) of :func:`_scale_terms`'s numerator and denominator.

    In place, from ``ns1 = -E[R^2]`` and ``ns12 = -E[RD]`` (overwritten) and the shared
    ``ns2 = -sigma_D^2`` and ``d_ok = (sigma_D^2 >= eps)`` (1.0 or 0.0). The same operations as the
    LIVE code, each rounded as there, on negated values (negation is exact) so that the guards are
    single OpenCV passes: ``-s1 = mu1^2 - E[R^2]``, zeroed where s1 < eps (``THRESH_TOZERO_INV``);
    ``g = -s12 / -(s1 + eps)``, clamped at 0 (``THRESH_TOZERO``); ``-max(s2 - g s12, eps)``
    (``THRESH_TRUNC``). ``log10`` becomes the natural log, whose factor ``1 / ln 10`` cancels in
    num / den. The variances are differences of nearly equal numbers in flat regions, where the
    terms depend on their rounding: keep every product and difference rounded separately (no
    fused multiply-add, such as ``cv2.accumulateProduct``'s).
    """
    g, t = (_backend.scratch(f"vif_t{k}", mu1.shape) for k in range(2))
    ns1 += np.multiply(mu1, mu1, out=g)  # -s1
    cv2.threshold(ns1, -EPS, 0.0, cv2.THRESH_TOZERO_INV, dst=ns1)  # s1 < eps (negative included): 0
    ns12 += np.multiply(mu1, mu2, out=g)  # -s12
    np.subtract(ns1, EPS, out=g)  # -(s1 + eps)
    np.divide(ns12, g, out=g)  # g = s12 / (s1 + eps)
    cv2.threshold(g, 0.0, 0.0, cv2.THRESH_TOZERO, dst=g)  # g < 0: 0
    g *= d_ok  # sigma_D^2 < eps: g = 0 (a multiplication by a 0/1 mask: no branch per pixel)
    np.multiply(g, ns12, out=t)  # -g s12
    cv2.addWeighted(t, -1.0, ns2, 1.0, 0.0, dst=t)  # -(s2 - g s12)
    cv2.threshold(t, -EPS, 0.0, cv2.THRESH_TRUNC, dst=t)  # -sv^2 = -max(s2 - g s12, eps)
    t -= SIGMA_N_SQ
    np.multiply(g, g, out=g)
    g *= ns1  # -g^2 s1
    g /= t
    g += 1.0  # 1 + g^2 s1 / (sv^2 + sigma_n^2)
    num = _valid_log_sum(g, r)
    cv2.addWeighted(ns1, -1.0 / SIGMA_N_SQ, ns1, 0.0, 1.0, dst=t)  # 1 + s1 / sigma_n^2
    return num, _valid_log_sum(t, r)


def _valid_log_sum(x: np.ndarray, r: int) -> float:
    """``sum(log(x[:, r:-r]))`` for terms ``x >= 1``, in place: the border columns are set to 1
    (whose log is 0), then the terms are multiplied together eight at a time (folding the array in
    half three times) before one log per product. On 0..255 data every term is below 1e4 (1e14 with
    the old toolkit's saturated products: ``g^2 s1 <= s12^2 / (4 eps)``), so a product of eight
    stays far below the float64 range, and its rounding (a few ulp) is that of summing eight logs."""
    x[:, :r] = 1.0
    x[:, x.shape[1] - r :] = 1.0
    flat = x.reshape(-1)
    n = flat.size
    for _ in range(3):
        half = n // 2
        if half == 0:
            break
        np.multiply(flat[:half], flat[half : 2 * half], out=flat[:half])
        if n % 2:  # the odd one out moves next to the folded half
            flat[half] = flat[n - 1]
        n = half + n % 2
    return float(cv2.log(flat[:n], dst=flat[:n]).sum())  # numpy's pairwise sum: the same on any thread count


def vif_single(ref: Any, dist: Any) -> Any:
    """VIF(R, D) (``vifp_mscale(ref, dist)``) per image of two stacks (M, H, W) on 0..255."""
    return vif_pairs(dist, [ref])[0]


@register(
    dict(
        id="vif",
        name="VIF",
        latex="VIF",
        higher_is_better=True,
        value_range=(0.0, None),
        paper="Sheikh & Bovik, IEEE TIP 2006 (vifp_mscale); fusion use: Han et al., Inf. Fusion 2013",
        toolkits="TANG, CDD (VIFB has none)",
        tolerance=1e-6,
        symmetric=True,
        summary="vifp_mscale(IR,F) + vifp_mscale(VIS,F), four scales, sigma_n^2 = 2",
    )
)
def vif_kernel(batch: Any) -> Any:
    xp = batch.xp
    total = 0.0
    for score in vif_pairs(batch.f, [batch.a, batch.b], batch.convention.vif_uint8_products):
        if batch.convention.vif_nan_to_one:
            score = xp.where(xp.isnan(score), 1.0, score)
        total = total + score
    return total


def vif(
    fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang", data_range: float | None = None
) -> Any:
    """VIF(IR, F) + VIF(VIS, F) (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("vif", fused, ir, vis, convention, data_range)
