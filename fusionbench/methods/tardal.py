"""TarDAL: target-aware dual adversarial fusion (Liu et al., CVPR 2022), the generator with the
published ``tardal.pt`` weights (the "TarDAL" variant, tuned for human viewing).

Network (JinyuanLiu-CV/TarDAL v0 ``modules/generator.py``, ``Generator(dim=32, depth=3)``; all
convolutions 3x3, stride 1, zero padding 1, with bias):

- ``encoder``: the two sources stacked as channels ``[ir, vis]``, conv 2 -> 32, BatchNorm, ReLU;
- ``dense``: three dense steps, step ``i`` conv ``32 (i + 1) -> 32``, BatchNorm, ReLU, its output
  concatenated to its input (32 -> 64 -> 96 -> 128 channels);
- ``fuse``: conv 128 -> 128, ReLU; conv 128 -> 64, BatchNorm, ReLU; conv 64 -> 32, BatchNorm,
  ReLU; conv 32 -> 1, tanh. 296,577 parameters.

Pre/post-processing as in the authors' ``fuse.py``/``utils/image_pair.py``: IR and the VIS gray
image (``cv2.COLOR_BGR2GRAY``, the BT.601 luminance fusionbench passes) divided by 255, the tanh
output clipped to [0, 1]. No stretching.

BatchNorm statistics (``batchnorm``): the authors' README fuses with ``tardal.pt`` *without*
``--eval``, which leaves the network in training mode, so every BatchNorm normalises with the
statistics of the image being fused (its ``--eval`` flag is documented "for new pytorch models",
and the README adds it only for ``tardal+.pt``/``tardal++.pt``). The default ``"image"`` does that,
per image (``F.instance_norm`` with the BatchNorm affine weights; identical to the authors' batch
of one, and independent of how images are batched here). ``"running"`` uses the stored running
statistics instead, as Linfeng-Tang/VIF-Benchmark's ``TarDAL.py`` does (``eval=True``). On TNO that
washes out some scenes and leaves blotches (pair 17, for one, where the image's own variances
after ``fuse.1`` are a median 2.6 times the stored ones). VIF-Benchmark also runs the network in
float16, where 26 of the 64 stored ``fuse.1.1`` variances (up to 2.5e5) overflow to infinity;
fusionbench computes in float32 only.

Known difference: with ``--color`` the authors truncate the fused plane to 8 bits
(``astype(uint8)``); fusionbench rounds half up.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusionbench.methods.base import MethodError, register_method
from fusionbench.methods.learned import LearnedMethod
from fusionbench.methods.weights import WeightFile, load_into, load_state_dict, register_weight_file

WEIGHTS = register_weight_file(
    WeightFile(
        "tardal",
        "tardal.pt",
        "e0fa61e25cffa9fb14ff17b47ea7ba237a6e8c6f37e1b9b115d63354ff0f13e1",
        "Linfeng-Tang/VIF-Benchmark @ 23f2e51f : Checkpoint/TarDAL/tardal.pt",
    )
)

#: Where BatchNorm takes its statistics from: the fused image itself, or the stored running values.
BATCHNORM_MODES = ("image", "running")


def tardal_network(dim: int = 32, depth: int = 3) -> Any:
    """The generator's layers with fresh weights; state-dict keys match ``tardal.pt``."""
    from torch import nn

    def conv(c_in: int, c_out: int) -> nn.Conv2d:
        return nn.Conv2d(c_in, c_out, 3, stride=1, padding=1)

    class TarDALGenerator(nn.ModuleDict):
        """TarDAL's generator layers; :meth:`TarDAL.forward` runs them."""

    return TarDALGenerator(
        {
            "encoder": nn.Sequential(conv(2, dim), nn.BatchNorm2d(dim), nn.ReLU()),
            "dense": nn.ModuleList(
                nn.Sequential(conv(dim * (i + 1), dim), nn.BatchNorm2d(dim), nn.ReLU()) for i in range(depth)
            ),
            "fuse": nn.Sequential(
                nn.Sequential(conv(dim * (depth + 1), dim * 4), nn.ReLU()),
                nn.Sequential(conv(dim * 4, dim * 2), nn.BatchNorm2d(dim * 2), nn.ReLU()),
                nn.Sequential(conv(dim * 2, dim), nn.BatchNorm2d(dim), nn.ReLU()),
                nn.Sequential(conv(dim, 1), nn.Tanh()),
            ),
        }
    )


@register_method
class TarDAL(LearnedMethod):
    """TarDAL's generator with the published weights (see the module docstring for the protocol).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    batchnorm
        ``"image"`` (default: per-image statistics, as the authors' command runs ``tardal.pt``) or
        ``"running"`` (the stored running statistics, as VIF-Benchmark runs it).
    """

    id = "tardal"
    name = "TarDAL"
    description = "Target-aware dual adversarial fusion: dense-CNN generator (TarDAL variant)"
    reference = (
        "J. Liu, X. Fan, Z. Huang, G. Wu, R. Liu, W. Zhong, Z. Luo, Target-aware Dual Adversarial "
        "Learning and a Multi-scenario Multi-Modality Benchmark to Fuse Infrared and Visible for "
        "Object Detection, CVPR 2022"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (WEIGHTS,)

    def __init__(self, weights: Any = None, device: str = "cpu", batchnorm: str = "image") -> None:
        super().__init__(weights=weights, device=device)
        if batchnorm not in BATCHNORM_MODES:
            raise MethodError(f"tardal: batchnorm must be one of {list(BATCHNORM_MODES)}, got {batchnorm!r}")
        self.batchnorm = batchnorm

    def config(self) -> dict[str, Any]:
        return {"batchnorm": self.batchnorm}

    def build(self) -> Any:
        weight = self.weight_files[0]
        network = tardal_network()
        load_into(network, load_state_dict(weight, self.weights), f"{weight.relative} (TarDAL generator)")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        import torch

        x = self._run(network["encoder"], torch.cat([ir, vis_y], dim=1))
        for step in network["dense"]:
            x = torch.cat([x, self._run(step, x)], dim=1)
        for step in network["fuse"]:
            x = self._run(step, x)
        return x.clamp(0.0, 1.0)

    def _run(self, layers: Any, x: Any) -> Any:
        """Apply a Sequential, with BatchNorm from the image's own statistics when so configured."""
        import torch.nn.functional as F
        from torch import nn

        for layer in layers:
            if isinstance(layer, nn.BatchNorm2d) and self.batchnorm == "image":
                x = F.instance_norm(x, weight=layer.weight, bias=layer.bias, eps=layer.eps)
            else:
                x = layer(x)
        return x
