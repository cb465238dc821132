"""What every command shares: the app, consoles, options and error reporting."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from variantly.errors import VariantlyError

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


def fail(exc: VariantlyError) -> NoReturn:
    err_console.print(f"[red]error:[/red] {exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


def open_store(workspace: Path, database_url: str | None):
    from variantly.store import Store, default_database_url

    return Store(database_url or default_database_url(workspace))
