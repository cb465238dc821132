"""What every command shares: the app, consoles, options and error reporting."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table

from variantly.errors import StoreUnavailable, VariantlyError
from variantly.settings import ProcessSettings

if TYPE_CHECKING:
    from variantly.store import Store

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Personalised content, approved by people.")
console = Console()
err_console = Console(stderr=True)


def show_table(table: Table) -> None:
    """A table in a terminal as rich fits it there; into a file, a pipe or a CI log at the table's own width, no cell
    wrapped. rich takes 80 columns where there is no terminal, and the lift report's eleven columns then split its
    figures across lines: "(n=18,016)" went out as "(n=1", "8,01", "6)", and an interval as "[-0." over "36,"."""
    if console.is_terminal:
        console.print(table)
        return
    natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
    fitted = console.width
    console.width = max(natural, fitted)
    try:
        console.print(table)
    finally:
        console.width = fitted


WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="The workspace folder (modules/, audiences.yml, ...); default: VARIANTLY_WORKSPACE, else this folder.",
        show_default=False,
    ),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL; default: VARIANTLY_DATABASE_URL, else SQLite under the workspace.",
        show_default=False,
    ),
]
ActorOpt = Annotated[
    str | None, typer.Option(help="Who is acting, for the audit log (default: $USER).", show_default=False)
]


P = ParamSpec("P")
R = TypeVar("R")


def fail(exc: VariantlyError) -> NoReturn:
    message = exc.message
    if isinstance(exc, StoreUnavailable) and exc.detail and exc.detail not in message:
        message += f" ({exc.detail})"
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A command's ``VariantlyError`` becomes its message on stderr and its exit code; so does a file it was named
    and could not read or write (``--profile`` missing, ``--out`` in a folder that does not exist), which was a
    traceback from five commands. An ``OSError`` about no file (a refused connection) is a fault, and stays whole."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except VariantlyError as exc:
            fail(exc)
        except OSError as exc:
            if exc.filename is None:
                raise
            fail(VariantlyError(f"{exc.filename}: {exc.strerror or exc}"))

    return wrapper


def settings_for(workspace: Path | None = None, database_url: str | None = None, **given: Any) -> ProcessSettings:
    """The process settings: the environment, with what the command line gave over it."""
    return ProcessSettings.from_env(workspace=workspace, database_url=database_url, **given)


def open_store(settings: ProcessSettings) -> Store:
    from variantly.store import Store, default_database_url

    return Store(settings.database_url or default_database_url(settings.workspace))
