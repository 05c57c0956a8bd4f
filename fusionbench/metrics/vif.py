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
``vif_nan_to_one``). torchmetrics' ``visual_information_fidelity(F, R)`` computes the same VIF(R, F).
"""

from __future__ import annotations

from typing import Any

from fusionbench.metrics import _backend
from fusionbench.metrics._common import gaussian_1d, sum_hw
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


def _pyramid(x: Any) -> list[Any]:
    """The image at each scale (before the local statistics), as ``vifp_mscale`` builds it."""
    levels = [x]
    for scale in range(2, SCALES + 1):
        y = _valid(levels[-1], _window(scale))
        levels.append(y[:, ::2, ::2])
    return levels


def _local_stats(x: Any) -> list[tuple[Any, Any]]:
    """(mu, E[x^2]) per scale."""
    out = []
    for scale, level in enumerate(_pyramid(x), start=1):
        w = _window(scale)
        out.append((_valid(level, w), _valid(level * level, w)))
    return out


def vif_single(ref_pyramid: list[Any], ref_stats: list[Any], dist_pyramid: list[Any], dist_stats: list[Any]) -> Any:
    """VIF(R, D) per image from precomputed pyramids and local statistics."""
    xp = _backend.namespace(ref_pyramid[0])
    num = 0.0
    den = 0.0
    for scale in range(1, SCALES + 1):
        w = _window(scale)
        mu1, e11 = ref_stats[scale - 1]
        mu2, e22 = dist_stats[scale - 1]
        e12 = _valid(ref_pyramid[scale - 1] * dist_pyramid[scale - 1], w)
        s1 = xp.clip(e11 - mu1 * mu1, 0.0, None)
        s2 = xp.clip(e22 - mu2 * mu2, 0.0, None)
        s12 = e12 - mu1 * mu2
        g = s12 / (s1 + EPS)
        sv = s2 - g * s12
        low1 = s1 < EPS
        g = xp.where(low1, 0.0, g)
        sv = xp.where(low1, s2, sv)
        s1 = xp.where(low1, 0.0, s1)
        low2 = s2 < EPS
        g = xp.where(low2, 0.0, g)
        sv = xp.where(low2, 0.0, sv)
        neg = g < 0
        sv = xp.where(neg, s2, sv)
        g = xp.where(neg, 0.0, g)
        sv = xp.where(sv <= EPS, EPS, sv)
        num = num + sum_hw(xp.log10(1.0 + g * g * s1 / (sv + SIGMA_N_SQ)))
        den = den + sum_hw(xp.log10(1.0 + s1 / SIGMA_N_SQ))
    return num / den


def _prepared(batch: Any, role: str) -> tuple[list[Any], list[Any]]:
    def make() -> tuple[list[Any], list[Any]]:
        x = getattr(batch, role)
        return _pyramid(x), _local_stats(x)

    return batch.cached(f"vif_{role}", make)


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
    pf, sf = _prepared(batch, "f")
    total = 0.0
    for role in ("a", "b"):
        pr, sr = _prepared(batch, role)
        score = vif_single(pr, sr, pf, sf)
        if batch.convention.vif_nan_to_one:
            score = xp.where(xp.isnan(score), 1.0, score)
        total = total + score
    return total


def vif(fused: Any, ir: Any, vis: Any, *, convention: str | Convention = "tang",
        data_range: float | None = None) -> Any:
    """VIF(IR, F) + VIF(VIS, F) (see the module docstring for the formula and conventions).

    numpy input (one image, ``(H, W)`` or ``(H, W, 3)``) returns a float; torch input ``(N, C, H, W)``
    returns a float64 tensor of shape ``(N,)`` on the input's device.
    """
    return _functional("vif", fused, ir, vis, convention, data_range)
