"""Loading TensorFlow-1 convolution weights into torch modules, for the baselines published as TF
checkpoints (U2Fusion, SDNet).

The shared data holds each TF checkpoint as a ``*.tf2torch.pth`` file: a torch state dict whose keys
are the TF variable names (``"Generator/encoder/conv1_1/kernel"``) and whose tensors keep the TF
layout (convolution kernels ``[kh, kw, in, out]``, "HWIO"). :func:`load_tf_convs` maps those
variables onto the ``Conv2d`` layers of a torch module: kernels are permuted to torch's
``[out, in, kh, kw]`` (``kernel.permute(3, 2, 0, 1)``), biases are copied as they are.

Padding is not stored in a checkpoint: each baseline applies the padding of its original graph
itself (``tf.pad(..., "REFLECT")`` before a ``VALID`` convolution, or ``padding="SAME"``, see
:func:`tf_same_padding`).

The TF-1 era test scripts of these baselines wrote their float outputs with ``scipy.misc.imsave``,
which min-max stretches each image to 0..255; :func:`imsave_stretch` reproduces that step for the
methods' ``stretch`` option (default True: a baseline's default is its authors' published pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fusionbench.methods.weights import WeightsError, load_into


@dataclass(frozen=True)
class TFConv:
    """One TF convolution: the torch ``Conv2d`` it fills and its two TF variable names."""

    #: Dotted name of the ``Conv2d`` in the torch module (``"encoder.0"``).
    module: str
    #: TF name of the kernel variable, layout ``[kh, kw, in, out]``.
    kernel: str
    #: TF name of the bias variable, shape ``[out]``.
    bias: str


def load_tf_convs(
    module: Any, state: Mapping[str, Any], convs: list[TFConv], path_hint: str, architecture: str
) -> None:
    """Fill the ``Conv2d`` layers of ``module`` from a TF-named, TF-layout state dict.

    ``state`` must hold exactly the kernel and bias variables that ``convs`` names, with the shapes
    the layers need. Raises :class:`~fusionbench.methods.weights.WeightsError` naming the TF
    variables that are missing, unexpected, not tensors or of the wrong shape; the module is left
    untouched when it does. ``path_hint`` (the file) and ``architecture`` (the network's name) go
    into the messages.
    """
    import torch

    expected = [name for conv in convs for name in (conv.kernel, conv.bias)]
    missing = [k for k in expected if k not in state]
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise WeightsError(
            f"{path_hint}: the TF variables do not fit the {architecture} "
            f"(missing {len(missing)}, e.g. {missing[:3]}; "
            f"unexpected {len(unexpected)}, e.g. {unexpected[:3]})"
        )
    layers = dict(module.named_modules())
    converted: dict[str, Any] = {}
    for conv in convs:
        layer = layers[conv.module]
        out_ch, in_ch, kh, kw = layer.weight.shape
        for name, want in ((conv.kernel, (kh, kw, in_ch, out_ch)), (conv.bias, (out_ch,))):
            tensor = state[name]
            if not isinstance(tensor, torch.Tensor):
                raise WeightsError(f"{path_hint}: TF variable {name} is a {type(tensor).__name__}, not a tensor")
            if tuple(tensor.shape) != want:
                raise WeightsError(
                    f"{path_hint}: TF variable {name} has shape {list(tensor.shape)}, the architecture "
                    f"expects {list(want)} (TF layout [kh, kw, in, out] for kernels)"
                )
        converted[f"{conv.module}.weight"] = state[conv.kernel].permute(3, 2, 0, 1).contiguous()
        converted[f"{conv.module}.bias"] = state[conv.bias]
    load_into(module, converted, path_hint)


def tf_same_padding(size: int, kernel: int, stride: int = 1) -> tuple[int, int]:
    """The (before, after) zero padding TF's ``padding="SAME"`` adds along one axis of ``size`` pixels.

    TF pads ``max(kernel - stride, 0)`` (when ``size % stride == 0``, else
    ``max(kernel - size % stride, 0)``) in all, the smaller half before: for an odd kernel and
    stride 1 that is ``kernel // 2`` on each side; for an even kernel or stride 2 the extra pixel
    goes after (bottom/right), unlike a symmetric ``Conv2d(padding=...)``.

    >>> tf_same_padding(10, 3), tf_same_padding(10, 4), tf_same_padding(10, 3, stride=2)
    ((1, 1), (1, 2), (0, 1))
    """
    total = max(kernel - (stride if size % stride == 0 else size % stride), 0)
    return total // 2, total - total // 2


def imsave_stretch(x: Any) -> Any:
    """Min-max stretch each image of a ``(N, C, H, W)`` tensor to [0, 1].

    This is what ``scipy.misc.imsave`` (SciPy < 1.2, ``toimage`` -> ``bytescale``) did to a float
    image before writing it: ``(x - min) * 255 / (max - min)``, then ``+ 0.5`` and truncation to
    ``uint8`` (fusionbench's :func:`~fusionbench.methods.colour.to_uint8` rounds the same way). A
    constant image becomes 0, as in ``bytescale``.
    """
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    span = x.amax(dim=(1, 2, 3), keepdim=True) - lo
    return (x - lo) / span.masked_fill(span == 0, 1)
