"""Seconds per pair for a full ``fusionbench run`` over MSRS-142, broken down into fuse / metrics / I/O.

Runs one classic method (default ``gff``) with 1 and with 2 worker processes, each from an empty
output folder (nothing cached), and prints the per-stage seconds per pair from the run manifest
plus the wall time, with the 2-worker run as a ratio of the 1-worker run.

    python benchmarks/run_speed.py [--method gff] [--dataset msrs] [--pairs N] [--data-root DIR]

Stage times are summed over pairs (in each worker), so with 2 workers they add up to more than
the wall time. Not a test: numbers depend on the machine; the CPU count is printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import fusionbench
from fusionbench.datasets import DatasetError, get_dataset, resolve_data_root


class FirstPairs:
    """A dataset view limited to its first ``n`` pairs (for --pairs)."""

    def __init__(self, dataset, n: int | None) -> None:
        self._dataset, self._n = dataset, n
        self.name = dataset.name

    def pairs(self, split="test", data_root=None):
        pairs = self._dataset.pairs(split, data_root=data_root)
        return pairs[: self._n] if self._n else pairs

    def version(self, split="test"):
        return self._dataset.version(split) + (f"-first{self._n}" if self._n else "")


def first_pairs(dataset_id: str, n: int | None, data_root: str | None) -> tuple[FirstPairs, Path, int]:
    """The dataset view, its data root (``--data-root``, else ``$FUSIONBENCH_DATA``, else ``../shared``
    beside the repository) and its test pair count; exits with the dataset's message when pairs are missing."""
    default = os.environ.get("FUSIONBENCH_DATA") or Path(__file__).resolve().parents[2] / "shared"
    root = resolve_data_root(data_root or default)
    dataset = FirstPairs(get_dataset(dataset_id), n)
    try:
        return dataset, root, len(dataset.pairs("test", data_root=root))
    except DatasetError as error:
        raise SystemExit(str(error)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="gff")
    parser.add_argument("--dataset", default="msrs")
    parser.add_argument("--pairs", type=int, default=None, help="only the first N pairs")
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = parser.parse_args()

    dataset, root, n_pairs = first_pairs(args.dataset, args.pairs, args.data_root)
    print(
        f"fusionbench {fusionbench.__version__}; {args.method} on {args.dataset} ({n_pairs} pairs); "
        f"cpu_count={os.cpu_count()}; python {sys.version.split()[0]}"
    )
    print(f"{'workers':>7}  {'wall s/pair':>11}  {'fuse':>7}  {'metrics':>7}  {'io':>7}  {'vs 1 worker':>11}")
    baseline = None
    for workers in [int(w) for w in args.workers.split(",")]:
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            frame = fusionbench.run(args.method, dataset, data_root=root, out=out, workers=workers, progress=False)
            wall = (time.perf_counter() - start) / n_pairs
        stages = frame.attrs["manifest"]["stage_seconds"]
        baseline = baseline or wall
        print(
            f"{workers:>7}  {wall:>11.3f}  {stages['fuse'] / n_pairs:>7.3f}  {stages['metrics'] / n_pairs:>7.3f}  "
            f"{stages['io'] / n_pairs:>7.3f}  {baseline / wall:>10.2f}x"
        )


if __name__ == "__main__":
    main()
