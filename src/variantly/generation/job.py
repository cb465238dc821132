"""One job (module x cohort x locale): generate, top up, check, re-ask, keep what passes.

Every call reserves its worst case against the run's budget first, and every answered
call is recorded, also when the job cannot finish. Copy that fails for personal data
is redacted before it is quoted back to the LLM or stored. The job ends in one of
three states (``GenerationJobRow.status``): done (at least one candidate passed),
failed (refused, truncated, or nothing passed: redone on ``--retry-failed``) or
unfinished (out of attempts, or the budget ran out mid-job: redone by the next run).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from variantly import metrics
from variantly.authoring.copy_checks import REDACTED, redact_personal_data
from variantly.authoring.policy_checks import make_report
from variantly.authoring.review import mark_feedback_used
from variantly.errors import LLMCallFailed, LLMRefused, LLMTruncated
from variantly.generation.budget import Budget, BudgetReached, cost
from variantly.generation.llm import CallRecord, Completion, LLMClient
from variantly.generation.plan import Plan, PlannedJob
from variantly.generation.prompts import PromptSet, count_tokens, output_model
from variantly.generation.summary import JobProblem, RunStop, RunSummary
from variantly.generation.writer import JobWriter
from variantly.store import Store
from variantly.store.schema import GenerationJobRow, LLMCallRow, VariantRow
from variantly.workspace import Workspace

if TYPE_CHECKING:
    from variantly.authoring.policy_checks import PolicyChecker


@dataclass
class JobContext:
    """What every job of one run shares. ``calls_in_flight`` caps LLM calls, not jobs:
    a job checking or saving its candidates does not hold a slot another job could call with."""

    store: Store
    workspace: Workspace
    llm: LLMClient
    checker: Callable[[], PolicyChecker]
    prompts: PromptSet
    plan: Plan
    run_id: str
    summary: RunSummary
    budget: Budget
    worker: ThreadPoolExecutor
    max_reasks: int
    calls_in_flight: asyncio.Semaphore
    writer: JobWriter
    stop: RunStop = field(default_factory=RunStop)
    unsaved: dict[str, list[LLMCallRow]] = field(default_factory=dict)  # job key -> calls of a job still running


@dataclass
class _Candidate:
    slots: dict[str, str]
    report: dict[str, Any]
    attempts: list[dict[str, Any]] = field(default_factory=list)


OUT_OF_BUDGET = "the budget ran out before the job could finish"


class JobStopped(Exception):
    """Internal: the budget cannot cover the job's next call; what it has is kept."""


class NotStarted(Exception):
    """Internal: the run stopped before this job made its first call."""


async def run_job(ctx: JobContext, job: PlannedJob, first: Completion | None = None) -> None:
    """Run one job and save its outcome; raises ``JobStopped`` when the budget stopped it.

    ``first`` is an answer that came another way (a batch result, with its call): the job
    goes on from it with top-ups and re-asks as live calls.
    """
    loop = asyncio.get_running_loop()
    calls: list[LLMCallRow] = ctx.unsaved.setdefault(job.key, [])
    wanted = ctx.plan.params["candidates"]
    module = ctx.workspace.modules[job.module_id].module
    cohort = job.cohort.as_dict()
    candidates: list[_Candidate] = []
    reasks = 0
    status, error = "failed", ""
    out_of_budget = False

    async def ask(messages: list[dict[str, str]], purpose: str, count: int) -> Completion:
        return await _call(ctx, job, calls, messages, purpose, output_model(module, count))

    def check(slots_list: list[dict[str, str]]) -> list[_Candidate]:
        checker = ctx.checker()
        return [
            _redacted(
                ctx, job.module_id, cohort, _Candidate(s, checker.check_slots(ctx.workspace, job.module_id, cohort, s))
            )
            for s in slots_list
        ]

    try:
        if first is None:
            completion = await ask(job.prompt.messages, "generate", wanted)
        else:
            completion = first
            for call in first.calls:
                ctx.budget.settle(0.0, record_call(ctx, job, calls, call, "batch", batch=True))
        items = [_as_text(c) for c in completion.items[:wanted]]
        conversation = _after(job, completion)
        if len(items) < wanted:  # the schema asked for `wanted`; not every server keeps to it
            missing = wanted - len(items)
            top_up = [*conversation, {"role": "user", "content": _top_up_request(len(items), missing)}]
            try:
                extra = await ask(top_up, "top_up", missing)
                ctx.summary.top_ups += 1
                items += [_as_text(c) for c in extra.items[:missing]]
            except JobStopped:
                out_of_budget = True
            ctx.summary.candidates_short += wanted - len(items)
        candidates = await loop.run_in_executor(ctx.worker, check, items)
        while not out_of_budget and reasks < ctx.max_reasks:
            failing_at = [i for i, c in enumerate(candidates) if not c.report["passed"]]
            if not failing_at:
                break
            try:
                completion = await ask(
                    [*conversation, {"role": "user", "content": _reask(ctx, candidates, failing_at)}],
                    "reask",
                    len(failing_at),
                )
            except JobStopped:
                out_of_budget = True
                break
            conversation = _after(job, completion)
            reasks += 1
            fresh = await loop.run_in_executor(
                ctx.worker, check, [_as_text(c) for c in completion.items[: len(failing_at)]]
            )
            for index, new in zip(failing_at, fresh, strict=False):  # by position: equal texts are possible
                old = candidates[index]
                new.attempts = [*old.attempts, {"slots": old.slots, "report": old.report}]
                candidates[index] = new
        if out_of_budget:
            status, error = "unfinished", OUT_OF_BUDGET
        else:
            why = next((c.report["summary"] for c in candidates), "the LLM returned no candidates")
            error = f"no candidate passed the guardrails after {reasks} re-ask(s): {why}"
    except (LLMRefused, LLMTruncated) as exc:
        status, error = "failed", exc.message
    except LLMCallFailed as exc:  # out of attempts: trouble on the way, not in the inputs
        status, error = "unfinished", exc.message
    except (JobStopped, NotStarted) as exc:
        if not calls:  # stopped before its first call: it never started
            del ctx.unsaved[job.key]
            ctx.summary.jobs_not_started += 1
            raise
        if isinstance(exc, NotStarted):
            raise
        out_of_budget = True
        status, error = "unfinished", OUT_OF_BUDGET
    if any(c.report["passed"] for c in candidates):
        status, error = "done", ""
    await _save(ctx, job, calls, candidates, status, error, reasks)
    if out_of_budget:
        raise JobStopped


def _after(job: PlannedJob, completion: Completion) -> list[dict[str, str]]:
    """The job's prompt and the LLM's last answer (personal data removed): what a follow-up builds on."""
    return [*job.prompt.messages, {"role": "assistant", "content": redact_personal_data(completion.raw)}]


def _reask(ctx: JobContext, candidates: list[_Candidate], failing_at: list[int]) -> str:
    """The follow-up that quotes each failing candidate (redacted) with its problems."""
    failures = [
        {
            "slots": candidates[i].slots,
            "problems": [f"{slot}: {f['message']}" for slot, fs in candidates[i].report["slots"].items() for f in fs],
        }
        for i in failing_at
    ]
    return ctx.prompts.render("reask.jinja", count=len(failing_at), failures=failures)


async def _call(
    ctx: JobContext,
    job: PlannedJob,
    calls: list[LLMCallRow],
    messages: list[dict[str, str]],
    purpose: str,
    output: Any,
) -> Completion:
    """One LLM request (with its retries), each attempt paid for from the budget first."""
    settings = ctx.workspace.settings.generation
    if ctx.budget.limit_usd is None:
        prompt_tokens = 0  # nothing to reserve against
    elif messages is job.prompt.messages:
        prompt_tokens = job.prompt.tokens  # counted when the job was planned
    else:
        prompt_tokens = count_tokens(messages, settings.tokenizer)
    worst = cost(ctx.plan.price, prompt_tokens, settings.max_completion_tokens)
    held: list[float] = []

    def reserve() -> None:
        try:
            held.append(ctx.budget.reserve(worst))
        except BudgetReached as exc:
            raise JobStopped from exc

    def record(call: CallRecord) -> None:
        ctx.budget.settle(held.pop() if held else 0.0, record_call(ctx, job, calls, call, purpose))

    async with ctx.calls_in_flight:
        if ctx.stop.status and purpose == "generate":
            raise NotStarted
        return await ctx.llm.complete(messages, output, on_call=record, before_attempt=reserve)


def record_call(
    ctx: JobContext, job: PlannedJob, calls: list[LLMCallRow], call: CallRecord, purpose: str, *, batch: bool = False
) -> float:
    """Count one answered (or failed) attempt in the summary and in the job's calls; returns its cost."""
    price = ctx.plan.price
    spent = cost(price, call.prompt_tokens, call.completion_tokens, call.cached_tokens)
    if batch and price is not None:
        spent *= price.batch_discount
    summary = ctx.summary
    summary.llm_calls += 1
    summary.prompt_tokens += call.prompt_tokens
    summary.cached_tokens += call.cached_tokens
    summary.completion_tokens += call.completion_tokens
    summary.cost_usd += spent
    model = ctx.plan.model
    metrics.LLM_TOKENS.labels(model, "prompt").inc(call.prompt_tokens)
    metrics.LLM_TOKENS.labels(model, "cached").inc(call.cached_tokens)
    metrics.LLM_TOKENS.labels(model, "completion").inc(call.completion_tokens)
    metrics.LLM_COST.labels(model).inc(spent)
    calls.append(
        LLMCallRow(
            run_id=ctx.run_id,
            job_key=job.key,
            purpose=purpose,
            attempt=call.attempt,
            model=ctx.plan.model,
            outcome=call.outcome,
            prompt_tokens=call.prompt_tokens,
            completion_tokens=call.completion_tokens,
            cached_tokens=call.cached_tokens,
            cost_usd=spent,
            latency_ms=call.latency_ms,
        )
    )
    return spent


async def save_outcome(ctx: JobContext, job: PlannedJob, calls: list[LLMCallRow], status: str, error: str) -> None:
    """A job that ends without candidates (a batch result that failed): recorded, with its calls."""
    ctx.unsaved[job.key] = calls
    await _save(ctx, job, calls, [], status, error, 0)


async def _save(
    ctx: JobContext,
    job: PlannedJob,
    calls: list[LLMCallRow],
    candidates: list[_Candidate],
    status: str,
    error: str,
    reasks: int,
) -> None:
    summary, plan = ctx.summary, ctx.plan
    summary.reasks += reasks
    if error:
        summary.errors.append(JobProblem(job.module_id, job.cohort.key, error, status))
    rows = []
    for index, candidate in enumerate(candidates):
        passed = candidate.report["passed"]
        summary.candidates_passed += passed
        summary.candidates_failed += not passed
        report = candidate.report | {
            "attempts": candidate.attempts,
            "prompt_cuts": job.prompt.cuts,
            "run_id": ctx.run_id,
            "prompt_tokens": job.prompt.tokens,
        }
        rows.append(
            VariantRow(
                # the run is part of the id: a job redone by a later run must not collide with its first try
                id=hashlib.sha256(f"{job.key}:{ctx.run_id}:{index}".encode()).hexdigest()[:24],
                module_id=job.module_id,
                cohort_key=job.cohort.key,
                locale=job.cohort.locale,
                slots=candidate.slots,
                status="pending" if passed else "guardrail_failed",
                module_hash=ctx.workspace.modules[job.module_id].content_hash,
                prompt_hash=plan.prompt_hash,
                policy_hash=plan.policy_hash,
                model=plan.model,
                params=plan.params_for(job) | {"run_id": ctx.run_id},
                source="generated",
                report=report,
            )
        )
    outcome = GenerationJobRow(
        key=job.key,
        run_id=ctx.run_id,
        module_id=job.module_id,
        cohort_key=job.cohort.key,
        status=status,
        passed=sum(c.report["passed"] for c in candidates),
        failed=sum(not c.report["passed"] for c in candidates),
        reasks=reasks,
        error=error,
    )
    if status == "done":
        summary.jobs_done += 1
    elif status == "failed":
        summary.jobs_failed += 1
    else:
        summary.jobs_unfinished += 1
    del ctx.unsaved[job.key]  # from here on the writer owns them, even if the run is interrupted
    await ctx.writer.save(outcome, rows, calls)
    if status == "done" and plan.params_for(job).get("feedback"):
        loop = asyncio.get_running_loop()
        await _uninterrupted(
            loop.run_in_executor(ctx.worker, mark_feedback_used, ctx.store, job.module_id, job.cohort.key, ctx.run_id)
        )


async def _uninterrupted(write: Awaitable[Any]) -> Any:
    """Let a store write finish when the run is interrupted: what it records was paid for.

    Cancelling the await of ``run_in_executor`` would cancel a write still queued
    behind the worker thread, and the job's calls would be lost.
    """
    task = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await task
        raise


def _redacted(ctx: JobContext, module_id: str, cohort: dict[str, str], candidate: _Candidate) -> _Candidate:
    """Personal data never leaves the check: not into a re-ask, not into the store.

    The redacted text is checked again so every span in the report points into the text
    that is kept; the personal-data failure stays, now marking the placeholders.
    """
    found = {
        slot: f["message"]
        for slot, fs in candidate.report["slots"].items()
        for f in fs
        if f["validator"] == "variantly/personal_data"
    }
    if not found:
        return candidate
    slots = {name: redact_personal_data(text) for name, text in candidate.slots.items()}
    checker = ctx.checker()
    failures, unchecked = checker.slot_failures(ctx.workspace, module_id, cohort, slots)  # counted once, before
    for slot, message in found.items():
        spans = [[m.start(), m.end()] for m in REDACTED.finditer(slots[slot])]
        failures[slot].append({"validator": "variantly/personal_data", "message": message, "spans": spans})
    report = make_report(failures, checker.policy_hash, unchecked) | {"redacted": True}
    return _Candidate(slots, report, candidate.attempts)


def _top_up_request(have: int, missing: int) -> str:
    return (
        f"You wrote {have} candidate{'s' if have != 1 else ''}; {have + missing} were asked for. "
        f"Write {missing} more, different from those, following all the rules and the same shape."
    )


def _as_text(candidate: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in candidate.items()}
