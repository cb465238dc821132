"""A generation run: plan, run the jobs concurrently, stop cleanly, report honestly.

Concurrency is capped by a semaphore; guardrail checks and store writes go through one
worker thread, so the event loop keeps LLM calls in flight while candidates are
checked, and the Guards (which keep history) are never used from two threads. One
job's steps are in ``variantly.generation.job``.

A run stops early for three reasons, and says which: the budget cannot cover the next
call (``stopped_budget``), the endpoint is misconfigured or unreachable (``failed``), or
it is interrupted (``interrupted``; every answered call is recorded first, and the next
run resumes). ``RunSummary.left_over`` counts the jobs it leaves without a variant.
"""

from __future__ import annotations

import asyncio
import gc
import shlex
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from functools import partial
from typing import Literal

from variantly.authoring.brand_score import rescore
from variantly.authoring.policy_checks import PolicyChecker
from variantly.authoring.review import pending_feedback
from variantly.authoring.staleness import mark_stale
from variantly.errors import ConfigurationError, InvalidRequest
from variantly.generation import batch
from variantly.generation.budget import Budget, checked_limit
from variantly.generation.calls import JobStopped, NotStarted, RunServices, RunState
from variantly.generation.claims import Claims
from variantly.generation.job import run_job
from variantly.generation.llm import LLMClient
from variantly.generation.outcomes import record_outcome
from variantly.generation.pictures import run_picture_job
from variantly.generation.plan import Plan, PlannedJob, make_plan
from variantly.generation.prompts import PromptSet
from variantly.generation.slots import CallSlots
from variantly.generation.summary import RunStop, RunSummary
from variantly.generation.writer import JobWriter
from variantly.store import Store
from variantly.store.runs import create_run, save_calls, update_run
from variantly.workspace import Workspace
from variantly.workspace.models import MOST_CONCURRENCY

__all__ = ["RunOptions", "RunSummary", "Runner"]


@dataclass
class RunOptions:
    modules: list[str] | None = None
    locales: list[str] | None = None
    candidates: int | None = None
    concurrency: int | None = None
    budget_usd: float | None = None
    cohorts: list[str] | None = None
    feedback: dict[tuple[str, str], list[str]] | None = None
    retry_failed: bool = False
    batch: Literal["submit", "collect"] | None = None  # through the provider's Batch API (see generation.batch)
    judge: bool = False  # the brand judge on each job's candidates, then on what is pending and not judged yet

    def __post_init__(self) -> None:
        """Refused by the option's name before anything is planned or paid for, as the API's ``RunRequest`` refuses
        the same values with a 422: the command line took ``--concurrency 0`` and ``--budget-usd nan`` (candidates
        are checked by the plan, which ``variantly plan`` makes too)."""
        if self.concurrency is not None and not 1 <= self.concurrency <= MOST_CONCURRENCY:
            raise InvalidRequest("--concurrency", f"from 1 to {MOST_CONCURRENCY}, not {self.concurrency}")
        checked_limit(self.budget_usd)

    def command(self, *, retry_failed: bool | None = None) -> str:
        """The ``variantly generate`` command that runs these options again, as a shell would take it: the
        redo a summary prints repeats the run's filters, so pasting it redoes those jobs, not the workspace."""
        words = ["variantly", "generate"]
        words += [word for module in self.modules or [] for word in ("--module", module)]
        words += [word for locale in self.locales or [] for word in ("--locale", locale)]
        words += [word for cohort in self.cohorts or [] for word in ("--cohort", cohort)]
        if self.candidates:
            words += ["--candidates", str(self.candidates)]
        if self.concurrency:
            words += ["--concurrency", str(self.concurrency)]
        if self.budget_usd is not None:
            words += ["--budget-usd", f"{self.budget_usd:g}"]
        if self.retry_failed if retry_failed is None else retry_failed:
            words.append("--retry-failed")
        if self.batch:
            words.append("--batch" if self.batch == "submit" else "--collect")
        if self.judge:
            words.append("--judge")
        return " ".join(shlex.quote(word) for word in words)


class Runner:
    def __init__(
        self,
        store: Store,
        workspace: Workspace,
        llm: LLMClient,
        *,
        checker: PolicyChecker | Callable[[], PolicyChecker] | None = None,
        prompts: PromptSet | None = None,
    ) -> None:
        """``checker`` is a checker, or what builds one when the first candidate needs it (the default:
        the workspace's guardrails-ai validators)."""
        self.store = store
        self.workspace = workspace
        self.llm = llm
        self._checker = checker if isinstance(checker, PolicyChecker) else None
        self._make_checker = checker if callable(checker) and not isinstance(checker, PolicyChecker) else None
        self.prompts = prompts or PromptSet(workspace.root)
        self.settings = workspace.settings.generation
        self.last_summary: RunSummary | None = None  # also set when a run is interrupted

    @property
    def checker(self) -> PolicyChecker:
        """Built on first use: importing guardrails-ai takes seconds, and planning needs none of it."""
        if self._checker is None:
            if self._make_checker is None:
                from variantly.generation.guards import PolicyGuards

                self._checker = PolicyGuards.for_workspace(self.workspace)
            else:
                self._checker = self._make_checker()
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
            retry_failed=options.retry_failed,
            judge=options.judge,
        )

    async def run(
        self,
        options: RunOptions,
        *,
        actor: str,
        run_id: str | None = None,
        on_progress: Callable[[RunSummary, Plan], None] | None = None,
    ) -> RunSummary:
        _settle_the_heap()
        started = time.perf_counter()
        run_id = run_id or uuid.uuid4().hex[:12]
        summary = self.last_summary = RunSummary(run_id)
        create_run(self.store, run_id, actor=actor, options=asdict(options) | {"feedback": None})
        claims = Claims(self.store, run_id)
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="variantly-check")
        # pictures' OCR and copies: CPU work off the check thread (onnxruntime and Pillow release the GIL)
        drawing = ThreadPoolExecutor(max_workers=2, thread_name_prefix="variantly-picture")
        services: RunServices | None = None
        state: RunState | None = None
        try:
            plan = await self._prepare(options, actor=f"run:{run_id}", worker=worker)
            summary.jobs_planned = len(plan.jobs)
            summary.jobs_skipped = plan.skipped_done + plan.skipped_current + plan.skipped_suppressed
            summary.jobs_failed_before = len(plan.failed)
            if on_progress:
                on_progress(summary, plan)
            state = RunState(plan=plan, summary=summary, budget=Budget(options.budget_usd))
            services = RunServices(
                store=self.store,
                workspace=self.workspace,
                llm=self.llm,
                checker=lambda: self.checker,
                prompts=self.prompts,
                run_id=run_id,
                worker=worker,
                picture_worker=drawing,
                writer=JobWriter(self.store, worker, actor=f"generator:{run_id}"),
                calls_in_flight=CallSlots(options.concurrency or self.settings.concurrency),
                max_reasks=self.settings.max_reasks,
                judge=options.judge,
            )
            async with claims.renewed():
                if options.batch:
                    replan = partial(self.plan, options)  # after collecting: collected jobs are done
                    await batch.run_batches(services, state, claims, replan, submit=options.batch == "submit")
                else:
                    await self._jobs(services, state, on_progress, claims)
            if options.judge and not state.stop.status:
                await self._judge(run_id, state)
            summary.status = state.stop.status or ("done" if not summary.left_over else "done_with_errors")
            summary.message = self._message(summary, state.stop, state.budget, options)
        except BaseException as exc:
            if isinstance(exc, (KeyboardInterrupt, asyncio.CancelledError)):
                summary.status = "interrupted"
                summary.message = (
                    f"interrupted after {summary.jobs_done} job(s); every answered call is recorded. "
                    "Run again to resume: finished jobs are not redone"
                )
            else:
                summary.status, summary.message = "failed", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            summary.seconds = time.perf_counter() - started
            drawing.shutdown(wait=True, cancel_futures=True)  # an interrupted run does not read pictures it drops
            worker.shutdown(wait=True)  # a batch of finished jobs being written completes
            if services is not None and state is not None:
                services.writer.flush()  # finished jobs still waiting for the writer (an interrupted run)
                if state.unsaved:  # jobs cut short: their answered calls were paid for
                    save_calls(self.store, [call for calls in state.unsaved.values() for call in calls])
            claims.release()  # after the writer: a job answered but not saved yet is still this run's
            update_run(self.store, run_id, progress=summary.as_dict(), status=summary.status, message=summary.message)
            await self.llm.close()
        if summary.jobs_done:
            rescore(self.store, self.workspace)  # the new variants' brand scores, before anyone lists them
        return summary

    async def _judge(self, run_id: str, state: RunState) -> None:
        """The brand judge on what is pending and not judged for its copy yet (imports, earlier runs' variants, not this
        run's: its jobs judged theirs, and one the judge could not answer is not asked twice), a job's candidates in
        one call, from the same budget; its calls are recorded under this run."""
        from variantly.generation.judge import judge_variants, unjudged

        rescore(self.store, self.workspace)  # measured first: a variant held by the floor is not pending
        earlier = [row for row in unjudged(self.store, "pending") if (row.params or {}).get("run_id") != run_id]
        judged = await judge_variants(self.store, self.workspace, self.llm, earlier, budget=state.budget, run_id=run_id)
        summary = state.summary
        summary.judged += judged.judged
        summary.judge_failed += len(judged.failed)
        summary.llm_calls += judged.calls
        summary.prompt_tokens += judged.prompt_tokens
        summary.completion_tokens += judged.completion_tokens
        summary.cost_usd += judged.cost_usd

    async def _prepare(self, options: RunOptions, *, actor: str, worker: ThreadPoolExecutor) -> Plan:
        """Mark what went stale, take the reviewers' feedback, plan; load guardrails-ai if anything is to be checked."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(
            worker, lambda: mark_stale(self.store, self.workspace, self.prompts.hash, actor=actor)
        )
        if options.feedback is None:  # reviewers asked for these cohorts to be redone
            options = replace(options, feedback=await loop.run_in_executor(worker, pending_feedback, self.store))
        plan = await loop.run_in_executor(worker, self.plan, options)
        if options.budget_usd is not None and plan.price is None:
            raise ConfigurationError(
                f"--budget-usd needs the price of model {plan.model}: add it under generation.prices in variantly.yml"
            )
        images = self.workspace.settings.images
        if options.budget_usd is not None and plan.pictures and images.prices.get(images.model) is None:
            raise ConfigurationError(
                f"--budget-usd needs the per-image price of model {images.model}: add it under images.prices in "
                "variantly.yml"
            )
        if plan.jobs or options.batch:  # a collect checks answers for jobs the plan does not list
            # guardrails-ai is imported off the loop, but before any call: importing it while a call is in
            # flight let the openai SDK find a half-imported httpx2 in sys.modules (seen in CI)
            await loop.run_in_executor(worker, lambda: self.checker)
        return plan

    async def _jobs(
        self,
        services: RunServices,
        state: RunState,
        on_progress: Callable[[RunSummary, Plan], None] | None,
        claims: Claims,
    ) -> None:
        """Every planned job at once, each claimed before its first call (``generation.claims``); the semaphore in
        ``services`` caps the calls in flight. A module with an image slot makes pictures (``generation.pictures``),
        any other copy (``generation.job``)."""
        loop = asyncio.get_running_loop()
        progress = _Progress()
        stop, summary = state.stop, state.summary
        # Under a budget, jobs are finished depth-first: no more jobs under way than calls in flight, so a job's
        # re-asks are paid for before a new job's first call (money for first answers thrown away at the end
        # otherwise). Without one, every job starts at once and a job checking its answers holds no slot.
        under_way = asyncio.Semaphore(services.calls_in_flight.size if state.budget.limit_usd is not None else 10**9)

        async def one(job: PlannedJob) -> None:
            async with under_way:
                await run_one(job)

        async def run_one(job: PlannedJob) -> None:
            pictures = services.workspace.modules[job.module_id].module.picture_slot is not None
            if await claims.take(job) is not None:
                summary.jobs_elsewhere += 1  # another run is making it, or has made it since this run planned
                return
            try:
                outcome = await (run_picture_job if pictures else run_job)(services, state, job)
            except NotStarted:
                return
            except JobStopped:  # the budget could not cover its first call
                stop.status = stop.status or "stopped_budget"
                return
            except ConfigurationError as exc:  # bad key, unknown model, endpoint down: all would fail alike
                if not stop.status:  # the run's message gives the reason once, not once per job in flight
                    stop.status, stop.reason = "failed", exc.message
                summary.jobs_unfinished += 1
                return
            await record_outcome(services, state, outcome)
            if outcome.out_of_budget:
                stop.status = stop.status or "stopped_budget"
            if progress.due():
                await loop.run_in_executor(
                    services.worker, lambda: update_run(self.store, services.run_id, progress=summary.as_dict())
                )
            if on_progress:
                on_progress(summary, state.plan)

        await asyncio.gather(*(one(job) for job in state.plan.jobs))

    @staticmethod
    def _message(summary: RunSummary, stop: RunStop, budget: Budget, options: RunOptions) -> str:
        parts = [f"{summary.jobs_done} job(s) done, ${summary.cost_usd:.4f} spent"]
        if summary.jobs_in_batch:
            parts.append(
                f"{summary.jobs_in_batch} job(s) sent as a batch, up to ${budget.reserved_usd:.4f} at the batch price"
            )
        if summary.batches_waiting:
            parts.append(f"{summary.batches_waiting} batch(es) with the provider: collect later with --collect")
        if summary.jobs_elsewhere:
            parts.append(f"{summary.jobs_elsewhere} job(s) left to another run on this store, which has them")
        if stop.status == "stopped_budget":
            parts.append(
                f"the budget of ${budget.limit_usd:.4f} could not cover the next call; "
                f"{summary.jobs_not_started} job(s) not started: run `{options.command()}` again (with a higher "
                "--budget-usd) to continue; a job stopped halfway goes on from its last answer"
            )
        elif stop.reason:
            parts.append(f"stopped: {stop.reason}")
        failed = summary.jobs_failed + summary.jobs_failed_before
        if failed:
            parts.append(f"{failed} job(s) failed: `{options.command(retry_failed=True)}` redoes them with the failure")
        if summary.jobs_unfinished:
            parts.append(f"{summary.jobs_unfinished} job(s) unfinished: `{options.command()}` goes on with them")
        return "; ".join(parts)


def _settle_the_heap() -> None:
    """Collect once, then freeze what is left out of the collector's sight.

    The generation stack leaves ~400,000 long-lived objects (guardrails-ai, litellm,
    pydantic schemas); a full collection over them took 180 ms, long enough to stall
    every call in flight. Frozen, they are never scanned again. Only when the run owns
    the process (``variantly generate``, on the main thread): a server starting runs in a
    thread would freeze its requests' objects too, and never free their cycles.
    """
    if threading.current_thread() is threading.main_thread():
        gc.collect()
        gc.freeze()


@dataclass
class _Progress:
    """The run's row is updated at most twice a second: a write per job would queue behind the checks."""

    every_seconds: float = 0.5
    last: float = 0.0

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.every_seconds:
            return False
        self.last = now
        return True
