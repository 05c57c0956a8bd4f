"""What every command module shares: the user-error type and the common options.

A user error (unknown metric or convention, missing folder, unmatched or unreadable file, bad pixel
values) prints one line ``Error: ...`` and exits with status 2, without a traceback.

Two option names mean the same thing in every command: ``--out`` is what the command writes (a
table, a figure, a CSV, a training folder) and ``--cache`` is the run cache (fused images and
per-image results, default ``$FUSIONBENCH_OUT``, else ``./fusionbench-out``). The spellings of
0.1 that meant otherwise (``--out`` for the cache, ``--output``, ``--csv``) still work for one
release and print a deprecation warning.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from fusionbench.io import write_text_atomic
from fusionbench.registry import UnknownNameError

#: Exit status of a user error (click uses 2 for usage errors too).
USER_ERROR = 2

F = TypeVar("F", bound=Callable[..., Any])


class UserError(click.ClickException):
    """Printed as one ``Error: ...`` line on stderr; exits with status 2."""

    exit_code = USER_ERROR


@contextmanager
def user_errors(prefix: str = "") -> Iterator[None]:
    """Turn the errors a user can cause (bad names, files or pixel values) into :class:`UserError`."""
    try:
        yield
    except (UnknownNameError, ValueError, TypeError, OSError) as exc:
        raise UserError(prefix + one_line(exc)) from None


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` with its whitespace runs (newlines included) collapsed to one space."""
    return " ".join(str(exc).split())


def show_progress(progress: bool | None) -> bool:
    """``--progress``/``--no-progress``, else a bar only when stderr is a terminal."""
    return sys.stderr.isatty() if progress is None else progress


def emit(text: str, output: Path | None) -> None:
    """Print ``text`` or write it atomically to ``output``."""
    text = text if text.endswith("\n") else text + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with user_errors():
        write_text_atomic(output, text)
    click.echo(f"wrote {output}", err=True)


def check_output(path: Path) -> None:
    """A clear error when ``path`` cannot be written because its folder does not exist."""
    if not path.parent.is_dir():
        raise UserError(f"cannot write {path}: folder {path.parent} does not exist")


FOLDER = click.Path(file_okay=False, path_type=Path)


# -- --weights ---------------------------------------------------------------------------------------


def _use_weights(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """``--weights DIR``: the folder every learned method this command builds loads from.

    Set as ``$FUSIONBENCH_WEIGHTS`` for this process (and so for its worker processes), which is
    where :func:`fusionbench.methods.weights.locate` looks after an explicit ``weights`` argument.
    """
    if value is not None:
        from fusionbench.methods.weights import WEIGHTS_ENV

        if not value.exists():
            raise click.BadParameter(f"{value} does not exist", ctx=ctx, param=param)
        os.environ[WEIGHTS_ENV] = str(value.resolve())
    return value


def weights_option(expose_value: bool = False) -> Callable[[F], F]:
    """``--weights DIR`` (see :func:`_use_weights`)."""
    return click.option(
        "--weights",
        type=click.Path(path_type=Path),
        default=None,
        callback=_use_weights,
        expose_value=expose_value,
        help="Folder of the learned methods' weight files (default: $FUSIONBENCH_WEIGHTS, else the user data folder).",
    )


# -- --cache, --out and their deprecated spellings ------------------------------------------------------

cache_option = click.option(
    "--cache",
    type=FOLDER,
    default=None,
    help="Run cache: fused images and per-image results (default: $FUSIONBENCH_OUT, else ./fusionbench-out).",
)


def deprecated_option(old: str, dest: str, *, file: bool = False) -> Callable[[F], F]:
    """A hidden ``old`` option whose value lands in ``dest``; :func:`pick` warns when it is used."""
    kind = click.Path(dir_okay=not file, path_type=Path) if file else click.Path(path_type=Path)
    return click.option(old, dest, type=kind, default=None, hidden=True)


def pick(new: Any, old: Any, new_name: str, old_name: str) -> Any:
    """The value of ``new_name``, else that of its deprecated spelling ``old_name`` (with a warning)."""
    if old is None:
        return new
    if new is not None:
        raise UserError(f"give {new_name} only ({old_name} is its deprecated spelling)")
    click.echo(f"Warning: {old_name} is deprecated and will be removed; use {new_name}.", err=True)
    return old


def split_out(out: Path | None, cache: Path | None) -> tuple[Path | None, Path | None]:
    """``--out`` of a command that writes a file: an existing folder there is 0.1's ``--out`` (the cache).

    Returns ``(output file, cache folder)``; a table cannot be written onto a folder, so the two
    meanings never collide.
    """
    if out is not None and out.is_dir():
        return None, pick(cache, out, "--cache", "--out DIR (the run cache)")
    return out, cache


# -- options shared by run, table, eval and doctor -------------------------------------------------------

progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar with count, rate and ETA on stderr (default: only when stderr is a terminal).",
)
data_root_option = click.option(
    "--data-root",
    type=FOLDER,
    default=None,
    help="Folder holding datasets/ (default: $FUSIONBENCH_DATA, else the user data folder).",
)
metrics_option = click.option(
    "--metrics",
    default=None,
    metavar="IDS",
    help="Comma-separated metric ids or 'all' (default: the seed six).",
)
convention_option = click.option(
    "--convention", default="tang", show_default=True, help="Metric convention (see 'list conventions')."
)
protocol_option = click.option(
    "--protocol",
    default=None,
    metavar="tang|cddfuse",
    help="A paper's protocol: its metric convention, method options and pair subsets (docs/protocols.md).",
)
scheduler_option = click.option(
    "--scheduler",
    default=None,
    metavar="local|tcp://HOST:PORT",
    help="Run on Dask: 'local' starts a LocalCluster of --workers processes; an address joins a running "
    "scheduler. Needs pip install 'fusionbench[dask]'.",
)


def protocol_convention(protocol: str | None, convention: str) -> str:
    """The convention of ``--protocol`` (``--convention`` must then be left out or agree)."""
    if protocol is None:
        return convention
    from fusionbench.protocols import get_protocol

    fixed = get_protocol(protocol).convention
    if convention not in ("tang", fixed):
        raise UserError(f"--protocol {protocol} fixes the convention ({fixed}); leave out --convention {convention}")
    return fixed


workers_option = click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)


def experiment_options(func: F) -> F:
    """The options of a command that runs methods over datasets (``run``, ``table``): what to score
    under which convention, where the data and the run cache are, and how to execute."""
    shared = [
        metrics_option,
        convention_option,
        protocol_option,
        data_root_option,
        cache_option,
        workers_option,
        scheduler_option,
        progress_option,
    ]
    for option in reversed(shared):
        func = option(func)
    return func
