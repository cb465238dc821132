"""What a run's jobs share, and the one way a job pays for an LLM call.

``RunServices`` (the store, the LLM, the checker: built once, never changed) and
``RunState`` (the plan, the summary, the budget: what jobs change as they go) are handed
to every job. ``paid_call`` is every call a job makes (a first answer, a top-up, a re-ask,
the brand judge's verdicts): its worst case reserved against the budget before each
attempt, and each attempt recorded with its cost (``record_call``), answered or not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from variantly import metrics
from variantly.authoring.policy_checks import PolicyChecker
from variantly.generation.budget import Budget, BudgetReached, cost
from variantly.generation.llm import INTERRUPTED, CallRecord, LLMClient
from variantly.generation.plan import Plan, PlannedJob
from variantly.generation.prompts import PromptSet, count_tokens
from variantly.generation.slots import CallSlots
from variantly.generation.summary import RunStop, RunSummary
from variantly.generation.writer import JobWriter
from variantly.store import Store
from variantly.store.schema import LLMCallRow
from variantly.workspace import Workspace

Messages = list[dict[str, Any]]
T = TypeVar("T")


@dataclass(frozen=True)
class RunServices:
    """What every job of one run uses and none changes. ``calls_in_flight`` caps LLM calls, not jobs:
    a job checking or saving its candidates does not hold a slot another job could call with. ``judge``: the
    brand judge answers each job's candidates that pass the policy checks (``generate --judge``)."""

    store: Store
    workspace: Workspace
    llm: LLMClient
    checker: Callable[[], PolicyChecker]
    prompts: PromptSet
    run_id: str
    worker: ThreadPoolExecutor
    writer: JobWriter
    calls_in_flight: CallSlots
    max_reasks: int
    judge: bool = False
    picture_worker: ThreadPoolExecutor | None = None  # pictures' OCR and copies (CPU), off the check thread


@dataclass
class RunState:
    """What a run's jobs change as they go."""

    plan: Plan
    summary: RunSummary
    budget: Budget
    stop: RunStop = field(default_factory=RunStop)
    unsaved: dict[str, list[LLMCallRow]] = field(default_factory=dict)  # job key -> calls of a job still running


class JobStopped(Exception):
    """Internal: the budget cannot cover the job's next call."""


class NotStarted(Exception):
    """Internal: the run was stopping before this job made its first call."""


@dataclass(frozen=True)
class Priced:
    """A call priced by what it makes, not by chat tokens: its worst case before, its bill from its record after."""

    model: str
    worst: float
    bill: Callable[[CallRecord], float]


Send = Callable[[Messages, Callable[[CallRecord], None], Callable[[], None]], Awaitable[T]]


async def paid_call(
    services: RunServices,
    state: RunState,
    job: PlannedJob,
    calls: list[LLMCallRow],
    messages: Messages,
    purpose: str,
    send: Send[T],
    *,
    priced: Priced | None = None,
) -> T:
    """One LLM request (with its retries), each attempt paid for from the budget first. ``send(messages, on_call,
    before_attempt)`` makes it: ``LLMClient.complete`` for candidates, ``LLMClient.ask`` for verdicts. A call not
    priced by chat tokens (pictures) says its worst case and its bill in ``priced``."""
    settings = services.workspace.settings.generation
    if state.budget.limit_usd is None or priced is not None:
        prompt_tokens = 0  # nothing to reserve against, or not priced by tokens
    elif messages is job.prompt.messages:
        prompt_tokens = job.prompt.tokens  # counted when the job was planned
    else:
        prompt_tokens = count_tokens(messages, settings.tokenizer)
    worst = priced.worst if priced else cost(state.plan.price, prompt_tokens, settings.max_completion_tokens)
    held: list[float] = []

    def reserve() -> None:
        try:
            held.append(state.budget.reserve(worst))
        except BudgetReached as exc:
            raise JobStopped from exc

    def record(call: CallRecord) -> None:
        if priced is not None:
            spent = priced.bill(call)
            state.budget.settle(
                held.pop() if held else 0.0,
                record_call(services, state, job, calls, call, purpose, spent=spent, model=priced.model),
            )
            return
        if call.outcome == INTERRUPTED:  # cut off in flight: the provider answers and bills it all the same
            call.prompt_tokens = prompt_tokens or count_tokens(messages, settings.tokenizer)
            call.completion_tokens = job.completion_tokens  # the plan's estimate of an answer
        state.budget.settle(held.pop() if held else 0.0, record_call(services, state, job, calls, call, purpose))

    async with services.calls_in_flight.slot(first_call=purpose == "generate"):
        if state.stop.status and purpose == "generate":
            raise NotStarted
        return await send(messages, record, reserve)


def record_call(
    services: RunServices,
    state: RunState,
    job: PlannedJob,
    calls: list[LLMCallRow],
    call: CallRecord,
    purpose: str,
    *,
    batch: bool = False,
    spent: float | None = None,
    model: str | None = None,
) -> float:
    """Count one answered (or failed) attempt in the summary and in the job's calls; returns its cost. A call not
    priced by chat tokens (a picture) gives its own ``spent`` and ``model``."""
    plan = state.plan
    model = model or plan.model
    if spent is None:
        spent = cost(plan.price, call.prompt_tokens, call.completion_tokens, call.cached_tokens)
        if batch and plan.price is not None:
            spent *= plan.price.batch_discount
    summary = state.summary
    summary.llm_calls += 1
    summary.prompt_tokens += call.prompt_tokens
    summary.cached_tokens += call.cached_tokens
    summary.completion_tokens += call.completion_tokens
    summary.cost_usd += spent
    metrics.LLM_TOKENS.labels(model, "prompt").inc(call.prompt_tokens)
    metrics.LLM_TOKENS.labels(model, "cached").inc(call.cached_tokens)
    metrics.LLM_TOKENS.labels(model, "completion").inc(call.completion_tokens)
    metrics.LLM_COST.labels(model).inc(spent)
    calls.append(call.row(services.run_id, job.key, purpose, model, spent))
    return spent
