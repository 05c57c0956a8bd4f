"""Reading SIDM-Fusion checkpoints (the files ``fusionbench train`` writes) for inference and fine-tuning.

A checkpoint is a dict of plain tensors and JSON-able metadata, loaded with
``torch.load(weights_only=True)`` (no pickled code): ``format``, ``config`` (width and ablation
flags), ``state_dict`` and ``training`` (the full training record). Format 2 added MEGB's learnable
edge-path scale; a format-1 file (the first shipped models) has none, which is the same network
with the scale fixed at 1.0, so it loads with ``edge_scale = 1``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fusionbench.methods.sidm.config import SIDMConfig
from fusionbench.methods.weights import WeightsError

CHECKPOINT_FORMAT = "fusionbench-sidm-2"
LEGACY_FORMAT = "fusionbench-sidm-1"
#: How many lines of torch's state-dict mismatch message an error shows.
SHOWN_LINES = 6


def mismatch_summary(exc: BaseException) -> str:
    """The lines of torch's ``load_state_dict`` error that name the mismatch (missing/unexpected keys, sizes)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    details = [line for line in lines if not line.startswith("Error(s) in loading")] or lines
    shown = "; ".join(line[:300] for line in details[:SHOWN_LINES])
    more = f"; and {len(details) - SHOWN_LINES} more line(s)" if len(details) > SHOWN_LINES else ""
    return shown + more


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The checkpoint's dict, with ``state_dict`` upgraded to the current format; WeightsError naming the file."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"SIDM checkpoint {path}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        raise WeightsError(
            f"SIDM checkpoint {path}: cannot be loaded safely with weights_only=True "
            f"({type(exc).__name__}: {first_line})"
        ) from None
    if not isinstance(state, dict) or state.get("format") not in (CHECKPOINT_FORMAT, LEGACY_FORMAT):
        raise WeightsError(
            f"SIDM checkpoint {path}: not a fusionbench SIDM checkpoint "
            f"(expected a dict with format {CHECKPOINT_FORMAT!r} or {LEGACY_FORMAT!r})"
        )
    if state["format"] == LEGACY_FORMAT:
        state = {**state, "state_dict": _with_unit_edge_scale(state["state_dict"], state["config"])}
    return state


def _with_unit_edge_scale(state_dict: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A format-1 state dict plus ``megb_*.edge_scale = 1.0`` where the Sobel path exists."""
    import torch

    if not SIDMConfig.from_dict(config).ablation.megb_sobel:
        return state_dict
    extra = {f"fusion.{b}.edge_scale": torch.tensor(1.0) for b in ("megb_ir", "megb_vi")}
    return {**state_dict, **extra}


def load_checkpoint(path: str | os.PathLike[str], spc_short_side: int = 0) -> Any:
    """Build :class:`~fusionbench.methods.sidm.network.SIDMNet` from a checkpoint (strict state-dict match)."""
    from fusionbench.methods.sidm.network import SIDMNet

    state = read_checkpoint(path)
    network = SIDMNet(SIDMConfig.from_dict(state["config"]), spc_short_side=spc_short_side)
    try:
        network.load_state_dict(state["state_dict"], strict=True)
    except RuntimeError as exc:
        raise WeightsError(
            f"SIDM checkpoint {path}: weights do not fit its configuration {state['config']}: {mismatch_summary(exc)}"
        ) from None
    return network
