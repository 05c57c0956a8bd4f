"""SIDM-Fusion's CPU time per 480 x 640 pair against SeAFusion's, and the cost of SPC-Net's speed knob.

Prints, on this machine (CPU count and torch threads shown):

1. median milliseconds per pair (after a warm-up; ``--repeats`` rounds, the methods interleaved in
   a rotating order) for SeAFusion (the baseline), SIDM-Fusion ``full`` with SPC-Net at full
   resolution (the default), SIDM-Fusion with ``spc_short_side=240``, and ``sidm-lite``; each
   with the median over rounds of its time divided by SeAFusion's in the same round;
2. what ``spc_short_side=240`` changes on real pairs: the largest change of the fusion weights
   rho_ir and of the class probabilities, and the mean metric values on the first ``--pairs``
   MSRS test pairs with and without it.

    FUSIONBENCH_WEIGHTS=../shared/weights python benchmarks/sidm_speed.py --data-root ../shared

Not a test: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from fusionbench.datasets import DatasetError, get_dataset, resolve_data_root
from fusionbench.io import read_image
from fusionbench.methods import get_method
from fusionbench.methods.colour import split_y
from fusionbench.metrics import compute


def interleaved_ms(methods: dict, rounds: int) -> dict[str, list[float]]:
    """Milliseconds per 480 x 640 pair of each method, ``rounds`` times, the methods taken in a
    rotated order each round (so that all of them see the same machine load), after a warm-up."""
    rng = np.random.default_rng(0)
    ir = torch.from_numpy(rng.random((1, 1, 480, 640), dtype=np.float32))
    vis = torch.from_numpy(rng.random((1, 1, 480, 640), dtype=np.float32))
    networks = {name: method.network() for name, method in methods.items()}
    times: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    with torch.inference_mode():
        for name in names:
            methods[name].forward(networks[name], ir, vis)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:
                start = time.perf_counter()
                methods[name].forward(networks[name], ir, vis)
                times[name].append(1000 * (time.perf_counter() - start))
    return times


def load_pair(record) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ir = read_image(record.ir)
    vis = read_image(record.vis)
    vis_y = split_y(vis)[0] if vis.ndim == 3 else vis.astype(np.float32) / 255
    return ir, vis, vis_y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--repeats", type=int, default=7, help="interleaved timing rounds")
    parser.add_argument("--pairs", type=int, default=20, help="MSRS test pairs for the knob's metric check")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU count {os.cpu_count()}, torch threads {torch.get_num_threads()}, torch {torch.__version__}\n")

    methods = {
        "seafusion (baseline)": get_method("seafusion"),
        "sidm full, SPC-Net at full resolution (default)": get_method("sidm"),
        "sidm full, spc_short_side=240": get_method("sidm", spc_short_side=240),
        "sidm-lite": get_method("sidm-lite"),
    }
    times = interleaved_ms(methods, args.repeats)
    baseline = times["seafusion (baseline)"]
    print(f"{args.repeats} interleaved rounds; ratio = median over rounds of (method ms / SeAFusion ms, same round)")
    print(f"{'method':<50} {'ms/pair':>9} {'x SeAFusion':>12}  {'per round':>10}")
    for name, ms in times.items():
        ratios = [a / b for a, b in zip(ms, baseline, strict=True)]
        spread = f"{min(ratios):.2f}..{max(ratios):.2f}"
        print(f"{name:<50} {np.median(ms):9.1f} {np.median(ratios):12.2f}  {spread:>10}")

    full, fast = methods["sidm full, SPC-Net at full resolution (default)"], methods["sidm full, spc_short_side=240"]
    try:
        records = get_dataset("msrs").pairs("test", data_root=resolve_data_root(args.data_root))
    except DatasetError as error:
        raise SystemExit(f"\nthe spc_short_side comparison needs the MSRS test pairs (--data-root): {error}") from None
    d_rho, d_prob = 0.0, 0.0
    with torch.inference_mode():
        for record in records:
            _, _, vis_y = load_pair(record)
            ir = torch.from_numpy(read_image(record.ir).astype(np.float32) / 255)[None, None]
            vis = torch.from_numpy(vis_y)[None, None]
            p_a, p_b = full.network().class_probabilities(ir, vis), fast.network().class_probabilities(ir, vis)
            d_prob = max(d_prob, *(float((a - b).abs().max()) for a, b in zip(p_a, p_b, strict=True)))
            d_rho = max(
                d_rho,
                float((full.network().fusion_weights(ir, vis) - fast.network().fusion_weights(ir, vis)).abs().max()),
            )
    print(f"\nspc_short_side=240 on MSRS-142: max |delta P| {d_prob:.4f}, max |delta rho_ir| {d_rho:.4f}")

    values = {name: [] for name in ("full resolution", "short side 240")}
    for record in records[: args.pairs]:
        ir, vis, _ = load_pair(record)
        for name, method in (("full resolution", full), ("short side 240", fast)):
            fused = fuse_to_uint8(method, ir, vis)
            values[name].append(compute(fused, ir, vis))
    print(f"mean metrics on the first {args.pairs} MSRS test pairs:")
    for name, rows in values.items():
        means = {k: np.mean([r[k] for r in rows]) for k in rows[0]}
        print(f"  {name:<16} " + "  ".join(f"{k} {v:.4f}" for k, v in means.items()))


def fuse_to_uint8(method, ir: np.ndarray, vis: np.ndarray) -> np.ndarray:
    from fusionbench.methods import fuse

    return fuse(method, ir, vis)


if __name__ == "__main__":
    main()
