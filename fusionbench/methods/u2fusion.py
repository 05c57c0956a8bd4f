"""U2Fusion: a unified unsupervised image-fusion network (Xu, Ma, Jiang, Guo, Ling, IEEE TPAMI 44(1)
2022), with the authors' TensorFlow-1 weights.

Network (hanna-xu/U2Fusion ``Net.py``, class ``Generator``; 659,217 parameters), on the two sources
stacked as 2 channels, every convolution 3x3 with stride 1 after a 1-pixel **reflect** padding
(``tf.pad(..., "REFLECT")`` then a ``VALID`` convolution), with bias, and leaky ReLU
``max(x, 0.2 x)`` unless said otherwise:

- encoder: ``conv1_1`` 2 -> 44, then five dense convolutions ``dense_block_conv1..5``
  (44·k -> 44 for k = 1..5), each output put *in front of* its input
  (``concat([conv(x), x])``), so the encoder ends with 264 channels;
- decoder: ``conv2_1`` 264 -> 128, ``conv2_2`` 128 -> 64, ``conv2_3`` 64 -> 32, ``conv2_4`` 32 -> 1
  without leaky ReLU, then ``tanh(x) / 2 + 0.5``.

No batch normalisation (the original's BN code is commented out). The checkpoint's TF names are
``Generator/encoder/<layer>/{kernel,bias}`` and ``Generator_1/decoder/<layer>/{kernel,bias}``
(the decoder variables were created under a second ``Generator`` name scope); the kernels are HWIO
and are permuted to torch's layout when loading (:mod:`fusionbench.methods.tf_checkpoint`).

Pre/post-processing, as in the script that made the published TNO images
(Linfeng-Tang/VIF-Benchmark ``U2Fusion/U2Fusion.py``):

- both sources are read as 8-bit gray (``imread(mode="L")``; for a colour VIS image that is its
  BT.601 luminance, which is what fusionbench passes) and divided by 255: inputs on [0, 1];
- the first source is the IR image, the second the VIS image (``source_order="ir_vis"``). The
  authors' own demo ``test_main.py`` feeds them the other way round (``"vis_ir"``), which gives
  different images (19.5-35.8 dB from the published ones, stretched);
- the output ``tanh / 2 + 0.5`` is already on [0, 1]. The original saves it with
  ``scipy.misc.imsave``, which **min-max stretches** every image to 0..255 (``bytescale``); the
  published images all span 0..255 for that reason. fusionbench stretches by default, as the
  authors' pipeline did: ``stretch=True`` (default) reproduces the published files: on the 42 TNO
  pairs 92.8 dB PSNR to identical (median 95.6 dB), at most one grey level apart; with ``stretch=False``, 14.4-33.3 dB.

Colour: the VIF-Benchmark script puts the VIS chrominance back (``img2RGB``), as
:func:`fusionbench.methods.fuse` does (``colour=True``, the default). The authors' own
``test_main.py`` fuses the BT.601 luminance of a colour VIS image (float, unrounded: fusionbench's
``vis_y``) and, in hanna-xu/U2Fusion @ 468a78a, writes only the fused luminance, stretched, as a
gray PNG; ``colour=False`` writes that gray image. Another version, @ ea4fc79, merges its own
YCbCr chrominance back before ``imsave`` stretches the RGB array. CDDFuse's RoadScene row of U2Fusion is
the gray one (docs/protocols.md: every value of the row to the printed digits; the RGB variant's
SD is about 6 lower).
"""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

from fusionbench.methods.base import MethodError, register_method
from fusionbench.methods.learned import LearnedMethod
from fusionbench.methods.tf_checkpoint import TFConv, imsave_stretch, load_tf_convs
from fusionbench.methods.weights import WeightFile, load_state_dict, register_weight_file

WEIGHTS = register_weight_file(
    WeightFile(
        "u2fusion",
        "model.ckpt.tf2torch.pth",
        "7758a9a98698e87fc4b6eac5e4f06240c37a705bed1fbfe07e6fde46fa3d2d9c",
        "Linfeng-Tang/VIF-Benchmark @ 23f2e51f : Checkpoint/U2Fusion/model.ckpt "
        "(TF checkpoint; the torch copy with TF names and layouts from the shared data)",
    )
)

#: Channels each encoder convolution adds.
GROWTH = 44
#: Output channels of the decoder convolutions.
DECODER_CHANNELS = (128, 64, 32, 1)
#: Slope of the leaky ReLU, ``tf.maximum(x, 0.2 * x)``.
LEAKY_SLOPE = 0.2
SOURCE_ORDERS = ("ir_vis", "vis_ir")


def u2fusion_network() -> Any:
    """The U2Fusion generator with fresh weights (load them with :meth:`U2Fusion.build`)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class U2FusionGenerator(nn.Module):
        """Dense encoder and plain decoder; ``forward(first, second)`` on [0, 1] -> [0, 1]."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.ModuleList(nn.Conv2d(2 if k == 0 else GROWTH * k, GROWTH, 3) for k in range(6))
            widths = (GROWTH * 6, *DECODER_CHANNELS)
            self.decoder = nn.ModuleList(nn.Conv2d(a, b, 3) for a, b in itertools.pairwise(widths))

        @staticmethod
        def _conv(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
            return layer(F.pad(x, (1, 1, 1, 1), mode="reflect"))

        def forward(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
            n, _, h, w = first.shape
            width = GROWTH * len(self.encoder)
            # The dense stack concat([conv(x), x]) built in place: newest features first, so the
            # input of dense convolution k is the last 44 * k channels.
            features = first.new_empty((n, width, h, w))
            x = torch.cat([first, second], dim=1)
            for k, layer in enumerate(self.encoder):
                start = width - GROWTH * (k + 1)
                if k:
                    x = features[:, start + GROWTH :]
                features[:, start : start + GROWTH] = F.leaky_relu(self._conv(layer, x), LEAKY_SLOPE)
            x = features
            last = len(self.decoder) - 1
            for k, layer in enumerate(self.decoder):
                x = self._conv(layer, x)
                if k < last:
                    x = F.leaky_relu(x, LEAKY_SLOPE)
            return torch.tanh(x) / 2 + 0.5

    return U2FusionGenerator()


#: The TF variables of each convolution of :func:`u2fusion_network`.
TF_CONVS = [
    TFConv(f"encoder.{k}", f"Generator/encoder/{name}/kernel", f"Generator/encoder/{name}/bias")
    for k, name in enumerate(["conv1_1", *(f"dense_block_conv{i}" for i in range(1, 6))])
] + [
    TFConv(f"decoder.{k}", f"Generator_1/decoder/conv2_{k + 1}/kernel", f"Generator_1/decoder/conv2_{k + 1}/bias")
    for k in range(len(DECODER_CHANNELS))
]


@register_method
class U2Fusion(LearnedMethod):
    """U2Fusion with the authors' TF weights (see the module docstring for the protocol).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    source_order
        ``"ir_vis"`` (default: IR as the first source, as in the script that made the published
        TNO images) or ``"vis_ir"`` (the order of the authors' ``test_main.py``).
    stretch
        Min-max stretch each fused image to [0, 1], as the original's ``scipy.misc.imsave`` did
        when it wrote the published images (default True; False keeps the network's output).
    colour
        For a colour VIS image, write RGB with the VIS chrominance (default True) or, with False,
        the fused luminance alone as a gray image (the authors' ``test_main.py`` @ 468a78a; the
        ``cddfuse`` protocol). Gray VIS images give the same output either way.
    """

    id = "u2fusion"
    name = "U2Fusion"
    description = "Unified unsupervised fusion network: dense encoder, 4-layer decoder (TF weights)"
    reference = (
        "H. Xu, J. Ma, J. Jiang, X. Guo, H. Ling, U2Fusion: A unified unsupervised image fusion "
        "network, IEEE TPAMI 44(1) (2022) 502-518"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (WEIGHTS,)

    def __init__(
        self,
        weights: Any = None,
        device: str = "cpu",
        source_order: str = "ir_vis",
        stretch: bool = True,
        colour: bool = True,
    ) -> None:
        super().__init__(weights=weights, device=device)
        if source_order not in SOURCE_ORDERS:
            raise MethodError(f"u2fusion: source_order must be one of {SOURCE_ORDERS}, got {source_order!r}")
        self.source_order = source_order
        self.stretch = bool(stretch)
        self.colour_output = bool(colour)

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"source_order": self.source_order, "stretch": self.stretch}
        if not self.colour_output:  # listed only when set, so the default keeps the cache key it always had
            config["colour"] = False
        return config

    def build(self) -> Any:
        weight = self.weight_files[0]
        state = load_state_dict(weight, self.weights)
        network = u2fusion_network()
        load_tf_convs(network, state, TF_CONVS, f"{weight.relative} (U2Fusion TF checkpoint)", "U2Fusion generator")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        if min(ir.shape[-2:]) < 2:
            raise MethodError(
                f"u2fusion: needs images of at least 2x2 pixels (reflect padding), got {tuple(ir.shape[-2:])}"
            )
        first, second = (ir, vis_y) if self.source_order == "ir_vis" else (vis_y, ir)
        fused = network(first, second)
        return imsave_stretch(fused) if self.stretch else fused
