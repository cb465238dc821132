"""Accounts: named tokens (and optional passwords) with a role."""

from __future__ import annotations

from typing import Annotated

import typer

from variantly.cli.common import DatabaseOpt, WorkspaceOpt, app, console, open_store, reports_errors, settings_for

token_app = typer.Typer(help="Accounts with a role (renderer, reviewer, admin): create, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="Who this is for, e.g. rita or landing-pages.")],
    role: Annotated[str, typer.Option(help="renderer, reviewer or admin.")] = "reviewer",
    password: Annotated[
        bool, typer.Option("--password", help="Also set a password for the web UI (prompted).")
    ] = False,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Create an account and print its token (shown only once)."""
    from variantly.auth import create_account

    secret = typer.prompt("password", hide_input=True, confirmation_prompt=True) if password else None
    token = create_account(open_store(settings_for(workspace, database_url)), name, role, password=secret)
    console.print(f"{role} '{name}' created. Token (shown once, keep it safe):")
    print(token)


@token_app.command("revoke")
@reports_errors
def revoke(
    name: Annotated[str, typer.Argument(help="The account whose token and sessions end.")],
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """End every session and void the token of an account at once (servers notice within a poll)."""
    from variantly.auth import end_sessions

    end_sessions(open_store(settings_for(workspace, database_url)), name, revoke_token=True)
    console.print(
        f"'{name}': token revoked and every session ended; make a new token with `variantly token create`"
        " (the account and its password are kept)"
    )
