"""The ``fusionbench`` command: a thin layer over the Python API.

::

    fusionbench run --method gff --dataset msrs [--metrics ...] [--convention tang] [--workers N]
                    [--scheduler local|tcp://host:port]
    fusionbench doctor [--data-root DIR] [--cache DIR] [--weights DIR]
    fusionbench table --methods gff,lp --datasets tno,msrs --format latex [--by tag] [--std] [--ci]
                      [--versus METHOD] [--protocol tang|cddfuse]
    fusionbench weights list | verify | download NAME
    fusionbench show method ID
    fusionbench data list | verify NAME | download NAME
    fusionbench eval --ir DIR --vi DIR --fused DIR [--metrics mi,vif|all] [--convention tang] [--out CSV]
                     [--allow-missing]
    fusionbench list metrics [--format text|markdown|csv]
    fusionbench list conventions [--format text|markdown|csv]

Results go to stdout, messages (logging, progress bars) to stderr. A user error (unknown metric or
convention, missing folder, unmatched or unreadable file, bad pixel values) prints one line
``Error: ...`` and exits with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from fusionbench import __version__
from fusionbench.cli.common import USER_ERROR, UserError, user_errors

__all__ = ["USER_ERROR", "UserError", "main", "user_errors"]

#: Each command and where it lives (``module:attribute`` under ``fusionbench.cli``).
COMMANDS = {
    "ablate": "training:ablate_command",
    "data": "data:data",
    "doctor": "doctor:doctor_command",
    "eval": "evaluate:eval_command",
    "figure": "reports:figure_command",
    "list": "listing:list_group",
    "plot": "reports:plot_command",
    "report": "reports:report_command",
    "run": "run:run_command",
    "show": "listing:show_group",
    "table": "table:table_command",
    "train": "training:train_command",
    "weights": "weights:weights_group",
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when that command is asked for.

    ``fusionbench eval`` then starts without pandas, matplotlib or the training code (about half
    the start-up time of importing every command module); ``--help`` imports them all for their
    one-line summaries.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name].split(":")
            command = getattr(importlib.import_module(f"fusionbench.cli.{module}"), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fusionbench")
@click.option("-v", "--verbose", count=True, help="Log more on stderr (-v: info, -vv: debug).")
def main(verbose: int) -> None:
    """IR/VIS image-fusion benchmark: run methods on datasets, score fused images, print tables."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s: %(message)s")
