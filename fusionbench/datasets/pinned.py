"""Real datasets whose file list and per-file sha256 are pinned in the package (tno, msrs, roadscene).

Each is described by one JSON file in ``fusionbench/datasets/manifests/`` (generated from
``../shared/datasets/MANIFEST.json`` by :mod:`fusionbench.datasets.build_manifests`)::

    {"name": "tno", "description": "...", "reference": "...",
     "tag_by_suffix": {"D": "day", "N": "night"},                    # optional (MSRS)
     "splits": {
       "test": {"note": "...", "pairs": [{"id": "01",
                 "ir":  {"file": "01.png", "sha256": "...", "source_sha256": "..."},
                 "vis": {"file": "01.png", "sha256": "..."}}, ...]},
       "official-test": {"note": "...", "ext": ".png", "ids": ["00004N", ...]}},   # ids only
     "sources": [{"name": "...", "url": "...", "sha256": null, "homepage": "...",
                  "members": {"test/ir": "<folder inside the archive>", ...},
                  "transforms": {"test": "grey"}}]}

A split with ``ids`` instead of ``pairs`` lists ids only (hashes unknown): :meth:`PinnedDataset.pairs`
returns what exists under the data root and refuses an incomplete split, naming how many pairs
are missing. ``source_sha256`` and ``crop`` describe the upstream bytes a file is made from when
they differ from the pinned ones (see :mod:`fusionbench.datasets.download`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from fusionbench.datasets.base import (
    Dataset,
    DatasetError,
    PairRecord,
    VerifyReport,
    listing,
    resolve_data_root,
    sha256_file,
    short_hash,
    split_folder,
)
from fusionbench.io import natural_key

#: The packaged manifests, ``manifests/<name>.json``.
MANIFEST_NAMES = ("tno", "msrs", "roadscene")
#: Key of a pair's modality in the manifests and in :class:`PairRecord` -> folder name on disk.
FOLDER_OF = {"ir": "ir", "vis": "vi"}


@dataclass(frozen=True)
class PinnedFile:
    """One file of a pair: its name in the split folder and, when known, the hashes of its bytes."""

    file: str
    sha256: str | None = None
    source_sha256: str | None = None  # upstream bytes, when a transform turns them into ``sha256``
    crop: tuple[int, int, int, int] | None = None  # [top, left, height, width] in the upstream image


@dataclass(frozen=True)
class PinnedPair:
    id: str
    ir: PinnedFile
    vis: PinnedFile

    def files(self) -> dict[str, PinnedFile]:
        return {"ir": self.ir, "vis": self.vis}


@dataclass(frozen=True)
class Split:
    name: str
    pairs: tuple[PinnedPair, ...]
    pinned: bool  # False: ids only, no hashes
    note: str = ""


@dataclass(frozen=True)
class Source:
    """Where a dataset's files can be downloaded from: one archive and the folders inside it.

    ``members`` maps ``"<split>/<ir|vi>"`` to a folder inside the archive; ``transforms`` maps a split
    to how its upstream files become the pinned ones (``"grey"``: three identical channels -> one;
    ``"crop"``: the pinned window). ``sha256`` is the archive's hash, ``None`` where it is not known
    (every extracted file is still checked against its own pin).
    """

    name: str
    url: str
    sha256: str | None = None
    homepage: str = ""
    members: Mapping[str, str] = field(default_factory=dict)
    transforms: Mapping[str, str] = field(default_factory=dict)

    def covers(self) -> set[str]:
        return {key.split("/", 1)[0] for key in self.members}


class PinnedDataset(Dataset):
    """A dataset described by a manifest (see the module docstring)."""

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        self.name = manifest["name"]
        self.description = manifest["description"]
        self.reference = manifest.get("reference", "")
        self.tag_by_suffix = dict(manifest.get("tag_by_suffix", {}))
        self._splits = {name: _parse_split(name, spec) for name, spec in manifest["splits"].items()}
        self.splits = tuple(self._splits)
        self.sources = tuple(Source(**{k: v for k, v in s.items() if k != "note"}) for s in manifest.get("sources", ()))

    def split(self, split: str) -> Split:
        self.check_split(split)
        return self._splits[split]

    def tags(self, pair_id: str) -> Mapping[str, str]:
        tag = self.tag_by_suffix.get(pair_id[-1:]) if self.tag_by_suffix else None
        return {"tag": tag} if tag else {}

    def pairs(self, split: str = "test", data_root: str | Path | None = None) -> list[PairRecord]:
        spec = self.split(split)
        folder = split_folder(resolve_data_root(data_root), self.name, split)
        missing_pairs = []
        records = []
        for pair in spec.pairs:
            paths = {key: folder / FOLDER_OF[key] / f.file for key, f in pair.files().items()}
            if not all(p.is_file() for p in paths.values()):
                missing_pairs.append(pair.id)
                continue
            pinned = {key: f.sha256 for key, f in pair.files().items() if f.sha256 is not None} if spec.pinned else None
            records.append(
                PairRecord(
                    id=pair.id,
                    ir=paths["ir"],
                    vis=paths["vis"],
                    tags=self.tags(pair.id),
                    sha256=pinned,
                )
            )
        if missing_pairs:
            raise DatasetError(self._missing_message(spec, folder, missing_pairs))
        return sorted(records, key=lambda r: natural_key(r.id))

    def _missing_message(self, spec: Split, folder: Path, missing: list[str]) -> str:
        total = len(spec.pairs)
        if spec.pinned and self.sources:
            hint = f"run 'fusionbench data download {self.name}' or pass --data-root"
        elif spec.pinned:
            hint = "pass --data-root to the folder holding datasets/"
        else:
            hint = f"{spec.note.rstrip('.')}" if spec.note else "copy the files there"
        return (
            f"{self.name}/{spec.name}: {len(missing)} of {total} pairs missing under {folder}/{{ir,vi}} "
            f"({listing(missing)}); {hint}"
        )

    def version(self, split: str = "test") -> str:
        spec = self.split(split)
        if spec.pinned:
            return short_hash(f"{p.id} {p.ir.sha256} {p.vis.sha256}" for p in spec.pairs)
        return short_hash(f"{p.id} {p.ir.file} {p.vis.file}" for p in spec.pairs)

    def verify(self, split: str = "test", data_root: str | Path | None = None) -> VerifyReport:
        spec = self.split(split)
        folder = split_folder(resolve_data_root(data_root), self.name, split)
        missing, mismatched = [], []
        for pair in spec.pairs:
            for key, f in pair.files().items():
                relative = f"{FOLDER_OF[key]}/{f.file}"
                path = folder / relative
                if not path.is_file():
                    missing.append(relative)
                elif spec.pinned and sha256_file(path) != f.sha256:
                    mismatched.append(relative)
        return VerifyReport(
            dataset=self.name,
            split=split,
            folder=folder,
            checked=2 * len(spec.pairs),
            missing=tuple(missing),
            mismatched=tuple(mismatched),
            check="sha256" if spec.pinned else "presence",
        )


def _parse_split(name: str, spec: Mapping[str, Any]) -> Split:
    note = spec.get("note", "")
    if "ids" in spec:
        ext = spec.get("ext", ".png")
        pairs = tuple(
            PinnedPair(i, PinnedFile(f"{i}{ext}"), PinnedFile(f"{i}{ext}"))
            for i in sorted(spec["ids"], key=natural_key)
        )
        return Split(name, pairs, pinned=False, note=note)
    pairs = tuple(
        PinnedPair(p["id"], _parse_file(p["ir"]), _parse_file(p["vis"]))
        for p in sorted(spec["pairs"], key=lambda p: natural_key(p["id"]))
    )
    return Split(name, pairs, pinned=True, note=note)


def _parse_file(entry: Mapping[str, Any]) -> PinnedFile:
    crop = entry.get("crop")
    return PinnedFile(
        file=entry["file"],
        sha256=entry["sha256"],
        source_sha256=entry.get("source_sha256"),
        crop=tuple(crop) if crop is not None else None,
    )


@cache
def load_manifest(name: str) -> dict[str, Any]:
    """The packaged manifest ``manifests/<name>.json``."""
    text = resources.files("fusionbench.datasets").joinpath(f"manifests/{name}.json").read_text("utf-8")
    return json.loads(text)


def packaged(name: str) -> PinnedDataset:
    return PinnedDataset(load_manifest(name))
