"""The dataset registry: :func:`get_dataset`, :func:`list_datasets`.

Every entry is a factory taking the dataset's options: the pinned datasets and ``demo`` take none,
``folder`` takes ``ir=`` and ``vi=``. An unknown name raises
:class:`~fusionbench.registry.UnknownNameError` (a ``KeyError``) naming the close matches.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from fusionbench.datasets.base import Dataset, DatasetError
from fusionbench.datasets.demo import DemoDataset
from fusionbench.datasets.folder import FolderDataset
from fusionbench.datasets.pinned import MANIFEST_NAMES, packaged
from fusionbench.registry import Registry

DATASETS: Registry[Callable[..., Dataset]] = Registry("dataset")


def _without_options(name: str, make: Callable[[], Dataset], **options: Any) -> Dataset:
    if options:
        raise DatasetError(f"dataset {name!r} takes no options (got {', '.join(sorted(options))})")
    return make()


for _name in MANIFEST_NAMES:
    DATASETS.add(_name, partial(_without_options, _name, partial(packaged, _name)))
DATASETS.add("demo", partial(_without_options, "demo", DemoDataset))
DATASETS.add("folder", FolderDataset)


def get_dataset(name: str, **options: Any) -> Dataset:
    """The dataset registered as ``name``, e.g. ``get_dataset("msrs")`` or
    ``get_dataset("folder", ir="ir/", vi="vi/")``."""
    return DATASETS.get(name)(**options)


def list_datasets() -> list[Dataset]:
    """Every registered dataset in registration order (``folder`` without its folders)."""
    return [DATASETS.get(name)() for name in DATASETS.names()]
