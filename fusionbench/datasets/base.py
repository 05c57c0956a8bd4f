"""The types every dataset shares: :class:`PairRecord`, :class:`Dataset`, :class:`VerifyReport`.

A dataset turns ``(split, data_root)`` into a sorted list of :class:`PairRecord` (one IR/VIS pair
each) and can check the files against what it pins. Files live under the data root in the layout
of ``../shared``::

    <root>/datasets/<name>/<split>/ir/<id>.<ext>
    <root>/datasets/<name>/<split>/vi/<id>.<ext>

The data root is, in this order: the ``data_root`` argument (``--data-root``), ``$FUSIONBENCH_DATA``,
or ``platformdirs.user_data_dir("fusionbench")`` (see :func:`resolve_data_root`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

#: Environment variable naming the data root when no ``data_root`` argument is given.
DATA_ROOT_ENV = "FUSIONBENCH_DATA"
#: Hex digits kept of a version hash.
VERSION_DIGITS = 12
#: How many file names an error message or report summary lists before "and N more".
SHOWN = 5
#: Names that stand for a pair's source images (in figure panels and ``--methods``), and their role.
SOURCE_ROLES = {"ir": "ir", "vis": "vis", "vi": "vis"}
#: Display labels of the two sources.
SOURCE_LABELS = {"ir": "Infrared", "vis": "Visible"}


class DatasetError(ValueError):
    """A dataset that cannot be used as asked: unknown split, missing or mismatched files, bad options."""


@dataclass(frozen=True)
class PairRecord:
    """One registered IR/VIS pair.

    ``id`` is the file stem (``"00537D"``, ``"05"``, ``"FLIR_04269"``); ``tags`` holds labels such as
    ``{"tag": "day"}`` (MSRS); ``sha256`` is ``{"ir": ..., "vis": ...}`` when the dataset pins the bytes.
    """

    id: str
    ir: Path
    vis: Path
    tags: Mapping[str, str] = field(default_factory=dict)
    sha256: Mapping[str, str] | None = None


#: How VerifyReport.summary() words each kind of check.
_CHECKED = {
    "sha256": "sha256 matches the pin",
    "pixels": "pixels match the generator",
    "presence": "present; no hashes pinned",
}


@dataclass(frozen=True)
class VerifyReport:
    """What :meth:`Dataset.verify` found: files checked, missing and not matching their pin.

    ``missing`` and ``mismatched`` hold paths relative to ``folder`` (``"ir/01.png"``). ``check``
    says what a present file was compared with: ``"sha256"`` (the pinned hash), ``"pixels"`` (the
    demo generator's output) or ``"presence"`` (nothing pinned: ids-only splits, folder datasets).
    """

    dataset: str
    split: str
    folder: Path
    checked: int
    missing: tuple[str, ...] = ()
    mismatched: tuple[str, ...] = ()
    check: str = "sha256"

    @property
    def ok(self) -> bool:
        return not self.missing and not self.mismatched

    def summary(self) -> str:
        """One line: ``tno/test: 84 files OK (sha256) under ...`` or what is wrong."""
        what = _CHECKED[self.check]
        if self.ok:
            return f"{self.dataset}/{self.split}: {self.checked} files OK ({what}) under {self.folder}"
        problems = []
        if self.mismatched:
            problems.append(f"{len(self.mismatched)} not matching ({self.check}: {listing(self.mismatched)})")
        if self.missing:
            problems.append(f"{len(self.missing)} missing ({listing(self.missing)})")
        return f"{self.dataset}/{self.split}: {'; '.join(problems)} of {self.checked} files under {self.folder}"


class Dataset:
    """Base class of the registered datasets.

    Subclasses set ``name``, ``description`` and ``splits`` and implement :meth:`pairs`,
    :meth:`version` and :meth:`verify`.
    """

    name: str = ""
    description: str = ""
    splits: tuple[str, ...] = ("test",)

    def pairs(self, split: str = "test", data_root: str | Path | None = None) -> list[PairRecord]:
        """The pairs of ``split`` sorted by id; raises :class:`DatasetError` when files are missing."""
        raise NotImplementedError

    def version(self, split: str = "test") -> str:
        """Short hash identifying the content of ``split`` (pinned hashes, or file list)."""
        raise NotImplementedError

    def verify(self, split: str = "test", data_root: str | Path | None = None) -> VerifyReport:
        """Check the files of ``split`` against the pins; never raises for missing files."""
        raise NotImplementedError

    def options(self) -> dict[str, str]:
        """The options the dataset was made with (``folder``: its ``ir`` and ``vi`` folders), as run
        manifests record them; none for registered datasets."""
        return {}

    def check_split(self, split: str) -> None:
        if split not in self.splits:
            raise DatasetError(f"dataset {self.name!r} has no split {split!r} (splits: {', '.join(self.splits)})")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} splits={self.splits}>"


def resolve_data_root(data_root: str | os.PathLike[str] | None = None) -> Path:
    """The folder holding ``datasets/<name>/...``: ``data_root``, else ``$FUSIONBENCH_DATA``, else
    ``platformdirs.user_data_dir("fusionbench")``. The folder need not exist yet."""
    if data_root is not None and str(data_root) != "":
        return Path(data_root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV, "")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir("fusionbench"))


def split_folder(root: Path, dataset: str, split: str) -> Path:
    return root / "datasets" / dataset / split


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def short_hash(lines: Iterable[str]) -> str:
    """The first :data:`VERSION_DIGITS` hex digits of the sha256 of ``lines`` joined by newlines."""
    return sha256_bytes("\n".join(lines).encode("utf-8"))[:VERSION_DIGITS]


def listing(names: Iterable[str], shown: int = SHOWN) -> str:
    """``"a, b, c and 4 more"``."""
    names = list(names)
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
