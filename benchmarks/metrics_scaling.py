"""How each metric's time and memory grow with the image size: 240 x 320 .. 1920 x 2560.

One MSRS test triple (00537D with its PIAFusion result, else the average fusion) is resized with
OpenCV (area interpolation down, cubic up) to each size. For every metric alone, and for the six
seed metrics in one ``compute`` call, the script measures on one thread:

* the median milliseconds of ``compute(fused, ir, vis, metrics=[id])`` per triple; sizes are
  alternated round by round so that all see the same machine load;
* time ratios against 480 x 640 next to the pixel ratios (0.25, 1, 4, 16), and the growth
  exponent ``log(t_largest / t_smallest) / log(16 * 4)``: 1.0 is linear in the pixels, more is
  faster than the pixels;
* the peak memory one call allocates (``tracemalloc``: every numpy array, OpenCV's outputs
  included; OpenCV's internal row buffers are not seen), with the reused scratch buffers emptied
  first so that they count, in MB and bytes per pixel.

The row ``(prepare)`` is the input preparation alone (validation, gray conversion, the float64
copies of the three images), which every ``compute`` call includes.

    python benchmarks/metrics_scaling.py [--repeats 5] [--output results/benchmarks.md]

``--output`` also writes the tables as Markdown and, beside it, a log-log plot (``.png``).
Not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

SIZES = [(240, 320), (480, 640), (960, 1280), (1920, 2560)]
REFERENCE = (480, 640)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (the median is reported)")
    parser.add_argument("--data-root", default=None, help="folder holding datasets/ and results/")
    parser.add_argument(
        "--output", type=Path, default=None, help="write the tables here (Markdown) and a .png plot beside"
    )
    return parser.parse_args()


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy is imported
    os.environ[_var] = "1"

import tracemalloc  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from fusionbench.metrics import SEED_METRICS, _backend, api, compute, get_convention, list_metrics  # noqa: E402

SEED = "seed six"
PREPARE = "(prepare)"
TANG = get_convention("tang")


def load_triple() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    root = Path(ARGS.data_root or os.environ.get("FUSIONBENCH_DATA") or Path(__file__).resolve().parents[2] / "shared")
    test, name = root / "datasets" / "msrs" / "test", "00537D.png"
    ir = cv2.imread(str(test / "ir" / name), cv2.IMREAD_GRAYSCALE)
    vis = cv2.imread(str(test / "vi" / name), cv2.IMREAD_COLOR)
    if ir is None or vis is None:
        sys.exit(f"MSRS test pair {name} not found under {test}")
    vis = np.ascontiguousarray(vis[..., ::-1])
    fused = cv2.imread(str(root / "results" / "msrs" / "test" / "piafusion" / name), cv2.IMREAD_GRAYSCALE)
    if fused is None:
        fused = ((ir.astype(np.float64) + cv2.cvtColor(vis, cv2.COLOR_RGB2GRAY)) / 2).round().astype(np.uint8)
    return fused, ir, vis


def resized(images: tuple[np.ndarray, ...], size: tuple[int, int]) -> tuple[np.ndarray, ...]:
    h, w = size
    interp = cv2.INTER_AREA if h <= images[0].shape[0] else cv2.INTER_CUBIC
    return tuple(cv2.resize(x, (w, h), interpolation=interp) for x in images)


def selections() -> dict[str, list[str] | None]:
    """Metric ids per row; ``None`` is the input preparation alone (part of every ``compute`` call)."""
    return {PREPARE: None, SEED: list(SEED_METRICS), **{spec.id: [spec.id] for spec in list_metrics()}}


def call(triple: tuple[np.ndarray, ...], ids: list[str] | None) -> None:
    if ids is None:
        api.prepare_batch(*triple, TANG, None)
    else:
        compute(*triple, metrics=ids)


def time_ms(triples: dict, chosen: dict[str, list[str] | None]) -> dict[tuple[str, tuple[int, int]], float]:
    """Median ms per call of each selection at each size, sizes and selections alternated per round."""
    runs: dict[tuple[str, tuple[int, int]], list[float]] = {}
    for ids in chosen.values():
        for triple in triples.values():
            call(triple, ids)  # warm-up: scratch buffers, caches
    for _ in range(ARGS.repeats):
        for key, ids in chosen.items():
            for size, triple in triples.items():
                t0 = time.perf_counter()
                call(triple, ids)
                runs.setdefault((key, size), []).append(1e3 * (time.perf_counter() - t0))
    return {k: statistics.median(v) for k, v in runs.items()}


def peak_mb(triple: tuple[np.ndarray, ...], ids: list[str] | None) -> float:
    """MB allocated at the peak of one call (scratch buffers emptied first, so that they count)."""
    _backend._SCRATCH.__dict__.clear()
    tracemalloc.start()
    call(triple, ids)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def exponent(times: dict, key: str) -> float:
    (h0, w0), (h1, w1) = SIZES[0], SIZES[-1]
    return float(np.log(times[key, SIZES[-1]] / times[key, SIZES[0]]) / np.log((h1 * w1) / (h0 * w0)))


def report(times: dict, memory: dict, chosen: dict) -> list[str]:
    """The two tables as Markdown lines."""
    ref_pixels = REFERENCE[0] * REFERENCE[1]
    names = [f"{h} x {w}" for h, w in SIZES]
    lines = ["| metric | " + " | ".join(f"ms {n}" for n in names) + " | growth exponent |"]
    lines.append("| --- | " + " | ".join("---:" for _ in SIZES) + " | ---: |")
    lines.append(
        "| *pixels vs 480 x 640* | " + " | ".join(f"*x{h * w / ref_pixels:g}*" for h, w in SIZES) + " | *1.00* |"
    )
    for key in chosen:
        ref = times[key, REFERENCE]
        cells = [f"{times[key, s]:.1f} (x{times[key, s] / ref:.2f})" for s in SIZES]
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {exponent(times, key):.2f} |")
    lines += ["", "| metric | " + " | ".join(f"peak MB {n}" for n in names) + " | bytes per pixel (largest) |"]
    lines.append("| --- | " + " | ".join("---:" for _ in SIZES) + " | ---: |")
    h, w = SIZES[-1]
    for key in chosen:
        cells = [f"{memory[key, s]:.1f}" for s in SIZES]
        lines.append(f"| {key} | " + " | ".join(cells) + f" | {memory[key, SIZES[-1]] * 2**20 / (h * w):.0f} |")
    return lines


def plot(times: dict, chosen: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixels = np.array([h * w for h, w in SIZES], dtype=float)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # 20 distinct colours for the 19 rows
    for key in chosen:
        ms = np.array([times[key, s] for s in SIZES])
        ax.plot(
            pixels / 1e6, ms, marker="o", lw=2.5 if key == SEED else 1.2, label=key, color="k" if key == SEED else None
        )
    ref = times[SEED, SIZES[0]] * pixels / pixels[0]
    ax.plot(pixels / 1e6, ref, ls="--", color="grey", label="linear in pixels (from seed six)")
    ax.set(xscale="log", yscale="log", xlabel="megapixels per image", ylabel="ms per triple (one thread)")
    ax.set_title("fusionbench metric time against image size (240 x 320 .. 1920 x 2560)")
    ax.legend(fontsize=7, ncol=3)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    cv2.setNumThreads(1)
    base = load_triple()
    triples = {size: resized(base, size) for size in SIZES}
    chosen = selections()
    times = time_ms(triples, chosen)
    memory = {(key, size): peak_mb(triples[size], ids) for key, ids in chosen.items() for size in SIZES}
    cpu = platform.processor() or platform.machine()
    header = [
        f"One MSRS triple (00537D) resized; convention tang; one thread; {cpu}; numpy {np.__version__}, "
        f"OpenCV {cv2.__version__}; median of {ARGS.repeats} rounds (sizes alternated).",
        "",
    ]
    lines = header + report(times, memory, chosen)
    print("\n".join(lines))
    if ARGS.output is not None:
        ARGS.output.write_text("\n".join(lines) + "\n")
        plot(times, chosen, ARGS.output.with_suffix(".png"))


if __name__ == "__main__":
    main()
