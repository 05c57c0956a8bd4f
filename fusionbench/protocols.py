"""Named paper protocols: the metric convention, method options and dataset subsets of one paper's table.

A :class:`Protocol` bundles what must be fixed to reproduce a published table:

* ``convention`` -- the metric convention (:mod:`fusionbench.metrics.conventions`);
* ``method_options`` -- options given to a method unless the user gives that option;
* ``subsets`` -- per dataset, the pairs the paper scored (``None``: the whole split), read from a
  file of the shared data.

``tang`` (the default) is L. Tang's MATLAB toolkit with each baseline's own published test pipeline;
``cddfuse`` is the evaluator of CDDFuse (Zhao et al., CVPR 2023) on its 25 TNO pairs and
RoadScene-50. docs/protocols.md gives each protocol's source and what it fixes.

>>> get_protocol("CDDFuse").convention
'cdd'
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fusionbench.registry import Registry


@dataclass(frozen=True)
class Protocol:
    """One paper's evaluation protocol (see the module docstring)."""

    name: str
    description: str
    convention: str
    source: str
    #: method id -> options applied unless given explicitly.
    method_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: dataset id -> JSON file (relative to the data root) mapping the paper's file names to ours.
    subsets: Mapping[str, str] = field(default_factory=dict)

    def options_for(self, method_id: str, given: Mapping[str, Any]) -> dict[str, Any]:
        """The protocol's options for ``method_id``, overridden by those ``given``."""
        return {**self.method_options.get(method_id.strip().lower(), {}), **given}

    def pair_ids(self, dataset: str, data_root: str | os.PathLike[str] | None) -> list[str] | None:
        """The pair ids (file stems) the paper scored on ``dataset``, or None for the whole split."""
        relative = self.subsets.get(dataset.strip().lower())
        if relative is None:
            return None
        from fusionbench.datasets import resolve_data_root

        path = Path(resolve_data_root(data_root)) / relative
        try:
            mapping = json.loads(path.read_text(encoding="utf-8"))["cddfuse_to_tno42"]
        except (OSError, ValueError, KeyError) as exc:
            raise FileNotFoundError(f"protocol {self.name!r}: cannot read the pair list {path} ({exc})") from None
        return [Path(ours).stem for ours in mapping.values()]

    def pairs_to_run(
        self, dataset: str, data_root: str | os.PathLike[str] | None, asked: Sequence[str] | None = None
    ) -> list[str] | None:
        """The pairs a run on ``dataset`` fuses and scores under this protocol: those it scores, or the
        ``asked`` ones (a ValueError names any it does not score); None for the whole split."""
        scored = self.pair_ids(dataset, data_root)
        if asked is None:
            return scored
        outside = sorted(set(asked) - set(scored)) if scored is not None else []
        if outside:
            raise ValueError(f"protocol {self.name!r} does not score pairs {outside} of {dataset!r}")
        return list(asked)


PROTOCOLS: Registry[Protocol] = Registry("protocol")

TANG = Protocol(
    name="tang",
    description="L. Tang's Evaluation-for-Image-Fusion MATLAB toolkit; each baseline as its authors' test script runs",
    convention="tang",
    source="Linfeng-Tang/Evaluation-for-Image-Fusion; the baselines' own test scripts (VIF-Benchmark @ 23f2e51f)",
)

CDDFUSE = Protocol(
    name="cddfuse",
    description="CDDFuse's utils/Evaluator.py on its 25 TNO pairs and RoadScene-50 (CDDFuse README, Table 1)",
    convention="cdd",
    source="Zhaozixiang1228/MMIF-CDDFuse @ fd8da1f: utils/Evaluator.py, test_img/TNO, test_img/RoadScene",
    subsets={"tno": "datasets/tno/test/cddfuse25_subset.json"},
    # CDDFuse scored U2Fusion run as its authors' test_main.py feeds it (VIS first), stretched on saving,
    # and, for RoadScene's colour VIS images, the fused luminance saved gray (no chrominance merged back):
    # with these options TNO-25 and RoadScene-50 give its table's rows to the printed digits (docs/protocols.md).
    method_options={"u2fusion": {"source_order": "vis_ir", "colour": False}},
)

for _protocol in (TANG, CDDFUSE):
    PROTOCOLS.add(_protocol.name, _protocol)


def get_protocol(name: str | Protocol) -> Protocol:
    """The protocol named ``name`` (case-insensitive); a :class:`Protocol` is returned as it is."""
    return name if isinstance(name, Protocol) else PROTOCOLS.get(name)


def list_protocols() -> list[Protocol]:
    """Every registered protocol, ``tang`` first."""
    return [PROTOCOLS.get(n) for n in PROTOCOLS.names()]
