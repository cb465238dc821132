"""``variantly review``: the approval queue for people who live in a terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

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

review_app = typer.Typer(help="List, show, approve and reject variants.", no_args_is_help=True)
app.add_typer(review_app, name="review")
ReviewerOpt = Annotated[
    str | None,
    typer.Option("--as", "--actor", help="Reviewer name for the audit log (default: $USER).", show_default=False),
]


@review_app.command("list")
@reports_errors
def list_(
    module: str | None = None,
    locale: str | None = None,
    cohort: str | None = None,
    status: Annotated[
        str | None, typer.Option(help="pending, approved, rejected, guardrail_failed, stale, retired")
    ] = "pending",
    limit: int = 50,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """The queue, filtered; counts per status first."""
    from variantly.authoring.review import Filters, list_variants

    page = list_variants(
        open_store(settings_for(workspace, database_url)), Filters(module, cohort, locale, status or None), limit=limit
    )
    console.print("  ".join(f"{s}: {n}" for s, n in page.counts.items()), highlight=False)
    table = Table(show_lines=False)
    for column in ("id", "v", "module", "cohort", "status", "copy"):
        table.add_column(column, overflow="fold")
    for v in page.items:
        copy = " | ".join(v.slots.values())
        table.add_row(*(Text(cell) for cell in (v.id, str(v.version), v.module_id, v.cohort_key, v.status, copy[:90])))
    show_table(table)
    console.print(f"{page.total} variant(s){'' if page.total <= limit else f', first {limit} shown'}")


@review_app.command()
@reports_errors
def show(variant_id: str, workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None) -> None:
    """One variant: its text, guardrail report and history."""
    from variantly.authoring.report import VariantReport
    from variantly.authoring.review import variant_history
    from variantly.store.variants import get_variant

    store = open_store(settings_for(workspace, database_url))
    row = get_variant(store, variant_id)
    entries = variant_history(store, variant_id)
    console.print(
        f"[bold]{row.module_id}[/bold] {row.cohort_key}  status [bold]{row.status}[/bold]  "
        f"version {row.version}  ({row.source})",
        highlight=False,
    )
    for name, text in row.slots.items():
        console.print(f"  {name}: {text}", highlight=False, markup=False)  # copy is data: "[e-mail removed]" stays
    console.print(f"guardrails: {VariantReport.from_stored(row.report).check.summary}", highlight=False, markup=False)
    for e in entries:
        console.print(
            f"  {e.at:%Y-%m-%d %H:%M}Z {e.actor:<16} {e.action:<10} {e.from_status or '-'} -> {e.to_status}"
            f"  {e.reason}",
            highlight=False,
            markup=False,
        )


@review_app.command()
@reports_errors
def approve(
    variant_id: str,
    version: Annotated[int, typer.Option(help="The version you reviewed.")],
    reason: str = "",
    who: ReviewerOpt = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Approve: it is served once render processes pick up the new release (seconds). Copy checked under another
    policy is checked again first."""
    from variantly.authoring import review
    from variantly.checkers import CheckerCache
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url, actor=who)
    ws = load_workspace(settings.workspace)
    row = review.approve(
        open_store(settings),
        variant_id,
        version=version,
        actor=settings.actor,
        reason=reason,
        workspace=ws,
        check=CheckerCache().slot_checker(ws),
    )
    if row.status == "approved":
        console.print(f"approved {row.id} (now version {row.version})")
    else:
        console.print(
            f"approved once: {row.id}'s {row.brand_risk} brand risk needs a second reviewer (version {row.version})"
        )


@review_app.command()
@reports_errors
def reject(
    variant_id: str,
    version: Annotated[int, typer.Option(help="The version you reviewed.")],
    reason: Annotated[str, typer.Option(help="What is wrong (required).")],
    regenerate: Annotated[
        bool, typer.Option(help="Redo this cohort in the next run, with the reason as feedback.")
    ] = False,
    who: ReviewerOpt = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Reject with a reason."""
    from variantly.authoring import review

    settings = settings_for(workspace, database_url, actor=who)
    row = review.reject(
        open_store(settings),
        variant_id,
        version=version,
        actor=settings.actor,
        reason=reason,
        regenerate=regenerate,
    )
    console.print(f"rejected {row.id}" + (" (regeneration requested)" if regenerate else ""))


@review_app.command()
@reports_errors
def recheck(who: ReviewerOpt = "policy", workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None) -> None:
    """Re-check approved variants against the current guardrail policy; pull what now fails."""
    from variantly.authoring.review import recheck_policy
    from variantly.checkers import policy_checker
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url, actor=who or "policy")
    ws = load_workspace(settings.workspace)
    pulled = recheck_policy(open_store(settings), ws, policy_checker(ws).check_slots, actor=settings.actor)
    console.print(
        f"{len(pulled)} approved variant(s) pulled from serving" + (f": {', '.join(pulled)}" if pulled else "")
    )
