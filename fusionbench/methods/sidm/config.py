"""SIDM-Fusion configuration: the two widths of the specification and the Table 2 ablation rows.

``SIDMConfig`` holds every architectural choice that changes the network: the widths (``full`` or
``lite``, ``docs/sidm-spec.md`` section 2) and the four ablation flags of section 8
(``megb_sobel``, ``sbm``, ``sdrb``, ``spc``). The seven rows of the paper's Table 2 are named
``g1`` .. ``g7`` (:data:`ABLATION_GROUPS`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

#: Smallest input side SIDM accepts (the 7x7 reflection pad and SPC-Net's two stride-2 convolutions).
MIN_SIDE = 16


@dataclass(frozen=True)
class Widths:
    """Channel widths of one configuration (spec section 2's table)."""

    stem: int  # C0
    branch: int  # Cb, per MEGB kernel size
    megb_out: int  # C1
    encoder_out: int  # Ce = SPC-Net's final width M
    spc_first: int  # S1
    heads: tuple[int, int]  # STL heads of pair 1 / pair 2
    decoder: tuple[int, int, int]  # D1, D2, D3
    window: int = 8

    @property
    def sbm_reduced(self) -> int:
        """Csb = Ce / 4 (the paper's "reduction 1/4")."""
        return self.encoder_out // 4

    @property
    def sbm_out(self) -> int:
        """Cso: 16 for ``full`` (the paper's "16 output channels"), Ce / 4 for ``lite``."""
        return self.encoder_out // 4


WIDTHS: dict[str, Widths] = {
    "full": Widths(stem=16, branch=16, megb_out=32, encoder_out=64, spc_first=32, heads=(1, 2), decoder=(32, 16, 16)),
    "lite": Widths(stem=8, branch=8, megb_out=16, encoder_out=32, spc_first=16, heads=(1, 1), decoder=(16, 8, 8)),
}


@dataclass(frozen=True)
class Ablation:
    """The four switches of Table 2 (MEGB itself is in every row)."""

    megb_sobel: bool = True
    sbm: bool = True
    sdrb: bool = True
    spc: bool = True

    def marks(self) -> dict[str, bool]:
        """Table 2's columns: MEGB, Sobel, SBM, SDRB, SPC-Net."""
        return {"MEGB": True, "Sobel": self.megb_sobel, "SBM": self.sbm, "SDRB": self.sdrb, "SPC-Net": self.spc}


#: Table 2's seven rows, in the paper's order (spec section 8).
ABLATION_GROUPS: dict[str, Ablation] = {
    "g1": Ablation(megb_sobel=False, sbm=False, sdrb=False, spc=False),
    "g2": Ablation(megb_sobel=True, sbm=False, sdrb=False, spc=False),
    "g3": Ablation(megb_sobel=True, sbm=True, sdrb=False, spc=False),
    "g4": Ablation(megb_sobel=True, sbm=False, sdrb=True, spc=False),
    "g5": Ablation(megb_sobel=True, sbm=False, sdrb=False, spc=True),
    "g6": Ablation(megb_sobel=True, sbm=True, sdrb=True, spc=False),
    "g7": Ablation(megb_sobel=True, sbm=True, sdrb=True, spc=True),
}


@dataclass(frozen=True)
class SIDMConfig:
    """Architecture of one SIDM-Fusion model: width name and ablation flags."""

    width: str = "full"
    ablation: Ablation = Ablation()

    def __post_init__(self) -> None:
        if self.width not in WIDTHS:
            raise ValueError(f"unknown SIDM width {self.width!r}; expected one of {sorted(WIDTHS)}")

    @property
    def widths(self) -> Widths:
        return WIDTHS[self.width]

    @property
    def group(self) -> str | None:
        """The Table 2 row these flags form (``"g1"`` .. ``"g7"``), or None for other combinations."""
        for name, flags in ABLATION_GROUPS.items():
            if flags == self.ablation:
                return name
        return None

    def as_dict(self) -> dict[str, Any]:
        return {"width": self.width, **asdict(self.ablation)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SIDMConfig:
        flags = {k: bool(data[k]) for k in ("megb_sobel", "sbm", "sdrb", "spc") if k in data}
        return cls(width=str(data.get("width", "full")), ablation=Ablation(**flags))

    def with_group(self, group: str) -> SIDMConfig:
        return replace(self, ablation=resolve_group(group))


def resolve_group(group: str) -> Ablation:
    """The flags of Table 2 row ``group`` (``"g1"`` .. ``"g7"``, or ``"1"`` .. ``"7"``)."""
    key = str(group).strip().lower()
    if not key.startswith("g"):
        key = f"g{key}"
    if key not in ABLATION_GROUPS:
        raise ValueError(f"unknown ablation group {group!r}; expected one of {', '.join(ABLATION_GROUPS)}")
    return ABLATION_GROUPS[key]
