"""``variantly brand``: the brand guidelines, and the store's variants scored against them, riskiest first."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

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

if TYPE_CHECKING:
    from variantly.authoring.brand_calibration import Labelled
    from variantly.authoring.brand_score import Judgement
    from variantly.settings import ProcessSettings
    from variantly.workspace import Workspace
    from variantly.workspace.brand import Interval

brand_app = typer.Typer(help="Brand guidelines (guardrails/brand.yml) and the score of every variant.")
app.add_typer(brand_app, name="brand")
BAND_STYLE = {"high": "bold red", "medium": "yellow", "low": "green"}


@brand_app.command("guidelines")
@reports_errors
def guidelines(workspace: WorkspaceOpt = None) -> None:
    """Every guideline: what it says, where it applies, its weight and severity, and how it is checked."""
    from variantly.workspace import load_workspace
    from variantly.workspace.brand import Judged

    ws = load_workspace(settings_for(workspace).workspace)
    table = Table(title=f"brand guidelines (brand hash {ws.brand_hash})", title_justify="left")
    for column in ("id", "rule", "kinds", "weight", "severity", "checked by", "kappa"):
        table.add_column(column, overflow="fold")
    for g in ws.brand.every:
        how = "judge (not checked yet)" if isinstance(g.check, Judged) else f"measure: {g.check.name}"
        kappa = ws.brand.kappa.get(g.id)
        agreement = "-" if kappa is None else f"{kappa:.2f}" + (" advisory" if g.id in ws.brand.advisory else "")
        cells = (g.id, g.rule, ", ".join(g.kinds), f"{g.weight:g}", g.severity, how, agreement)
        table.add_row(*(Text(c) for c in cells))
    show_table(table)


@brand_app.command("check")
@reports_errors
def check(
    module: str | None = None,
    locale: str | None = None,
    cohort: str | None = None,
    status: Annotated[
        str | None, typer.Option(help="pending, approved, rejected, guardrail_failed, stale, retired; '' for all")
    ] = "pending",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line, with every finding.")] = False,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Score the store's variants against the guidelines: highest risk and lowest score first, each failed guideline
    with its reason and the words it concerns."""
    from variantly.authoring.brand_score import rescore, stored_score
    from variantly.authoring.review import Filters, list_variants
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url)
    store = open_store(settings)
    rescore(store, load_workspace(settings.workspace))  # whatever is not scored under the current brand.yml
    page = list_variants(store, Filters(module, cohort, locale, status or None), limit=1_000_000, order="risk")
    scored = [(row, brand) for row in page.items if (brand := stored_score(row)) is not None]
    if as_json:
        for row, score in scored:
            print(
                json.dumps(
                    {
                        "id": row.id,
                        "module": row.module_id,
                        "cohort": row.cohort_key,
                        "status": row.status,
                        "brand": score.model_dump(mode="json"),
                    }
                )
            )
        return
    table = Table(title="variants by brand risk", title_justify="left")
    for column in ("id", "module", "cohort", "score", "risk", "failed guidelines"):
        table.add_column(column, overflow="fold", justify="right" if column == "score" else "left")
    for row, brand in scored:
        failed = "; ".join(
            f"{g.id}: {f.reason}" + (f" ({f.slot}: '{f.excerpt}')" if f.excerpt else "")
            for g in brand.failed
            for f in g.findings[:1]
        )
        figure = "-" if brand.score is None else str(brand.score)
        band = Text(brand.band, style=BAND_STYLE[brand.band])
        table.add_row(Text(row.id), Text(row.module_id), Text(row.cohort_key), figure, band, Text(failed))
    show_table(table)
    unchecked = {g.id for _, brand in scored for g in brand.not_checked}
    console.print(
        f"{len(scored)} variant(s): "
        + ", ".join(f"{band} {sum(1 for _, b in scored if b.band == band)}" for band in ("high", "medium", "low"))
        + (f". Not checked (judged, no judge yet): {', '.join(sorted(unchecked))}" if unchecked else ""),
        highlight=False,
        markup=False,
    )


@brand_app.command("calibrate")
@reports_errors
def calibrate(
    labelled: Annotated[Path, typer.Argument(help="JSONL: kind, locale, copy, labels {guideline: true if followed}.")],
    write: Annotated[
        bool, typer.Option(help="Write guardrails/brand_calibration.json for the UI and the bands.")
    ] = True,
    with_judge: Annotated[bool, typer.Option("--judge", help="Ask the LLM judge the judged guidelines too.")] = False,
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", help="With --judge: never spend more.")] = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """How far each guideline's check agrees with people: agreement, Cohen's kappa, sensitivity and false alarms
    with 95% intervals, the confusion matrix. Under kappa 0.6 a guideline is advisory (never decides a band)."""
    from variantly.authoring.brand_calibration import calibrate as measure
    from variantly.authoring.brand_calibration import read_labelled, write_calibration
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url)
    ws = load_workspace(settings.workspace)
    lines = read_labelled(labelled)
    judgements = _judge_labelled(settings, ws, lines, budget_usd) if with_judge else None
    agreements = measure(ws.brand, lines, judgements)
    table = Table(title=f"{len(lines)} labelled copies ({labelled.name}) against the checks", title_justify="left")
    columns = ("guideline", "n", "agree", "kappa", "sensitivity (95%)", "false alarms (95%)", "matrix", "use")
    for column in columns:
        table.add_column(
            column,
            justify="left" if column in ("guideline", "matrix", "use") else "right",
            no_wrap=column == "guideline",
        )
    for a in agreements:
        if not a.checked:
            table.add_row(a.guideline, "-", "-", "-", "-", "-", "-", "judged: no judge yet")
            continue
        matrix = f"{a.both_fail}/{a.only_check_fails}/{a.only_people_fail}/{a.both_pass}"
        table.add_row(
            a.guideline,
            str(a.n),
            _share(a.agreement),
            "-" if a.kappa is None else f"{a.kappa:.2f}",
            _interval(a.sensitivity),
            _interval(a.false_alarms),
            matrix,
            Text("advisory", style="yellow") if a.advisory else Text("counts", style="green"),
        )
    show_table(table)
    console.print(
        "matrix: both fail / only the check fails / only people fail / both pass. Sensitivity: of what people "
        "failed, the share the check fails; false alarms: of what people passed, the share it fails.",
        highlight=False,
    )
    if write:
        path = write_calibration(ws.root, agreements, ws.brand_hash, labelled)
        console.print(f"written to {path}: advisory guidelines stop deciding risk bands at the next poll", markup=False)


def _judge_labelled(
    settings: ProcessSettings, ws: Workspace, lines: list[Labelled], budget_usd: float | None
) -> dict[int, Judgement]:
    """The judge's verdicts on each labelled copy (by line index), the calls recorded like a run's."""
    import asyncio

    from variantly.authoring.brand_score import judged_guidelines, judgement_key
    from variantly.generation.budget import Budget
    from variantly.generation.judge import Copy, JudgeRun, judge_copies
    from variantly.generation.wiring import llm_client
    from variantly.store.runs import save_calls

    llm = llm_client(ws, settings)
    run = JudgeRun(run_id="calibrate")
    budget = Budget(budget_usd)
    groups: dict[tuple[str, str], list[Copy]] = {}
    for i, line in enumerate(lines):
        key = judgement_key(ws.brand, line.kind, None, line.texts, line.locale)
        groups.setdefault((line.kind, line.locale), []).append(Copy(str(i), line.texts, key, line.locale))

    async def go() -> dict[int, Judgement]:
        found: dict[int, Judgement] = {}
        try:
            for (kind, _), copies in groups.items():
                questions = judged_guidelines(ws.brand, kind, None)
                if questions:
                    for copy, judgement in await judge_copies(
                        llm, questions, copies, ws.settings.generation.prices.get(llm.model), budget, run
                    ):
                        found[int(copy.ident)] = judgement
        finally:
            await llm.close()
        return found

    found = asyncio.run(go())
    save_calls(open_store(settings), run.records)
    console.print(
        f"judged {len(found)} of {len(lines)} labelled copies in {run.calls} call(s), ${run.cost_usd:.4f}"
        + (f"; {len(run.failed)} not judged" if run.failed else ""),
        highlight=False,
        markup=False,
    )
    return found


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _interval(interval: Interval) -> str:
    if interval.value is None:
        return "-"
    return f"{interval.value:.0%} [{interval.low:.0%}, {interval.high:.0%}]"


@brand_app.command("judge")
@reports_errors
def judge(
    status: Annotated[str | None, typer.Option(help="Which variants; '' for every one not retired.")] = "pending",
    budget_usd: Annotated[float | None, typer.Option("--budget-usd", help="Never spend more than this.")] = None,
    workspace: WorkspaceOpt = None,
    database_url: DatabaseOpt = None,
) -> None:
    """Ask the LLM judge every judged guideline (the ethics ones too) of each variant not judged for its copy yet:
    a job's candidates in one call, within the budget; verdicts are kept with the score."""
    import asyncio

    from variantly.generation.budget import Budget
    from variantly.generation.judge import unjudged
    from variantly.generation.wiring import judge_stored
    from variantly.workspace import load_workspace

    settings = settings_for(workspace, database_url)
    store = open_store(settings)
    ws = load_workspace(settings.workspace)
    run = asyncio.run(judge_stored(store, ws, settings, unjudged(store, status or None), Budget(budget_usd)))
    console.print(
        f"judged {run.judged} variant(s) ({run.cached} kept from before) in {run.calls} call(s): "
        f"{run.prompt_tokens:,} prompt and {run.completion_tokens:,} completion tokens, ${run.cost_usd:.4f}; "
        f"{run.unsupported} judgement(s) dropped for citing words not in the copy",
        highlight=False,
        markup=False,
    )
    for failure in run.failed:
        console.print(f"  not judged: {failure}", highlight=False, markup=False)
    if run.budget_reached:
        console.print("  the budget stopped it: run again with more to judge the rest", markup=False)
    if run.failed or run.budget_reached:
        raise typer.Exit(4)
