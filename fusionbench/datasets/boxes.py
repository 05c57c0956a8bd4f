"""Object boxes of a pair: the MSRS infrared detection labels, in pixels of the pair's images.

MSRS ships YOLO text files (``datasets/msrs/detection/infrared/{test,train}/<id>.txt`` under the
data root), one line ``class cx cy w h`` per object, normalised to the 640 x 480 frame; classes
0 person, 1 bicycle, 2 car (``classes.txt``). The ``msrs/trainpool`` images are 320 x 320 crops
of that frame: their boxes are shifted by the crop window of ``msrs/trainpool/crops.json``
(``[top, left, height, width]``) and clipped. Other datasets have no boxes (:func:`pair_boxes`
returns None).

>>> parse_yolo("0 0.5 0.5 0.25 0.5")
[Box(label='person', top=120, left=240, bottom=360, right=400)]
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: The MSRS detection classes, by index.
MSRS_CLASSES = ("person", "bicycle", "car")
#: Height and width of the frame MSRS boxes are normalised to.
MSRS_FRAME = (480, 640)


class BoxError(ValueError):
    """A box file that cannot be read as YOLO ``class cx cy w h`` lines."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: rows ``top:bottom``, columns ``left:right`` (end exclusive)."""

    label: str
    top: int
    left: int
    bottom: int
    right: int

    @property
    def area(self) -> int:
        return max(self.bottom - self.top, 0) * max(self.right - self.left, 0)

    def shifted(self, top: int, left: int, height: int, width: int) -> Box:
        """This box in the coordinates of the crop ``(top, left, height, width)``, clipped to it."""
        return Box(
            self.label,
            min(max(self.top - top, 0), height),
            min(max(self.left - left, 0), width),
            min(max(self.bottom - top, 0), height),
            min(max(self.right - left, 0), width),
        )


def parse_yolo(text: str, frame: tuple[int, int] = MSRS_FRAME, origin: str = "<boxes>") -> list[Box]:
    """Boxes of YOLO lines ``class cx cy w h`` normalised to ``frame`` = (height, width), in pixels."""
    frame_h, frame_w = frame
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        try:
            index = int(parts[0])
            cx, cy, w, h = (float(v) for v in parts[1:])
        except ValueError:
            raise BoxError(f"{origin}:{number}: expected 'class cx cy w h', got {line!r}") from None
        if len(parts) != 5 or not 0 <= index < len(MSRS_CLASSES):
            raise BoxError(f"{origin}:{number}: expected 'class cx cy w h' with class 0..2, got {line!r}")
        top, bottom = round((cy - h / 2) * frame_h), round((cy + h / 2) * frame_h)
        left, right = round((cx - w / 2) * frame_w), round((cx + w / 2) * frame_w)
        boxes.append(Box(MSRS_CLASSES[index], max(top, 0), max(left, 0), min(bottom, frame_h), min(right, frame_w)))
    return boxes


@cache
def _crops(crops_file: Path) -> dict[str, list[int]]:
    return json.loads(crops_file.read_text())


def pair_boxes(dataset: str, split: str, pair_id: str, data_root: str | Path) -> list[Box] | None:
    """The infrared boxes of one pair in its own pixel coordinates; None when the dataset has none.

    A pair of MSRS with no box file is None too; a box file with no line gives ``[]`` (no target).
    """
    if dataset.lower() != "msrs":
        return None
    root = Path(data_root) / "datasets" / "msrs"
    folders = ("test",) if split == "trainpool" else ("test", "train")
    box_file = next(
        (f for f in (root / "detection" / "infrared" / d / f"{pair_id}.txt" for d in folders) if f.is_file()), None
    )
    if box_file is None:
        return None
    boxes = parse_yolo(box_file.read_text(), origin=str(box_file))
    if split != "trainpool":
        return boxes
    crops = _crops(root / "trainpool" / "crops.json")
    if pair_id not in crops:
        raise BoxError(f"{root / 'trainpool' / 'crops.json'}: no crop window for {pair_id}")
    window = crops[pair_id]
    shifted = (b.shifted(*window) for b in boxes)
    return [b for b in shifted if b.area > 0]
