"""Published weights of the learned baselines: where they are found, their hashes, safe loading.

Each weight file is registered with its SHA-256 (from the publishing repository's snapshot). It is
looked up in, in order: the ``weights`` argument (a folder or the file itself), ``$FUSIONBENCH_WEIGHTS``,
and the user data folder (``platformdirs.user_data_dir("fusionbench")/weights``); inside a folder
as ``<method>/<file>``. A missing file or a wrong hash is one :class:`WeightsError` that says
where to put the file. Files are loaded with ``torch.load(..., weights_only=True)``, which refuses
pickled code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import platformdirs

from fusionbench.methods.base import MethodError
from fusionbench.registry import Registry

WEIGHTS_ENV = "FUSIONBENCH_WEIGHTS"


class WeightsError(MethodError):
    """A weight file that is missing, corrupt, has the wrong hash or does not fit the network."""


@dataclass(frozen=True)
class WeightFile:
    """One published weight file."""

    method: str
    filename: str
    sha256: str
    source: str

    @property
    def relative(self) -> str:
        return f"{self.method}/{self.filename}"

    @property
    def url(self) -> str | None:
        """Where the authors published this very file, from :attr:`source` (``owner/repo @ commit : path``).

        None when the source names no file path, or when the file is fusionbench's conversion of a
        TF checkpoint (the published file has other bytes): copy those from the shared data.
        """
        repo, at, rest = self.source.partition(" @ ")
        commit, colon, path = rest.partition(" : ")
        if not at or not colon or "(" in path:
            return None
        return f"https://github.com/{repo.strip()}/raw/{commit.strip()}/{path.strip()}"


_VIF_BENCHMARK = "Linfeng-Tang/VIF-Benchmark @ 23f2e51f"

#: The weight files fusionbench knows, by ``<method folder>/<file name>`` (:func:`weight_key`).
WEIGHT_FILES: Registry[WeightFile] = Registry("weight file")


def weight_key(method: str, filename: str) -> str:
    """``"seafusion/SeAFusion.pth"``: the name a weight file is registered under."""
    return f"{method}/{filename}"


def register_weight_file(weight: WeightFile) -> WeightFile:
    """Add a weight file to :data:`WEIGHT_FILES` (the baseline modules do, at import)."""
    WEIGHT_FILES.add(weight_key(weight.method, weight.filename), weight)
    return weight


for _weight in (
    WeightFile(
        "seafusion",
        "SeAFusion.pth",
        "8d65a7f9a50f36349803368cf9920f40420776995e7e8cc8a56d8d30e499431d",
        _VIF_BENCHMARK,
    ),
    WeightFile(
        "densefuse",
        "densefuse_gray.model",
        "b34cf3650f04161b31ac2467decfeedf7eba39165b7618f846e0f298ecd2ac65",
        "hli1221/densefuse-pytorch @ 4394b63e",
    ),
):
    register_weight_file(_weight)


def default_weights_root() -> Path:
    """``$FUSIONBENCH_WEIGHTS``, else the user data folder's ``weights``."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("fusionbench")) / "weights"


def locate(weight: WeightFile, weights: str | os.PathLike[str] | None = None) -> Path:
    """The verified path of ``weight``; raises :class:`WeightsError` saying where to put it."""
    candidates: list[Path] = []
    if weights is not None:
        given = Path(weights)
        candidates += [given] if given.is_file() else [given / weight.relative, given / weight.filename]
    root = default_weights_root()
    candidates += [root / weight.relative]
    for path in candidates:
        if path.is_file():
            verify(path, weight)
            return path
    raise WeightsError(
        f"weights for {weight.method} not found: put {weight.filename} (sha256 {weight.sha256[:12]}..., "
        f"from {weight.source}) at {root / weight.relative}, or pass --weights DIR / set {WEIGHTS_ENV}"
    )


def verify(path: Path, weight: WeightFile) -> None:
    """Raise :class:`WeightsError` when ``path``'s SHA-256 differs from the registered one."""
    digest = _sha256(str(path), path.stat().st_size, path.stat().st_mtime_ns)
    if digest != weight.sha256:
        raise WeightsError(
            f"{path}: sha256 {digest[:12]}... does not match the published {weight.filename} "
            f"({weight.sha256[:12]}...): the file is corrupt, truncated or a different release"
        )


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_state_dict(weight: WeightFile, weights: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Locate, verify and load a state dict safely (``weights_only=True``); tensors on the CPU."""
    import pickle

    import torch

    path = locate(weight, weights)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as exc:
        raise WeightsError(f"{path}: cannot be loaded as a weights-only checkpoint ({_first_line(exc)})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def load_into(module: Any, state: dict[str, Any], path_hint: str) -> None:
    """``module.load_state_dict(state, strict=True)`` with a clear error naming missing/unexpected keys."""
    result_missing = [k for k in module.state_dict() if k not in state]
    unexpected = [k for k in state if k not in module.state_dict()]
    if result_missing or unexpected:
        raise WeightsError(
            f"{path_hint}: the weights do not fit the {type(module).__name__} architecture "
            f"(missing {len(result_missing)} keys, e.g. {result_missing[:3]}; "
            f"unexpected {len(unexpected)}, e.g. {unexpected[:3]})"
        )
    shapes = [
        (k, tuple(v.shape), tuple(state[k].shape))
        for k, v in module.state_dict().items()
        if tuple(v.shape) != tuple(state[k].shape)
    ]
    if shapes:
        k, want, got = shapes[0]
        raise WeightsError(f"{path_hint}: tensor {k} has shape {got}, the architecture expects {want}")
    module.load_state_dict(state, strict=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def download(method: str, weights: str | os.PathLike[str] | None = None, progressbar: bool = False) -> list[Path]:
    """Fetch ``method``'s weight files from their authors' published URLs into the weights folder.

    The folder is ``weights``, else :func:`default_weights_root`; each file goes to
    ``<folder>/<method>/<file>`` and is sha256-verified (pooch, with the pinned hash). Files already
    there and verified are kept. Raises :class:`WeightsError` naming the URL, the expected file and
    ``$FUSIONBENCH_WEIGHTS`` when a download fails (offline), or where a file has no download URL.
    """
    wanted = [w for w in WEIGHT_FILES.values() if w.method == method.strip().lower()]
    if not wanted:
        known = ", ".join(sorted({w.method for w in WEIGHT_FILES.values()}))
        raise WeightsError(f"no weight files registered for {method!r} (methods with weights: {known})")
    root = Path(weights) if weights is not None else default_weights_root()
    return [_download_one(w, root, progressbar) for w in wanted]


def _download_one(weight: WeightFile, root: Path, progressbar: bool) -> Path:
    target = root / weight.relative
    if target.is_file():
        verify(target, weight)
        return target
    fix = f"or put a folder holding {weight.relative} in ${WEIGHTS_ENV} (the shared data's weights/ has it)"
    if weight.url is None:
        raise WeightsError(
            f"{weight.relative} has no download URL ({weight.source}): copy it to {target} "
            f"(sha256 {weight.sha256}), {fix}"
        )
    import pooch  # only needed to download

    try:
        pooch.retrieve(
            weight.url,
            known_hash=f"sha256:{weight.sha256}",
            fname=weight.filename,
            path=target.parent,
            progressbar=progressbar,
        )
    except (OSError, ValueError) as exc:  # requests errors are OSErrors; pooch: hash mismatch
        raise WeightsError(
            f"cannot download {weight.url} ({' '.join(str(exc).split())[:200]}): put that file at {target} "
            f"(sha256 {weight.sha256}), {fix}"
        ) from None
    return target
