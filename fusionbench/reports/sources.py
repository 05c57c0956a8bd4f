"""What reports read: a :class:`ResultSource` of runs and pictures, handed to them by the caller.

Reports never run an experiment. The figure, plot and report functions take a source object that
returns a method's per-image results and a panel's picture; :class:`fusionbench.engine.results.CachedResults`
is the one the CLI and the API pass (it reads the run cache and computes what is missing), and a test
may pass any object of this shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from fusionbench.datasets.base import SOURCE_ROLES


class RunView(Protocol):
    """One method's run on one dataset split, as a report reads it."""

    method: Any  # fusionbench.methods.Method: .id, .name, .provides_images
    frame: pd.DataFrame  # one row per image: image[, tag], one column per metric
    manifest: dict[str, Any]  # what the runner recorded (versions, config, hashes)
    run_dir: Path


class ResultSource(Protocol):
    """The results a figure or report shows: runs, panel pictures, the efficiency table."""

    split: str
    convention: str
    metrics: str | list[str] | None

    def run(
        self, method_id: str, dataset: str, options: dict[str, Any] | None = None, protocol: str | None = None
    ) -> RunView: ...

    def panel(self, name: str, options: dict[str, Any], dataset: str, pair_id: str) -> tuple[np.ndarray, str]: ...

    def efficiency(self, method_ids: Sequence[str]) -> pd.DataFrame: ...


@dataclass(frozen=True)
class PanelSpec:
    """One panel of a comparison figure: a source image or a method (with its options)."""

    name: str  # "ir", "vis" or a method id
    options: dict[str, Any] = field(default_factory=dict)
    label: str | None = None  # shown under the panel; default: the method's display name

    @property
    def is_source(self) -> bool:
        return self.name.lower() in SOURCE_ROLES
