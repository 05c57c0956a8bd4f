"""Methods whose fused images already exist: ``published:<name>`` and ``folder:<path>``.

``published:<name>`` reads the fused images a method's authors (or a benchmark's maintainers)
published, as stored in the shared data: ``<data_root>/results/<dataset>/<split>/<name>/<pair>.png``
(see the shared README, "Published fused results"). ``folder:<path>`` reads any folder of fused
images, matched to pairs by file stem with any image extension (``05.png``, ``05.jpg``).

Neither fuses anything: :meth:`~fusionbench.methods.Method.fused_path` says where a pair's image
is, and :func:`load_fused` reads it and checks that it has the pair's size.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from fusionbench.io import IMAGE_EXTENSIONS, ImageReadError, decode_image, read_image_bytes
from fusionbench.methods.base import Method, MethodError
from fusionbench.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedInfo:
    """What is known about a published method: display name and paper."""

    name: str
    reference: str
    #: Why this method runs only from its published images (its weights could not be obtained).
    weights_note: str = ""


#: The methods whose published fused images are in the shared results (folder name -> info).
PUBLISHED: Registry[PublishedInfo] = Registry("published method")
for _key, _name, _reference in [
    ("densefuse", "DenseFuse", "Li & Wu, DenseFuse, IEEE TIP 28(5), 2019"),
    ("fusiongan", "FusionGAN", "Ma et al., FusionGAN, Information Fusion 48, 2019"),
    ("ifcnn", "IFCNN", "Zhang et al., IFCNN, Information Fusion 54, 2020"),
    ("piafusion", "PIAFusion", "Tang et al., PIAFusion, Information Fusion 83-84, 2022"),
    ("pmgi", "PMGI", "Zhang et al., PMGI, AAAI 2020"),
    ("rfn-nest", "RFN-Nest", "Li, Wu & Kittler, RFN-Nest, Information Fusion 73, 2021"),
    ("sdnet", "SDNet", "Zhang & Ma, SDNet, IJCV 129, 2021"),
    ("seafusion", "SeAFusion", "Tang, Yuan & Ma, SeAFusion, Information Fusion 82, 2022"),
    ("u2fusion", "U2Fusion", "Xu et al., U2Fusion, IEEE TPAMI 44(1), 2022"),
]:
    PUBLISHED.add(_key, PublishedInfo(_name, _reference))

#: Methods with no runnable implementation here: their published weights are files of 4 MiB or more
#: that the repository snapshots available to this project leave out (../shared/weights/MANIFEST.json).
_NO_WEIGHTS = "no weights obtainable here (published checkpoint >= 4 MiB, absent); runs from published TNO images only"
for _key in ("fusiongan", "piafusion", "pmgi", "rfn-nest"):
    PUBLISHED.replace(_key, dataclasses.replace(PUBLISHED.get(_key), weights_note=_NO_WEIGHTS))


@dataclass(frozen=True)
class ProvidedImages(Method):
    """A method whose fused images exist already (published, or a user's folder): nothing to run.

    Its id is ``<kind>:<source>`` (``published:piafusion``, ``folder:/data/fused``) and its config
    the one field that names the source.
    """

    provides_images = True

    def images_from(self) -> str:
        """What the images are read from: a published method's name, a folder's path."""
        raise NotImplementedError

    @property
    def id(self) -> str:  # type: ignore[override]
        return f"{self.kind}:{self.images_from()}"

    def config(self) -> dict[str, Any]:
        (only,) = dataclasses.fields(self)
        return {only.name: self.images_from()}


@dataclass(frozen=True)
class PublishedMethod(ProvidedImages):
    """Published fused images of one method, read from ``<data_root>/results/``."""

    published_name: str

    kind = "published"

    def __post_init__(self) -> None:
        PUBLISHED.get(self.published_name)  # unknown names raise, naming the close matches

    def images_from(self) -> str:
        return self.published_name

    @property
    def name(self) -> str:  # type: ignore[override]
        return PUBLISHED.get(self.published_name).name

    @property
    def description(self) -> str:  # type: ignore[override]
        note = PUBLISHED.get(self.published_name).weights_note
        text = f"{self.name} fused images as published (results/<dataset>/<split>/{self.published_name}/)"
        return f"{text}; {note}" if note else text

    @property
    def reference(self) -> str:  # type: ignore[override]
        return PUBLISHED.get(self.published_name).reference

    def folder(self, dataset: str, split: str, data_root: str | Path | None) -> Path:
        """``<data_root>/results/<dataset>/<split>/<name>``."""
        if data_root is None:
            raise MethodError(f"{self.id}: needs data_root, the folder that holds results/ and datasets/")
        return Path(data_root) / "results" / dataset / split / self.published_name

    def fused_path(self, pair_id: str, dataset: str, split: str, data_root: str | Path | None) -> Path:
        folder = self.folder(dataset, split, data_root)
        path = folder / f"{pair_id}.png"
        if path.is_file():
            return path
        if not folder.is_dir():
            raise MethodError(
                f"{self.id}: no published fused images for {dataset}/{split} ({folder} does not exist), "
                f"so none for pair {pair_id!r}"
            )
        raise MethodError(f"{self.id}: no fused image for pair {pair_id!r} of {dataset}/{split}: {path} not found")

    def source(self, dataset: str, split: str, data_root: str | Path | None) -> str | None:
        """Where the images came from (``repo @ commit``), from ``results/MANIFEST.json``; None if unknown."""
        if data_root is None:
            return None
        prefix = f"results/{dataset}/{split}/{self.published_name}/"
        sources = {
            s
            for path, s in _manifest_sources(str(Path(data_root) / "results" / "MANIFEST.json"))
            if path.startswith(prefix)
        }
        return "; ".join(sorted(sources)) or None


@lru_cache(maxsize=4)
def _manifest_sources(manifest: str) -> tuple[tuple[str, str], ...]:
    """``(path, "repo @ commit")`` for every file entry of a results manifest; empty if unreadable."""
    try:
        entries = json.loads(Path(manifest).read_text(encoding="utf-8")).get("files", [])
    except (OSError, ValueError, AttributeError) as exc:
        log.debug("no results manifest at %s: %s", manifest, exc)
        return ()
    out = []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("path") and entry.get("source_repo"):
            commit = str(entry.get("source_commit") or "")[:8]
            out.append((entry["path"], f"{entry['source_repo']} @ {commit}" if commit else entry["source_repo"]))
    return tuple(out)


@dataclass(frozen=True)
class FolderMethod(ProvidedImages):
    """A folder of fused images, one per pair, named by the pair's stem (any image extension)."""

    folder: Path

    kind = "folder"

    def __post_init__(self) -> None:
        folder = Path(self.folder).expanduser().absolute()
        if not folder.is_dir():
            raise MethodError(f"folder:{self.folder}: no such folder")
        object.__setattr__(self, "folder", folder)

    def images_from(self) -> str:
        return str(self.folder)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.folder.name

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"fused images read from {self.folder}"

    @cached_property
    def _by_stem(self) -> dict[str, list[Path]]:
        by_stem: dict[str, list[Path]] = {}
        for entry in self.folder.iterdir():
            if entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_EXTENSIONS or not entry.is_file():
                continue
            by_stem.setdefault(entry.stem, []).append(entry)
        return by_stem

    def fused_path(
        self,
        pair_id: str,
        dataset: str | None = None,
        split: str | None = None,
        data_root: str | Path | None = None,
    ) -> Path:
        files = self._by_stem.get(pair_id, [])
        if not files:
            raise MethodError(
                f"{self.id}: no fused image for pair {pair_id!r} (looked for {pair_id}.<ext> with ext in "
                f"{', '.join(IMAGE_EXTENSIONS)})"
            )
        if len(files) > 1:
            names = ", ".join(sorted(f.name for f in files))
            raise MethodError(f"{self.id}: several fused images for pair {pair_id!r}: {names}; keep one")
        return files[0]


def load_fused(
    method: Method,
    pair_id: str,
    expected_shape: tuple[int, ...],
    dataset: str | None = None,
    split: str | None = None,
    data_root: str | Path | None = None,
) -> np.ndarray:
    """Read the precomputed fused image of ``pair_id`` and check it has the pair's size.

    ``expected_shape`` is the shape of the pair's sources (only height and width are compared,
    so a gray fused image may belong to an RGB pair). Returns the image as stored
    (:func:`fusionbench.io.read_image`).

    Raises
    ------
    MethodError
        The method fuses images itself, the file is missing or unreadable, or its size differs
        from the pair's (the message names the file and both sizes).
    """
    return read_fused(method, pair_id, expected_shape, dataset=dataset, split=split, data_root=data_root)[0]


def read_fused(
    method: Method,
    pair_id: str,
    expected_shape: tuple[int, ...],
    *,
    data_root: str | Path | None = None,
    dataset: str | None = None,
    split: str | None = None,
) -> tuple[np.ndarray, bytes]:
    """:func:`load_fused` that also returns the file's bytes (the runner keys scores by their sha256)."""
    if not method.provides_images:
        raise MethodError(f"method {method.id!r} fuses images itself; load_fused() is for published:/folder:")
    path = method.fused_path(pair_id, dataset, split, data_root)  # type: ignore[arg-type]
    try:
        data = read_image_bytes(path)
        image = decode_image(data, path)
    except ImageReadError as exc:
        raise MethodError(f"{method.id}: {exc}") from None
    expected = tuple(expected_shape[:2])
    if image.shape[:2] != expected:
        raise MethodError(
            f"{path}: fused image is {image.shape[0]}x{image.shape[1]} but pair {pair_id!r} is "
            f"{expected[0]}x{expected[1]} (height x width)"
        )
    return image, data
