"""Commands on the authoring side: lint, import, plan, generate.

Plan and generate need the generation extra; lint and import work without it.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from variantly.cli.common import (
    ActorOpt,
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
from variantly.settings import ProcessSettings

ModulesOpt = Annotated[list[str] | None, typer.Option("--module", "-m", help="Only this module; repeat for several.")]
CohortsOpt = Annotated[
    list[str] | None, typer.Option("--cohort", help="Only this exact cohort key; repeat for several.")
]
LocalesOpt = Annotated[list[str] | None, typer.Option("--locale", "-l", help="Only this locale; repeat for several.")]


def print_import(summary) -> None:
    console.print(
        f"imported {summary.added} new variant(s): {summary.approved} approved, "
        f"{summary.pending} pending, {summary.failed} failed checks; "
        f"{summary.already_present} already present"
    )
    for failure in summary.failures:
        console.print(f"  [yellow]failed[/yellow] {escape(failure)}", highlight=False, soft_wrap=True)
    if summary.not_approved:
        from variantly.extras import INSTALL_COMMAND

        console.print(
            f"  [yellow]{summary.not_approved} left pending instead of approved[/yellow]: "
            + escape(
                f"custom validator(s) {', '.join(sorted(summary.unchecked))} need guardrails-ai: {INSTALL_COMMAND}"
            ),
            highlight=False,
            soft_wrap=True,
        )
    if summary.brand_held:
        console.print(
            f"  [yellow]{summary.brand_held} not approved[/yellow]: under the brand floor or in a risk band that "
            "needs two reviewers (variantly brand check shows why)",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def lint(workspace: WorkspaceOpt = None) -> None:
    """Check every module, layout and audience file; print path:line:col: message."""
    from variantly.workspace import lint_workspace

    ws, problems = lint_workspace(settings_for(workspace).workspace)
    for problem in problems:
        console.print(str(problem), highlight=False, soft_wrap=True, markup=False)
    if problems:
        err_console.print(f"[red]{len(problems)} problem(s)[/red]")
        raise typer.Exit(1)
    assert ws is not None
    console.print(
        f"[green]ok[/green]: {len(ws.modules)} modules, {len(ws.layouts)} layouts, locales {', '.join(ws.locales)}"
    )


@app.command("import")
@reports_errors
def import_(
    file: Annotated[Path, typer.Argument(help="A JSON Lines file of variants.")],
    approve: Annotated[bool, typer.Option(help="Approve what passes the checks (demo and trusted sources).")] = False,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Check variants written elsewhere with the guardrails and put them in the approval queue."""
    from variantly.checkers import import_file
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url, actor=actor)
    ws = load_workspace(settings.workspace)
    print_import(import_file(open_store(settings), ws, file, actor=settings.actor, approve=approve))


def _plan(settings: ProcessSettings, **options):
    from variantly.extras import require_generation_stack

    require_generation_stack("planning")  # before anything of the generation package is imported
    from variantly.generation import wiring
    from variantly.workspace import load_workspace

    return wiring.plan(open_store(settings), load_workspace(settings.workspace), settings, **options)


def _plan_table(plan) -> Table:
    table = Table(title=f"Plan: model {plan.model}, prompts {plan.prompt_hash}, policy {plan.policy_hash}")
    columns = ("module", "jobs", "prompt tokens", "completion tokens (est.)", "cost (est.)", "with re-asks (est.)")
    for column in columns:
        table.add_column(column, justify="left" if column == "module" else "right")
    by_module: dict[str, list] = {}
    for job in plan.jobs:
        by_module.setdefault(job.module_id, []).append(job)
    if plan.judge:
        table.add_column("judge calls (of the cost)", justify="right")

    def cells(part) -> list[str]:
        figures = [f"{part.prompt_tokens:,}", f"{part.completion_tokens:,}", f"${part.cost_usd:.4f}"]
        figures.append(f"${part.cost_with_reasks_usd:.4f}")
        if plan.judge:
            figures.append(f"{part.judge_calls} (${part.judge_cost_usd:.4f})")
        return figures

    for module_id, jobs in sorted(by_module.items()):
        table.add_row(module_id, str(len(jobs)), *cells(replace(plan, jobs=jobs)))
    table.add_section()
    table.add_row("total", str(len(plan.jobs)), *cells(plan), style="bold")
    return table


def _print_plan(plan, verbose: bool, *, redo: str = "variantly generate --retry-failed") -> None:
    if verbose:
        for job in plan.jobs:
            cuts = f"  [yellow]cut: {'; '.join(job.prompt.cuts)}[/yellow]" if job.prompt.cuts else ""
            console.print(f"{job.module_id:<18} {job.cohort.key:<70} {job.prompt.tokens:>5} tok{cuts}", highlight=False)
    show_table(_plan_table(plan))
    console.print(
        f"cost: ${plan.cost_usd:.4f} to ${plan.cost_with_reasks_usd:.4f} (re-asks {plan.reask_basis})", highlight=False
    )
    if plan.pictures:
        console.print(
            f"pictures: {plan.pictures} in {sum(1 for j in plan.jobs if j.pictures)} job(s), "
            f"${plan.pictures_cost_usd:.4f} of the cost (images.prices in variantly.yml; moderation is free)",
            highlight=False,
        )
    console.print(
        f"skipped: {plan.skipped_done} already generated, {plan.skipped_current} with a current variant, "
        f"{plan.skipped_suppressed} suppressed for the whole cohort (never served)"
    )
    if plan.unfinished:
        resumed = f", {plan.resumed} going on from their last answer" if plan.resumed else ""
        console.print(f"{plan.unfinished} job(s) did not finish in an earlier run and are planned again{resumed}")
    if plan.failed:
        console.print(
            f"[red]{len(plan.failed)} job(s) failed in an earlier run[/red] and have no variant; "
            f"`{escape(redo)}` redoes them with the failure as context:"
        )
        print_problems(plan.failed)
    if plan.price is None:
        console.print(
            f"[yellow]no price for model {plan.model}[/yellow]: add it under generation.prices in "
            "variantly.yml to estimate cost and use --budget-usd"
        )
    if plan.unpriced_pictures:
        console.print(
            f"[yellow]no per-image price for image model {plan.unpriced_pictures}[/yellow]: add it under "
            "images.prices in variantly.yml to estimate the pictures' cost and use --budget-usd"
        )


@app.command()
@reports_errors
def plan(
    module: ModulesOpt = None,
    locale: LocalesOpt = None,
    candidates: Annotated[int | None, typer.Option(help="Candidates per job (default: variantly.yml).")] = None,
    cohort: CohortsOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every job.")] = False,
    judge: Annotated[bool, typer.Option("--judge", help="Price the brand judge's calls (generate --judge).")] = False,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """List the module x cohort x locale jobs a run would do, with tokens and cost."""
    the_plan = _plan(
        settings_for(workspace, database_url),
        modules=module,
        locales=locale,
        candidates=candidates,
        cohorts=cohort,
        judge=judge,
    )
    from variantly.generation.run import RunOptions

    again = RunOptions(modules=module, locales=locale, candidates=candidates, cohorts=cohort, judge=judge)
    redo = again.command(retry_failed=True)
    _print_plan(the_plan, verbose, redo=redo)


# Exit codes of `variantly generate` (also in the README).
EXIT_LEFT_OVER = 4  # the run left failed, unfinished or unstarted jobs: their cohorts have no variant yet
EXIT_INTERRUPTED = 130  # Ctrl-C: answered calls are recorded; run again to resume


@app.command()
@reports_errors
def generate(
    module: ModulesOpt = None,
    locale: LocalesOpt = None,
    candidates: Annotated[int | None, typer.Option(help="Candidates per job (default: variantly.yml).")] = None,
    cohort: CohortsOpt = None,
    concurrency: Annotated[int | None, typer.Option(help="LLM calls in flight at once.")] = None,
    budget_usd: Annotated[
        float | None, typer.Option(help="Never spend more than this: each call reserves its worst case first.")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Also redo jobs that failed before, with the failure as context.")
    ] = False,
    batch: Annotated[
        bool,
        typer.Option(
            "--batch", help="Collect earlier batches, then send the jobs left through the Batch API (half price, 24 h)."
        ),
    ] = False,
    collect: Annotated[bool, typer.Option("--collect", help="Only collect what earlier batches answered.")] = False,
    judge: Annotated[
        bool,
        typer.Option(
            "--judge",
            help="Ask the brand judge about each job's candidates (a failed judged guideline is re-asked), then about "
            "pending variants not judged yet; same budget. With --batch/--collect the judge's calls are live.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; call nothing.")] = False,
    actor: ActorOpt = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Generate candidates, check them with the guardrails, re-ask, and queue them for review.

    Exit codes: 0 every planned cohort has a variant (or waits in a batch); 1 the run failed
    (bad key, endpoint down); 2 a setting is missing; 4 jobs were left failed, unfinished or
    not started (the summary says which and how to redo them); 130 interrupted (run again
    to resume).
    """
    plan_options = {
        "modules": module,
        "locales": locale,
        "candidates": candidates,
        "cohorts": cohort,
        "retry_failed": retry_failed,
        "judge": judge,
    }
    settings = settings_for(workspace, database_url, actor=actor)
    if dry_run:
        _print_plan(_plan(settings, **plan_options), verbose=False)
        return
    from variantly.extras import require_generation_stack

    require_generation_stack("generating copy")  # before anything of the generation package is imported
    from variantly.generation import wiring
    from variantly.generation.run import RunOptions
    from variantly.workspace import load_workspace

    options = RunOptions(
        modules=module,
        locales=locale,
        candidates=candidates,
        cohorts=cohort,
        retry_failed=retry_failed,
        concurrency=concurrency,
        budget_usd=budget_usd,
        batch="collect" if collect else "submit" if batch else None,
        judge=judge,
    )
    runner = wiring.runner(open_store(settings), load_workspace(settings.workspace), settings)
    runner.checker  # noqa: B018  guardrails-ai loads now, before the event loop and its progress bar start
    try:
        with Progress(
            TextColumn("[bold]generating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("run", total=None, info="planning")

            def on_progress(summary, the_plan) -> None:
                finished = summary.jobs_done + summary.jobs_failed + summary.jobs_unfinished + summary.jobs_not_started
                progress.update(
                    task,
                    total=len(the_plan.jobs),
                    completed=finished,
                    info=f"{summary.candidates_passed} passed, {summary.candidates_failed} failed, "
                    f"${summary.cost_usd:.4f}",
                )

            summary = asyncio.run(runner.run(options, actor=settings.actor, on_progress=on_progress))
    except KeyboardInterrupt:
        if runner.last_summary is not None:
            print_summary(runner.last_summary)
        err_console.print("[yellow]interrupted[/yellow]: run again to resume; finished jobs are not redone")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    print_summary(summary)
    if summary.status == "failed":
        raise typer.Exit(1)
    if summary.left_over:
        raise typer.Exit(EXIT_LEFT_OVER)


def print_summary(summary) -> None:
    table = Table(title=f"Run {summary.run_id}: {summary.status}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    cache_share = summary.cached_tokens / summary.prompt_tokens if summary.prompt_tokens else 0.0
    rows = [
        (
            "jobs done / failed / unfinished / not started",
            f"{summary.jobs_done} / {summary.jobs_failed} / {summary.jobs_unfinished} / {summary.jobs_not_started}",
        ),
        ("jobs skipped (done before) / failed before", f"{summary.jobs_skipped} / {summary.jobs_failed_before}"),
        ("candidates passed / failed guardrails", f"{summary.candidates_passed} / {summary.candidates_failed}"),
        ("re-asks / top-ups", f"{summary.reasks} / {summary.top_ups}"),
        ("LLM calls", str(summary.llm_calls)),
        ("tokens in / out", f"{summary.prompt_tokens:,} / {summary.completion_tokens:,}"),
        ("prompt tokens from the provider's cache", f"{summary.cached_tokens:,} ({cache_share:.0%})"),
        ("cost", f"${summary.cost_usd:.4f}"),
        ("time", f"{summary.seconds:.1f} s"),
    ]
    if summary.candidates_short:
        rows.insert(3, ("candidates the LLM never delivered", str(summary.candidates_short)))
    if summary.judged or summary.judge_failed:
        rows.insert(-3, ("brand judge: variants judged / not judged", f"{summary.judged} / {summary.judge_failed}"))
    for row in rows:
        table.add_row(*row)
    show_table(table)
    for line in summary.batch_lines:
        console.print(escape(line), highlight=False, soft_wrap=True)
    console.print(escape(summary.message), highlight=False, soft_wrap=True)
    print_problems(summary.errors)


def print_problems(problems, cohorts_shown: int = 3) -> None:
    """Each distinct reason once, with how many jobs it hit and the first few of their cohorts."""
    from variantly.generation.summary import group_problems

    for status, error, jobs in group_problems(problems):
        colour = "red" if status == "failed" else "yellow"
        console.print(f"  [{colour}]{len(jobs)} {status}[/{colour}]: {escape(error)}", highlight=False, soft_wrap=True)
        for job in jobs[:cohorts_shown]:
            console.print(f"      {job.module_id} {job.cohort_key}", highlight=False, soft_wrap=True)
        if len(jobs) > cohorts_shown:
            console.print(f"      and {len(jobs) - cohorts_shown} more", highlight=False)
