"""``folder``: any two folders of IR and VIS images, matched by file stem (``--ir DIR --vi DIR``).

Nothing is pinned: :meth:`FolderDataset.version` hashes the file names and contents, so a changed
image gives a new version.
"""

from __future__ import annotations

import os
from pathlib import Path

from fusionbench.datasets.base import Dataset, DatasetError, PairRecord, VerifyReport, sha256_file, short_hash
from fusionbench.io import PairingError, pair_files


class FolderDataset(Dataset):
    """IR images in ``ir``, VIS images in ``vi``; pairs share the file stem (extensions may differ)."""

    name = "folder"
    description = "Your own pairs: --ir DIR --vi DIR, matched by file stem (nothing pinned)."
    splits = ("test",)

    def __init__(self, ir: str | os.PathLike[str] | None = None, vi: str | os.PathLike[str] | None = None):
        self.ir = Path(ir) if ir is not None else None
        self.vi = Path(vi) if vi is not None else None

    def pairs(self, split: str = "test", data_root: str | Path | None = None) -> list[PairRecord]:
        """The matched pairs (``data_root`` is ignored: the folders are given)."""
        self.check_split(split)
        if self.ir is None or self.vi is None:
            raise DatasetError("dataset 'folder' needs both folders: get_dataset('folder', ir=DIR, vi=DIR)")
        try:
            matched = pair_files(self.ir, self.vi)
        except PairingError as exc:
            raise DatasetError(str(exc)) from None
        # pair_files sorts by stem in natural order ("2" before "10").
        return [PairRecord(id=p.stem, ir=p.ir, vis=p.vi, tags={}) for p in matched]

    def version(self, split: str = "test") -> str:
        """Hash of every pair's id and the sha256 of its two files (reads all of them)."""
        return short_hash(f"{r.id} {sha256_file(r.ir)} {sha256_file(r.vis)}" for r in self.pairs(split))

    def options(self) -> dict[str, str]:
        """The ``ir`` and ``vi`` folders as absolute paths (``--ir``/``--vi``), for the run manifest."""
        return {role: os.path.abspath(folder) for role, folder in (("ir", self.ir), ("vi", self.vi)) if folder}

    def verify(self, split: str = "test", data_root: str | Path | None = None) -> VerifyReport:
        """Checks that every image has its partner (nothing is pinned to compare with)."""
        records = self.pairs(split)
        return VerifyReport(
            dataset=self.name,
            split=split,
            folder=records[0].ir.parent.parent if records else Path(),
            checked=2 * len(records),
            check="presence",
        )
