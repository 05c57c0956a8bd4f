"""``download``: fetch a pinned dataset's files from its public sources, checking every file.

A dataset lists its sources (:class:`~fusionbench.datasets.pinned.Source`): one archive each, with
the folders inside it that hold each split's IR and VIS files. :func:`download`

1. checks what is already under ``<root>/datasets/<name>/<split>/{ir,vi}`` and stops when every
   file is present and matches its sha256 (no network);
2. otherwise fetches the archives still needed with pooch into ``<root>/downloads/`` (checked
   against the archive's sha256 where one is known; kept there, so a second run is offline);
3. refuses an archive holding an absolute path or a ``..`` entry, reads (never extracts) the
   members it needs, streaming each with a size cap (:func:`max_member_bytes`:
   ``$FUSIONBENCH_MAX_MEMBER_BYTES``, default 64 MiB) and refusing one that is a link or not a
   regular file, turns upstream bytes into the pinned ones where the source says so (``grey``:
   three identical channels -> one; ``crop``: the pinned window; both saved as PNG like the
   packaged files), checks each file's sha256 and writes it atomically.

Files of ids-only splits (``msrs`` ``official-test``) have no hash of their own: they are taken
only from an archive whose sha256 is pinned (in the manifest, or given as ``known_hash`` /
``--sha256``), and copied as they are; from an archive without a pin they are refused.
With ``offline=True`` nothing touches the network: missing files raise :class:`DatasetError`
unless the archives are already in ``<root>/downloads/``.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import re
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import urlparse

import numpy as np

from fusionbench.datasets.api import get_dataset
from fusionbench.datasets.base import (
    Dataset,
    DatasetError,
    listing,
    resolve_data_root,
    sha256_bytes,
    sha256_file,
    split_folder,
)
from fusionbench.datasets.demo import DemoDataset
from fusionbench.datasets.pinned import FOLDER_OF, PinnedDataset, PinnedFile, Source
from fusionbench.io import write_bytes_atomic

log = logging.getLogger(__name__)

_DRIVE = re.compile(r"^[A-Za-z]:")
#: Environment variable holding the largest archive member (bytes) a download reads.
MAX_MEMBER_BYTES_ENV = "FUSIONBENCH_MAX_MEMBER_BYTES"
#: The member size cap when ``$FUSIONBENCH_MAX_MEMBER_BYTES`` is not set (an image is a few MB).
DEFAULT_MAX_MEMBER_BYTES = 64 << 20
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True)
class _Wanted:
    """A file to obtain: where it goes and what it must hash to."""

    split: str
    folder: str  # "ir" or "vi"
    pinned: PinnedFile
    target: Path

    @property
    def label(self) -> str:
        return f"{self.split}/{self.folder}/{self.pinned.file}"


def download(
    dataset: str | Dataset,
    data_root: str | Path | None = None,
    offline: bool = False,
    url: str | None = None,
    *,
    split: str | None = None,
    known_hash: str | None = None,
    progressbar: bool = False,
) -> Path:
    """Make ``dataset`` (a name or a :class:`Dataset`) complete under the data root; returns its folder.

    ``split`` limits the work to one split (default: every split some source provides). ``url``
    replaces the URL of the dataset's first source (a mirror with the same layout); its archive
    is then checked against ``known_hash`` only (every file is still checked against its pin).
    ``known_hash`` alone sets the expected sha256 of the first source's archive. ``demo`` is
    generated, not downloaded.

    Raises
    ------
    DatasetError
        Files are missing and ``offline`` is set; a download fails or its sha256 differs; an archive
        holds unsafe paths; or some files are in no source (or differ from their pin there).
    """
    ds = get_dataset(dataset) if isinstance(dataset, str) else dataset
    root = resolve_data_root(data_root)
    if isinstance(ds, DemoDataset):
        ds.pairs()  # generates the images in the cache folder when missing
        return ds.folder()
    if not isinstance(ds, PinnedDataset):
        raise DatasetError(f"dataset {ds.name!r} has nothing to download (its files are yours)")
    sources = _sources(ds, url, known_hash)
    splits = _splits_to_fetch(ds, sources, split)
    todo = _missing_files(ds, root, splits)
    folder = root / "datasets" / ds.name
    if not todo:
        log.info("%s: %s complete under %s", ds.name, ", ".join(splits), folder)
        return folder
    log.info("%s: %d files to fetch into %s", ds.name, len(todo), folder)
    _fetch_missing(ds, sources, todo, root, offline, progressbar)
    return folder


def _sources(ds: PinnedDataset, url: str | None, known_hash: str | None) -> list[Source]:
    """The dataset's sources; ``url`` replaces the first one's URL (its archive hash is then
    ``known_hash``, if any; the files stay pinned), ``known_hash`` alone its archive hash."""
    sources = list(ds.sources)
    if not sources:
        raise DatasetError(f"dataset {ds.name!r} has no download source")
    if url is not None:
        sources[0] = dataclasses.replace(sources[0], url=url, sha256=known_hash)
    elif known_hash is not None:
        sources[0] = dataclasses.replace(sources[0], sha256=known_hash)
    return sources


def _fetch_missing(
    ds: PinnedDataset, sources: list[Source], todo: list[_Wanted], root: Path, offline: bool, progressbar: bool
) -> None:
    """Take the ``todo`` files from the sources' archives in order; a DatasetError names what is left."""
    unpinned: dict[_Wanted, str] = {}  # files without a pin of their own, from an archive without one
    for source in sources:
        needed = [w for w in todo if f"{w.split}/{w.folder}" in source.members]
        takeable = [w for w in needed if w.pinned.sha256 is not None or source.sha256 is not None]
        unpinned.update({w: source.url for w in needed if w not in takeable})
        if not takeable:
            continue
        archive = _fetch(source, root / "downloads", offline, progressbar, f"{ds.name}: {len(todo)} files")
        try:
            done = _extract(source, archive, takeable)
        except DatasetError:  # unsafe or not an archive: do not keep it for the next run
            archive.unlink(missing_ok=True)
            raise
        todo = [w for w in todo if w not in done]
        if not todo:
            return
    raise DatasetError(_missing_message(ds.name, todo, unpinned, sources))


def _missing_message(name: str, todo: list[_Wanted], unpinned: dict[_Wanted, str], sources: list[Source]) -> str:
    """Why the files of ``todo`` could not be obtained: in no source (or not matching their pin), or
    without any pin (neither their own nor their archive's)."""
    refused = [w for w in todo if w in unpinned]
    absent = [w for w in todo if w not in unpinned]
    parts = []
    if absent:
        parts.append(
            f"{len(absent)} files are in none of its sources or differ from their sha256 there "
            f"({listing(w.label for w in absent)}); sources: {', '.join(s.url for s in sources)}"
        )
    if refused:
        urls = ", ".join(dict.fromkeys(unpinned[w] for w in refused))
        parts.append(
            f"{len(refused)} files have no pinned sha256 of their own and their archive ({urls}) has no pinned "
            f"sha256 either ({listing(w.label for w in refused)}): check the archive and give its sha256 "
            f"(fusionbench data download --sha256 HEX, or download(..., known_hash=HEX))"
        )
    return f"{name}: " + "; ".join(parts)


def _splits_to_fetch(ds: PinnedDataset, sources: list[Source], split: str | None) -> list[str]:
    covered = set().union(*(s.covers() for s in sources))
    if split is None:
        return [s for s in ds.splits if s in covered]
    note = ds.split(split).note
    if split not in covered:
        raise DatasetError(f"{ds.name}/{split}: no download source{'; ' + note if note else ''}")
    return [split]


def _missing_files(ds: PinnedDataset, root: Path, splits: list[str]) -> list[_Wanted]:
    todo = []
    for split in splits:
        spec = ds.split(split)
        folder = split_folder(root, ds.name, split)
        for pair in spec.pairs:
            for key, pinned in pair.files().items():
                sub = FOLDER_OF[key]
                target = folder / sub / pinned.file
                if target.is_file() and (pinned.sha256 is None or sha256_file(target) == pinned.sha256):
                    continue
                todo.append(_Wanted(split, sub, pinned, target))
    return todo


def _fetch(source: Source, cache: Path, offline: bool, progressbar: bool, missing: str) -> Path:
    """The archive of ``source`` in ``cache``, downloaded with pooch unless already there."""
    name = PurePosixPath(urlparse(source.url).path).name or "archive"
    path = cache / f"{sha256_bytes(source.url.encode())[:10]}-{name}"
    if offline:
        if not path.is_file():
            raise DatasetError(
                f"{missing} missing and offline mode forbids downloading {source.url} "
                f"(not in {cache}); run without --offline or copy the files under the data root"
            )
        if source.sha256 is not None and sha256_file(path) != source.sha256:
            raise DatasetError(f"{path}: sha256 differs from the known hash of {source.url}")
        return path

    import pooch  # only needed to download

    known = f"sha256:{source.sha256}" if source.sha256 else None
    log.info("fetching %s into %s", source.url, cache)
    # pooch logs at INFO through its own handler (including advice about known_hash): keep it quiet.
    pooch_log = pooch.get_logger()
    level = pooch_log.level
    pooch_log.setLevel(logging.WARNING)
    try:
        fetched = Path(
            pooch.retrieve(source.url, known_hash=known, fname=path.name, path=cache, progressbar=progressbar)
        )
    except ValueError as exc:  # pooch: hash mismatch
        raise DatasetError(f"{source.url}: {' '.join(str(exc).split())}") from None
    except OSError as exc:  # requests errors are OSErrors
        raise DatasetError(f"cannot download {source.url}: {exc}") from None
    finally:
        pooch_log.setLevel(level)
    return fetched


def _extract(source: Source, archive: Path, needed: list[_Wanted]) -> set[_Wanted]:
    """Write the ``needed`` files found in ``archive``; returns those written."""
    by_member: dict[str, list[_Wanted]] = {}
    for w in needed:
        by_member.setdefault(f"{source.members[f'{w.split}/{w.folder}']}/{w.pinned.file}", []).append(w)
    done = set()
    for member, data in _read_members(archive, set(by_member)):
        for w in by_member[member]:
            content = _convert(data, w, source.transforms.get(w.split))
            if content is None:
                log.warning("%s: %s in %s differs from its pin; skipped", w.label, member, source.url)
                continue
            w.target.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(w.target, content)
            done.add(w)
    log.info("%s: wrote %d of %d files", source.name, len(done), len(needed))
    return done


def _convert(data: bytes, wanted: _Wanted, transform: str | None) -> bytes | None:
    """The pinned bytes made from upstream ``data``, or None when they do not match the pins."""
    pinned = wanted.pinned
    if pinned.sha256 is None:
        return data  # ids-only split: nothing to check
    digest = sha256_bytes(data)
    if digest == pinned.sha256:
        return data
    if transform is None or (pinned.source_sha256 is not None and digest != pinned.source_sha256):
        return None
    try:
        converted = _TRANSFORMS[transform](data, pinned)
    except (OSError, ValueError) as exc:  # not an image, or not what the transform expects
        log.warning("%s: cannot apply %r: %s", wanted.label, transform, exc)
        return None
    return converted if sha256_bytes(converted) == pinned.sha256 else None


def _grey(data: bytes, pinned: PinnedFile) -> bytes:
    """Three identical channels -> one channel (as the packaged TNO files were re-encoded)."""
    pixels = _decode(data)
    if pixels.ndim == 3:
        if not (pixels == pixels[..., :1]).all():
            raise ValueError("expected three identical channels, they differ")
        pixels = pixels[..., 0]
    return _encode_png(pixels)


def _crop(data: bytes, pinned: PinnedFile) -> bytes:
    if pinned.crop is None:
        raise ValueError("the crop transform needs a pinned window")
    top, left, height, width = pinned.crop
    return _encode_png(_decode(data)[top : top + height, left : left + width])


_TRANSFORMS = {"grey": _grey, "crop": _crop}


def _decode(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image)


def _encode_png(pixels: np.ndarray) -> bytes:
    """PNG as the packaged re-encoded files were written (Pillow, zlib level 9, no metadata)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", compress_level=9)
    return buffer.getvalue()


def max_member_bytes() -> int:
    """The largest archive member a download reads: ``$FUSIONBENCH_MAX_MEMBER_BYTES``, else
    :data:`DEFAULT_MAX_MEMBER_BYTES` (64 MiB)."""
    text = os.environ.get(MAX_MEMBER_BYTES_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_MEMBER_BYTES
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise DatasetError(f"{MAX_MEMBER_BYTES_ENV} must be a positive whole number of bytes, got {text!r}")
    return value


def _read_members(archive: Path, wanted: set[str]) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of the ``wanted`` members, after checking every entry's path; a wanted member
    that is a link, not a regular file, or larger than :func:`max_member_bytes` is refused."""
    cap = max_member_bytes()
    try:
        if zipfile.is_zipfile(archive):
            yield from _zip_members(archive, wanted, cap)
        elif tarfile.is_tarfile(archive):
            yield from _tar_members(archive, wanted, cap)
        else:
            raise DatasetError(f"{archive}: not a zip or tar archive")
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise DatasetError(f"{archive}: corrupt archive ({exc})") from None


def _zip_members(archive: Path, wanted: set[str], cap: int) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            _check_entry(archive, info.filename)
        for info in zf.infolist():
            if info.filename not in wanted or info.is_dir():
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                raise DatasetError(f"{archive}: refusing member {info.filename!r}: it is a link, not a file")
            _check_size(archive, info.filename, info.file_size, cap)
            with zf.open(info) as handle:
                yield info.filename, _read_capped(handle, archive, info.filename, cap)


def _tar_members(archive: Path, wanted: set[str], cap: int) -> Iterator[tuple[str, bytes]]:
    with tarfile.open(archive, "r:*") as tf:
        members = tf.getmembers()
        for member in members:
            _check_entry(archive, member.name, member.linkname if member.issym() or member.islnk() else None)
        for member in members:  # archive order: one forward pass through a compressed stream
            if member.name not in wanted or member.isdir():
                continue
            if member.issym() or member.islnk():
                raise DatasetError(
                    f"{archive}: refusing member {member.name!r}: it is a link (to {member.linkname!r}), not a file"
                )
            if not member.isfile():
                raise DatasetError(f"{archive}: refusing member {member.name!r}: not a regular file")
            _check_size(archive, member.name, member.size, cap)
            handle = tf.extractfile(member)
            if handle is not None:
                yield member.name, _read_capped(handle, archive, member.name, cap)


def _check_size(archive: Path, name: str, size: int, cap: int) -> None:
    if size > cap:
        raise DatasetError(
            f"{archive}: refusing member {name!r} of {size} bytes: larger than the limit of {cap} bytes "
            f"(raise it with {MAX_MEMBER_BYTES_ENV}=N if the file is expected to be that large)"
        )


def _read_capped(handle: IO[bytes], archive: Path, name: str, cap: int) -> bytes:
    """The member's bytes, read in pieces and never more than ``cap`` (its header may understate it)."""
    buffer = io.BytesIO()
    while chunk := handle.read(min(_CHUNK, cap + 1 - buffer.tell())):
        buffer.write(chunk)
        if buffer.tell() > cap:
            _check_size(archive, name, buffer.tell(), cap)
    return buffer.getvalue()


def _check_entry(archive: Path, name: str, link: str | None = None) -> None:
    for path in (name, link):
        if path is None:
            continue
        posix = path.replace("\\", "/")
        if posix.startswith("/") or _DRIVE.match(posix) or ".." in posix.split("/"):
            raise DatasetError(f"{archive}: refusing an archive with an unsafe entry {path!r} (absolute path or '..')")
