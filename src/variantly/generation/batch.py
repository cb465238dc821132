"""Half the cost for big runs: jobs through the provider's Batch API (``/v1/files`` + ``/v1/batches``).

``variantly generate --batch`` first collects every batch sent earlier, then sends the
jobs that are left as one new batch and stores its id; ``--collect`` only collects. A
batch is answered within 24 hours at the batch price (``Price.batch_discount``).

Collecting goes by the provider's status. ``validating``, ``in_progress``, ``finalizing``
and ``cancelling`` wait for a later collect. ``completed``, ``expired`` and ``cancelled``
deliver what was answered: each answer goes through the same checks as a live call,
and failing candidates are re-asked with live calls. Jobs a batch did not answer, and
every job of a ``failed`` batch, become unfinished, so the next run plans them again.
An answer for a module or prompt edited since the batch was sent is discarded: its job
key no longer matches, and the job is planned afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from variantly.errors import LLMRefused, LLMTruncated
from variantly.generation.budget import BudgetReached, cost
from variantly.generation.calls import JobStopped, RunServices, RunState, record_call
from variantly.generation.claims import Claims
from variantly.generation.image_api import picture_cost, picture_request, read_pictures
from variantly.generation.job import run_job
from variantly.generation.llm import BatchEndpoint, CallRecord, Completion
from variantly.generation.outcomes import ended_without_candidates, record_outcome
from variantly.generation.pictures import run_picture_job
from variantly.generation.plan import Plan, PlannedJob, plan_job
from variantly.generation.prompts import output_model, picture_prompt
from variantly.store.schema import BatchRow, utcnow
from variantly.workspace.cohorts import Cohort
from variantly.workspace.images import Picture

CHAT: BatchEndpoint = "/v1/chat/completions"
PICTURES: BatchEndpoint = "/v1/images/generations"
WAITING = ("validating", "in_progress", "finalizing", "cancelling")
ANSWERED = ("completed", "expired", "cancelled")  # the output file holds what was answered


@dataclass
class BatchReport:
    """What one collect or submit did, for the summary."""

    lines: list[str] = field(default_factory=list)
    waiting: int = 0  # batches still with the provider


async def run_batches(
    services: RunServices, state: RunState, claims: Claims, replan: Callable[[], Plan], *, submit: bool
) -> None:
    """Collect what earlier batches answered; with ``submit``, plan again (``replan``: what was collected is done)
    and send the jobs left as new batches: the copy jobs in one (``/v1/chat/completions``), the picture jobs in
    another (``/v1/images/generations``). Each job sent is claimed first, as a live run's is
    (``generation.claims``)."""
    summary = state.summary
    report = BatchReport()
    await collect(services, state, report, claims)
    if submit:
        state.plan = await _in_worker(services, replan)
        summary.jobs_planned = len(state.plan.jobs)
        mine = []
        for job in state.plan.jobs:
            if await claims.take(job) is None:
                mine.append(job)
            else:
                summary.jobs_elsewhere += 1  # another run is making it, made it, or sent it in a batch
        modules = services.workspace.modules
        pictures = [j for j in mine if modules[j.module_id].module.picture_slot is not None]
        copy = [j for j in mine if j not in pictures]
        left: list[PlannedJob] = []
        for send, jobs in ((submit_copy, copy), (submit_pictures, pictures)):  # a batch per endpoint
            if not jobs:
                continue
            batch_id, not_sent = await send(services, state, jobs)
            left += not_sent
            if batch_id:
                report.waiting += 1
                report.lines.append(
                    f"batch {batch_id}: sent {len(jobs) - len(not_sent)} job(s); "
                    "`variantly generate --collect` picks up the results (within 24 hours)"
                )
        summary.jobs_in_batch = len(mine) - len(left)
        summary.jobs_not_started += len(left)
        if left:
            state.stop.status = "stopped_budget"
    summary.batches_waiting = report.waiting
    summary.batch_lines = report.lines


async def submit_copy(services: RunServices, state: RunState, jobs: list[PlannedJob]) -> tuple[str, list[PlannedJob]]:
    """Send copy ``jobs`` as one batch, as many as the budget's worst case covers; returns (id, jobs not sent)."""
    settings = services.workspace.settings.generation
    price = state.plan.price
    discount = price.batch_discount if price is not None else 1.0
    sent, left = _reserved(
        state, jobs, lambda job: cost(price, job.prompt.tokens, settings.max_completion_tokens) * discount
    )
    if not sent:
        return "", left
    wanted = state.plan.params["candidates"]
    requests = [
        services.llm.batch_request(
            job.key, job.prompt.messages, output_model(services.workspace.modules[job.module_id].module, wanted)
        )
        for job in sent
    ]
    return await _send(services, state, sent, requests, CHAT, state.plan.model), left


async def submit_pictures(
    services: RunServices, state: RunState, jobs: list[PlannedJob]
) -> tuple[str, list[PlannedJob]]:
    """Send picture ``jobs`` as one batch of ``/v1/images/generations`` (a batch serves one endpoint); their checks,
    descriptions and redos follow live at collect. Returns (id, jobs not sent)."""
    images = services.workspace.settings.images
    price = images.prices.get(images.model)
    discount = price.batch_discount if price is not None else 1.0
    wanted = state.plan.params["candidates"]
    prompts = {job.key: _picture_prompt(services, job) for job in jobs}

    def worst(job: PlannedJob) -> float:
        return picture_cost(price, _spec(services, job), wanted, len(prompts[job.key])) * discount

    sent, left = _reserved(state, jobs, worst)
    if not sent:
        return "", left
    requests = [picture_request(job.key, images.model, prompts[job.key], _spec(services, job), wanted) for job in sent]
    return await _send(services, state, sent, requests, PICTURES, images.model), left


def _reserved(
    state: RunState, jobs: list[PlannedJob], worst: Callable[[PlannedJob], float]
) -> tuple[list[PlannedJob], list[PlannedJob]]:
    """The jobs whose worst case the budget covers (committed: a batch may answer every request in full)."""
    sent, left = [], []
    for job in jobs:
        try:
            state.budget.reserve(worst(job))
            sent.append(job)
        except BudgetReached:
            left.append(job)
    return sent, left


async def _send(
    services: RunServices,
    state: RunState,
    sent: list[PlannedJob],
    requests: list[dict[str, Any]],
    endpoint: BatchEndpoint,
    model: str,
) -> str:
    batch_id, file_id = await services.llm.submit_batch(requests, endpoint=endpoint)
    row = BatchRow(
        id=batch_id,
        run_id=services.run_id,
        status="validating",
        model=model,
        input_file_id=file_id,
        jobs=[
            {
                "key": j.key,
                "module_id": j.module_id,
                "cohort": j.cohort.key,
                "feedback": j.feedback,
                "retry_of": j.retry_of,
                "endpoint": endpoint,
            }
            for j in sent
        ],
    )
    await _in_worker(services, lambda: _save_batch(services, row))
    return batch_id


def _spec(services: RunServices, job: PlannedJob) -> Picture:
    found = services.workspace.modules[job.module_id].module.picture_slot
    assert found is not None
    return found[1]


def _picture_prompt(services: RunServices, job: PlannedJob) -> str:
    return picture_prompt(services.prompts, services.workspace, job.module_id, job.cohort, feedback=job.feedback)


async def collect(services: RunServices, state: RunState, report: BatchReport, claims: Claims) -> None:
    """Fetch every batch not yet collected; check, re-ask and save what the finished ones answered. A batch
    another run is collecting is left to it: each is claimed, then read again, since the run that collected it
    releases its claim only once it is marked collected."""
    rows = await _in_worker(services, lambda: _open_batches(services))
    for row in rows:
        if (collector := await claims.take_batch(row.id)) is not None:
            report.lines.append(f"batch {row.id}: being collected by run {collector}")
            continue
        if await _in_worker(services, partial(_collected, services, row.id)):
            continue  # collected by another run between the two reads
        batch = await services.llm.batch(row.id)
        counts = batch.request_counts
        done = f"{counts.completed}/{counts.total}" if counts else "?"
        if batch.status in WAITING:
            report.waiting += 1
            report.lines.append(f"batch {row.id}: {batch.status}, {done} answered; collect again later")
            await _in_worker(services, partial(_set_status, services, row.id, batch.status))
            continue
        answers: dict[str, dict[str, Any]] = {}
        errors: dict[str, str] = {}
        if batch.status in ANSWERED:
            for line in await services.llm.batch_file(batch.output_file_id) if batch.output_file_id else []:
                answers[line["custom_id"]] = line
            for line in await services.llm.batch_file(batch.error_file_id) if batch.error_file_id else []:
                errors[line["custom_id"]] = _error_text(line)
        why = _batch_error(batch) if batch.status == "failed" else f"the batch ended {batch.status} before answering it"
        outcomes = await asyncio.gather(
            *(_settle(services, state, job, answers.get(job["key"]), errors.get(job["key"], why)) for job in row.jobs)
        )
        message = f"{batch.status}: {outcomes.count('answered')} answered, {outcomes.count('unanswered')} unanswered"
        if outcomes.count("stale"):
            message += f", {outcomes.count('stale')} discarded (module or prompts edited since)"
        report.lines.append(f"batch {row.id}: {message}")
        await _in_worker(services, partial(_set_status, services, row.id, "collected", message))


async def _settle(
    services: RunServices, state: RunState, info: dict[str, Any], answer: dict[str, Any] | None, error: str
) -> str:
    job = _rebuild(services, state, info)
    if job is None:
        return "stale"
    if answer is None or answer.get("error") or (answer.get("response") or {}).get("status_code") != 200:
        reason = _error_text(answer) if answer else error
        await record_outcome(
            services, state, ended_without_candidates(state, job, [], "unfinished", f"batch: {reason}")
        )
        return "unanswered"
    if info.get("endpoint") == PICTURES:
        return await _settle_pictures(services, state, job, answer["response"]["body"])
    output = output_model(services.workspace.modules[job.module_id].module, state.plan.params["candidates"])
    record = CallRecord(1, "ok")
    try:
        parsed, raw = services.llm.read_answer(answer["response"]["body"], output, record)
    except (LLMRefused, LLMTruncated, ValidationError, ValueError) as exc:
        record.outcome = type(exc).__name__
        calls: list = []
        state.budget.settle(0.0, record_call(services, state, job, calls, record, "batch", batch=True))
        if isinstance(exc, LLMRefused | LLMTruncated):  # final for these inputs
            ended = ended_without_candidates(state, job, calls, "failed", f"batch: {exc.message}")
        else:
            ended = ended_without_candidates(
                state, job, calls, "unfinished", "batch: the answer was not the JSON asked for"
            )
        await record_outcome(services, state, ended)
        return "answered"
    items = [c.model_dump() for c in parsed.candidates]
    with contextlib.suppress(JobStopped):  # a job always has its batch call: this only guards a future change
        outcome = await run_job(services, state, job, first=Completion(items, raw, [record]))
        await record_outcome(services, state, outcome)  # re-asks the budget could not cover: saved as it stands
    return "answered"


async def _settle_pictures(services: RunServices, state: RunState, job: PlannedJob, body: dict[str, Any]) -> str:
    """A batch's pictures for one job, billed at the batch price, then checked, described and redone live."""
    images = services.workspace.settings.images
    price = images.prices.get(images.model)
    record = CallRecord(1, "ok")
    pictures = read_pictures(body, record)
    spent = picture_cost(price, _spec(services, job), record.pictures, record.prompt_tokens)
    spent *= price.batch_discount if price is not None else 1.0
    calls: list = state.unsaved.setdefault(job.key, [])
    state.budget.settle(0.0, record_call(services, state, job, calls, record, "batch", spent=spent, model=images.model))
    if not pictures:
        ended = ended_without_candidates(state, job, calls, "failed", "batch: the image endpoint answered no picture")
        await record_outcome(services, state, ended)
        return "answered"
    with contextlib.suppress(JobStopped):
        outcome = await run_picture_job(services, state, job, first=pictures)
        await record_outcome(services, state, outcome)
    return "answered"


def _rebuild(services: RunServices, state: RunState, info: dict[str, Any]) -> PlannedJob | None:
    """The job as the workspace would plan it now, or None when its inputs changed since it was sent."""
    if info["module_id"] not in services.workspace.modules:
        return None
    cohort = Cohort.from_key(info["cohort"])
    job = plan_job(
        services.workspace, services.prompts, state.plan, info["module_id"], cohort, info["feedback"], info["retry_of"]
    )
    return job if job.key == info["key"] else None


def _error_text(line: dict[str, Any] | None) -> str:
    if not line:
        return "no answer"
    error = line.get("error") or ((line.get("response") or {}).get("body") or {}).get("error") or {}
    status = (line.get("response") or {}).get("status_code")
    return f"{error.get('code') or status or 'error'}: {error.get('message', 'no answer')}"


def _batch_error(batch: Any) -> str:
    errors = getattr(getattr(batch, "errors", None), "data", None) or []
    return "the batch failed: " + ("; ".join(f"{e.code}: {e.message}" for e in errors) or "no reason given")


async def _in_worker(services: RunServices, work: Callable[[], Any]) -> Any:
    return await asyncio.get_running_loop().run_in_executor(services.worker, work)


def _open_batches(services: RunServices) -> list[BatchRow]:
    with services.store.sessions() as session:
        return list(
            session.scalars(select(BatchRow).where(BatchRow.status != "collected").order_by(BatchRow.created_at))
        )


def _collected(services: RunServices, batch_id: str) -> bool:
    with services.store.sessions() as session:
        return session.get_one(BatchRow, batch_id).status == "collected"


def _save_batch(services: RunServices, row: BatchRow) -> None:
    with services.store.session() as session:
        session.add(row)


def _set_status(services: RunServices, batch_id: str, status: str, message: str = "") -> None:
    with services.store.session() as session:
        row = session.get_one(BatchRow, batch_id)
        row.status = status
        if message:
            row.message = message
        if status == "collected":
            row.collected_at = utcnow()
