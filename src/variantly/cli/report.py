"""``variantly report lift``: treatment against holdout, in a table."""

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
    err_console,
    open_store,
    reports_errors,
    settings_for,
    show_table,
)

report_app = typer.Typer(help="Reports on what personalisation achieved.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command()
@reports_errors
def lift(
    module: str | None = None,
    metric: Annotated[
        str, typer.Option(help="conversion, revenue (per visitor), aov (average order value) or a guardrail's rate.")
    ] = "conversion",
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Per module, cohort and variant: the metric in both arms, the lift with its anytime-valid and fixed-horizon
    intervals, the verdict; the sample-ratio check per module and how many rows were compared."""
    from variantly.reporting.figures import Figures
    from variantly.reporting.lift import workspace_lift
    from variantly.workspace.loader import load_as_it_is

    settings = settings_for(workspace, database_url)
    # A copy problem lint finds is the marketer's to fix, and must not keep the analyst from the figures: said, read on.
    read, problems = load_as_it_is(settings.workspace)
    if problems:
        err_console.print(
            f"[yellow]{len(problems)} lint problem(s) in the workspace; the report reads it as it is:", soft_wrap=True
        )
        for problem in problems:
            err_console.print(f"  {problem}", markup=False, highlight=False, soft_wrap=True)
    report = workspace_lift(open_store(settings), read, metric=metric, module=module)
    if not report.rows:
        console.print("no exposures with both arms yet: send impression and conversion events to POST /v1/events")
        return
    show = Figures(report.unit, report.currency)
    title = f"Lift in {report.label}" + (f" ({report.currency})" if report.currency else "")
    table = Table(title=f"{title}: treatment (personalised) vs holdout control", show_lines=False)
    level = f"{(1 - report.alpha) * 100:.0f}%"
    for column in (
        "module",
        "level",
        "cohort / variant",
        "treatment",
        "control",
        "abs. lift",
        f"anytime-valid {level}",
        f"fixed-horizon {level}",
        "rel. lift (anytime-valid)",
        "p / q",
        "verdict",
    ):
        table.add_column(column, overflow="fold")
    for r in report.rows:
        deciding = r.p_value_sequential if report.decided_by == "anytime-valid" else r.p_value
        p = show.p(deciding) + ("" if r.q_value is None else f" / q {show.p(r.q_value)}")
        relative = (
            "—" if r.relative_lift is None else f"{r.relative_lift * 100:+.0f}% {show.interval(r.relative_cs, True)}"
        )
        verdict = ("⚠ " if r.warning or r.guardrail_breached else "") + r.verdict
        table.add_row(
            Text(r.module),
            r.level,
            Text(r.variant_id or r.cohort or "all"),
            f"{show.mean(r.treatment_mean)} (n={r.treatment_n:,})",
            f"{show.mean(r.control_mean)} (n={r.control_n:,})",
            show.lift(r.absolute_lift),
            show.interval(r.absolute_cs),
            show.interval(r.absolute_ci),
            relative,
            p,
            verdict,
        )
    show_table(table)
    decided = (
        f"verdicts by the fixed-horizon test, {report.horizon}"
        if report.decided_by == "fixed horizon"
        else "verdicts by the anytime-valid interval: valid however often this is read"
    )
    console.print(
        f"{decided}; {report.compared} cohort and variant row(s) adjusted together (Benjamini-Hochberg)", soft_wrap=True
    )
    for module_id, ratio in report.sample_ratios.items():
        flag = "MISMATCH, no verdict" if ratio.mismatch else "ok"
        console.print(
            f"{module_id}: {ratio.control:,} control / {ratio.treatment:,} treatment = "
            f"{ratio.control_share:.1%} control, {ratio.expected_control_share:.0%} planned "
            f"(sample-ratio p = {ratio.p_value:.2g}): {flag}",
            markup=False,
            soft_wrap=True,  # a line whole in a file or a CI log, as the table is (``show_table``)
        )
    if report.money_left_out:
        console.print(report.money_left_out, style="yellow", markup=False, soft_wrap=True)
