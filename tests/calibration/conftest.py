"""Helpers for the calibration tests: read the reference triples exactly as the toolkits did."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import cv2
import numpy as np


def read_rgb_or_gray(path: Path) -> np.ndarray:
    """Decoded pixels in RGB order (colour) or 2-D (gray), as MATLAB ``imread`` returns them."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FileNotFoundError(path)
    if image.ndim == 3:
        image = np.ascontiguousarray(image[..., ::-1])
    return image


@cache
def load_golden(root: str, name: str) -> dict:
    return json.loads((Path(root) / "golden" / name).read_text())
