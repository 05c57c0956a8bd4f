"""The package's shape (docs/architecture.md): imports go one way, and every CLI module imports alone.

The graph is read from the source with :mod:`ast` (top-level and function-level imports alike), so
a lazy import inside a function counts as much as one at the top of a file.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fusionbench"

#: The rooms: the first-level packages, ``api`` (``fusionbench.api``: what the top-level functions
#: compose) and ``protocols`` (a paper's convention, method options and pairs: data the engine and
#: the reports both read). Everything else at the root (``io``, ``registry``) is ``core``, the floor
#: every room may stand on.
ROOMS = ("cli", "api", "protocols", "engine", "reports", "training", "methods", "metrics", "datasets")


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else "core"


def package_modules() -> list[Path]:
    """Every module of the package but ``__main__`` (the entry point, which only calls the CLI)."""
    return [path for path in PACKAGE.rglob("*.py") if path.name != "__main__.py"]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every ``fusionbench`` module that ``path`` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[: len(here) - node.level + 1], *([base] if base else [])])
            found.add(base)
    return {name for name in found if name == "fusionbench" or name.startswith("fusionbench.")}


def room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in package_modules():
        source = room(module_name(path))
        for target in imported(path):
            if target != "fusionbench" and room(target) != source:
                graph.setdefault(source, set()).add(room(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def test_no_import_cycle_between_packages() -> None:
    graph = room_graph()
    assert find_cycle(graph) is None, f"import cycle between packages: {find_cycle(graph)}; graph {graph}"


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("engine", "cli"),
        ("engine", "reports"),
        ("engine", "training"),
        ("methods", "training"),
        ("methods", "engine"),
        ("metrics", "engine"),
        ("metrics", "methods"),
        ("reports", "engine"),
        ("reports", "training"),
        ("datasets", "engine"),
        ("core", "engine"),
        ("core", "datasets"),
        ("engine", "api"),
        ("reports", "api"),
        ("protocols", "engine"),
        ("protocols", "reports"),
        ("training", "api"),
    ],
)
def test_imports_go_one_way(low: str, high: str) -> None:
    offenders = [
        f"{path.relative_to(PACKAGE.parent)} imports {target}"
        for path in package_modules()
        if room(module_name(path)) == low
        for target in imported(path)
        if room(target) == high
    ]
    assert not offenders, offenders


def test_nothing_outside_the_cli_imports_it() -> None:
    offenders = [
        str(path.relative_to(PACKAGE.parent))
        for path in package_modules()
        if room(module_name(path)) != "cli"
        if any(room(t) == "cli" for t in imported(path))
    ]
    assert not offenders, offenders


@pytest.mark.parametrize("module", sorted(p.stem for p in (PACKAGE / "cli").glob("*.py") if p.stem != "__init__"))
def test_each_cli_module_imports_on_its_own(module: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import fusionbench.cli.{module}"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
