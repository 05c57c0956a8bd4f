"""Reading and writing images, and matching IR, VIS and fused files by name.

``read_image`` returns pixels as stored (``uint8`` or ``uint16``; colour in RGB order) and raises
:class:`ImageReadError` naming the file when it is missing, unreadable, truncated, not an image, or
larger than the pixel limit (:func:`max_pixels`: ``$FUSIONBENCH_MAX_PIXELS``, default
:data:`DEFAULT_MAX_PIXELS`), which is checked from the file's header before any pixel is decoded.
``write_image_atomic`` writes a lossless PNG so that a reader never sees half a file.
``pair_files`` matches the images of two or three folders by file stem (``01.png`` in ``ir/`` with
``01.jpg`` in ``vi/``) and raises :class:`PairingError` listing what does not match.

>>> import numpy as np, tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> write_image_atomic(folder / "a.png", np.full((4, 4), 7, dtype=np.uint8))
>>> image = read_image(folder / "a.png")
>>> image.dtype, image.shape, int(image.max())
(dtype('uint8'), (4, 4), 7)
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

log = logging.getLogger(__name__)

#: File extensions treated as images (compared case-insensitively).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: Environment variable holding the largest image (in pixels, width x height) :func:`read_image` decodes.
MAX_PIXELS_ENV = "FUSIONBENCH_MAX_PIXELS"
#: The pixel limit when ``$FUSIONBENCH_MAX_PIXELS`` is not set: 2**26 (8192 x 8192). A larger image
#: is refused from its header: decoding it and scoring it in float64 would need several GB.
DEFAULT_MAX_PIXELS = 1 << 26
#: Longest file name (bytes) most file systems allow; temporary names are kept within it.
NAME_MAX = 255

_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
#: How many unmatched or duplicate stems an error message lists before "and N more".
_SHOWN = 5


class ImageReadError(ValueError):
    """An image file that is missing, unreadable, truncated or not an image; the message names it."""


class PairingError(ValueError):
    """Folders whose images cannot be matched one to one by file stem."""


@dataclass(frozen=True)
class Pair:
    """The files of one scene: IR and VIS sources and, when asked for, the fused result."""

    stem: str
    ir: Path
    vi: Path
    fused: Path | None = None


def read_image(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> np.ndarray:
    """Read an image as stored on disk.

    Returns ``(H, W)`` for gray images and ``(H, W, 3)`` in RGB order for colour ones, with the
    stored dtype (``uint8`` or ``uint16``). An alpha channel is dropped when it is fully opaque;
    transparency is refused, since the metrics have no way to use it. A JPEG with bytes after its
    end-of-image marker (phones append data there) is read, with a warning logged.

    ``max_pixels`` (default :func:`max_pixels`) bounds width x height; it is checked from the
    header, before anything is decoded, so that a small file cannot claim gigabytes of memory.

    Raises
    ------
    ImageReadError
        The file is missing, is not a decodable image, is a truncated JPEG, is larger than
        ``max_pixels``, has partial transparency, or stores pixels other than 8- or 16-bit integers.
    """
    path = Path(path)
    return decode_image(read_image_bytes(path, max_pixels=max_pixels), path, max_pixels=max_pixels)


def read_image_bytes(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> bytes:
    """The bytes of the image file ``path``, read only after its header passed the pixel limit
    (so that a huge uncompressed file is not read into memory either)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            size = image_size(handle)
            if size is not None:
                check_pixels(size, path, max_pixels)
            handle.seek(0)
            return handle.read()
    except FileNotFoundError:
        raise ImageReadError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ImageReadError(f"{path}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read ({exc.strerror or exc})") from None


def decode_image(data: bytes, path: str | os.PathLike[str], *, max_pixels: int | None = None) -> np.ndarray:
    """Decode the bytes of an image file (``path`` names it in errors); see :func:`read_image`."""
    path = Path(path)
    if not data:
        raise ImageReadError(f"{path}: empty file")
    size = image_size(io.BytesIO(data))
    if size is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    check_pixels(size, path, max_pixels)
    if data.startswith(_JPEG_MAGIC) and not data.rstrip(b"\x00").endswith(_JPEG_END):
        _check_jpeg_end(data, path)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageReadError(f"{path}: not a readable image (OpenCV: {_cv2_message(exc)})") from None
    if image is None:
        raise ImageReadError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    if image.dtype not in (np.uint8, np.uint16):
        raise ImageReadError(f"{path}: expected 8- or 16-bit integer pixels, got {image.dtype}")
    return _to_rgb(image, path)


def max_pixels() -> int:
    """The largest image, in pixels, that :func:`read_image` decodes: ``$FUSIONBENCH_MAX_PIXELS``, else
    :data:`DEFAULT_MAX_PIXELS`. Raise it (e.g. ``FUSIONBENCH_MAX_PIXELS=400000000``) for larger images."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{MAX_PIXELS_ENV} must be a positive whole number of pixels, got {text!r}")
    return value


def check_pixels(size: tuple[int, int], path: Path, limit: int | None = None) -> None:
    """Refuse an image of ``size`` (width, height) above ``limit`` pixels (default :func:`max_pixels`)."""
    limit = max_pixels() if limit is None else limit
    width, height = size
    if width * height > limit:
        raise ImageReadError(
            f"{path}: {width}x{height} pixels ({width * height}) exceed the limit of {limit} pixels; "
            f"a larger limit (if you have the memory: about 40 bytes per pixel to score it) is set with "
            f"{MAX_PIXELS_ENV}=N or read_image(..., max_pixels=N)"
        )


def load_header_readers() -> None:
    """Import Pillow and its common format plugins now (about 30 ms), which :func:`image_size`
    otherwise does on the first image: a process about to fork scoring workers calls this so that
    they inherit them instead of each importing them."""
    from PIL import Image

    Image.preinit()


def image_size(handle: BinaryIO) -> tuple[int, int] | None:
    """``(width, height)`` from the header of the image in ``handle``, or None when no format reads it.

    Pillow's format plugins parse the header (PNG ``IHDR``, JPEG ``SOF``, TIFF ``IFD``, BMP ...)
    without decoding pixels. They are called directly rather than through ``PIL.Image.open``, whose
    own decompression-bomb check would raise before telling the size.
    """
    from PIL import Image

    handle.seek(0)
    prefix = handle.read(16)
    Image.preinit()  # the common formats (PNG, JPEG, BMP, ...) first, as Image.open does
    size = _header_size(handle, prefix)
    if size is None and Image.init():  # every other plugin (about 0.1 s to import), once per process
        size = _header_size(handle, prefix)
    return size


def _header_size(handle: BinaryIO, prefix: bytes) -> tuple[int, int] | None:
    """The size read by the first loaded Pillow plugin that accepts the header starting ``prefix``."""
    from PIL import Image

    for fmt in Image.ID:  # Pillow's own order, as Image.open tries them
        factory, accept = Image.OPEN[fmt]
        if accept is None:  # formats without a signature (TGA, ...): OpenCV decodes none of them
            continue
        try:
            verdict = accept(prefix)
            if not verdict or isinstance(verdict, str):  # a str is Pillow's "maybe, with a warning"
                continue
            handle.seek(0)
            width, height = factory(handle, "").size
        except (SyntaxError, IndexError, TypeError, ValueError, EOFError, OSError, struct.error):
            continue
        return int(width), int(height)
    return None


def _check_jpeg_end(data: bytes, path: Path) -> None:
    """A JPEG that does not end with its end-of-image marker: refuse it when it is truncated (Pillow
    cannot decode it to the end), read it with a warning when bytes follow the marker."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except (OSError, SyntaxError, ValueError):
        raise ImageReadError(f"{path}: truncated JPEG (no end-of-image marker)") from None
    end = data.rfind(_JPEG_END)
    log.warning(
        "%s: JPEG has %d bytes after its end-of-image marker (camera or phone data); they are ignored",
        path,
        len(data) - end - len(_JPEG_END),
    )


def _cv2_message(exc: Exception) -> str:
    """The last line of an OpenCV error (the others repeat the source file and function)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _to_rgb(image: np.ndarray, path: Path) -> np.ndarray:
    """OpenCV's BGR(A) order -> RGB, dropping an opaque alpha channel."""
    if image.ndim == 2:
        return image
    channels = image.shape[2]
    if channels in (2, 4):
        opaque = np.iinfo(image.dtype).max
        if not (image[..., -1] == opaque).all():
            raise ImageReadError(
                f"{path}: has a transparent alpha channel; expected an opaque image (flatten it first)"
            )
        image = image[..., :-1]
        channels -= 1
    if channels == 1:
        return image[..., 0]
    if channels == 3:
        return np.ascontiguousarray(image[..., ::-1])
    raise ImageReadError(f"{path}: expected 1, 3 or 4 channels, got {channels}")


def write_image_atomic(path: str | os.PathLike[str], image: np.ndarray) -> None:
    """Write ``image`` (``uint8`` or ``uint16``; ``(H, W)``, ``(H, W, 1)`` or RGB ``(H, W, 3)``) as PNG.

    The PNG is written to a temporary file in the same folder and moved into place with
    :func:`os.replace`, so ``path`` holds either the old file or the complete new one.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{path}: write_image_atomic writes PNG; expected a .png path")
    write_bytes_atomic(path, encode_png(image, path))


def encode_png(image: np.ndarray, path: str | os.PathLike[str] = "image") -> bytes:
    """The lossless PNG bytes of ``image`` as :func:`write_image_atomic` writes them (``path`` names
    the image in errors)."""
    image = np.asarray(image)
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"{path}: expected uint8 or uint16 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] == 3:
        image = image[..., ::-1]
    elif image.ndim != 2:
        raise ValueError(f"{path}: expected an (H, W) or (H, W, 3) image, got shape {image.shape}")
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"{path}: OpenCV could not encode a PNG of shape {image.shape}")
    return encoded.tobytes()


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and :func:`os.replace`."""
    with _atomic_file(Path(path)) as handle:
        handle.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`write_bytes_atomic`."""
    write_bytes_atomic(path, text.encode("utf-8"))


@contextmanager
def _atomic_file(path: Path) -> Iterator[BinaryIO]:
    temp = path.with_name(temp_name(path.name))
    # os.open with mode 0o666 honours the umask, so the result gets the usual permissions.
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def temp_name(name: str) -> str:
    """The name of the temporary file written beside ``name``: ``.<name>.<8 hex>.tmp``, with ``name``
    shortened so that the whole stays within :data:`NAME_MAX` bytes (a 245-character name is legal)."""
    suffix = f".{secrets.token_hex(4)}.tmp"
    room = NAME_MAX - 1 - len(suffix)
    shortened = name.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f".{shortened}{suffix}"


def pair_files(
    ir_dir: str | os.PathLike[str],
    vi_dir: str | os.PathLike[str],
    fused_dir: str | os.PathLike[str] | None = None,
) -> list[Pair]:
    """Match the images of ``ir_dir``, ``vi_dir`` (and ``fused_dir``) by file stem.

    Only files with an image extension (:data:`IMAGE_EXTENSIONS`) count; hidden files and
    subfolders are ignored. Extensions may differ between folders. Pairs come sorted by stem in
    natural order (``2`` before ``10``).

    Raises
    ------
    PairingError
        A folder is missing or holds no images, a folder holds two images with one stem
        (``a.png`` and ``a.jpg``), or some stems are not in every folder.
    """
    roles = {"ir": Path(ir_dir), "vi": Path(vi_dir)}
    if fused_dir is not None:
        roles["fused"] = Path(fused_dir)
    found = {role: _images_by_stem(role, folder) for role, folder in roles.items()}

    stems = set().union(*found.values())
    missing = {stem: [r for r in roles if stem not in found[r]] for stem in stems}
    unpaired = sorted((s for s, rs in missing.items() if rs), key=natural_key)
    if unpaired:
        shown = [f"{s!r} (not in {', '.join(missing[s])})" for s in unpaired[:_SHOWN]]
        more = f" and {len(unpaired) - _SHOWN} more" if len(unpaired) > _SHOWN else ""
        folders = ", ".join(f"{role}={folder}" for role, folder in roles.items())
        raise PairingError(
            f"{len(unpaired)} file stem(s) not present in every folder: {', '.join(shown)}{more} ({folders})"
        )
    return [
        Pair(
            stem=stem,
            ir=found["ir"][stem],
            vi=found["vi"][stem],
            fused=found["fused"][stem] if "fused" in found else None,
        )
        for stem in sorted(stems, key=natural_key)
    ]


def pair_present_fused(
    ir_dir: str | os.PathLike[str],
    vi_dir: str | os.PathLike[str],
    fused_dir: str | os.PathLike[str],
) -> tuple[list[Pair], list[str]]:
    """The source pairs that have a fused image, and the stems of those that have none.

    For scoring a partial fused folder: IR and VIS must pair up as in :func:`pair_files`, and
    every fused image must have its sources; source pairs without a fused image are returned as
    missing instead of raising.
    """
    sources = pair_files(ir_dir, vi_dir)
    fused = _images_by_stem("fused", Path(fused_dir))
    orphans = sorted(set(fused) - {p.stem for p in sources}, key=natural_key)
    if orphans:
        shown = ", ".join(repr(s) for s in orphans[:_SHOWN])
        raise PairingError(f"{len(orphans)} fused image(s) without IR/VIS sources: {shown} (fused={fused_dir})")
    present = [Pair(stem=p.stem, ir=p.ir, vi=p.vi, fused=fused[p.stem]) for p in sources if p.stem in fused]
    return present, [p.stem for p in sources if p.stem not in fused]


def _images_by_stem(role: str, folder: Path) -> dict[str, Path]:
    if not folder.exists():
        raise PairingError(f"{role} folder not found: {folder}")
    if not folder.is_dir():
        raise PairingError(f"{role} folder is not a folder: {folder}")
    by_stem: dict[str, list[Path]] = {}
    for entry in folder.iterdir():
        if entry.name.startswith(".") or entry.suffix.lower() not in IMAGE_EXTENSIONS or not entry.is_file():
            continue
        by_stem.setdefault(entry.stem, []).append(entry)
    if not by_stem:
        raise PairingError(f"{role} folder holds no images ({', '.join(IMAGE_EXTENSIONS)}): {folder}")
    duplicates = sorted((s for s, files in by_stem.items() if len(files) > 1), key=natural_key)
    if duplicates:
        shown = [f"{', '.join(sorted(f.name for f in by_stem[s]))}" for s in duplicates[:_SHOWN]]
        more = f" and {len(duplicates) - _SHOWN} more" if len(duplicates) > _SHOWN else ""
        raise PairingError(f"{role} folder {folder} holds several images with the same stem: {'; '.join(shown)}{more}")
    return {stem: files[0] for stem, files in by_stem.items()}


def natural_key(text: str) -> list[object]:
    """Sort key that orders digit runs by value: ``img2`` before ``img10``."""
    # re.split with a group puts the digit runs at the odd positions, so ints never meet strs.
    return [(int(part), part) if i % 2 else part for i, part in enumerate(re.split(r"(\d+)", text))]
