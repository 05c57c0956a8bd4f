"""SDNet: a squeeze-and-decomposition network for real-time image fusion (Zhang and Ma, IJCV 129,
2021), with the authors' TensorFlow-1 weights for infrared-visible fusion.

Network (HaoZhang1018/SDNet ``IR_VIS/test.py``, ``fusion_model``; 67,091 parameters in the
checkpoint). Every convolution has stride 1, a bias and TF ``padding="SAME"``, which for these odd
kernels is a symmetric zero padding of ``kernel // 2``; leaky ReLU is ``max(x, 0.2 x)``.

- squeeze (fusion) path, one branch per source (``_ir`` and ``_vi``, separate weights):
  ``layer1`` 5x5 conv 1 -> 16, ``layer2`` 3x3 16 -> 16, ``layer3`` 3x3 on ``[c1, c2]`` 32 -> 16,
  ``layer4`` 3x3 on ``[c1, c2, c3]`` 48 -> 16, each with leaky ReLU; then ``layer5_fuse``, a 1x1
  conv on ``[c1_ir, c1_vi, c2_ir, c2_vi, c3_ir, c3_vi, c4_ir, c4_vi]`` 128 -> 1 and ``tanh``:
  the fused image on [-1, 1].
- decomposition path (``layer6_sept`` 1x1 1 -> 128, ``layer7..9`` per source down to one channel
  and ``tanh``): it re-creates the sources from the fused image for the training loss only. Its
  weights are in the checkpoint and loaded (so the file is checked in full), but inference does
  not run it; the fusion path alone has 28,705 parameters.

No batch normalisation. The checkpoint's TF names are ``fusion_model/<layer>/{w,b}<n>_<branch>``
(``fusion_model/layer1_ir/w1_ir``); kernels are HWIO and are permuted to torch's layout when loading
(:mod:`fusionbench.methods.tf_checkpoint`).

Pre/post-processing, as in the authors' ``test.py`` and Linfeng-Tang/VIF-Benchmark
``SDNet/SDNet.py`` (the script that made the published TNO images):

- each source is read as the luminance of ``imread(..., mode="YCbCr", flatten=True)`` (fusionbench
  passes the IR plane and the VIS BT.601 luminance) and mapped to [-1, 1] by
  ``(x - 127.5) / 127.5``, i.e. ``2 x - 1`` for ``x`` on [0, 1];
- the output is mapped back by ``x * 127.5 + 127.5`` (``(t + 1) / 2`` on [0, 1]). The original
  saves it with ``scipy.misc.imsave``, which **min-max stretches** every image to 0..255
  (``bytescale``); the published images all span 0..255 for that reason. fusionbench stretches by
  default, as the authors' pipeline did: ``stretch=True`` (default) reproduces the published files
  (51.3-58.0 dB PSNR, median 55.0, on the 42 TNO pairs, at most 4 grey levels apart; 11.5-40.9 dB
  with ``stretch=False``).

Why not closer than 51 dB: the published TNO sources were stored as RGB files with three identical
channels, and the original read them through Pillow's RGB -> YCbCr conversion, whose fixed-point
luma is one grey level low for 22 of the 256 grey values (11, 18, 25, 32, ...). Feeding the network
those 8-bit values instead (``pillow_rgb_luma`` applied to the inputs) gives 93.3 dB to identical
(median 98.3 dB), at most one grey level apart. fusionbench keeps the true gray values.

Colour: the VIF-Benchmark script puts the VIS chrominance back (``img2RGB``), as
:func:`fusionbench.methods.fuse` does.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusionbench.methods.base import register_method
from fusionbench.methods.learned import StretchOption
from fusionbench.methods.tf_checkpoint import TFConv, imsave_stretch, load_tf_convs
from fusionbench.methods.weights import WeightFile, load_state_dict, register_weight_file

WEIGHTS = register_weight_file(
    WeightFile(
        "sdnet",
        "SDNet.model.tf2torch.pth",
        "07183c6657571c558c5b04f25781dc559c94bf945eb7b6fba3c3f22acd77c1bb",
        "Linfeng-Tang/VIF-Benchmark @ 23f2e51f : Checkpoint/SDNet/SDNet.model "
        "(TF checkpoint; the torch copy with TF names and layouts from the shared data)",
    )
)

#: Slope of the leaky ReLU, ``tf.maximum(x, 0.2 * x)``.
LEAKY_SLOPE = 0.2
BRANCHES = ("ir", "vi")

#: Every convolution of the checkpoint: TF layer scope -> (in, out, kernel size).
LAYERS: dict[str, tuple[int, int, int]] = {
    **{
        f"layer{n}_{b}": shape
        for b in BRANCHES
        for n, shape in ((1, (1, 16, 5)), (2, (16, 16, 3)), (3, (32, 16, 3)), (4, (48, 16, 3)))
    },
    "layer5_fuse": (128, 1, 1),
    "layer6_sept": (1, 128, 1),
    **{f"layer{n}_{b}": shape for b in BRANCHES for n, shape in ((7, (128, 16, 3)), (8, (16, 4, 3)), (9, (4, 1, 3)))},
}


def _tf_names(scope: str) -> TFConv:
    tag = scope.removeprefix("layer")  # "1_ir", "5_fuse"
    return TFConv(scope, f"fusion_model/{scope}/w{tag}", f"fusion_model/{scope}/b{tag}")


#: The TF variables of each convolution of :func:`sdnet_network`.
TF_CONVS = [_tf_names(scope) for scope in LAYERS]


def sdnet_network() -> Any:
    """The SDNet layers with fresh weights, as a ``ModuleDict`` keyed by the TF layer scopes.

    ``Conv2d(padding=k // 2)`` is TF ``"SAME"`` for these odd kernels at stride 1.
    """
    from torch import nn

    return nn.ModuleDict({scope: nn.Conv2d(cin, cout, k, padding=k // 2) for scope, (cin, cout, k) in LAYERS.items()})


def sdnet_fuse(network: Any, ir: Any, vis: Any) -> Any:
    """The squeeze (fusion) path: sources on [-1, 1] ``(N, 1, H, W)`` -> fused image on [-1, 1]."""
    import torch
    import torch.nn.functional as F

    def act(scope: str, x: Any) -> Any:
        return F.leaky_relu(network[scope](x), LEAKY_SLOPE)

    features = []
    for branch, x in zip(BRANCHES, (ir, vis), strict=True):
        c1 = act(f"layer1_{branch}", x)
        c2 = act(f"layer2_{branch}", c1)
        c3 = act(f"layer3_{branch}", torch.cat([c1, c2], dim=1))
        c4 = act(f"layer4_{branch}", torch.cat([c1, c2, c3], dim=1))
        features.append((c1, c2, c3, c4))
    interleaved = [f for pair in zip(*features, strict=True) for f in pair]  # c1_ir, c1_vi, c2_ir, ...
    return torch.tanh(network["layer5_fuse"](torch.cat(interleaved, dim=1)))


def pillow_rgb_luma() -> Any:
    """The 8-bit luma Pillow's RGB -> YCbCr conversion gives a gray level ``g`` stored as (g, g, g):
    a ``uint8`` table of 256 entries (for the fidelity check; see the module docstring)."""
    import numpy as np
    from PIL import Image

    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    ycbcr = Image.fromarray(levels).convert("RGB").convert("YCbCr")
    return np.asarray(ycbcr)[..., 0].reshape(-1).copy()


@register_method
class SDNet(StretchOption):
    """SDNet with the authors' TF weights (see the module docstring for the protocol).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    stretch
        Min-max stretch each fused image to [0, 1], as the original's ``scipy.misc.imsave`` did
        when it wrote the published images (default True; False keeps the network's output).
    """

    id = "sdnet"
    name = "SDNet"
    description = "Squeeze-and-decomposition network: two dense branches, 1x1 squeeze to one image"
    reference = (
        "H. Zhang, J. Ma, SDNet: A versatile squeeze-and-decomposition network for real-time image "
        "fusion, International Journal of Computer Vision 129 (2021) 2761-2785"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (WEIGHTS,)

    def build(self) -> Any:
        weight = self.weight_files[0]
        state = load_state_dict(weight, self.weights)
        network = sdnet_network()
        load_tf_convs(network, state, TF_CONVS, f"{weight.relative} (SDNet TF checkpoint)", "SDNet network")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        fused = (sdnet_fuse(network, 2 * ir - 1, 2 * vis_y - 1) + 1) / 2
        return imsave_stretch(fused) if self.stretch else fused
