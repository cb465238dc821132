"""``variantly report lift``: treatment against holdout, in a table."""

from __future__ import annotations

import typer
from rich.table import Table

from variantly.cli.common import DatabaseOpt, WorkspaceOpt, app, console, open_store, reports_errors, settings_for

report_app = typer.Typer(help="Reports on what personalisation achieved.", no_args_is_help=True)
app.add_typer(report_app, name="report")


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:+.1f}%" if x < 0 or x > 0 else "0.0%"


def interval(ci: tuple[float, float] | list[float] | None, points: bool) -> str:
    if ci is None:
        return "—"
    scale, unit = (100, " pp") if points else (100, "%")
    return f"[{ci[0] * scale:+.1f}, {ci[1] * scale:+.1f}]{unit}"


@report_app.command()
@reports_errors
def lift(module: str | None = None, workspace: WorkspaceOpt = None, database_url: DatabaseOpt = None) -> None:
    """Per module, cohort and variant: conversion rates, lift with 95% intervals, p-value."""
    from variantly.reporting.lift import lift_report

    rows = lift_report(open_store(settings_for(workspace, database_url)), module)
    if not rows:
        console.print("no exposures with both arms yet: send impression and conversion events to POST /v1/events")
        return
    table = Table(title="Lift: treatment (personalised) vs holdout control", show_lines=False)
    for column in (
        "module",
        "level",
        "cohort / variant",
        "treatment",
        "control",
        "abs. lift (95% CI)",
        "rel. lift (95% CI)",
        "p",
        "",
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        what = r.variant_id or r.cohort or "all"
        note = "⚠ " + r.warning.split(":")[0] if r.warning else ("significant" if r.significant else "not significant")
        table.add_row(
            r.module,
            r.level,
            what,
            f"{r.treatment_conversions}/{r.treatment_n} = {r.treatment_rate:.1%}",
            f"{r.control_conversions}/{r.control_n} = {r.control_rate:.1%}",
            f"{r.absolute_lift * 100:+.2f} pp {interval(r.absolute_ci, True)}",
            f"{pct(r.relative_lift)} {interval(r.relative_ci, False)}",
            "—" if r.p_value is None else f"{r.p_value:.3f}",
            note,
        )
    console.print(table)
