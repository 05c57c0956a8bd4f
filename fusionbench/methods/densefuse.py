"""DenseFuse: an auto-encoder with a dense block, fusing in feature space (Li, Wu, IEEE TIP 28(5)
2019, 2614-2623), with the first author's PyTorch weights (gray model).

Network (hli1221/densefuse-pytorch ``net.py``, class ``DenseFuse_net(input_nc=1, output_nc=1)``;
74,193 parameters as listed in ``weights/densefuse/densefuse_gray.model.keys.txt``). Every
convolution is 3x3, stride 1, with bias, after a 1-pixel **reflect** padding
(``nn.ReflectionPad2d(1)``), and followed by a ReLU except the last one:

- encoder, applied to each source separately: ``conv1`` 1 -> 16, then the dense block ``DB1`` of
  three convolutions (16 -> 16, 32 -> 16, 48 -> 16), each output appended *after* its input
  (``cat([x, conv(x)])``): 64 feature channels;
- fusion of the two 64-channel feature maps (no parameters, see ``strategy``);
- decoder: ``conv2`` 64 -> 64, ``conv3`` 64 -> 32, ``conv4`` 32 -> 16, ``conv5`` 16 -> 1 (no ReLU).

Fusion strategies (``strategy``):

- ``"addition"`` (default; the strategy of the paper's main results, and the one that matches the
  published TNO images): the features are combined element-wise. The paper and the TensorFlow
  release add them (``f_ir + f_vis``); the PyTorch release whose weights are loaded here averages
  them (``(f_ir + f_vis) / 2``, ``DenseFuse_net.fusion``), and that is what is done here. On the
  published images the two are indistinguishable (PSNR equal to 0.01 dB on all 42 pairs, since
  those images are min-max stretched); without stretching, the sum of two features decodes to an
  image about twice as bright (values up to ~490 on the 0..255 scale) that would be clipped;
- ``"l1"``: the l1-norm strategy, as in the authors' code (``fusion_l1norm.py``): the activity of
  each source is the l1-norm of its feature vector at each pixel (sum of absolute values over the
  64 channels), the weights are ``a_ir / (a_ir + a_vis)`` and ``a_vis / (a_ir + a_vis)`` per pixel,
  and the fused features are the weighted sum. The paper also averages the activity over a 3x3
  block (r = 1); the released code does not, and neither does this. Where both activities are 0
  (the original divides 0 by 0) the weights are 1/2.

Pre/post-processing, as in the authors' ``test_image.py`` / ``utils.py``:

- both sources are read as 8-bit gray and fed **unscaled** (0..255 as float): the network works
  on the 0..255 scale. fusionbench passes [0, 1] planes, multiplied by 255 here;
- the output is on the 0..255 scale: the PyTorch release clamps it to [0, 255] and truncates it to
  ``uint8``; fusionbench divides it by 255, clips it to [0, 1] and rounds half up (no truncation);
- ``stretch=True`` (default: the pipeline of the published images) min-max stretches each fused
  image to [0, 1] instead, which is what the TensorFlow release's ``scipy.misc.imsave``
  (``bytescale``: stretch, then round half up) did to the published images (every one of them
  spans 0..255).

Fidelity on the 42 TNO pairs against the published images
(``../shared/results/tno/test/densefuse``, 8-bit gray, made by the TensorFlow release):

- ``strategy="addition", stretch=True``: PSNR 39.1 / 55.5 / 67.9 dB (min / median / max);
- ``strategy="addition"`` without stretch: 10.9 / 22.4 / 51.8 dB;
- ``strategy="l1", stretch=True``: 12.1 / 20.4 / 35.5 dB; without stretch: 10.8 / 18.9 / 29.8 dB.
  So the published images were made with the addition strategy, which is the default here.

The remaining differences with ``addition`` + ``stretch`` are mostly at the image border: away from
a 4-pixel frame, a linear fit of our output to the published image agrees to 53.0 / 65.7 / 77.1 dB
PSNR (a few isolated pixels up to 11 grey levels off), while the left column and the bottom two rows
differ by up to 27 grey levels. Where the minimum or maximum of an image lies on that frame, the
stretch maps the whole image differently (pair 04: the minimum is its bottom-left corner pixel,
39.1 dB). The cause was not found: the TensorFlow release pads with ``REFLECT`` as here, and zero,
replicate or mixed paddings fit worse (19-37 dB on pair 04); the published images may come from
TensorFlow weights that the PyTorch ones only approximate.

Colour: the VIF-Benchmark script fuses the gray (luminance) images and puts the VIS chrominance
back (``img2RGB``), as :func:`fusionbench.methods.fuse` does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusionbench.methods.base import MethodError, register_method
from fusionbench.methods.learned import LearnedMethod
from fusionbench.methods.weights import WEIGHT_FILES, WeightFile, load_into, load_state_dict, weight_key

WEIGHTS: WeightFile = WEIGHT_FILES.get(weight_key("densefuse", "densefuse_gray.model"))

#: Channels added by each convolution of the dense block; the encoder outputs 4 x 16 = 64.
GROWTH = 16
#: Output channels of conv2..conv5.
DECODER_CHANNELS = (64, 32, 16, 1)
#: Full scale of the network's input and output.
SCALE = 255.0


def densefuse_network() -> Any:
    """The DenseFuse auto-encoder with fresh weights: ``encoder(x)`` and ``decoder(features)``,
    on the 0..255 scale."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class ConvLayer(nn.Module):
        """Reflect padding, 3x3 convolution (key ``conv2d``), ReLU unless ``last``."""

        def __init__(self, c_in: int, c_out: int, last: bool = False) -> None:
            super().__init__()
            self.conv2d = nn.Conv2d(c_in, c_out, 3)
            self.last = last

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            out = self.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"))
            return out if self.last else F.relu(out)

    class DenseConv(nn.Module):
        def __init__(self, c_in: int) -> None:
            super().__init__()
            self.dense_conv = ConvLayer(c_in, GROWTH)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat((x, self.dense_conv(x)), dim=1)

    class DenseBlock(nn.Module):
        def __init__(self, c_in: int) -> None:
            super().__init__()
            self.denseblock = nn.Sequential(*(DenseConv(c_in + GROWTH * k) for k in range(3)))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.denseblock(x)

    class DenseFuseNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = ConvLayer(1, GROWTH)
            self.DB1 = DenseBlock(GROWTH)
            self.conv2 = ConvLayer(4 * GROWTH, DECODER_CHANNELS[0])
            self.conv3 = ConvLayer(DECODER_CHANNELS[0], DECODER_CHANNELS[1])
            self.conv4 = ConvLayer(DECODER_CHANNELS[1], DECODER_CHANNELS[2])
            self.conv5 = ConvLayer(DECODER_CHANNELS[2], DECODER_CHANNELS[3], last=True)

        def encoder(self, x: torch.Tensor) -> torch.Tensor:
            return self.DB1(self.conv1(x))

        def decoder(self, features: torch.Tensor) -> torch.Tensor:
            return self.conv5(self.conv4(self.conv3(self.conv2(features))))

    return DenseFuseNet()


def fuse_addition(a: Any, b: Any) -> Any:
    """The PyTorch release's addition strategy: the mean of the two feature maps."""
    return (a + b) / 2


def fuse_l1(a: Any, b: Any) -> Any:
    """The l1-norm strategy of the authors' code: per-pixel weights from the channel l1-norms."""
    activity_a = a.abs().sum(dim=1, keepdim=True)
    activity_b = b.abs().sum(dim=1, keepdim=True)
    total = activity_a + activity_b
    weight_a = (activity_a / total.masked_fill(total == 0, 1)).masked_fill(total == 0, 0.5)
    return weight_a * a + (1 - weight_a) * b


#: Fusion strategies by name: ``combine(features_ir, features_vis)``.
STRATEGIES = {"addition": fuse_addition, "l1": fuse_l1}


def stretch(x: Any) -> Any:
    """Min-max stretch each image of a ``(N, 1, H, W)`` tensor to [0, 1], as ``scipy.misc.imsave``
    (``bytescale``) did; rounding half up to ``uint8`` then gives its 8-bit levels. A constant
    image becomes 0, as in ``bytescale``."""
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    span = x.amax(dim=(1, 2, 3), keepdim=True) - lo
    return (x - lo) / span.masked_fill(span == 0, 1)


@register_method
class DenseFuse(LearnedMethod):
    """DenseFuse with the first author's PyTorch gray weights (see the module docstring).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    strategy
        ``"addition"`` (default: mean of the encoder features, the strategy of the published
        images) or ``"l1"`` (per-pixel l1-norm weighted average of the features).
    stretch
        Min-max stretch each fused image to [0, 1], as the TensorFlow release's
        ``scipy.misc.imsave`` did when it wrote the published images (default True; False divides
        by 255, clips and rounds).
    """

    id = "densefuse"
    name = "DenseFuse"
    description = "Dense-block auto-encoder fusing encoder features by addition or l1-norm (authors' weights)"
    reference = (
        "H. Li, X.-J. Wu, DenseFuse: A fusion approach to infrared and visible images, "
        "IEEE Transactions on Image Processing 28(5) (2019) 2614-2623"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (WEIGHTS,)

    def __init__(
        self, weights: Any = None, device: str = "cpu", strategy: str = "addition", stretch: bool = True
    ) -> None:
        super().__init__(weights=weights, device=device)
        if strategy not in STRATEGIES:
            raise MethodError(f"densefuse: strategy must be one of {tuple(STRATEGIES)}, got {strategy!r}")
        self.strategy = strategy
        self.stretch = bool(stretch)

    def config(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "stretch": self.stretch}

    def build(self) -> Any:
        weight = self.weight_files[0]
        state = load_state_dict(weight, self.weights)
        network = densefuse_network()
        load_into(network, state, f"{weight.relative} (DenseFuse gray auto-encoder)")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        if min(ir.shape[-2:]) < 2:
            size = tuple(ir.shape[-2:])
            raise MethodError(f"densefuse: needs images of at least 2x2 pixels (reflect padding), got {size}")
        features = STRATEGIES[self.strategy](network.encoder(ir * SCALE), network.encoder(vis_y * SCALE))
        fused = network.decoder(features)
        return stretch(fused) if self.stretch else fused / SCALE
