"""Milliseconds per 480 x 640 MSRS triple for ``fusionbench.metrics``, against a straightforward evaluator.

Loads the first N MSRS test pairs from ``$FUSIONBENCH_DATA`` (default ``../shared`` next to the
repository) with a fused image for each: the PIAFusion result from ``results/msrs/test/piafusion``
where there is one, else the average of the IR image and the gray VIS image. Then times, with
``time.perf_counter`` after a warm-up, the median over repeats of the milliseconds per triple for

* the six seed metrics and all metrics, on the numpy path (``compute`` per triple for batch 1,
  ``compute_batch`` for batch 16) and on the torch path (``compute_batch(backend="torch")``);
* the headline: ``compute`` of the six seed metrics, one triple per call, alternated round by round
  (``--rounds``) with a baseline so that both see the same machine load, in wall-clock and in CPU
  time (``time.process_time``: what this one-threaded process itself used, which moves less with
  the other processes on a shared machine): the six seed metrics written the way most
  papers' evaluators are (CDDFuse's ``Evaluator.py`` style: 2-D ``scipy.signal.convolve2d`` windows
  for VIF and Q^AB/F, boolean-mask assignments, VIF(F, A) and VIF(F, B) computed separately; MI with
  ``np.histogram2d``, which is faster than the ``sklearn.metrics.mutual_info_score`` CDDFuse calls);
  the ratio of the medians is the speed-up;
* each metric alone on the numpy path (with the input preparation as its own row; each metric on a
  fresh batch, so intermediates shared in one ``compute`` call are counted in every metric that
  uses them), with the baseline's time per metric, and torchmetrics' VIF when it is installed.

    python benchmarks/metrics_speed.py [--pairs 16] [--repeats 3] [--rounds 5] [--threads 1] [--quick]

Not a test: the numbers depend on the machine (its CPU is printed). ``--quick`` (4 pairs cycled
to fill a batch of 16, 2 repeats, 3 rounds, baseline on 1 triple) takes about a minute.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=16, help="MSRS test pairs to load (cycled to fill a batch)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (the median is reported)")
    parser.add_argument("--threads", type=int, default=1, help="threads for OpenCV, torch and BLAS")
    parser.add_argument("--batch", type=int, default=16, help="the larger batch size")
    parser.add_argument("--baseline-pairs", type=int, default=2, help="triples timed with the slow baseline")
    parser.add_argument("--rounds", type=int, default=5, help="alternated rounds of the headline comparison")
    parser.add_argument("--device", default="cpu", help="torch device for the torch path (cpu, cuda)")
    parser.add_argument("--data-root", default=None, help="folder holding datasets/ and results/")
    parser.add_argument("--quick", action="store_true", help="4 pairs, 2 repeats, 3 rounds, baseline on 1 triple")
    args = parser.parse_args()
    if args.quick:
        args.pairs, args.repeats, args.baseline_pairs, args.rounds = min(args.pairs, 4), min(args.repeats, 2), 1, 3
    return args


ARGS = parse_args()
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # before numpy is imported
    os.environ[_var] = str(ARGS.threads)

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.signal import convolve2d  # noqa: E402

from fusionbench.metrics import SEED_METRICS, _inputs, api, compute, compute_batch, list_metrics  # noqa: E402
from fusionbench.metrics.conventions import get_convention  # noqa: E402

# --------------------------------------------------------------------------------------------
# Data


def data_root() -> Path:
    if ARGS.data_root:
        return Path(ARGS.data_root)
    if os.environ.get("FUSIONBENCH_DATA"):
        return Path(os.environ["FUSIONBENCH_DATA"])
    return Path(__file__).resolve().parents[1].parent / "shared"


def load_triples(n: int) -> tuple[list[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
    """(fused gray, IR gray, VIS RGB) uint8 triples as read from disk, and how many fused images are
    PIAFusion results (the rest are average fusions)."""
    root = data_root()
    test = root / "datasets" / "msrs" / "test"
    names = sorted(p.name for p in (test / "ir").iterdir())[:n] if (test / "ir").is_dir() else []
    if not names:
        sys.exit(f"no MSRS test images under {test}/ir: pass --data-root (the folder holding datasets/)")
    triples, published = [], 0
    for name in names:
        ir = cv2.imread(str(test / "ir" / name), cv2.IMREAD_GRAYSCALE)
        vis = np.ascontiguousarray(cv2.imread(str(test / "vi" / name), cv2.IMREAD_COLOR)[..., ::-1])
        result = root / "results" / "msrs" / "test" / "piafusion" / name
        if result.exists():
            fused, published = cv2.imread(str(result), cv2.IMREAD_GRAYSCALE), published + 1
        else:
            gray = cv2.cvtColor(vis, cv2.COLOR_RGB2GRAY)
            fused = ((ir.astype(np.float64) + gray) / 2).round().astype(np.uint8)
        triples.append((fused, ir, vis))
    return triples, published


# --------------------------------------------------------------------------------------------
# Baseline: the six seed metrics as the usual evaluator writes them (2-D windows, masks)


def _gray(x: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).astype(np.float64) if x.ndim == 3 else x.astype(np.float64)


def base_en(f: np.ndarray) -> float:
    h = np.bincount(np.uint8(np.round(f)).ravel(), minlength=256) / f.size
    return float(-np.sum(h * np.log2(h + (h == 0))))


def base_mi(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    def mi(x: np.ndarray, y: np.ndarray) -> float:
        joint, _, _ = np.histogram2d(x.ravel(), y.ravel(), bins=256, range=[[0, 256], [0, 256]])
        p = joint / joint.sum()
        px, py = p.sum(1, keepdims=True), p.sum(0, keepdims=True)
        nz = p > 0
        return float(np.sum(p[nz] * np.log2(p[nz] / (px @ py)[nz])))

    return mi(a, f) + mi(b, f)


def base_ag(f: np.ndarray) -> float:
    gy, gx = np.gradient(f)
    return float(np.sum(np.sqrt((gx**2 + gy**2) / 2)) / ((f.shape[0] - 1) * (f.shape[1] - 1)))


def base_scd(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef((f - b).ravel(), a.ravel())[0, 1] + np.corrcoef((f - a).ravel(), b.ravel())[0, 1])


def base_vif_pair(ref: np.ndarray, dist: np.ndarray) -> float:
    num = den = 0.0
    for scale in range(1, 5):
        n = 2 ** (4 - scale + 1) + 1
        y, x = np.ogrid[-(n - 1) / 2 : (n + 1) / 2, -(n - 1) / 2 : (n + 1) / 2]
        win = np.exp(-(x * x + y * y) / (2 * (n / 5.0) ** 2))
        win /= win.sum()
        if scale > 1:
            ref, dist = (convolve2d(z, win, mode="valid")[::2, ::2] for z in (ref, dist))
        mu1, mu2 = convolve2d(ref, win, mode="valid"), convolve2d(dist, win, mode="valid")
        s1 = convolve2d(ref * ref, win, mode="valid") - mu1 * mu1
        s2 = convolve2d(dist * dist, win, mode="valid") - mu2 * mu2
        s12 = convolve2d(ref * dist, win, mode="valid") - mu1 * mu2
        s1[s1 < 0] = 0
        s2[s2 < 0] = 0
        g = s12 / (s1 + 1e-10)
        sv = s2 - g * s12
        g[s1 < 1e-10] = 0
        sv[s1 < 1e-10] = s2[s1 < 1e-10]
        s1[s1 < 1e-10] = 0
        g[s2 < 1e-10] = 0
        sv[s2 < 1e-10] = 0
        sv[g < 0] = s2[g < 0]
        g[g < 0] = 0
        sv[sv <= 1e-10] = 1e-10
        num += np.sum(np.log10(1 + g * g * s1 / (sv + 2)))
        den += np.sum(np.log10(1 + s1 / 2))
    return float(num / den)


def base_vif(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return base_vif_pair(a, f) + base_vif_pair(b, f)


def base_qabf(f: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    def sobel(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sx = convolve2d(x, np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]), mode="same")
        sy = convolve2d(x, np.array([[1, 2, 1], [0, 0, 0], [-1, -2, -1]]), mode="same")
        alpha = np.full_like(x, np.pi / 2)
        alpha[sx != 0] = np.arctan(sy[sx != 0] / sx[sx != 0])
        return np.sqrt(sx * sx + sy * sy), alpha

    def q(gx: np.ndarray, ax: np.ndarray, gf: np.ndarray, af: np.ndarray) -> np.ndarray:
        g = np.zeros_like(gx)
        g[gx > gf] = gf[gx > gf] / gx[gx > gf]
        g[gx == gf] = gf[gx == gf]
        g[gx < gf] = gx[gx < gf] / gf[gx < gf]
        a_rel = 1 - np.abs(ax - af) / (np.pi / 2)
        return 0.9994 / (1 + np.exp(-15 * (g - 0.5))) * 0.9879 / (1 + np.exp(-22 * (a_rel - 0.8)))

    (gf, af), (ga, aa), (gb, ab) = sobel(f), sobel(a), sobel(b)
    return float(np.sum(q(ga, aa, gf, af) * ga + q(gb, ab, gf, af) * gb) / np.sum(ga + gb))


BASELINE = {
    "mi": lambda f, a, b: base_mi(f, a, b),
    "vif": base_vif,
    "ag": lambda f, a, b: base_ag(f),
    "scd": base_scd,
    "en": lambda f, a, b: base_en(f),
    "qabf": base_qabf,
}


def baseline_seed(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray, metric: str | None = None) -> None:
    f, a, b = _gray(fused), _gray(ir), _gray(vis)
    for name, fn in BASELINE.items():
        if metric is None or name == metric:
            fn(f, a, b)


def torchmetrics_vif() -> object | None:
    try:
        from torchmetrics.functional.image import visual_information_fidelity
    except ImportError:
        return None

    def run(fused: np.ndarray, ir: np.ndarray, vis: np.ndarray) -> None:
        f, a, b = (torch.from_numpy(_gray(x))[None, None] for x in (fused, ir, vis))
        visual_information_fidelity(f, a) + visual_information_fidelity(f, b)

    return run


# --------------------------------------------------------------------------------------------
# Timing


def median_ms_per_triple(run, n_triples: int, repeats: int) -> float:
    """Median over ``repeats`` of (seconds of one ``run()`` / n_triples), in ms; one warm-up run."""
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) / n_triples)
    return 1e3 * statistics.median(times)


def time_paths(triples: list, metrics: str | None, batch: int) -> dict[tuple[str, int], float]:
    """ms per triple for the numpy and torch paths at batch 1 and ``batch``."""
    n = len(triples)
    fused, ir, vis = (list(z) for z in zip(*triples, strict=True))
    out = {}

    def numpy_single() -> None:
        for f, a, b in triples:
            compute(f, a, b, metrics=metrics)

    out["numpy", 1] = median_ms_per_triple(numpy_single, n, ARGS.repeats)
    out["numpy", batch] = median_ms_per_triple(
        lambda: compute_batch(fused, ir, vis, metrics=metrics, batch_size=batch), n, ARGS.repeats
    )
    for size in (1, batch):
        out["torch", size] = median_ms_per_triple(
            lambda size=size: compute_batch(
                fused, ir, vis, metrics=metrics, backend="torch", device=ARGS.device, batch_size=size
            ),
            n,
            ARGS.repeats,
        )
    return out


def prepared_batches(triples: list) -> list:
    """The prepared inputs of each triple (as ``compute`` prepares them: gray conversion, uint8
    levels, integer roles), for timing the kernels without the preparation."""
    conv = get_convention("tang")
    return [api.prepare_batch(f, a, b, conv, None) for f, a, b in triples]


def fresh_batch(prepared: _inputs.FusionBatch) -> _inputs.FusionBatch:
    """A batch with the prepared images and levels but none of the intermediates metrics share."""
    batch = _inputs.FusionBatch(
        prepared.f,
        prepared.a,
        prepared.b,
        prepared.convention,
        prepared.n_images,
        prepared.n_channels,
        integer_roles=prepared.integer_roles,
    )
    for role in "fab":
        levels = prepared.levels(role)
        batch.cached(f"levels_{role}", lambda levels=levels: levels)
    return batch


def per_metric_ms(triples: list, metric_ids: list[str]) -> dict[str, float]:
    """ms per triple of the input preparation and of each metric alone (numpy, batch 1)."""
    conv = get_convention("tang")
    prepared = prepared_batches(triples)

    def prepare() -> None:
        for f, a, b in triples:
            api.prepare_batch(f, a, b, conv, None)

    out = {"(prepare)": median_ms_per_triple(prepare, len(triples), ARGS.repeats)}
    for metric in metric_ids:

        def run(metric: str = metric) -> None:
            for p in prepared:  # a fresh batch: no intermediates shared with other metrics
                api.evaluate(fresh_batch(p), [metric])

        out[metric] = median_ms_per_triple(run, len(prepared), ARGS.repeats)
    return out


def interleaved_ratio(triples: list, base_triples: list, rounds: int) -> dict[str, tuple[list[float], list[float]]]:
    """ms per triple of ``compute`` (six seed metrics) and of the baseline evaluator, measured in
    alternation ``rounds`` times, so that both see the same machine load: ``{"wall": (ours, theirs),
    "cpu": (ours, theirs)}``, wall-clock and this process's CPU time."""
    clocks = {"wall": time.perf_counter, "cpu": time.process_time}
    out: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in clocks}

    def timed(run, n: int, side: int) -> None:
        start = {k: clock() for k, clock in clocks.items()}
        run()
        for k, clock in clocks.items():
            out[k][side].append(1e3 * (clock() - start[k]) / n)

    def ours() -> None:
        for f, a, b in triples:
            compute(f, a, b)

    def theirs() -> None:
        for t in base_triples:
            baseline_seed(*t)

    for f, a, b in triples[:2]:
        compute(f, a, b)  # warm-up
    for _ in range(rounds):
        timed(ours, len(triples), 0)
        timed(theirs, len(base_triples), 1)
    return out


def main() -> None:
    cv2.setNumThreads(ARGS.threads)
    torch.set_num_threads(ARGS.threads)
    loaded, published = load_triples(ARGS.pairs)
    triples = [loaded[i % len(loaded)] for i in range(max(len(loaded), ARGS.batch))]
    h, w = loaded[0][1].shape
    all_ids = [spec.id for spec in list_metrics()]
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    print(
        f"fusionbench metrics speed: {len(loaded)} MSRS test pairs ({h} x {w}) cycled to {len(triples)} triples; "
        f"fused = PIAFusion result for {published}, average fusion for {len(loaded) - published}"
    )
    print(
        f"{ARGS.threads} thread(s); {cpu}; numpy {np.__version__}, torch {torch.__version__}, "
        f"OpenCV {cv2.__version__}; torch device {ARGS.device}; median of {ARGS.repeats} repeats\n"
    )

    rows = {
        "seed six": time_paths(triples, None, ARGS.batch),
        f"all {len(all_ids)}": time_paths(triples, "all", ARGS.batch),
    }

    base_triples = loaded[: ARGS.baseline_pairs]
    headline = interleaved_ratio(loaded, base_triples, ARGS.rounds)

    header = f"{'ms per triple':22s}{'batch 1':>10s}{f'batch {ARGS.batch}':>11s}"
    print(header)
    print("-" * len(header))
    for label, times in rows.items():
        for path in ("numpy", "torch"):
            print(f"{label + '  ' + path:22s}{times[path, 1]:10.1f}{times[path, ARGS.batch]:11.1f}")

    print(
        f"\nseed six, numpy, one triple per compute() call, against the baseline evaluator (scipy convolve2d "
        f"windows, masks, histogram2d) on {len(base_triples)} triple(s), alternated {ARGS.rounds} times:"
    )
    for clock, label in (("wall", "wall-clock"), ("cpu", "CPU time (process_time)")):
        ours, theirs = headline[clock]
        ours_ms, base_ms = statistics.median(ours), statistics.median(theirs)
        ratios = [t / o for o, t in zip(ours, theirs, strict=True)]
        print(f"  {label}:")
        print(f"    fusionbench  {ours_ms:8.1f} ms per triple   (rounds: {', '.join(f'{x:.1f}' for x in ours)})")
        print(f"    baseline     {base_ms:8.1f} ms per triple   (rounds: {', '.join(f'{x:.0f}' for x in theirs)})")
        print(
            f"    speed-up     {base_ms / ours_ms:8.1f}x  (ratio of medians; per round "
            f"{min(ratios):.1f}x .. {max(ratios):.1f}x)"
        )

    print("\nper metric, numpy path, batch 1 (each alone: shared intermediates counted in every metric)")
    breakdown = per_metric_ms(loaded, all_ids)
    tm_vif = torchmetrics_vif()
    print(f"{'metric':10s}{'ms':>8s}{'baseline ms':>14s}{'speed-up':>10s}")
    for metric, ms in breakdown.items():
        extra = ""
        if metric in BASELINE:
            b_ms = median_ms_per_triple(
                lambda metric=metric: [baseline_seed(*t, metric=metric) for t in base_triples], len(base_triples), 1
            )
            extra = f"{b_ms:14.1f}{b_ms / ms:9.1f}x"
        print(f"{metric:10s}{ms:8.1f}{extra}")
    if tm_vif is not None:
        tm_ms = median_ms_per_triple(lambda: [tm_vif(*t) for t in base_triples], len(base_triples), 1)
        print(
            f"{'vif':10s}{breakdown['vif']:8.1f}{tm_ms:14.1f}{tm_ms / breakdown['vif']:9.1f}x   "
            "vs torchmetrics VIF (float64)"
        )
    in_six = sum(breakdown[m] for m in SEED_METRICS) + breakdown["(prepare)"]
    print(
        f"(prepare + the six alone: {in_six:.1f} ms; in one compute() call, which shares histograms, "
        f"levels and moments between them: {rows['seed six']['numpy', 1]:.1f} ms)"
    )


if __name__ == "__main__":
    main()
