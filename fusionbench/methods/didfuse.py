"""DIDFuse: deep image decomposition for infrared and visible image fusion (Zhao et al., IJCAI
2020), with the published encoder and decoder weights.

Network (Zhaozixiang1228/IVIF-DIDFuse, classes ``AE_Encoder``/``AE_Decoder``; 64 channels):

- encoder, run on each source: ``cov1`` reflect padding 1, 3x3 conv 1 -> 64, BatchNorm, PReLU
  (feature ``f1``); ``cov2`` 3x3 conv 64 -> 64 (zero padding 1), BatchNorm, PReLU (``f2``); from
  ``f2`` two heads, each 3x3 conv 64 -> 64 (zero padding 1), BatchNorm, tanh: ``cov3`` gives the
  background (base) features ``b``, ``cov4`` the detail features ``d``. 111,938 parameters.
- fusion of the four feature maps of the two sources, map by map (``rule``):
  ``"sum"`` ``x_ir + x_vis`` (default: the rule of the authors' ``test.py``, whose
  ``Test_fusion(..., addition_mode='Sum')``), ``"average"`` ``(x_ir + x_vis) / 2``, or
  ``"l1_norm"`` (``w_k = A_k / (A_ir + A_vis)``, ``A_k`` the sum over channels of the 3x3 mean of
  ``|x_k|`` with zero padding; the rule Linfeng-Tang/VIF-Benchmark runs).
- decoder: ``cov5`` 3x3 conv on ``[b, d]`` 128 -> 64, BatchNorm, PReLU; ``cov6`` on
  ``[cov5, f2]`` 128 -> 64, same; ``cov7`` reflect padding 1, 3x3 conv on ``[cov6, f1]``
  128 -> 1, BatchNorm, sigmoid. 148,997 parameters.

Pre/post-processing as in the authors' ``utils_didfuse.Test_fusion``: 8-bit sources divided by
255 (the VIS source as gray; fusionbench passes its BT.601 luminance), the sigmoid output on
[0, 1] saved as it is (no clipping needed, no stretching). BatchNorm uses the stored running
statistics (``eval()``). Both files are ``torch.save``'d dicts ``{'weight': state_dict,
'epoch': 120}``; the state dict is taken from ``'weight'``.

Known differences: the authors write the float image with ``skimage.io.imsave``, whose 8-bit
conversion floors or rounds depending on the scikit-image version; fusionbench rounds half up (at
most one grey level apart).
With ``rule="l1_norm"``, pixels where both activities are 0 (the original divides 0 by 0 and
gives NaN) get weight 1/2 each. No fused images by the authors are stored in the shared data,
so fidelity to published outputs is not measured for this method.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusionbench.methods.base import MethodError, register_method
from fusionbench.methods.learned import LearnedMethod
from fusionbench.methods.weights import (
    WeightFile,
    WeightsError,
    load_into,
    load_state_dict,
    register_weight_file,
)

_SOURCE = "Linfeng-Tang/VIF-Benchmark @ 23f2e51f : Checkpoint/DIDFuse/"
ENCODER_WEIGHTS = register_weight_file(
    WeightFile(
        "didfuse",
        "Encoder.pkl",
        "4d84a4e64e58469d3d4591f83c6683ead3e422498519db99bb617cb29d268471",
        _SOURCE + "Encoder.pkl",
    )
)
DECODER_WEIGHTS = register_weight_file(
    WeightFile(
        "didfuse",
        "Decoder.pkl",
        "c6974e2a7c66ab579a77bacb086023237a229e769d459783bad8ff43e52e9986",
        _SOURCE + "Decoder.pkl",
    )
)

RULES = ("sum", "average", "l1_norm")


def didfuse_network(channels: int = 64) -> Any:
    """Encoder and decoder with fresh weights; their state-dict keys match the two checkpoints."""
    from torch import nn

    def stage(name: str, c_in: int, c_out: int, activation: nn.Module, reflect: bool = False) -> nn.Module:
        # The original wraps each nn.Sequential in a module of the same name: keys "cov1.cov1.1.weight".
        layers: list[nn.Module] = [nn.ReflectionPad2d(1)] if reflect else []
        layers += [nn.Conv2d(c_in, c_out, 3, padding=0 if reflect else 1), nn.BatchNorm2d(c_out), activation]
        return nn.ModuleDict({name: nn.Sequential(*layers)})

    c = channels

    class DIDFuseEncoder(nn.ModuleDict):
        """``AE_Encoder``'s layers."""

    class DIDFuseDecoder(nn.ModuleDict):
        """``AE_Decoder``'s layers."""

    encoder = DIDFuseEncoder(
        {
            "cov1": stage("cov1", 1, c, nn.PReLU(), reflect=True),
            "cov2": stage("cov2", c, c, nn.PReLU()),
            "cov3": stage("cov3", c, c, nn.Tanh()),
            "cov4": stage("cov4", c, c, nn.Tanh()),
        }
    )
    decoder = DIDFuseDecoder(
        {
            "cov5": stage("cov5", 2 * c, c, nn.PReLU()),
            "cov6": stage("cov6", 2 * c, c, nn.PReLU()),
            "cov7": stage("cov7", 2 * c, 1, nn.Sigmoid(), reflect=True),
        }
    )

    class DIDFuseNetwork(nn.ModuleDict):
        """DIDFuse's encoder and decoder; :meth:`DIDFuse.forward` runs them."""

    return DIDFuseNetwork({"encoder": encoder, "decoder": decoder})


@register_method
class DIDFuse(LearnedMethod):
    """DIDFuse with the published weights (see the module docstring for the protocol).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    rule
        Feature fusion rule: ``"sum"`` (default, the authors' test script), ``"average"`` or
        ``"l1_norm"`` (VIF-Benchmark's choice).
    """

    id = "didfuse"
    name = "DIDFuse"
    description = "Auto-encoder that splits base and detail features, fused and decoded"
    reference = (
        "Z. Zhao, S. Xu, C. Zhang, J. Liu, J. Zhang, P. Li, DIDFuse: Deep Image Decomposition for "
        "Infrared and Visible Image Fusion, IJCAI 2020, 970-976"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (ENCODER_WEIGHTS, DECODER_WEIGHTS)

    def __init__(self, weights: Any = None, device: str = "cpu", rule: str = "sum") -> None:
        super().__init__(weights=weights, device=device)
        if rule not in RULES:
            raise MethodError(f"didfuse: rule must be one of {list(RULES)}, got {rule!r}")
        self.rule = rule

    def config(self) -> dict[str, Any]:
        return {"rule": self.rule}

    def build(self) -> Any:
        network = didfuse_network()
        for part, weight in (("encoder", self.weight_files[0]), ("decoder", self.weight_files[1])):
            checkpoint = load_state_dict(weight, self.weights)
            state = checkpoint.get("weight")
            if not isinstance(state, dict):
                raise WeightsError(
                    f"{weight.relative}: expected the authors' checkpoint layout {{'weight': state_dict, "
                    f"'epoch': int}}, got keys {sorted(checkpoint)[:5]}"
                )
            load_into(network[part], state, f"{weight.relative} (DIDFuse {part})")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        import torch

        encoder, decoder = network["encoder"], network["decoder"]

        def encode(x: Any) -> list[Any]:
            f1 = encoder["cov1"]["cov1"](x)
            f2 = encoder["cov2"]["cov2"](f1)
            return [f1, f2, encoder["cov3"]["cov3"](f2), encoder["cov4"]["cov4"](f2)]

        f1, f2, base, detail = (self._combine(a, b) for a, b in zip(encode(ir), encode(vis_y), strict=True))
        out = decoder["cov5"]["cov5"](torch.cat([base, detail], dim=1))
        out = decoder["cov6"]["cov6"](torch.cat([out, f2], dim=1))
        return decoder["cov7"]["cov7"](torch.cat([out, f1], dim=1))

    def _combine(self, a: Any, b: Any) -> Any:
        if self.rule == "sum":
            return a + b
        if self.rule == "average":
            return (a + b) / 2
        import torch
        import torch.nn.functional as F

        def activity(x: Any) -> Any:
            box = F.avg_pool2d(x.abs(), 3, stride=1, padding=1, count_include_pad=True)
            return box.sum(dim=1, keepdim=True)

        act_a, act_b = activity(a), activity(b)
        total = act_a + act_b
        w_a = torch.where(total > 0, act_a / total.clamp_min(torch.finfo(total.dtype).tiny), 0.5)
        return w_a * a + (1 - w_a) * b
