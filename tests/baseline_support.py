"""Shared machinery for the learned-baseline tests: a table of the baselines, readers for the shared
data, and the generic checks that ``test_baselines_common.py`` runs once per baseline.

The method-specific tests (fidelity to the published images, options, architecture details) stay in
``test_baseline_<method>.py`` and use the helpers here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import fusionbench.methods.densefuse
import fusionbench.methods.didfuse
import fusionbench.methods.ifcnn
import fusionbench.methods.sdnet
import fusionbench.methods.seafusion
import fusionbench.methods.tardal
import fusionbench.methods.u2fusion
from fusionbench.io import read_image
from fusionbench.methods import get_method
from fusionbench.methods.weights import WeightFile, WeightsError

# -- fixtures and shared data ---------------------------------------------------------------


def method_fixture(method_id: str, name: str = "method", **options: Any) -> Any:
    """A module-scoped fixture ``name`` giving ``get_method(method_id, weights=weights_dir, **options)``."""

    @pytest.fixture(scope="module", name=name)
    def _fixture(weights_dir: Path) -> Any:
        return get_method(method_id, weights=weights_dir, **options)

    return _fixture


def tno_pair(shared_root: Path, pair: str) -> tuple[np.ndarray, np.ndarray]:
    folder = shared_root / "datasets" / "tno" / "test"
    return read_image(folder / "ir" / f"{pair}.png"), read_image(folder / "vi" / f"{pair}.png")


def published(shared_root: Path, method_id: str, pair: str) -> np.ndarray:
    return read_image(shared_root / "results" / "tno" / "test" / method_id / f"{pair}.png")


def manifest_entries(shared_root: Path) -> dict[str, dict[str, Any]]:
    """``weights/MANIFEST.json``'s files, by path (``"weights/<method>/<file>"``)."""
    files = json.loads((shared_root / "weights" / "MANIFEST.json").read_text())["files"]
    return {f["path"]: f for f in files}


def keys_listing(path: Path) -> dict[str, list[int] | str]:
    """A ``*.keys.txt`` listing: key -> shape (a tensor) or ``"<dtype>"`` (a plain value, shape ``-``)."""
    listing: dict[str, list[int] | str] = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, shape, dtype, _numel = line.split("\t")
            listing[key] = dtype if shape == "-" else json.loads(shape)
    return listing


def load_state(path: Path) -> dict[str, Any]:
    return torch.load(path, map_location="cpu", weights_only=True)


# -- PSNR -----------------------------------------------------------------------------------


def psnr_8bit(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def psnr_unit(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)))


# -- bad weight files -----------------------------------------------------------------------


def zeros() -> np.ndarray:
    return np.zeros((8, 8), np.float32)


def own_file(cls: type, path: Path, others: tuple[WeightFile, ...] = ()) -> type:
    """``cls`` registered with ``path``'s name and hash (to reach the checks after the hash), plus
    ``others`` (the method's remaining files, as published)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()

    class Patched(cls):
        weight_files = (WeightFile(cls.id, path.name, digest, "test"), *others)

    return Patched


def assert_refused(method: Any, match: str, *, via_fuse: bool = True) -> None:
    """Building ``method``'s network raises one :class:`WeightsError` matching ``match`` and keeps no
    network, whether asked for directly or through a fusion."""
    calls = [method.network]
    if via_fuse:
        calls.append(lambda: method.fuse(zeros(), zeros()))
    for call in calls:
        with pytest.raises(WeightsError, match=match):
            call()
        assert method._network is None


# -- the baselines --------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchCase:
    """Inputs of the batch-equals-loop check: ``n`` random pairs of ``shape``."""

    seed: int
    n: int
    shape: tuple[int, int]
    atol: float
    #: Scale of the second visible image (``None``: as drawn), for statistics that differ per image.
    scale_second_vis: float | None = None


@dataclass(frozen=True)
class Baseline:
    """What the generic checks need to know about one learned baseline."""

    id: str
    cls: type
    #: The registered weight files; the first is the one the bad-file checks spoil.
    weights: tuple[WeightFile, ...]
    #: Parameters of the network (sum of MANIFEST.json ``total_parameters`` over ``weights``).
    parameters: int
    #: The network's keys and shapes, per weight file, as its ``*.keys.txt`` should list them.
    expected_listing: Callable[[Any], dict[str, dict[str, list[int]]]]
    batch: BatchCase
    #: ``WeightsError`` message when the first file is missing.
    missing_match: str
    #: Missing file: located through ``$FUSIONBENCH_WEIGHTS`` (no ``weights=``) rather than ``weights=``.
    missing_from_env: bool
    #: The truncated copy of the first file.
    truncate: Callable[[bytes], bytes]
    #: A valid file of another release put in place of the first file (path below the weights folder).
    impostor: str
    #: The first file's state with its keys renamed, and the message that refuses it.
    rename: Callable[[Any], Any]
    renamed_match: str
    #: The first file's state with one tensor of the wrong shape (or ``None``), and the message.
    reshape: Callable[[Any, Path], Any] | None = None
    reshaped_match: str = ""
    #: Pass the file itself as ``weights=`` (not the folder) in the bad-file checks.
    weights_arg_is_file: bool = False


def _state_shapes(state: dict[str, Any], prefix: str = "") -> dict[str, list[int]]:
    return {prefix + k: list(v.shape) for k, v in state.items()}


def _tf_listing(convs: Any, network: Any) -> dict[str, list[int]]:
    layers = dict(network.named_modules())
    listing = {}
    for conv in convs:
        out_ch, in_ch, kh, kw = layers[conv.module].weight.shape
        listing[conv.kernel] = [kh, kw, in_ch, out_ch]
        listing[conv.bias] = [out_ch]
    return listing


def _replace_keys(old: str, new: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda state: {k.replace(old, new): v for k, v in state.items()}


def _with_tensor(key: str, shape: tuple[int, ...]) -> Callable[[dict[str, Any], Path], dict[str, Any]]:
    def reshape(state: dict[str, Any], _weights_dir: Path) -> dict[str, Any]:
        state[key] = torch.zeros(*shape)
        return state

    return reshape


def _didfuse_listing(method: Any) -> dict[str, dict[str, list[int]]]:
    # The authors' checkpoint layout: {"epoch": 120, "weight": state_dict}.
    network = method.network()
    return {
        f"{part.capitalize()}.pkl": {"epoch": "int=120", **_state_shapes(network[part].state_dict(), "weight.")}
        for part in ("encoder", "decoder")
    }


def _didfuse_rename(checkpoint: dict[str, Any]) -> dict[str, Any]:
    checkpoint["weight"] = {k.replace("cov2.cov2.", "cov2.block."): v for k, v in checkpoint["weight"].items()}
    return checkpoint


def _transposed_u2fusion_kernel(state: dict[str, Any], _weights_dir: Path) -> dict[str, Any]:
    name = "Generator/encoder/conv1_1/kernel"
    state[name] = state[name].permute(3, 2, 0, 1).contiguous()  # already torch layout: refused
    return state


def _densefuse_rgb(_state: dict[str, Any], weights_dir: Path) -> dict[str, Any]:
    # The RGB model has the same keys but 3-channel input/output convolutions.
    return load_state(weights_dir / "densefuse" / "densefuse_rgb.model")


_densefuse = fusionbench.methods.densefuse
_didfuse = fusionbench.methods.didfuse
_ifcnn = fusionbench.methods.ifcnn
_sdnet = fusionbench.methods.sdnet
_seafusion = fusionbench.methods.seafusion
_tardal = fusionbench.methods.tardal
_u2fusion = fusionbench.methods.u2fusion

#: The same batch for the four methods that had the same batch-equals-loop test.
_BATCH = BatchCase(seed=1, n=2, shape=(21, 30), atol=1e-6)

BASELINES: dict[str, Baseline] = {
    b.id: b
    for b in (
        Baseline(
            id="densefuse",
            cls=_densefuse.DenseFuse,
            weights=(_densefuse.WEIGHTS,),
            parameters=74193,
            expected_listing=lambda m: {
                "densefuse_gray.model": _state_shapes(_densefuse.densefuse_network().state_dict())
            },
            batch=_BATCH,
            missing_match=r"put densefuse_gray\.model .* at .*densefuse",
            missing_from_env=False,
            truncate=lambda data: data[: len(data) // 2],
            impostor="densefuse/densefuse_rgb.model",  # the RGB model of the same release
            rename=_replace_keys("DB1.", "DB1_"),
            renamed_match=r"DenseFuse gray auto-encoder\): the weights do not fit .* \(missing 6 keys.*DB1\.denseblock",
            reshape=_densefuse_rgb,
            reshaped_match=r"conv1\.conv2d\.weight has shape \(16, 3, 3, 3\)",
        ),
        Baseline(
            id="seafusion",
            cls=_seafusion.SeAFusion,
            weights=(_seafusion.WEIGHTS,),
            parameters=166883,
            expected_listing=lambda m: {"SeAFusion.pth": _state_shapes(_seafusion.seafusion_network().state_dict())},
            batch=_BATCH,
            missing_match=r"put SeAFusion\.pth .* at .*seafusion",
            missing_from_env=False,
            truncate=lambda data: data[: len(data) // 2],
            impostor="densefuse/densefuse_gray.model",
            rename=_replace_keys("inf_", "ir_"),
            renamed_match=r"SeAFusion FusionNet\): the weights do not fit .*\(missing 22 keys.*inf_conv",
            reshape=_with_tensor("decode1.conv.weight", (1, 32, 3, 3)),
            reshaped_match=r"decode1\.conv\.weight has shape \(1, 32, 3, 3\)",
        ),
        Baseline(
            id="sdnet",
            cls=_sdnet.SDNet,
            weights=(_sdnet.WEIGHTS,),
            parameters=67091,
            expected_listing=lambda m: {"SDNet.model.tf2torch.pth": _tf_listing(_sdnet.TF_CONVS, m.network())},
            batch=_BATCH,
            missing_match=r"put SDNet\.model\.tf2torch\.pth .* at .*sdnet",
            missing_from_env=False,
            truncate=lambda data: data[: len(data) - 1000],
            impostor="u2fusion/model.ckpt.tf2torch.pth",
            rename=_replace_keys("fusion_model/", "model/"),
            renamed_match=r"SDNet TF checkpoint\): the TF variables do not fit the SDNet network \(missing 32",
        ),
        Baseline(
            id="u2fusion",
            cls=_u2fusion.U2Fusion,
            weights=(_u2fusion.WEIGHTS,),
            parameters=659217,
            expected_listing=lambda m: {"model.ckpt.tf2torch.pth": _tf_listing(_u2fusion.TF_CONVS, m.network())},
            batch=_BATCH,
            missing_match=r"put model\.ckpt\.tf2torch\.pth .* at .*u2fusion",
            missing_from_env=False,
            truncate=lambda data: data[: len(data) // 2],
            impostor="sdnet/SDNet.model.tf2torch.pth",
            rename=_replace_keys("Generator_1/", "Generator/"),
            renamed_match=r"TF checkpoint\): the TF variables do not fit the U2Fusion generator \(missing 8, .*Gen",
            reshape=_transposed_u2fusion_kernel,
            reshaped_match=r"conv1_1/kernel has shape \[44, 2, 3, 3\], .* expects \[3, 3, 2, 44\]",
        ),
        Baseline(
            id="ifcnn",
            cls=_ifcnn.IFCNN,
            weights=(_ifcnn.WEIGHTS,),
            parameters=83587,
            # The file predates BatchNorm's num_batches_tracked, the one kind of key it does not hold.
            expected_listing=lambda m: {
                "IFCNN-MAX.pth": {
                    k: v
                    for k, v in _state_shapes(m.network().state_dict()).items()
                    if not k.endswith("num_batches_tracked")
                }
            },
            batch=BatchCase(seed=0, n=2, shape=(40, 52), atol=1e-6),
            missing_match=r"IFCNN-MAX\.pth.*ifcnn[/\\]IFCNN-MAX\.pth",
            missing_from_env=True,
            truncate=lambda data: data[: len(data) // 2],
            impostor="tardal/tardal.pt",  # a valid checkpoint, but another one
            rename=_replace_keys("conv2.", "block2."),
            renamed_match=(
                r"do not fit the IFCNNNetwork architecture \(missing \d+ keys, e\.g\. \['conv2\.conv\.weight'"
            ),
            reshape=_with_tensor("conv4.weight", (1, 64, 1, 1)),  # a one-channel head
            reshaped_match=r"conv4\.weight has shape \(1, 64, 1, 1\)",
            weights_arg_is_file=True,
        ),
        Baseline(
            id="didfuse",
            cls=_didfuse.DIDFuse,
            weights=(_didfuse.ENCODER_WEIGHTS, _didfuse.DECODER_WEIGHTS),
            parameters=111938 + 148997,
            expected_listing=_didfuse_listing,
            batch=BatchCase(seed=1, n=2, shape=(33, 47), atol=1e-6),
            missing_match=r"put Encoder\.pkl .* at .*didfuse[/\\]Encoder\.pkl",
            missing_from_env=False,
            truncate=lambda data: data[:-100],
            impostor="didfuse/Decoder.pkl",
            rename=_didfuse_rename,
            renamed_match=r"DIDFuse encoder\): the weights do not fit the DIDFuseEncoder",
        ),
        Baseline(
            id="tardal",
            cls=_tardal.TarDAL,
            weights=(_tardal.WEIGHTS,),
            parameters=296577,
            expected_listing=lambda m: {"tardal.pt": _state_shapes(m.network().state_dict())},
            # Three images, one with very different statistics (TarDAL normalises per image).
            batch=BatchCase(seed=2, n=3, shape=(30, 41), atol=1e-5, scale_second_vis=0.2),
            missing_match=r"put tardal\.pt .* at .*tardal[/\\]tardal\.pt",
            missing_from_env=True,
            truncate=lambda data: data[:4096],
            impostor="ifcnn/IFCNN-MAX.pth",
            rename=lambda state: {f"generator.{k}": v for k, v in state.items()},
            renamed_match=r"do not fit the TarDALGenerator architecture \(missing 46 keys",
            weights_arg_is_file=True,
        ),
    )
}
