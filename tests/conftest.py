"""Shared fixtures: where the read-only shared data lives, and image readers for it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def find_shared_root() -> Path | None:
    """``$FUSIONBENCH_DATA`` if set, else the ``shared`` folder beside the repository."""
    env = os.environ.get("FUSIONBENCH_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared")
    for c in candidates:
        if (c / "datasets").is_dir():
            return c
    return None


@pytest.fixture(scope="session")
def shared_root() -> Path:
    root = find_shared_root()
    if root is None:
        pytest.skip("shared data not found: set FUSIONBENCH_DATA or place it at ../shared (CI has it)")
    return root


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Generated data (the demo images) and default run output go to a temporary folder."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FUSIONBENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
    patch.setenv("FUSIONBENCH_OUT", str(tmp_path_factory.mktemp("out")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def weights_dir(request) -> Path:
    """``$FUSIONBENCH_WEIGHTS`` if set, else ``weights`` in the shared data."""
    env = os.environ.get("FUSIONBENCH_WEIGHTS")
    if env:
        return Path(env)
    return request.getfixturevalue("shared_root") / "weights"
