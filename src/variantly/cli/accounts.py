"""Accounts: named tokens (and optional passwords) with a role."""

from __future__ import annotations

from typing import Annotated

import typer

from variantly.cli.common import (
    DatabaseOpt,
    WorkspaceOpt,
    app,
    console,
    open_store,
    reports_errors,
    settings_for,
    show_table,
)

token_app = typer.Typer(help="Accounts with a role (renderer, reviewer, admin): create, revoke.", no_args_is_help=True)
app.add_typer(token_app, name="token")
account_app = typer.Typer(help="Accounts an admin controls: list, disable, enable.", no_args_is_help=True)
app.add_typer(account_app, name="account")


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
        f"'{name}': token revoked and every session ended, on every server within a poll. A new token needs "
        "`variantly token create`. The account and its password are kept: the password still signs in to the "
        f"review UI. To lock the account out, `variantly account disable {name}`.",
        markup=False,
    )


@account_app.command("list")
@reports_errors
def list_(workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None) -> None:
    """Every account: role, created, last used, review UI sessions still running, disabled or not."""
    from rich.table import Table
    from rich.text import Text

    from variantly.auth import list_accounts

    table = Table(title="Accounts")
    for column in ("name", "role", "state", "created", "last used", "active sessions", "token", "password"):
        table.add_column(column, justify="right" if column == "active sessions" else "left")
    for account in list_accounts(open_store(settings_for(workspace, database_url))):
        table.add_row(
            Text(account.name),
            account.role,
            "disabled" if account.disabled else "active",
            f"{account.created_at:%Y-%m-%d %H:%M}",
            f"{account.last_used_at:%Y-%m-%d %H:%M}" if account.last_used_at else "never",
            str(account.active_sessions),
            "yes" if account.has_token else "no",
            "yes" if account.has_password else "no",
        )
    show_table(table)


@account_app.command("disable")
@reports_errors
def disable(
    name: Annotated[str, typer.Argument(help="The account to lock out.")],
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Lock an account out: its token and password are refused and every session ends, on every server
    within a poll. `variantly account enable` lets it back in."""
    from variantly.auth import set_disabled

    changed = set_disabled(open_store(settings_for(workspace, database_url)), name, True)
    said = "disabled: its token and password are refused and every session has ended (on every server within a poll)"
    console.print(f"'{name}' {said if changed else 'was disabled already'}", markup=False)


@account_app.command("enable")
@reports_errors
def enable(
    name: Annotated[str, typer.Argument(help="The account to let back in.")],
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Let a disabled account back in: its token and password work again; its old sessions stay ended."""
    from variantly.auth import set_disabled

    changed = set_disabled(open_store(settings_for(workspace, database_url)), name, False)
    said = "enabled: its token and password work again; it signs in anew"
    console.print(f"'{name}' {said if changed else 'was not disabled'}", markup=False)
