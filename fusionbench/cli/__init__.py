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

import logging
import sys

import click

from fusionbench import __version__
from fusionbench.cli.common import USER_ERROR, UserError, user_errors
from fusionbench.cli.data import data
from fusionbench.cli.doctor import doctor_command
from fusionbench.cli.evaluate import eval_command
from fusionbench.cli.listing import list_group, show_group
from fusionbench.cli.reports import COMMANDS as REPORT_COMMANDS
from fusionbench.cli.run import run_command
from fusionbench.cli.table import table_command
from fusionbench.cli.training import ablate_command, train_command
from fusionbench.cli.weights import weights_group

__all__ = ["USER_ERROR", "UserError", "main", "user_errors"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fusionbench")
@click.option("-v", "--verbose", count=True, help="Log more on stderr (-v: info, -vv: debug).")
def main(verbose: int) -> None:
    """IR/VIS image-fusion benchmark: run methods on datasets, score fused images, print tables."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(stream=sys.stderr, level=level, format="%(levelname)s: %(message)s")


for _command in (
    eval_command,
    list_group,
    show_group,
    run_command,
    table_command,
    weights_group,
    doctor_command,
    data,
    *REPORT_COMMANDS,
    train_command,
    ablate_command,
):
    main.add_command(_command)
