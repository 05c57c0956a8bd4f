"""fusionbench.datasets: the IR/VIS pairs a benchmark runs on.

::

    from fusionbench.datasets import get_dataset
    ds = get_dataset("msrs")
    for pair in ds.pairs("test"):          # sorted by id; DatasetError if files are missing
        pair.id, pair.ir, pair.vis, pair.tags   # "00004N", Path, Path, {"tag": "night"}
    ds.version("test")                     # short hash of the pinned (id, sha256) list
    ds.verify("test").ok                   # every file present with its pinned sha256

Datasets: ``tno`` (test 42), ``msrs`` (test 142 with a day/night tag, train 4, trainpool 219 crops,
official-test 361 and official-train 1083 ids), ``roadscene`` (test 50, train 171), ``demo`` (6
generated pairs, no download) and ``folder`` (``ir=DIR, vi=DIR``). The real datasets pin their file
list and per-file sha256 (package data built from ``../shared`` by
:mod:`fusionbench.datasets.build_manifests`); the package holds no images. Files are looked up under
``<data root>/datasets/<name>/<split>/{ir,vi}/`` (see :func:`resolve_data_root`) and fetched by
:func:`download`.
"""

from fusionbench.datasets.api import DATASETS, get_dataset, list_datasets
from fusionbench.datasets.base import (
    DATA_ROOT_ENV,
    Dataset,
    DatasetError,
    PairRecord,
    VerifyReport,
    resolve_data_root,
)
from fusionbench.datasets.demo import DemoDataset
from fusionbench.datasets.download import download
from fusionbench.datasets.folder import FolderDataset
from fusionbench.datasets.pinned import PinnedDataset, Source

__all__ = [
    "DATASETS",
    "DATA_ROOT_ENV",
    "Dataset",
    "DatasetError",
    "DemoDataset",
    "FolderDataset",
    "PairRecord",
    "PinnedDataset",
    "Source",
    "VerifyReport",
    "download",
    "get_dataset",
    "list_datasets",
    "resolve_data_root",
]
