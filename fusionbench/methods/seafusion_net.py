"""SeAFusion's ``FusionNet`` (Tang, Yuan & Ma, Information Fusion 82, 2022), layer names as in the
published weights. Imported by :func:`fusionbench.methods.seafusion.seafusion_network` on the first
fuse, so that importing the method registry does not import torch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fusionbench.methods.seafusion import DECODER_CHANNELS, ENCODER_CHANNELS


def lrelu(x: torch.Tensor, slope: float = 0.2) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=slope)


class Conv(nn.Module):
    """A convolution under the original's key ``<name>.conv`` (and an unused ``bn``)."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, batch_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2)
        if batch_norm:
            self.bn = nn.BatchNorm2d(c_out)  # present in the weights, unused in forward

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Sobel(nn.Module):
    """``|convx(x)| + |convy(x)|``: depthwise 3x3 gradient filters (trained, no bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.convx = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)
        self.convy = nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convx(x).abs() + self.convy(x).abs()


class Dense(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = Conv(channels, channels)
        self.conv2 = Conv(2 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat((x, lrelu(self.conv1(x))), dim=1)
        return torch.cat((x, lrelu(self.conv2(x))), dim=1)


class GradientResidualDenseBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.dense = Dense(c_in)
        self.convdown = Conv(3 * c_in, c_out, kernel=1)
        self.sobelconv = Sobel(c_in)
        self.convup = Conv(c_in, c_out, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(self.convdown(self.dense(x)) + self.convup(self.sobelconv(x)), 0.1)


class FusionNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        c0, c1, c2 = ENCODER_CHANNELS
        for source in ("vis", "inf"):
            setattr(self, f"{source}_conv", Conv(1, c0))
            setattr(self, f"{source}_rgbd1", GradientResidualDenseBlock(c0, c1))
            setattr(self, f"{source}_rgbd2", GradientResidualDenseBlock(c1, c2))
        d4, d3, d2, d1 = DECODER_CHANNELS
        self.decode4 = Conv(2 * c2, d4, batch_norm=True)
        self.decode3 = Conv(d4, d3, batch_norm=True)
        self.decode2 = Conv(d3, d2, batch_norm=True)
        self.decode1 = Conv(d2, d1, batch_norm=True)

    def encode(self, source: str, x: torch.Tensor) -> torch.Tensor:
        x = lrelu(getattr(self, f"{source}_conv")(x))
        x = getattr(self, f"{source}_rgbd1")(x)
        return getattr(self, f"{source}_rgbd2")(x)

    def forward(self, vis_y: torch.Tensor, ir: torch.Tensor) -> torch.Tensor:
        x = torch.cat((self.encode("vis", vis_y), self.encode("inf", ir)), dim=1)
        for layer in (self.decode4, self.decode3, self.decode2):
            x = lrelu(layer(x))
        return torch.tanh(self.decode1(x)) / 2 + 0.5
