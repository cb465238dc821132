"""A generation run: plan, call the LLM, check with guardrails, re-ask, queue.

Concurrency is capped by a semaphore; guardrail checks and store writes go through
one worker thread, so the event loop keeps LLM calls in flight while candidates are
checked, and the Guards (which keep history) are never used from two threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from variantly.authoring.review import mark_feedback_used, pending_feedback
from variantly.authoring.staleness import mark_stale
from variantly.errors import ConfigurationError, LLMCallFailed, LLMRefused, LLMTruncated
from variantly.generation.llm import CallRecord, LLMClient
from variantly.generation.plan import Plan, PlannedJob, cost, make_plan
from variantly.generation.prompts import PromptSet, output_model
from variantly.store import Store
from variantly.store.runs import create_run, save_job, update_run
from variantly.store.schema import GenerationJobRow, LLMCallRow, VariantRow
from variantly.workspace import Workspace

if TYPE_CHECKING:
    from variantly.authoring.policy_checks import PolicyChecker


@dataclass
class RunOptions:
    modules: list[str] | None = None
    locales: list[str] | None = None
    candidates: int | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    cohorts: list[str] | None = None
    feedback: dict[tuple[str, str], list[str]] | None = None


@dataclass
class RunSummary:
    run_id: str
    status: str = "running"
    message: str = ""
    jobs_planned: int = 0
    jobs_done: int = 0
    jobs_failed: int = 0
    jobs_skipped: int = 0
    jobs_not_started: int = 0
    candidates_passed: int = 0
    candidates_failed: int = 0
    reasks: int = 0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Candidate:
    slots: dict[str, str]
    report: dict[str, Any]
    attempts: list[dict[str, Any]] = field(default_factory=list)


class Runner:
    def __init__(
        self,
        store: Store,
        workspace: Workspace,
        llm: LLMClient,
        *,
        checker: PolicyChecker | None = None,
        prompts: PromptSet | None = None,
    ) -> None:
        self.store = store
        self.workspace = workspace
        self.llm = llm
        self._checker = checker
        self.prompts = prompts or PromptSet(workspace.root)
        self.settings = workspace.settings.generation

    @property
    def checker(self) -> PolicyChecker:
        """Built on first use: importing guardrails-ai takes seconds, and planning needs none of it."""
        if self._checker is None:
            from variantly.generation.wiring import policy_checker

            self._checker = policy_checker(self.workspace)
        return self._checker

    def plan(self, options: RunOptions) -> Plan:
        return make_plan(
            self.store,
            self.workspace,
            self.prompts,
            model=self.llm.model,
            modules=options.modules,
            locales=options.locales,
            candidates=options.candidates,
            cohorts=options.cohorts,
            feedback=options.feedback,
        )

    async def run(
        self,
        options: RunOptions,
        *,
        actor: str,
        run_id: str | None = None,
        on_progress: Callable[[RunSummary, Plan], None] | None = None,
    ) -> RunSummary:
        started = time.perf_counter()
        run_id = run_id or uuid.uuid4().hex[:12]
        summary = RunSummary(run_id)
        create_run(self.store, run_id, actor=actor, options=asdict(options) | {"feedback": None})
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="variantly-check")
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                worker, lambda: mark_stale(self.store, self.workspace, self.prompts.hash, actor=f"run:{run_id}")
            )
            if options.feedback is None:  # reviewers asked for these cohorts to be redone
                options = replace(options, feedback=await loop.run_in_executor(worker, pending_feedback, self.store))
            plan = await loop.run_in_executor(worker, self.plan, options)
            summary.jobs_planned = len(plan.jobs)
            summary.jobs_skipped = plan.skipped_done + plan.skipped_current
            if on_progress:
                on_progress(summary, plan)
            state = _RunState(options.budget_usd, asyncio.Semaphore(options.concurrency or self.settings.concurrency))

            async def one(job: PlannedJob) -> None:
                async with state.semaphore:
                    if state.stop_reason:
                        summary.jobs_not_started += 1
                        return
                    if state.budget is not None and summary.cost_usd + state.reserved + job.cost_usd > state.budget:
                        state.stop_status = "stopped_budget"
                        state.stop_reason = (
                            f"budget of ${state.budget:.4f} reached (spent ${summary.cost_usd:.4f});"
                            " finished jobs are kept, run again to continue"
                        )
                        summary.jobs_not_started += 1
                        return
                    state.reserved += job.cost_usd
                    try:
                        await self._job(job, plan, run_id, summary, worker)
                    except ConfigurationError as exc:  # bad key, unknown model: every job would fail alike
                        state.stop_reason, state.stop_status = exc.message, "failed"
                        summary.jobs_failed += 1
                        return
                    finally:
                        state.reserved -= job.cost_usd
                    await loop.run_in_executor(
                        worker, lambda: update_run(self.store, run_id, progress=summary.as_dict())
                    )
                    if on_progress:
                        on_progress(summary, plan)

            await asyncio.gather(*(one(job) for job in plan.jobs))
            summary.status = state.stop_status or ("done" if not summary.jobs_failed else "done_with_errors")
            summary.message = state.stop_reason or f"{summary.jobs_done} job(s) done, {summary.jobs_failed} failed"
        except BaseException as exc:
            summary.status = "interrupted" if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)) else "failed"
            summary.message = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            summary.seconds = time.perf_counter() - started
            update_run(self.store, run_id, progress=summary.as_dict(), status=summary.status, message=summary.message)
            worker.shutdown(wait=True)
            await self.llm.close()
        return summary

    async def _job(
        self, job: PlannedJob, plan: Plan, run_id: str, summary: RunSummary, worker: ThreadPoolExecutor
    ) -> None:
        loop = asyncio.get_running_loop()
        module = self.workspace.modules[job.module_id].module
        output = output_model(module)
        wanted = plan.params["candidates"]
        cohort = job.cohort.as_dict()
        calls: list[LLMCallRow] = []

        def recorder(purpose: str) -> Callable[[CallRecord], None]:
            def record(call: CallRecord) -> None:
                spent = cost(plan.price, call.prompt_tokens, call.completion_tokens)
                summary.llm_calls += 1
                summary.prompt_tokens += call.prompt_tokens
                summary.completion_tokens += call.completion_tokens
                summary.cost_usd += spent
                calls.append(
                    LLMCallRow(
                        run_id=run_id,
                        job_key=job.key,
                        purpose=purpose,
                        attempt=call.attempt,
                        model=plan.model,
                        outcome=call.outcome,
                        prompt_tokens=call.prompt_tokens,
                        completion_tokens=call.completion_tokens,
                        cost_usd=spent,
                        latency_ms=call.latency_ms,
                    )
                )

            return record

        def check(slots_list: list[dict[str, str]]) -> list[_Candidate]:
            return [
                _Candidate(s, self.checker.check_slots(self.workspace, job.module_id, cohort, s)) for s in slots_list
            ]

        actor = f"generator:{run_id}"
        try:
            completion = await self.llm.complete(job.prompt.messages, output, on_call=recorder("generate"))
            candidates = await loop.run_in_executor(worker, check, [_as_text(c) for c in completion.items[:wanted]])
            reasks = 0
            while reasks < self.settings.max_reasks and (
                failing_at := [i for i, c in enumerate(candidates) if not c.report["passed"]]
            ):
                failing = [candidates[i] for i in failing_at]
                reask = self.prompts.render(
                    "reask.jinja",
                    count=len(failing),
                    failures=[
                        {
                            "slots": c.slots,
                            "problems": [
                                f"{slot}: {f['message']}" for slot, fs in c.report["slots"].items() for f in fs
                            ],
                        }
                        for c in failing
                    ],
                )
                messages = [
                    *job.prompt.messages,
                    {"role": "assistant", "content": completion.raw},
                    {"role": "user", "content": reask},
                ]
                completion = await self.llm.complete(messages, output, on_call=recorder("reask"))
                reasks += 1
                fresh = await loop.run_in_executor(
                    worker, check, [_as_text(c) for c in completion.items[: len(failing)]]
                )
                for index, new in zip(failing_at, fresh, strict=False):  # by position: equal texts are possible
                    old = candidates[index]
                    new.attempts = [*old.attempts, {"slots": old.slots, "report": old.report}]
                    candidates[index] = new
        except (LLMRefused, LLMTruncated) as exc:
            summary.jobs_failed += 1
            summary.errors.append(f"{job.module_id} {job.cohort.key}: {exc.message}")
            failed = GenerationJobRow(
                key=job.key,
                run_id=run_id,
                module_id=job.module_id,
                cohort_key=job.cohort.key,
                status="failed",
                passed=0,
                failed=0,
                reasks=0,
                error=exc.message,
            )
            await loop.run_in_executor(worker, lambda: save_job(self.store, failed, [], calls, actor=actor))
            return
        except LLMCallFailed as exc:  # transient trouble: not marked done, the next run tries again
            summary.jobs_failed += 1
            summary.errors.append(f"{job.module_id} {job.cohort.key}: {exc.message}")
            await loop.run_in_executor(worker, lambda: save_job(self.store, None, [], calls, actor=actor))
            return
        summary.reasks += reasks
        rows = []
        for index, candidate in enumerate(candidates):
            passed = candidate.report["passed"]
            summary.candidates_passed += passed
            summary.candidates_failed += not passed
            report = candidate.report | {
                "attempts": candidate.attempts,
                "prompt_cuts": job.prompt.cuts,
                "run_id": run_id,
                "prompt_tokens": job.prompt.tokens,
            }
            rows.append(
                VariantRow(
                    id=hashlib.sha256(f"{job.key}:{index}".encode()).hexdigest()[:24],
                    module_id=job.module_id,
                    cohort_key=job.cohort.key,
                    locale=job.cohort.locale,
                    slots=candidate.slots,
                    status="pending" if passed else "guardrail_failed",
                    module_hash=self.workspace.modules[job.module_id].content_hash,
                    prompt_hash=plan.prompt_hash,
                    policy_hash=plan.policy_hash,
                    model=plan.model,
                    params=plan.params_for(job) | {"run_id": run_id},
                    source="generated",
                    report=report,
                )
            )
        done = GenerationJobRow(
            key=job.key,
            run_id=run_id,
            module_id=job.module_id,
            cohort_key=job.cohort.key,
            status="done",
            passed=sum(c.report["passed"] for c in candidates),
            failed=sum(not c.report["passed"] for c in candidates),
            reasks=reasks,
            error="",
        )
        await loop.run_in_executor(worker, lambda: save_job(self.store, done, rows, calls, actor=actor))
        if plan.params_for(job).get("feedback"):
            await loop.run_in_executor(worker, mark_feedback_used, self.store, job.module_id, job.cohort.key, run_id)
        summary.jobs_done += 1


@dataclass
class _RunState:
    budget: float | None
    semaphore: asyncio.Semaphore
    reserved: float = 0.0
    stop_reason: str = ""
    stop_status: str = ""


def _as_text(candidate: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in candidate.items()}
