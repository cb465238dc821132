"""What a job ends with, and the one place it is counted and saved.

A job (``generation.job`` for copy, ``generation.pictures`` for pictures) holds its
``Candidate``s as it goes and returns a ``JobOutcome``, a value. ``record_outcome`` counts
it in the run's summary and hands its variants, calls and row to the writer; a new
variant carries the brand judge's verdicts when the job asked for them, and the scoring
after the run scores it with them. A job ends in one of three states
(``GenerationJobRow.status``): done (at least one candidate passed), failed (refused,
truncated, or nothing passed: redone on ``--retry-failed``) or unfinished (out of
attempts, or the budget ran out mid-job: redone by the next run).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, Literal

from variantly.authoring.brand_score import Judgement, score_variant
from variantly.authoring.report import Attempt, CheckReport, GenerationRecord, PictureRecord, VariantReport
from variantly.authoring.review import mark_feedback_used
from variantly.generation.calls import RunServices, RunState
from variantly.generation.plan import Plan, PlannedJob, Resume, picture_params
from variantly.generation.summary import JobProblem
from variantly.store.runs import FinishedJob
from variantly.store.schema import GenerationJobRow, LLMCallRow, VariantRow

JobStatus = Literal["done", "failed", "unfinished"]


@dataclass(frozen=True)
class Candidate:
    """One candidate as the job holds it: its copy (personal data redacted), its report, the tries before it, and
    the brand judge's verdicts with the counted judged guidelines it fails (``brand``: what a re-ask quotes)."""

    slots: dict[str, str]
    report: CheckReport
    attempts: tuple[Attempt, ...] = ()
    redacted: bool = False
    judgement: Judgement | None = None
    brand: tuple[str, ...] = ()
    picture: PictureRecord | None = None  # a picture job's: how its picture was made and what its checks saw

    @property
    def failing(self) -> bool:
        """Re-asked: it fails a policy check or a judged brand guideline."""
        return not self.report.passed or bool(self.brand)


@dataclass(frozen=True)
class JobOutcome:
    job: PlannedJob
    status: JobStatus
    error: str
    candidates: tuple[Candidate, ...]
    calls: tuple[LLMCallRow, ...]
    reasks: int = 0  # made by this run
    out_of_budget: bool = False  # the budget could not cover a call this job needed: the run stops
    earlier_reasks: int = 0  # made by the run this job resumed from
    last_answer: str = ""  # the LLM's last answer, redacted: where a job the budget stopped goes on from

    def resume(self) -> Resume | None:
        """Where the next run goes on from, for a job the budget stopped with failing candidates in hand."""
        if self.status != "unfinished" or not self.out_of_budget or not self.candidates or not self.last_answer:
            return None
        slots = [c.slots for c in self.candidates]
        return Resume(self.last_answer, slots, self.earlier_reasks + self.reasks)


OUT_OF_BUDGET = "the budget ran out before the job could finish"


def ended_without_candidates(
    state: RunState, job: PlannedJob, calls: list[LLMCallRow], status: JobStatus, error: str
) -> JobOutcome:
    """A job that ends without candidates (a batch result that failed), with the calls it made."""
    state.unsaved[job.key] = calls
    return JobOutcome(job, status, error, (), tuple(calls))


async def record_outcome(services: RunServices, state: RunState, outcome: JobOutcome) -> None:
    """The one place a job's outcome is counted and saved (its variants, its calls, its row)."""
    summary, plan, job = state.summary, state.plan, outcome.job
    summary.reasks += outcome.reasks
    if outcome.error:
        summary.errors.append(JobProblem(job.module_id, job.cohort.key, outcome.error, outcome.status))
    summary.candidates_passed += sum(c.report.passed for c in outcome.candidates)
    summary.candidates_failed += sum(not c.report.passed for c in outcome.candidates)
    if outcome.status == "done":
        summary.jobs_done += 1
    elif outcome.status == "failed":
        summary.jobs_failed += 1
    else:
        summary.jobs_unfinished += 1
    variants = [_variant_row(services, plan, job, index, c) for index, c in enumerate(outcome.candidates)]
    row = GenerationJobRow(
        key=job.key,
        run_id=services.run_id,
        module_id=job.module_id,
        cohort_key=job.cohort.key,
        status=outcome.status,
        passed=sum(c.report.passed for c in outcome.candidates),
        failed=sum(not c.report.passed for c in outcome.candidates),
        reasks=outcome.reasks,
        error=outcome.error,
    )
    state.unsaved.pop(job.key, None)  # from here on the writer owns them, even if the run is interrupted
    resume = outcome.resume()
    row.reasks = outcome.earlier_reasks + outcome.reasks
    row.resume = resume.stored() if resume else None
    reasons = [c.report.summary for c in outcome.candidates]
    await services.writer.save(FinishedJob(row, variants, list(outcome.calls), reasons))
    if outcome.status == "done" and plan.params_for(job).get("feedback"):
        loop = asyncio.get_running_loop()
        await _uninterrupted(
            loop.run_in_executor(
                services.worker, mark_feedback_used, services.store, job.module_id, job.cohort.key, services.run_id
            )
        )


def _variant_row(services: RunServices, plan: Plan, job: PlannedJob, index: int, candidate: Candidate) -> VariantRow:
    record = GenerationRecord(
        run_id=services.run_id,
        prompt_tokens=job.prompt.tokens,
        prompt_cuts=tuple(job.prompt.cuts),
        attempts=candidate.attempts,
        redacted=candidate.redacted,
        picture=candidate.picture,
    )
    return VariantRow(
        # the run is part of the id: a job redone by a later run must not collide with its first try
        id=hashlib.sha256(f"{job.key}:{services.run_id}:{index}".encode()).hexdigest()[:24],
        module_id=job.module_id,
        cohort_key=job.cohort.key,
        locale=job.cohort.locale,
        slots=candidate.slots,
        status="pending" if candidate.report.passed else "guardrail_failed",
        module_hash=services.workspace.modules[job.module_id].content_hash,
        prompt_hash=plan.prompt_hash,
        policy_hash=candidate.report.policy_hash,  # the policy and built-in checks it passed (or failed)
        model=plan.model,
        params=plan.params_for(job) | picture_params(services.workspace, job.module_id) | {"run_id": services.run_id},
        source="generated",
        report=VariantReport(check=candidate.report, generation=record).stored(),
        brand=_with_verdicts(services, job, candidate),
    )


def _with_verdicts(services: RunServices, job: PlannedJob, candidate: Candidate) -> dict | None:
    """The judge's verdicts kept with the new variant, under no brand hash: the scoring after the run
    (``brand_score.rescore``) scores it with them and holds it under the floor, like any variant."""
    if candidate.judgement is None:
        return None
    workspace = services.workspace
    module = workspace.modules[job.module_id].module
    scored = score_variant(workspace.brand, module, candidate.slots, job.cohort.locale, judged=candidate.judgement)
    return scored.model_dump(mode="json")


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
