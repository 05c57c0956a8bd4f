"""The ``>>>`` examples in the package's docstrings run as tests: one case per module that has any.

Modules are found by their text, so a new example is checked without being listed here. The
examples run with the session's isolated cache and output folders (``conftest.py``), so one that
runs a benchmark (``fusionbench.api.table``) writes nothing into the working tree.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fusionbench"
#: Never imported here: importing ``__main__`` would start the command line.
NOT_IMPORTED = {"fusionbench.__main__"}


def modules_with_examples() -> list[str]:
    """Dotted names of the package's modules whose source holds a ``>>>`` example."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in NOT_IMPORTED:
            names.append(name)
    return names


MODULES = modules_with_examples()


def test_examples_are_found() -> None:
    assert "fusionbench.metrics.api" in MODULES and len(MODULES) >= 10, MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    report: list[str] = []
    failed = attempted = 0
    for test in doctest.DocTestFinder().find(module):
        result = runner.run(test, out=report.append)
        failed += result.failed
        attempted += result.attempted
    assert failed == 0, f"{failed} of {attempted} examples in {name} failed:\n" + "".join(report)
