"""``fusionbench eval --workers 2`` against ``--workers 1`` on the first N MSRS test triples.

Copies the sources to a temporary folder and makes the fused images there once with the ``average``
method (``fusionbench.fuse``), then runs the command with 1 and with 2 workers,
interleaved, ``--repeats`` times each, and prints for each worker count the median wall time of the
whole command (interpreter start-up and imports included) and of the scoring alone (the
``scored N images in X s`` line that ``-v`` logs), the 2-worker speed-ups as ratios of medians,
and whether the two CSV files hold the same values (compared exactly).

    python benchmarks/eval_workers.py [--pairs 40] [--repeats 3] [--metrics IDS] [--data-root DIR]

Not a test: the numbers depend on the machine and its load (the CPU count is printed).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

import fusionbench
from fusionbench.datasets import resolve_data_root
from fusionbench.io import read_image

SCORED = re.compile(r"scored (\d+) images in ([0-9.]+) s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40, help="MSRS test triples to score")
    parser.add_argument("--repeats", type=int, default=3, help="runs per worker count (medians are reported)")
    parser.add_argument("--metrics", default=None, help="metric ids (default: the six seed metrics)")
    parser.add_argument("--data-root", default=None, help="folder holding datasets/msrs")
    return parser.parse_args()


def make_folder(root: Path, pairs: int, out: Path) -> None:
    """``out/{ir,vi,fused}``: copies of the first ``pairs`` MSRS test sources and their average fusion."""
    test = root / "datasets" / "msrs" / "test"
    if not (test / "ir").is_dir() or not (test / "vi").is_dir():
        sys.exit(f"no MSRS test pairs under {test}/{{ir,vi}}: pass --data-root (the folder holding datasets/)")
    names = sorted(p.name for p in (test / "ir").iterdir())[:pairs]
    for sub in ("ir", "vi", "fused"):
        (out / sub).mkdir(parents=True)
    for name in names:
        for sub in ("ir", "vi"):
            shutil.copyfile(test / sub / name, out / sub / name)
        fused = fusionbench.fuse("average", read_image(test / "ir" / name), read_image(test / "vi" / name))
        cv2.imwrite(str(out / "fused" / name), fused if fused.ndim == 2 else fused[..., ::-1])


def command() -> str:
    """The ``fusionbench`` script of this interpreter's environment (pip puts it beside the
    interpreter), so that what is timed is the command itself, not a version manager's shim in
    front of it (pyenv's bash shim adds about 0.25 s to every call); ``fusionbench`` on PATH otherwise."""
    script = Path(sys.executable).with_name("fusionbench")
    return str(script) if script.is_file() else "fusionbench"


def run_eval(folder: Path, workers: int, metrics: str | None) -> tuple[float, float, str]:
    """Wall seconds of the command, seconds it logged for the scoring, and its CSV text."""
    csv = folder / f"workers{workers}.csv"
    cmd = [command(), "-v", "eval", "--ir", str(folder / "ir"), "--vi", str(folder / "vi")]
    cmd += ["--fused", str(folder / "fused"), "--out", str(csv), "--workers", str(workers)]
    if metrics:
        cmd += ["--metrics", metrics]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stderr}")
    wall = time.perf_counter() - started
    scored = SCORED.search(done.stderr)
    if scored is None:
        sys.exit(f"no 'scored N images' line in the log of {' '.join(cmd)}:\n{done.stderr}")
    return wall, float(scored.group(2)), csv.read_text()


def main() -> None:
    args = parse_args()
    root = resolve_data_root(args.data_root)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_folder(root, args.pairs, folder)
        times: dict[int, list[tuple[float, float]]] = {1: [], 2: []}
        csvs: dict[int, str] = {}
        for _ in range(args.repeats):
            for workers in (1, 2):  # interleaved: both see the same machine load
                wall, scoring, csvs[workers] = run_eval(folder, workers, args.metrics)
                times[workers].append((wall, scoring))
    print(
        f"fusionbench eval on {args.pairs} MSRS test triples (fused: average), metrics "
        f"{args.metrics or 'seed six'}; {os.cpu_count()} CPUs; median of {args.repeats} interleaved runs\n"
    )
    print(f"{'workers':>8s}{'command s':>11s}{'scoring s':>11s}")
    medians = {}
    for workers, runs in times.items():
        medians[workers] = [statistics.median(r[k] for r in runs) for k in (0, 1)]
        print(f"{workers:8d}{medians[workers][0]:11.2f}{medians[workers][1]:11.2f}")
    whole, scoring = (medians[1][k] / medians[2][k] for k in (0, 1))
    print(f"\n2 workers vs 1: {whole:.2f}x the whole command, {scoring:.2f}x the scoring")
    print(f"same values (CSV files byte-identical): {csvs[1] == csvs[2]}")


if __name__ == "__main__":
    main()
