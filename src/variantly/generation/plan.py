"""What a generation run would do: module x cohort x locale jobs, their keys and cost.

A job's key is derived from everything that shapes its output (module content,
cohort, prompts, policy, model, parameters), so a job that has been done is never
paid for again, and a run killed halfway resumes where it stopped.

A job that ended without a usable variant is never silently skipped. ``unfinished``
(out of attempts, the endpoint down, the budget reached mid-job) is planned again by
the next run. ``failed`` (refused, truncated, no candidate passed the guardrails) would
most likely fail the same way, so it is listed and redone only when asked
(``retry_failed``), with the failure in the prompt.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from itertools import product

from sqlalchemy import func, select

from variantly.errors import InvalidRequest, NotFound
from variantly.generation.budget import cost
from variantly.generation.image_api import picture_cost
from variantly.generation.judge import judge_estimate
from variantly.generation.prompts import (
    IMAGE_INPUT_TOKENS,
    BuiltPrompt,
    PromptSet,
    build_prompt,
    count_tokens,
    estimate_completion_tokens,
    json_shape,
    picture_prompt,
)
from variantly.generation.summary import JobProblem
from variantly.store import Store
from variantly.store.schema import BatchRow, GenerationJobRow, LLMCallRow, VariantRow
from variantly.workspace import Workspace
from variantly.workspace.cohorts import ANY, Cohort
from variantly.workspace.models import MOST_CANDIDATES, GenerationSettings, Price


@dataclass(frozen=True)
class Resume:
    """Where a job the budget stopped was: its last answer (personal data redacted), the candidates in it
    that failed the checks, and the re-asks it had made. The next run goes on with a re-ask."""

    answer: str
    candidates: list[dict[str, str]]
    reasks: int

    @classmethod
    def of(cls, stored: dict | None) -> Resume | None:
        if not stored or not stored.get("candidates"):
            return None
        return cls(str(stored.get("answer", "")), list(stored["candidates"]), int(stored.get("reasks", 0)))

    def stored(self) -> dict:
        return {"answer": self.answer, "candidates": self.candidates, "reasks": self.reasks}


@dataclass
class PlannedJob:
    module_id: str
    cohort: Cohort
    key: str
    prompt: BuiltPrompt
    completion_tokens: int
    cost_usd: float
    feedback: list[str] = field(default_factory=list)
    retry_of: str = ""  # the earlier failure this job retries, given to the LLM as context
    resume: Resume | None = None  # an earlier run's last answer to go on from (an unfinished job)
    pictures: int = 0  # a picture job's pictures (in cost_usd at the image model's per-image price)
    pictures_cost_usd: float = 0.0
    judge_calls: int = 0  # with the brand judge: its calls on the job's candidates (one for up to five)
    judge_cost_usd: float = 0.0  # and their estimated cost
    after_run: str | None = None  # the run that last ended it, as the plan read the store (None: never tried)


@dataclass
class Plan:
    model: str
    prompt_hash: str
    policy_hash: str
    params: dict
    price: Price | None
    jobs: list[PlannedJob] = field(default_factory=list)
    skipped_done: int = 0
    skipped_current: int = 0
    skipped_suppressed: int = 0  # cohorts a suppression rule holds for as a whole: their variants are never served
    failed: list[JobProblem] = field(default_factory=list)  # failed in an earlier run; retry_failed redoes them
    unfinished: int = 0  # planned again: they did not finish in an earlier run
    resumed: int = 0  # of those, going on from an earlier run's last answer (its first answer is not paid again)
    in_batch: int = 0  # waiting in a provider batch: collected by `generate --batch` or `--collect`
    reasks_per_job: float = 0.0  # expected follow-up calls (re-asks, top-ups) per job
    reask_basis: str = ""  # where that number comes from
    judge: bool = False  # the brand judge answers each job's candidates (generate --judge): priced in
    unpriced_pictures: str = ""  # the image model, when picture jobs are planned and it has no per-image price

    def params_for(self, job: PlannedJob) -> dict:
        return self.params | ({"feedback": job.feedback} if job.feedback else {})

    @property
    def prompt_tokens(self) -> int:
        return sum(j.prompt.tokens for j in self.jobs)

    @property
    def completion_tokens(self) -> int:
        return sum(j.completion_tokens for j in self.jobs)

    @property
    def cost_usd(self) -> float:
        """Without re-asks: the low end of the range (the judge's calls included when it is on)."""
        return sum(j.cost_usd + j.judge_cost_usd for j in self.jobs)

    @property
    def cost_with_reasks_usd(self) -> float:
        """With the expected re-asks: the high end. A re-ask resends the prompt with the answer and the failures,
        what it answers is judged again (priced as a whole judge call), and a picture job's redo makes pictures."""
        return sum(
            j.cost_usd
            + j.judge_cost_usd
            + self.reasks_per_job
            * (
                cost(self.price, j.prompt.tokens + 2 * j.completion_tokens, j.completion_tokens)
                + j.judge_cost_usd
                + j.pictures_cost_usd  # a redo makes new pictures (the high end: all of them)
            )
            for j in self.jobs
        )

    @property
    def pictures(self) -> int:
        return sum(j.pictures for j in self.jobs)

    @property
    def pictures_cost_usd(self) -> float:
        return sum(j.pictures_cost_usd for j in self.jobs)

    @property
    def judge_calls(self) -> int:
        return sum(j.judge_calls for j in self.jobs)

    @property
    def judge_cost_usd(self) -> float:
        return sum(j.judge_cost_usd for j in self.jobs)


FIRST_CALLS = ("generate", "batch")  # LLMCallRow.purpose of a job's first answer
FOLLOW_UPS = ("reask", "top_up")


def reask_history(store: Store, max_reasks: int) -> tuple[float, str]:
    """Follow-up calls (re-asks, top-ups) per job in this store's history, or the maximum when there is none.

    A job's first call is live (``generate``) or came back in a batch (``batch``); both count
    as the job, neither as a follow-up.
    """
    ok = LLMCallRow.outcome == "ok"
    with store.sessions() as session:
        jobs = (
            session.scalar(
                select(func.count(func.distinct(LLMCallRow.job_key))).where(ok, LLMCallRow.purpose.in_(FIRST_CALLS))
            )
            or 0
        )
        followups = (
            session.scalar(select(func.count()).select_from(LLMCallRow).where(ok, LLMCallRow.purpose.in_(FOLLOW_UPS)))
            or 0
        )
    if jobs < 10:
        return float(max_reasks), f"no history yet: assumes {max_reasks} re-asks per job (the most a run makes)"
    rate = followups / jobs
    return rate, f"from {jobs} earlier jobs: {rate:.2f} re-asks per job"


def cohorts_for(workspace: Workspace, module_id: str, locales: list[str]) -> list[Cohort]:
    """Every cohort of a module, including the broader ones (``*``) the fallback chain uses."""
    module = workspace.modules[module_id].module
    dims = [d for d in module.dimensions if d != "locale"]
    choices = [[ANY] + [a.id for a in workspace.audiences.of(d)] for d in dims]
    return [
        Cohort.of(module.dimensions, dict(zip(dims, values, strict=True)) | {"locale": locale})
        for locale in locales
        for values in product(*choices)
    ]


def unknown_cohort(
    workspace: Workspace, modules: list[str] | None, locales: list[str] | None, cohorts: list[str] | None
) -> tuple[int, str] | None:
    """The first of ``cohorts`` that no cohort of these modules and locales has (its index, and what keys look like),
    or None. Such a key (a typo, or the dimensions out of ``vary_by``'s order) planned nothing and said nothing."""
    if not cohorts:
        return None
    every = locales or workspace.locales
    known = {c.key for module in modules or workspace.modules for c in cohorts_for(workspace, module, every)}
    for index, key in enumerate(cohorts):
        if key not in known:
            return index, f"no cohort '{key}' among the modules and locales planned; keys look like '{min(known)}'"
    return None


def job_key(
    module_hash: str, module_id: str, cohort: Cohort, prompt_hash: str, policy_hash: str, model: str, params: dict
) -> str:
    basis = json.dumps([module_id, module_hash, cohort.key, prompt_hash, policy_hash, model, params], sort_keys=True)
    return hashlib.sha256(basis.encode()).hexdigest()[:32]


def make_plan(
    store: Store,
    workspace: Workspace,
    prompts: PromptSet,
    *,
    model: str,
    modules: list[str] | None = None,
    locales: list[str] | None = None,
    candidates: int | None = None,
    cohorts: list[str] | None = None,
    feedback: dict[tuple[str, str], list[str]] | None = None,
    retry_failed: bool = False,
    judge: bool = False,
) -> Plan:
    """``cohorts`` limits the plan to exact cohort keys; ``feedback`` adds reviewer notes
    per (module, cohort key) to those prompts (and to their job keys); ``retry_failed``
    plans the jobs that failed before again, with their failure as context; ``judge`` prices
    the brand judge's calls on each job's candidates."""
    settings: GenerationSettings = workspace.settings.generation
    if candidates is not None and not 1 <= candidates <= MOST_CANDIDATES:
        raise InvalidRequest("--candidates", f"from 1 to {MOST_CANDIDATES}, not {candidates}")
    for module_id in modules or []:
        if module_id not in workspace.modules:
            raise NotFound(f"unknown module '{module_id}' (modules: {', '.join(sorted(workspace.modules))})")
    for locale in locales or []:
        if locale not in workspace.locales:
            raise NotFound(f"unknown locale '{locale}' (locales: {', '.join(workspace.locales)})")
    if (unknown := unknown_cohort(workspace, modules, locales, cohorts)) is not None:
        raise NotFound(unknown[1])
    plan = Plan(
        model, prompts.hash, workspace.policy_hash, run_params(settings, candidates), settings.prices.get(model)
    )
    plan.reasks_per_job, plan.reask_basis = reask_history(store, settings.max_reasks)
    plan.judge = judge
    with store.sessions() as session:
        tried = session.execute(select(GenerationJobRow.key, GenerationJobRow.status, GenerationJobRow.run_id)).all()
        earlier = {key: status for key, status, _ in tried}
        ended_by = {key: run_id for key, _, run_id in tried}
        errors = dict(
            session.execute(
                select(GenerationJobRow.key, GenerationJobRow.error).where(GenerationJobRow.status != "done")
            ).all()
        )
        resumes: dict[str, dict | None] = dict(
            session.execute(
                select(GenerationJobRow.key, GenerationJobRow.resume).where(GenerationJobRow.status == "unfinished")
            ).all()
        )
        current = {
            tuple(row)
            for row in session.execute(
                select(VariantRow.module_id, VariantRow.cohort_key, VariantRow.module_hash).where(
                    VariantRow.status.in_(("pending", "approved"))
                )
            )
        }
        in_batches = {
            job["key"]
            for jobs in session.scalars(select(BatchRow.jobs).where(BatchRow.status != "collected"))
            for job in jobs
        }
    for module_id in modules or sorted(workspace.modules):
        module_file = workspace.modules[module_id]
        for cohort in cohorts_for(workspace, module_id, locales or workspace.locales):
            if cohorts and cohort.key not in cohorts:
                continue
            if module_file.module.suppressed_for_cohort(cohort.as_dict()):
                plan.skipped_suppressed += 1
                continue
            notes = (feedback or {}).get((module_id, cohort.key), [])
            key = job_key_for(workspace, prompts, module_id, cohort, model, plan.params, notes)
            status = earlier.get(key)
            if status == "done":
                plan.skipped_done += 1
                continue
            if key in in_batches:
                plan.in_batch += 1
                continue
            if not notes and (module_id, cohort.key, module_file.content_hash) in current:
                plan.skipped_current += 1
                continue
            retry_of = ""
            if status == "failed":
                if not retry_failed:
                    plan.failed.append(JobProblem(module_id, cohort.key, errors.get(key, "")))
                    continue
                retry_of = errors.get(key, "")
            elif status == "unfinished":
                plan.unfinished += 1
            job = plan_job(workspace, prompts, plan, module_id, cohort, notes, retry_of)
            job.after_run = ended_by.get(key)
            if judge:
                job.judge_calls, judge_tokens = judge_estimate(
                    workspace, module_file.module, cohort.locale, job.completion_tokens, plan.params["candidates"]
                )
                job.judge_cost_usd = cost(plan.price, *judge_tokens)
            if (resume := Resume.of(resumes.get(key))) is not None:
                job.resume = resume
                job.cost_usd = 0.0  # its first answer is paid for; what is left is re-asks (the range's high end)
                plan.resumed += 1
            plan.jobs.append(job)
    return plan


def run_params(settings: GenerationSettings, candidates: int | None = None) -> dict:
    """The parameters that shape every job's output (part of each job's key)."""
    return {
        "temperature": settings.temperature,
        "candidates": candidates or settings.candidates,
        "response_format": settings.response_format,
        "max_completion_tokens": settings.max_completion_tokens,
    }


def job_key_for(
    workspace: Workspace, prompts: PromptSet, module_id: str, cohort: Cohort, model: str, params: dict, notes: list[str]
) -> str:
    job_params = params | ({"feedback": notes} if notes else {})  # feedback makes it a new job
    job_params |= picture_params(workspace, module_id)
    module_hash = workspace.modules[module_id].content_hash
    return job_key(module_hash, module_id, cohort, prompts.hash, workspace.policy_hash, model, job_params)


def picture_params(workspace: Workspace, module_id: str) -> dict:
    """What a picture job's pictures depend on beyond the module and prompts: the image model and the brand's style
    (a change is a new job, and makes the pictures made before stale)."""
    if workspace.modules[module_id].module.picture_slot is None:
        return {}
    return {"picture_look": workspace.settings.images.look}


def plan_job(
    workspace: Workspace,
    prompts: PromptSet,
    plan: Plan,
    module_id: str,
    cohort: Cohort,
    notes: list[str],
    retry_of: str = "",
) -> PlannedJob:
    """One job with its prompt and estimated cost."""
    settings = workspace.settings.generation
    module = workspace.modules[module_id].module
    n = plan.params["candidates"]
    shape = json_shape(module) if settings.response_format == "json_object" else None
    prompt = build_prompt(
        prompts,
        workspace,
        workspace.policy,
        module_id,
        cohort,
        candidates=n,
        json_shape=shape,
        feedback=notes,
        retry_of=retry_of,
    )
    completion = estimate_completion_tokens(module, n)
    key = job_key_for(workspace, prompts, module_id, cohort, plan.model, plan.params, notes)
    spent = cost(plan.price, prompt.tokens, completion)
    pictures = 0.0
    if (found := module.picture_slot) is not None:  # n pictures, then one chat call that sees them (detail low)
        images = workspace.settings.images
        if images.prices.get(images.model) is None:
            plan.unpriced_pictures = images.model
        wording = picture_prompt(prompts, workspace, module_id, cohort, feedback=notes)
        pictures = picture_cost(images.prices.get(images.model), found[1], n, count_tokens(
            [{"role": "user", "content": wording}], settings.tokenizer))  # fmt: skip
        spent = cost(plan.price, prompt.tokens + n * IMAGE_INPUT_TOKENS, completion) + pictures
    job = PlannedJob(module_id, cohort, key, prompt, completion, spent, notes, retry_of)
    job.pictures, job.pictures_cost_usd = (n, pictures) if found is not None else (0, 0.0)
    return job
