"""fusionbench.metrics: IR/VIS fusion metrics that match the MATLAB reference toolkits.

Functional API (one pure function per metric, numpy or torch input)::

    from fusionbench.metrics import compute, qabf
    compute(fused, ir, vis)                    # {'mi': ..., 'vif': ..., ...}, TANG convention
    qabf(fused, ir, vis, convention="vifb")    # one metric

Registry: :func:`create_metric`, :func:`list_metrics`, :class:`MetricSpec`; conventions:
:func:`get_convention`, :class:`Convention`. Definitions and calibration: docs/metrics.md,
docs/calibration.md.
"""

from fusionbench.metrics.ag import ag
from fusionbench.metrics.api import (
    SEED_METRICS,
    Metric,
    compute,
    compute_batch,
    create_metric,
    get_spec,
    list_metrics,
    resolve_metrics,
)
from fusionbench.metrics.cc import cc
from fusionbench.metrics.ce import ce
from fusionbench.metrics.conventions import Convention, get_convention, list_conventions
from fusionbench.metrics.ei import ei
from fusionbench.metrics.en import en
from fusionbench.metrics.mi import mi
from fusionbench.metrics.nabf import nabf
from fusionbench.metrics.psnr import mse, psnr
from fusionbench.metrics.qabf import qabf
from fusionbench.metrics.qcb import qcb
from fusionbench.metrics.qcv import qcv
from fusionbench.metrics.scd import scd
from fusionbench.metrics.sd import sd
from fusionbench.metrics.sf import sf
from fusionbench.metrics.spec import MetricSpec
from fusionbench.metrics.ssim import ssim
from fusionbench.metrics.vif import vif

__all__ = [
    "SEED_METRICS",
    "Convention",
    "Metric",
    "MetricSpec",
    "ag",
    "cc",
    "ce",
    "compute",
    "compute_batch",
    "create_metric",
    "ei",
    "en",
    "get_convention",
    "get_spec",
    "list_conventions",
    "list_metrics",
    "mi",
    "mse",
    "nabf",
    "psnr",
    "qabf",
    "qcb",
    "qcv",
    "resolve_metrics",
    "scd",
    "sd",
    "sf",
    "ssim",
    "vif",
]
