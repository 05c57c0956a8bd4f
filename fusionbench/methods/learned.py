"""Base class of the learned methods: a torch network built here, loaded from published weights.

A subclass names its :class:`~fusionbench.methods.weights.WeightFile` (s), builds the network
(:meth:`LearnedMethod.build`, loading the weights) and runs it (:meth:`LearnedMethod.forward`) on
float tensors ``(N, 1, H, W)`` on [0, 1] as the authors' pre-processing needs them. The network is
built on first use, kept, and not pickled (worker processes build their own).
"""

from __future__ import annotations

import hashlib
import os
import time
from abc import abstractmethod
from typing import Any, ClassVar

import numpy as np

from fusionbench.methods.base import Method
from fusionbench.methods.weights import WeightFile, locate


def _extra_flop_formulas() -> dict[Any, Any]:
    """Formulas for ops ``torch.utils.flop_counter`` has none for (it counts them as 0 FLOPs)."""
    import torch

    aten = torch.ops.aten
    return {aten.addmm_: _inplace_addmm_flops, aten._scaled_dot_product_flash_attention_for_cpu: _cpu_attention_flops}


def _cpu_attention_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of torch's fused CPU attention ``softmax(q k^T) v``: ``2 n s d`` for the scores and
    ``2 n s d_v`` for the weighted sum, per batch and head (as torch counts its GPU kernels)."""
    *batch, n, d = query_shape
    s, d_v = key_shape[-2], value_shape[-1]
    heads = 1
    for size in batch:
        heads *= size
    return 2 * heads * n * s * (d + d_v)


def _inplace_addmm_flops(self_shape: Any, mat1_shape: Any, mat2_shape: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of ``out.addmm_(mat1, mat2)``: ``2 m k n``, as ``torch.utils.flop_counter`` counts
    ``addmm`` (its table has no entry for the in-place form, which SIDM-Fusion's 1x1 merges use)."""
    (m, k), n = mat1_shape, mat2_shape[1]
    return 2 * m * k * n


class LearnedMethod(Method):
    """A network with published weights. Options: ``weights`` (folder or file), ``device``."""

    kind = "learned"
    weight_files: ClassVar[tuple[WeightFile, ...]] = ()

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: str = "cpu") -> None:
        self.weights = weights
        self.device = device
        self._network: Any = None

    # -- what subclasses provide -------------------------------------------------------------

    @abstractmethod
    def build(self) -> Any:
        """The ``torch.nn.Module`` with the published weights loaded, in eval mode, on the CPU."""

    @abstractmethod
    def forward(self, network: Any, ir: Any, vis_y: Any) -> Any:
        """Fuse tensors ``(N, 1, H, W)`` on [0, 1] -> ``(N, 1, H, W)`` on [0, 1] (the authors' steps)."""

    # -- Method interface ----------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        return {}

    def weights_sha256(self) -> str | None:
        digests = [w.sha256 for w in self.weight_files]
        if len(digests) == 1:
            return digests[0]
        return hashlib.sha256("".join(digests).encode()).hexdigest() if digests else None

    def weight_paths(self) -> list[Any]:
        """The verified weight files (raises :class:`WeightsError` when one is missing or wrong)."""
        return [locate(w, self.weights) for w in self.weight_files]

    def network(self) -> Any:
        """The built network on ``self.device`` (built once)."""
        if self._network is None:
            network = self.build()
            network.eval()
            for p in network.parameters():
                p.requires_grad_(False)
            self._network = network.to(self.device)
        return self._network

    def _fuse(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        return self._fuse_batch(ir[None], vis_y[None])[0]

    def _fuse_batch(self, ir: np.ndarray, vis_y: np.ndarray) -> np.ndarray:
        import torch

        network = self.network()
        with torch.inference_mode():
            a = torch.from_numpy(np.ascontiguousarray(ir))[:, None].to(self.device)
            b = torch.from_numpy(np.ascontiguousarray(vis_y))[:, None].to(self.device)
            fused = self.forward(network, a, b)
        return fused[:, 0].float().cpu().numpy()

    # -- efficiency ----------------------------------------------------------------------------

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.network().parameters())

    def complexity(self, height: int = 480, width: int = 640, repeats: int = 3) -> dict[str, float]:
        """Parameters, FLOPs (``torch.utils.flop_counter``) and CPU milliseconds for one pair."""
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        network = self.network()
        rng = np.random.default_rng(0)
        ir = torch.from_numpy(rng.random((1, 1, height, width), dtype=np.float32)).to(self.device)
        vis = torch.from_numpy(rng.random((1, 1, height, width), dtype=np.float32)).to(self.device)
        with torch.inference_mode():
            counter = FlopCounterMode(display=False, custom_mapping=_extra_flop_formulas())
            with counter:
                self.forward(network, ir, vis)
            self.forward(network, ir, vis)  # warm-up
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                self.forward(network, ir, vis)
                times.append(time.perf_counter() - start)
        return {
            "params": float(self.parameter_count()),
            "gflops": counter.get_total_flops() / 1e9,
            "ms": 1000 * float(np.median(times)),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_network"] = None
        return state


class StretchOption(LearnedMethod):
    """A learned method whose authors' saved outputs were min-max stretched: option ``stretch``.

    ``stretch=True`` (default: the authors' published test pipeline) reproduces the published
    images; ``stretch=False`` keeps the network's output as it is. The subclass applies it in
    :meth:`LearnedMethod.forward`.
    """

    def __init__(
        self, weights: str | os.PathLike[str] | None = None, device: str = "cpu", stretch: bool = True
    ) -> None:
        super().__init__(weights=weights, device=device)
        self.stretch = bool(stretch)

    def config(self) -> dict[str, Any]:
        return {"stretch": self.stretch}
