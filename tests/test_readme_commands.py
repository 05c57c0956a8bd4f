"""Every ``fusionbench`` command in the README's fenced ``bash`` blocks can be pasted (issue 15, item 5).

Each command is parsed by the real CLI (with ``--help`` appended, click still rejects an unknown
command or option), and each one on the demo data is run in full from the repository root. Commands
that need the network (``download``, ``pip install``) are left out; so are the long ones on the full
datasets (``train``, ``ablate``, runs on TNO/MSRS/RoadScene), which are parsed only.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from fusionbench.cli import main
from fusionbench.methods.weights import WEIGHTS_ENV

README = Path(__file__).resolve().parents[1] / "README.md"
NETWORK = ("download", "pip install")


def readme_commands(text: str) -> list[list[str]]:
    """The ``fusionbench ...`` commands of the fenced ``bash`` blocks, as argument lists (comments dropped)."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words and words[0] == "fusionbench":
                commands.append(words[1:])
    return commands


def _needs_network(args: list[str]) -> bool:
    return any(n in " ".join(args) for n in NETWORK)


def _on_demo(args: list[str]) -> bool:
    datasets = [args[i + 1] for i, a in enumerate(args[:-1]) if a in ("--dataset", "--datasets")]
    return bool(datasets) and all(d == "demo" for d in datasets) and args[0] in ("run", "table")


def test_the_readme_lists_commands():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    assert len(commands) > 10 and ["data", "list"] in commands
    for args in commands:  # one command per line: "data list | data verify msrs" cannot be pasted
        assert not {"|", "&&", ";"} & set(args), f"fusionbench {shlex.join(args)}"


@pytest.mark.slow
def test_every_readme_command_parses_and_those_on_demo_data_run(shared_root, monkeypatch):
    monkeypatch.chdir(README.parent)  # the README's ../shared paths are relative to the repository
    monkeypatch.setenv(WEIGHTS_ENV, str(shared_root / "weights"))
    for args in readme_commands(README.read_text(encoding="utf-8")):
        if _needs_network(args):
            continue
        parsed = CliRunner().invoke(main, [*args, "--help"])
        assert parsed.exit_code == 0, f"fusionbench {shlex.join(args)}: {parsed.output}"
        if _on_demo(args):
            result = CliRunner().invoke(main, args)
            assert result.exit_code == 0, f"fusionbench {shlex.join(args)}: {result.output}"
