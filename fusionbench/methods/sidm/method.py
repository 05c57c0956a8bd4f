"""The registered ``sidm`` method: SIDM-Fusion with the checkpoints trained here and shipped in the package.

Shipped checkpoints (``fusionbench/methods/sidm/checkpoints``, listed with their SHA-256, the
command and data that trained them and the wall time in ``checkpoints/CHECKPOINTS.json``):
``sidm-full-g7.pt`` (the main model, Table 1) and ``sidm-lite-g1.pt`` .. ``sidm-lite-g7.pt`` (the
Table 2 rows). Options choose among them (``ablation``, ``width``) or name any checkpoint written
by ``fusionbench train`` (``checkpoint``).

Inference (spec section 7): the IR image and the VIS luminance on [0, 1] go through SPC-Net (whole
images, or a copy whose short side is ``spc_short_side`` pixels), the encoder, the
class-activation fusion and the decoder; :func:`fusionbench.methods.fuse` puts the VIS chrominance
back. The fused image is not stretched.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from fusionbench.methods.base import MethodError, register_method
from fusionbench.methods.learned import LearnedMethod
from fusionbench.methods.sidm.checkpoint import load_checkpoint
from fusionbench.methods.sidm.config import ABLATION_GROUPS, MIN_SIDE, WIDTHS, resolve_group
from fusionbench.methods.weights import WeightsError

CHECKPOINT_DIR = Path(__file__).with_name("checkpoints")
#: Width of the shipped main model (Table 1); the ablation rows are shipped in ``lite``.
MAIN_WIDTH = "full"
ABLATION_WIDTH = "lite"
#: Default short side of SPC-Net's input at inference (0 = full resolution); see the class docstring.
DEFAULT_SPC_SHORT_SIDE = 0


@cache
def _sha256(path: str, mtime: float) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def file_sha256(path: Path) -> str:
    return _sha256(str(path), path.stat().st_mtime)


def shipped_checkpoints() -> dict[str, dict[str, Any]]:
    """``CHECKPOINTS.json``: file name -> sha256, command, data, wall time ({} when none is shipped)."""
    index = CHECKPOINT_DIR / "CHECKPOINTS.json"
    return json.loads(index.read_text()) if index.is_file() else {}


def _channels_last() -> Any:
    import torch

    return torch.channels_last


@register_method
class SIDMFusion(LearnedMethod):
    """SIDM-Fusion (MEGB, SDRB, SBM, SPC-Net class-activation fusion), trained here.

    Parameters
    ----------
    ablation
        Table 2 row ``g1`` .. ``g7`` (default ``g7``: every block).
    width
        ``full`` or ``lite``; default: ``full`` for ``g7`` (the main model), ``lite`` for the other rows
        (the widths the shipped checkpoints have).
    checkpoint
        A checkpoint written by ``fusionbench train`` (overrides ``ablation``/``width``).
    weights
        A folder searched first for ``sidm-<width>-<ablation>.pt`` (directly or under ``sidm/``),
        as for the other learned methods' ``weights``; the shipped checkpoint is the fallback.
    spc_short_side
        Run SPC-Net on a copy of the images whose short side is at most this many pixels
        (0 = full resolution, the default). SPC-Net only yields one probability per image; this
        is the speed knob of spec section 0.
    device
        Torch device.
    """

    id = "sidm"
    name = "SIDM-Fusion"
    #: The width of the ``g7`` row (the other rows are Table 2's ablation models, at lite widths).
    main_width = MAIN_WIDTH
    description = "Class-activation + multiscale-edge-gradient fusion network (seed paper), trained by fusionbench"
    reference = (
        "S. Yang, Multimodal Image Fusion Network Based on Class Activation and Multiscale Edge Gradients "
        "(SIDM-Fusion), IJSER 14(3), 2026"
    )

    def __init__(
        self,
        ablation: str = "g7",
        width: str | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        spc_short_side: int = DEFAULT_SPC_SHORT_SIDE,
        device: str = "cpu",
        weights: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__(weights=weights, device=device)
        try:
            flags = resolve_group(ablation)
        except ValueError as exc:
            raise MethodError(f"sidm: {exc}") from None
        self.ablation = next(name for name, f in ABLATION_GROUPS.items() if f == flags)
        if width is not None and width not in WIDTHS:
            raise MethodError(f"sidm: unknown width {width!r}; expected one of {sorted(WIDTHS)}")
        self.width = width or (self.main_width if self.ablation == "g7" else ABLATION_WIDTH)
        self.checkpoint = Path(checkpoint) if checkpoint is not None else None
        if not isinstance(spc_short_side, int) or spc_short_side < 0:
            raise MethodError(f"sidm: spc_short_side must be a whole number >= 0, got {spc_short_side!r}")
        self.spc_short_side = spc_short_side

    def checkpoint_path(self) -> Path:
        if self.checkpoint is not None:
            return self.checkpoint
        name = f"sidm-{self.width}-{self.ablation}.pt"
        if self.weights is not None:
            folder = Path(self.weights)
            for candidate in (folder, folder / name, folder / "sidm" / name):
                if candidate.is_file() and candidate.name == name:
                    return candidate
        path = CHECKPOINT_DIR / name
        if not path.is_file():
            shipped = sorted(shipped_checkpoints())
            raise WeightsError(
                f"sidm: no shipped checkpoint for width {self.width!r} and ablation {self.ablation!r} "
                f"(shipped: {', '.join(shipped) or 'none'}); train one with 'fusionbench train --width {self.width} "
                f"--ablation {self.ablation}' and pass checkpoint=<its .pt>"
            )
        return path

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"ablation": self.ablation, "width": self.width, "spc_short_side": self.spc_short_side}
        if self.checkpoint is not None:
            config["checkpoint"] = str(self.checkpoint)
        return config

    def weights_sha256(self) -> str | None:
        return file_sha256(self.checkpoint_path())

    def _load(self) -> Any:
        path = self.checkpoint_path()
        shipped = path.parent == CHECKPOINT_DIR
        expected = shipped_checkpoints().get(path.name, {}).get("sha256") if shipped else None
        if expected and file_sha256(path) != expected:
            raise WeightsError(f"sidm: {path} has SHA-256 {file_sha256(path)}, expected {expected} (corrupt install?)")
        return load_checkpoint(path, spc_short_side=self.spc_short_side)

    def build(self) -> Any:
        return self._load().to(memory_format=_channels_last())

    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        """The fused luminance; inputs and weights in channels-last order (faster oneDNN convolutions on the
        CPU; the output differs from contiguous order by float rounding only, far below 1/255)."""
        h, w = ir.shape[-2:]
        if min(h, w) < MIN_SIDE:
            raise MethodError(f"sidm: images must be at least {MIN_SIDE}x{MIN_SIDE} pixels, got {h}x{w}")
        layout = _channels_last()
        return network(ir.contiguous(memory_format=layout), vis_y.contiguous(memory_format=layout)).contiguous()


@register_method
class SIDMFusionLite(SIDMFusion):
    """SIDM-Fusion at ``lite`` widths for every row: the Table 2 configuration (``sidm-lite``).

    Same options as :class:`SIDMFusion`; ``width`` defaults to ``lite`` for ``g7`` too, so
    ``fusionbench figure --methods sidm-lite --ablation g1..g7`` shows the seven Table 2 models.
    """

    id = "sidm-lite"
    name = "SIDM-Fusion (lite)"
    description = "SIDM-Fusion at lite widths (the shipped Table 2 ablation models)"

    #: The width of every row, ``g7`` included.
    main_width = ABLATION_WIDTH
