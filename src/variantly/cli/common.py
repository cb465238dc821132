"""What every command shares: the app, consoles, options and error reporting."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from variantly.errors import StoreUnavailable, VariantlyError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Personalised content, approved by people.")
console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace", "-w", envvar="VARIANTLY_WORKSPACE", help="The workspace folder (modules/, audiences.yml, ...)."
    ),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option(
        "--database-url", envvar="VARIANTLY_DATABASE_URL", help="SQLAlchemy URL; default: SQLite under the workspace."
    ),
]
ActorOpt = Annotated[str, typer.Option(help="Who is acting, for the audit log.")]
DEFAULT_ACTOR = os.environ.get("USER") or "cli"


P = ParamSpec("P")
R = TypeVar("R")


def fail(exc: VariantlyError) -> NoReturn:
    message = exc.message
    if isinstance(exc, StoreUnavailable) and exc.detail and exc.detail not in message:
        message += f" ({exc.detail})"
    err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """A command's ``VariantlyError`` becomes its message on stderr and its exit code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except VariantlyError as exc:
            fail(exc)

    return wrapper


def open_store(workspace: Path, database_url: str | None):
    from variantly.store import Store, default_database_url

    return Store(database_url or default_database_url(workspace))
