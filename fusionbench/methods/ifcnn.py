"""IFCNN-MAX: a general image-fusion CNN (Zhang et al., Information Fusion 54, 2020), with the
published weights.

Network (uzeful/IFCNN ``Code/model.py``, ``myIFCNN(fuse_scheme=0)``), run on each source ``x``:

1. ``conv1``: the first convolution of an ImageNet ResNet-101 (64 filters 7x7 on 3 channels, no
   bias, frozen in training; its weights are in the checkpoint), with stride 1 and no padding of
   its own, after a 3-pixel replicate padding of the input; no activation;
2. ``conv2``: replicate padding 1, 3x3 convolution 64 -> 64 (no bias), BatchNorm, ReLU;

then the element-wise maximum of the two feature stacks (the MAX fusion rule), ``conv3`` (as
``conv2``) and ``conv4`` (1x1 convolution 64 -> 3 with bias). 83,587 parameters.

Pre/post-processing, as in the script that made the published TNO images (Linfeng-Tang/VIF-Benchmark
``IFCNN/IFCNN.py``; with it, fusionbench reproduces the 42 images to 90-103 dB PSNR, 4 of them
identically, the rest off by one grey level at a few pixels):

- each gray source is repeated to three channels and normalised per channel with the ImageNet
  mean (0.485, 0.456, 0.406) and std (0.229, 0.224, 0.225) (``normalization="imagenet"``);
- the 3-channel output is de-normalised with the same constants, clipped to [0, 1], truncated to
  8 bits per channel (``uint8(255 * x)``, ``truncate_channels=True``) and reduced to gray with the
  BT.601 weights (0.299, 0.587, 0.114) on channels (0, 1, 2). No stretching.

Known differences from the authors' own demo (``Code/IFCNN_Main.py``): for infrared-visible and
medical pairs it does not normalise (mean 0, std 1; ``normalization="none"``), which gives
images 17-49 dB (median 24 dB) from the published ones; the ImageNet constants are what produced them.
VIF-Benchmark's current script converts with ``cv2.COLOR_BGR2GRAY`` (weights reversed), which
matches the published images only to 48-61 dB; the published images used (0.299, 0.587, 0.114) on
channels (0, 1, 2) (``cv2.COLOR_RGB2GRAY`` / PIL ``convert("L")``). The checkpoint was saved by
PyTorch 0.4, before BatchNorm kept ``num_batches_tracked``; that counter (unused at inference) is
set to 0 when loading.
"""

from __future__ import annotations

from typing import Any, ClassVar

from fusionbench.methods.base import MethodError, register_method
from fusionbench.methods.learned import LearnedMethod
from fusionbench.methods.weights import (
    WeightFile,
    load_into,
    load_state_dict,
    register_weight_file,
)

WEIGHTS = register_weight_file(
    WeightFile(
        "ifcnn",
        "IFCNN-MAX.pth",
        "6022b44c88a2f0367ba9b08fcdf0d663745d9a966fca0ee1f41867797b6ff53f",
        "Linfeng-Tang/VIF-Benchmark @ 23f2e51f : Checkpoint/IFCNN/IFCNN-MAX.pth",
    )
)

#: Per-channel input normalisation (mean, std) of each ``normalization`` option.
NORMALIZATIONS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
#: Gray conversion of the 3-channel output (BT.601 on channels 0, 1, 2).
GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def ifcnn_network() -> Any:
    """The IFCNN layers with fresh weights, as a module whose state-dict keys match the checkpoint."""
    from torch import nn

    def conv_block() -> nn.Module:
        return nn.ModuleDict({"conv": nn.Conv2d(64, 64, 3, bias=False), "bn": nn.BatchNorm2d(64)})

    class IFCNNNetwork(nn.ModuleDict):
        """IFCNN-MAX's layers; :meth:`IFCNN.forward` runs them."""

    return IFCNNNetwork(
        {
            "conv1": nn.Conv2d(3, 64, 7, bias=False),
            "conv2": conv_block(),
            "conv3": conv_block(),
            "conv4": nn.Conv2d(64, 3, 1),
        }
    )


@register_method
class IFCNN(LearnedMethod):
    """IFCNN-MAX with the published weights (see the module docstring for the protocol).

    Parameters
    ----------
    weights, device
        See :class:`~fusionbench.methods.learned.LearnedMethod`.
    normalization
        ``"imagenet"`` (default; what made the published TNO images) or ``"none"`` (the authors'
        demo setting for infrared-visible pairs).
    truncate_channels
        Truncate each output channel to 8 bits before the gray conversion, as the authors' script
        does (default True). False keeps the full float precision.
    """

    id = "ifcnn"
    name = "IFCNN"
    description = "General image-fusion CNN, element-wise max of ResNet conv1 features (IFCNN-MAX)"
    reference = (
        "Y. Zhang, Y. Liu, P. Sun, H. Yan, X. Zhao, L. Zhang, IFCNN: A general image fusion framework "
        "based on convolutional neural network, Information Fusion 54 (2020) 99-118"
    )
    weight_files: ClassVar[tuple[WeightFile, ...]] = (WEIGHTS,)

    def __init__(
        self,
        weights: Any = None,
        device: str = "cpu",
        normalization: str = "imagenet",
        truncate_channels: bool = True,
    ) -> None:
        super().__init__(weights=weights, device=device)
        if normalization not in NORMALIZATIONS:
            raise MethodError(f"ifcnn: normalization must be one of {sorted(NORMALIZATIONS)}, got {normalization!r}")
        self.normalization = normalization
        self.truncate_channels = bool(truncate_channels)

    def config(self) -> dict[str, Any]:
        return {"normalization": self.normalization, "truncate_channels": self.truncate_channels}

    def build(self) -> Any:
        import torch

        weight = self.weight_files[0]
        state = dict(load_state_dict(weight, self.weights))
        # Saved by PyTorch 0.4: BatchNorm had no num_batches_tracked buffer yet (unused in eval).
        for key in [k for k in state if k.endswith(".running_mean")]:
            state.setdefault(key.replace(".running_mean", ".num_batches_tracked"), torch.tensor(0))
        network = ifcnn_network()
        load_into(network, state, f"{weight.relative} (IFCNN-MAX)")
        return network

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        import torch
        import torch.nn.functional as F

        mean_values, std_values = NORMALIZATIONS[self.normalization]
        mean = ir.new_tensor(mean_values).view(1, 3, 1, 1)
        std = ir.new_tensor(std_values).view(1, 3, 1, 1)

        def block(layer: Any, x: Any) -> Any:
            return F.relu(layer["bn"](layer["conv"](F.pad(x, (1, 1, 1, 1), mode="replicate"))))

        def features(x: Any) -> Any:
            x = (x.expand(-1, 3, -1, -1) - mean) / std
            x = network["conv1"](F.pad(x, (3, 3, 3, 3), mode="replicate"))
            return block(network["conv2"], x)

        fused = torch.maximum(features(ir), features(vis_y))
        out = network["conv4"](block(network["conv3"], fused))
        out = (out * std + mean).clamp(0.0, 1.0)
        if self.truncate_channels:
            out = torch.floor(out * 255.0) / 255.0
        gray = out.new_tensor(GRAY_WEIGHTS).view(1, 3, 1, 1)
        return (out * gray).sum(dim=1, keepdim=True)
