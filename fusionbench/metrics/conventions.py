"""Named metric conventions: the choices that make two "MI" or "AG" numbers differ.

A convention is data, not a branch in every metric: a frozen dataclass holding the gray
conversion, the log base of MI, the AG and SF denominators, the colour policy and the MATLAB
quirks of one reference toolkit. Metric code reads the fields it needs.

Registered conventions (see ``docs/metrics.md`` and ``docs/calibration.md``):

``tang`` (default)
    L. Tang's MATLAB *Evaluation-for-Image-Fusion* toolkit (``Evaluation/*.m`` at 0e87153, the
    refactored version), the convention of the seed paper's Table 1 and of SeAFusion, PIAFusion and
    PSFusion. Every quirk the toolkit prints is reproduced (MI's 254/255 joint-bin merge, Q^AB/F's
    ``G = gF`` rule, PSNR's +48.13 dB, MSE on 0..1, SSIM with ``DynamicRange = 1``), except that Nabf
    is computed with the fused image in the fused slot (the shipped ``analysis_Reference.m`` passes
    the IR image there; set ``nabf_swapped_args=True`` to reproduce that bug).
``tang-corrected``
    ``tang`` with every quirk switched to the corrected behaviour (exact joint histogram, ``G = 1``
    for equal strengths, standard PSNR/MSE on 0..255, SSIM with dynamic range 255).
``tang-old``
    The pre-refactor variant of the same toolkit that produced ``Metric/Metric_TNO.xlsx``: Q^AB/F
    and SF on 0..1 data (Q^AB/F summed in MATLAB ``conv2`` order), VIF with saturating uint8
    products at scale 1, SD in saturating uint8 arithmetic.
``vifb``
    The VIFB benchmark (Zhang et al., CVPRW 2020; ``metrics/*.m`` at 22b2ea9): colour fused images
    scored per channel and averaged, MI in nats on min-max stretched images, SF over ``M N``.
``cdd``
    CDDFuse's ``utils/Evaluator.py``: OpenCV gray (round half to even), MI in nats (exact
    histogram), AG averaged over ``M N``, PSNR with the fused image's maximum as peak.

Users switch single choices with :meth:`Convention.replace`::

    >>> from fusionbench.metrics.conventions import get_convention
    >>> exact = get_convention("tang").replace(mi_joint_saturation=False)
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Literal

from fusionbench.registry import Registry

#: MATLAB ``rgb2gray`` coefficients (the rounded inverse of the NTSC YIQ matrix).
MATLAB_GRAY = (0.298936021293775, 0.587043074451121, 0.114020904255103)
#: ITU-R BT.601 luma coefficients as OpenCV's ``COLOR_BGR2GRAY`` uses them.
BT601_GRAY = (0.299, 0.587, 0.114)

ColourPolicy = Literal["gray", "per_channel"]


@dataclass(frozen=True)
class Convention:
    """The choices one reference toolkit makes. Field docs say which metric reads them."""

    name: str
    description: str
    #: ``gray``: RGB images are converted to gray first; ``per_channel``: a colour fused image is
    #: scored channel by channel (VIS_k, IR or IR_k, F_k) and the three values averaged (VIFB).
    colour: ColourPolicy = "gray"
    #: Gray formula coefficients for (R, G, B).
    gray_weights: tuple[float, float, float] = MATLAB_GRAY
    #: ``half_up``: MATLAB's uint8 rounding; ``half_even``: ``numpy.round`` after OpenCV (CDD).
    gray_rounding: Literal["half_up", "half_even"] = "half_up"
    #: MI: logarithm base (2 = bits as TANG, e = nats as VIFB and CDD; see ``mi_unit``).
    log_base: float = 2.0
    #: MI: min-max stretch each image to 0..255 and round before binning (VIFB).
    mi_minmax_stretch: bool = False
    #: MI quirk (TANG): the joint histogram indexes with ``uint8(x) + 1``, which saturates, so values
    #: 254 and 255 share one joint bin while the marginals keep them apart.
    mi_joint_saturation: bool = False
    #: AG: ``interior`` divides the sum over all M N pixels by (M-1)(N-1) (TANG, VIFB);
    #: ``all`` takes the mean over M N (CDD).
    ag_denominator: Literal["interior", "all"] = "interior"
    #: SF: ``differences`` averages squared differences over their count (TANG, CDD);
    #: ``pixels`` divides both sums by M N (VIFB).
    sf_denominator: Literal["differences", "pixels"] = "differences"
    #: Scale the data is on when Q^AB/F and SF are computed: 255 (0..255) or 1 (TANG-old's 0..1).
    gradient_data_scale: float = 255.0
    #: Q^AB/F quirk: ``raw`` sets the relative strength to gF where gA == gF (the reference code);
    #: ``one`` uses the intended value 1.
    qabf_equal_strength: Literal["raw", "one"] = "one"
    #: PSNR/MSE definition: ``tang`` (MSE on 0..1, PSNR = 20 log10(255/sqrt(MSE)): +48.13 dB),
    #: ``standard`` (0..255, peak 255), ``vifb`` (VIFB's sqrt(SSE)/(M N) "mse"), ``cdd`` (peak max F).
    psnr: Literal["tang", "standard", "vifb", "cdd"] = "standard"
    #: SSIM definition: ``matlab`` (mean of ssim(F,A), ssim(F,B), MATLAB built-in defaults),
    #: ``wang_valid_sum`` (VIFB: sum, Gaussian 11/1.5 'valid'), ``skimage_sum`` (CDD: sum, 7x7 uniform).
    ssim: Literal["matlab", "wang_valid_sum", "skimage_sum"] = "matlab"
    #: SSIM dynamic range L (C1 = (0.01 L)^2, C2 = (0.03 L)^2). TANG's MATLAB call leaves the class
    #: default 1 on 0..255 doubles; the corrected value is 255.
    ssim_dynamic_range: float = 255.0
    #: Nabf quirk (TANG's analysis_Reference.m): arguments passed as (IR, VI, F) to a (F, A, B) function.
    nabf_swapped_args: bool = False
    #: VIF quirk (TANG-old): uint8 inputs, so the scale-1 products R.R, D.D, R.D saturate at 255.
    vif_uint8_products: bool = False
    #: SD quirk (TANG-old): ``F - mean`` and its square in saturating uint8 arithmetic.
    sd_uint8: bool = False
    #: Q^AB/F: sum the Sobel products in MATLAB ``conv2``'s order (column-major over the kernel).
    #: Only matters on 0..1 data (TANG-old), where the ``G = gF`` rule hinges on exact equality.
    qabf_conv2_order: bool = False
    #: VIF: replace a NaN per-source score (constant source) by 1.0 (CDD). Default: keep NaN.
    vif_nan_to_one: bool = False
    #: Reference toolkit (for documentation and the run manifest).
    reference: str = ""

    @property
    def mi_unit(self) -> str:
        """``bits``, ``nats`` or ``log<base>`` for MI."""
        if self.log_base == 2.0:
            return "bits"
        if self.log_base == math.e:
            return "nats"
        return f"log{self.log_base:g}"

    def replace(self, **changes: object) -> Convention:
        """A copy with some choices changed, e.g. ``TANG.replace(mi_joint_saturation=False)``."""
        if "name" not in changes:
            changed = ",".join(f"{k}={v}" for k, v in sorted(changes.items()))
            changes["name"] = f"{self.name}[{changed}]"
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """All choices as a plain dict (recorded in run manifests)."""
        return dataclasses.asdict(self)


TANG = Convention(
    name="tang",
    description="L. Tang's MATLAB Evaluation-for-Image-Fusion toolkit (refactored, 0e87153): seed paper default",
    mi_joint_saturation=True,
    qabf_equal_strength="raw",
    psnr="tang",
    ssim="matlab",
    ssim_dynamic_range=1.0,
    reference="Linfeng-Tang/Evaluation-for-Image-Fusion Evaluation/*.m @ 0e87153",
)

TANG_CORRECTED = TANG.replace(
    name="tang-corrected",
    description="TANG with its quirks corrected: exact joint histogram, G=1 rule, standard PSNR, SSIM L=255",
    mi_joint_saturation=False,
    qabf_equal_strength="one",
    psnr="standard",
    ssim_dynamic_range=255.0,
)

TANG_OLD = TANG.replace(
    name="tang-old",
    description="pre-refactor TANG toolkit (Metric_TNO.xlsx): Q^AB/F, SF on 0..1 data; uint8 VIF and SD",
    gradient_data_scale=1.0,
    vif_uint8_products=True,
    sd_uint8=True,
    qabf_conv2_order=True,
    reference="minmaxHong/IVIF_metric @ 31c28c4 (pre-refactor Evaluation code)",
)

VIFB = Convention(
    name="vifb",
    description="VIFB benchmark MATLAB metrics (22b2ea9): per-channel colour, MI in nats with min-max stretch",
    colour="per_channel",
    log_base=math.e,
    mi_minmax_stretch=True,
    sf_denominator="pixels",
    qabf_equal_strength="raw",
    psnr="vifb",
    ssim="wang_valid_sum",
    reference="xingchenzhang/VIFB metrics/*.m @ 22b2ea9",
)

CDD = Convention(
    name="cdd",
    description="CDDFuse utils/Evaluator.py (fd8da1f): OpenCV gray, MI in nats, AG over M N, PSNR peak = max F",
    gray_weights=BT601_GRAY,
    gray_rounding="half_even",
    log_base=math.e,
    ag_denominator="all",
    qabf_equal_strength="raw",
    psnr="cdd",
    ssim="skimage_sum",
    ssim_dynamic_range=2.0,
    vif_nan_to_one=True,
    reference="Zhaozixiang1228/MMIF-CDDFuse utils/Evaluator.py @ fd8da1f",
)

CONVENTIONS: Registry[Convention] = Registry("convention")
for _c in (TANG, TANG_CORRECTED, TANG_OLD, VIFB, CDD):
    CONVENTIONS.add(_c.name, _c)


def get_convention(convention: str | Convention) -> Convention:
    """Resolve a convention name (``"tang"``, ``"vifb"``, ...) or pass a :class:`Convention` through."""
    if isinstance(convention, Convention):
        return convention
    if not isinstance(convention, str):
        raise TypeError(f"convention must be a name or a Convention, got {type(convention).__name__}")
    return CONVENTIONS.get(convention)


def list_conventions() -> list[Convention]:
    """All registered conventions."""
    return [CONVENTIONS.get(n) for n in CONVENTIONS]
