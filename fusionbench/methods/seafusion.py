"""SeAFusion: semantic-aware real-time infrared and visible image fusion (Tang, Yuan, Ma,
Information Fusion 82 (2022) 28-42), with the authors' weights.

Network (Linfeng-Tang/SeAFusion ``FusionNet.py``, class ``FusionNet``; 166,883 parameters as
listed in ``weights/seafusion/SeAFusion.pth.keys.txt``), two identical encoders, one per source,
then a shared decoder. Convolutions are 3x3 with **zero** padding 1 (``nn.Conv2d(padding=1)``)
unless said otherwise; "lrelu(a)" is a leaky ReLU of slope a:

- encoder (``vis_*`` on the VIS luminance, ``inf_*`` on IR): ``*_conv`` 1 -> 16, lrelu(0.2); then
  two gradient residual dense blocks ``*_rgbd1`` (16 -> 32) and ``*_rgbd2`` (32 -> 48). A block on
  ``c`` channels computes
  ``lrelu(0.1)(convdown(dense(x)) + convup(sobel(x)))`` where ``dense`` is two lrelu(0.2)
  convolutions ``c -> c`` and ``2c -> c``, each output appended *after* its input
  (``cat([x, conv(x)])``, 3c channels), ``convdown`` and ``convup`` are 1x1 convolutions
  (3c -> out, c -> out) and ``sobel(x) = |convx(x)| + |convy(x)|``, two depthwise 3x3 convolutions
  without bias. They start as the Sobel kernels in the original but are trainable, and the
  published weights hold the trained kernels (e.g. 1.0009, 0.0034, -0.9937 in the first row),
  which are the ones used here;
- decoder on ``cat([vis, ir])`` (96 channels): ``decode4`` 96 -> 64, ``decode3`` 64 -> 32,
  ``decode2`` 32 -> 16, each lrelu(0.2), and ``decode1`` 16 -> 1 followed by ``tanh(x) / 2 + 0.5``.
  Each decode layer also owns a ``BatchNorm2d`` that the original's ``forward`` never calls
  (``ConvBnLeakyRelu2d`` and ``ConvBnTanh2d`` skip ``self.bn``). The BN tensors are in the
  published state dict, so they are kept here (to load it strictly, and so that the parameter
  count matches the 166,883 of the MANIFEST), and are not used either.

Pre/post-processing, as in the authors' ``test.py`` (Linfeng-Tang/SeAFusion) and
``TaskFusion_dataset.py``:

- IR and VIS are divided by 255; the VIS image is RGB and its luminance
  ``Y = 0.299 R + 0.587 G + 0.114 B`` (BT.601, what :func:`fusionbench.methods.fuse` passes) is the
  network's VIS input; inputs are on [0, 1];
- the output is already on [0, 1] (``tanh / 2 + 0.5``). The original then rebuilds RGB from the
  fused Y and the VIS Cb/Cr, clamps it to [0, 1], **min-max stretches** the whole RGB batch
  (``(x - min) / (max - min)``) and **truncates** to 8 bits (``np.uint8(255 * x)``). fusionbench
  does the same by default (``stretch=True``, the authors' published pipeline; ``stretch=False``
  neither stretches nor truncates, rounding half up). ``stretch=True`` reproduces that
  step on the fused luminance: each image is stretched to [0, 1] and truncated to 8-bit levels.
  For gray VIS, as on TNO, this equals the original's RGB stretch (there Cb = Cr = 0.5 up to
  float rounding); for colour VIS the original stretches the RGB image, which a method that only
  sees luminance cannot do exactly.

Fidelity on the 42 TNO pairs against the published images
(``../shared/results/tno/test/seafusion``, RGB PNGs whose channels differ by at most one grey level
because of the float YCbCr round trip on gray input), compared with their MATLAB ``rgb2gray``
(rounded), i.e. the gray image the TNO metric toolkit evaluates:

- ``stretch=True`` (default): PSNR 89.0 / 93.1 / 97.8 dB (min / median / max; per RGB channel 88.5 / 93.0 /
  97.8 dB); in each image 2-23 pixels differ, by one grey level, from float rounding at the
  truncation boundaries (the original ran on a GPU, with float32 YCbCr arithmetic);
- ``stretch=False``: 11.7 / 26.0 / 40.8 dB. The published images are stretched (every one spans
  0..255 while the network's own output spans e.g. 0.20..1.00 on pair 01), so they can only be
  matched with the stretch.

Colour: the original puts the VIS chrominance back, as :func:`fusionbench.methods.fuse` does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusionbench.methods.base import register_method
from fusionbench.methods.learned import StretchOption
from fusionbench.methods.tf_checkpoint import imsave_stretch
from fusionbench.methods.weights import WEIGHT_FILES, WeightFile, load_into, load_state_dict, weight_key

WEIGHTS: WeightFile = WEIGHT_FILES.get(weight_key("seafusion", "SeAFusion.pth"))

#: Channels after the first convolution and after each gradient residual dense block.
ENCODER_CHANNELS = (16, 32, 48)
#: Output channels of decode4, decode3, decode2 and decode1.
DECODER_CHANNELS = (64, 32, 16, 1)


def seafusion_network() -> Any:
    """The SeAFusion ``FusionNet`` with fresh weights; ``forward(vis_y, ir)`` on [0, 1] -> [0, 1]."""
    from fusionbench.methods.seafusion_net import FusionNet

    return FusionNet()


def stretch_truncate(x: Any) -> Any:
    """Min-max stretch each image of a ``(N, 1, H, W)`` tensor and truncate it to 8-bit levels.

    The step of SeAFusion's ``test.py``: ``np.uint8(255 * (x - min) / (max - min))``, returned as
    ``levels / 255`` so that rounding to ``uint8`` gives back the truncated levels. The stretch is
    :func:`~fusionbench.methods.tf_checkpoint.imsave_stretch` (SDNet's and U2Fusion's); a constant
    image becomes 0 (the original would divide by zero).
    """
    return (imsave_stretch(x) * 255).floor() / 255


@register_method
class SeAFusion(StretchOption):
    """SeAFusion with the authors' weights (see the module docstring for the protocol).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    stretch
        Min-max stretch each fused image and truncate it to 8-bit levels, as the authors' test
        script did when it wrote the published images (default True; False neither stretches nor
        truncates).
    """

    id = "seafusion"
    name = "SeAFusion"
    description = "Semantic-aware real-time fusion network: gradient residual dense blocks (authors' weights)"
    reference = (
        "L. Tang, J. Yuan, J. Ma, Image fusion in the loop of high-level vision tasks: A semantic-aware "
        "real-time infrared and visible image fusion network, Information Fusion 82 (2022) 28-42"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (WEIGHTS,)

    def build(self) -> Any:
        weight = self.weight_files[0]
        state = load_state_dict(weight, self.weights)
        network = seafusion_network()
        load_into(network, state, f"{weight.relative} (SeAFusion FusionNet)")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        fused = network(vis_y, ir)
        return stretch_truncate(fused) if self.stretch else fused
