"""One copy job (module x cohort x locale): generate, top up, check, judge, re-ask, keep what passes.

A run's jobs share ``RunServices`` and ``RunState`` (``generation.calls``). ``run_job``
makes the calls and returns a ``JobOutcome`` (``generation.outcomes``, where it is counted
and saved). With the brand judge on (``generate --judge``), the candidates that pass the
policy checks are judged in one call, and one that fails a counted judged guideline is
re-asked with the reason, like a policy failure; if the re-asks run out it is kept, its
score saying what it fails.

Every call reserves its worst case against the run's budget first, and every answered
call is recorded, also when the job cannot finish. Copy that fails for personal data is
redacted before it is quoted back to the LLM or stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from variantly.authoring.brand_score import judged_guidelines, judgement_key, text_slots
from variantly.authoring.policy_checks import PERSONAL_DATA, PolicyChecker, channel_failures, checked_under
from variantly.authoring.report import Attempt, CheckReport, Failure
from variantly.errors import LLMCallFailed, LLMRefused, LLMTruncated
from variantly.generation.calls import (
    JobStopped,
    Messages,
    NotStarted,
    RunServices,
    RunState,
    paid_call,
    record_call,
)
from variantly.generation.judge import JOB_COPIES, Verdicts, brand_problems, judge_messages, read_verdicts
from variantly.generation.llm import Completion
from variantly.generation.outcomes import OUT_OF_BUDGET, Candidate, JobOutcome, JobStatus
from variantly.generation.plan import PlannedJob
from variantly.generation.prompts import output_model
from variantly.store.schema import LLMCallRow
from variantly.workspace.personal_data import REDACTED, redact_personal_data


async def run_job(
    services: RunServices, state: RunState, job: PlannedJob, first: Completion | None = None
) -> JobOutcome:
    """Run one job to its outcome. It raises instead when it never made a call: ``JobStopped`` when the
    budget could not cover the first, ``NotStarted`` when the run was already stopping.

    ``first`` is an answer that came another way (a batch result, with its call): the job
    goes on from it with top-ups and re-asks as live calls.
    """
    calls: list[LLMCallRow] = state.unsaved.setdefault(job.key, [])
    asking = Asking(services, state, job, calls)
    candidates: list[Candidate] = []
    earlier = job.resume.reasks if job.resume and first is None else 0
    reasks = 0
    status: JobStatus = "failed"
    error = ""
    last_answer = ""
    try:
        if first is None and job.resume is not None:  # an earlier run paid for this answer: go on from it
            last_answer = job.resume.answer
            conversation = [*job.prompt.messages, {"role": "assistant", "content": last_answer}]
            candidates = await asking.check(job.resume.candidates)
        else:
            if first is None:
                completion = await asking.ask(job.prompt.messages, "generate", asking.wanted)
            else:
                completion = first
                for call in first.calls:
                    state.budget.settle(0.0, record_call(services, state, job, calls, call, "batch", batch=True))
            items = [as_text(c) for c in completion.items[: asking.wanted]]
            conversation = _after(job, completion)
            last_answer = conversation[-1]["content"]
            if len(items) < asking.wanted:  # the schema asked for `wanted`; not every server keeps to it
                items += await asking.top_up(conversation, items)
            candidates = await asking.check(items)
        while not asking.out_of_budget and earlier + reasks < services.max_reasks:
            failing_at = [i for i, c in enumerate(candidates) if c.failing]
            if not failing_at:
                break
            answer = await asking.reask(conversation, candidates, failing_at)
            if answer is None:
                break
            conversation = _after(job, answer)
            last_answer = conversation[-1]["content"]
            reasks += 1
            fresh = await asking.check([as_text(c) for c in answer.items[: len(failing_at)]])
            for index, new in zip(failing_at, fresh, strict=False):  # by position: equal texts are possible
                candidates[index] = retried(candidates[index], new)
        if asking.out_of_budget:
            status, error = "unfinished", OUT_OF_BUDGET
        else:
            why = next((c.report.summary for c in candidates), "the LLM returned no candidates")
            error = f"no candidate passed the guardrails after {earlier + reasks} re-ask(s): {why}"
    except (LLMCallFailed, JobStopped, NotStarted) as exc:
        status, error = stopped_by(exc, state, job, asking)
    if any(c.report.passed for c in candidates):
        status, error = "done", ""
    return JobOutcome(
        job, status, error, tuple(candidates), tuple(calls), reasks, asking.out_of_budget, earlier, last_answer
    )


def retried(old: Candidate, new: Candidate) -> Candidate:
    """The candidate that replaces a failing one, the failed try kept in its attempts."""
    tried = Attempt(slots=old.slots, report=old.report, brand=old.brand)
    return replace(new, attempts=(*old.attempts, tried))


def stopped_by(exc: Exception, state: RunState, job: PlannedJob, asking: Asking) -> tuple[JobStatus, str]:
    """How a call that raised ends a job (a copy job or a picture job): refused or truncated, failed (redone by
    ``--retry-failed``); out of attempts, unfinished (trouble on the way, not in the inputs); stopped by the budget,
    unfinished. A job stopped before its first call never started: ``exc`` is raised again for the run to count."""
    if isinstance(exc, LLMRefused | LLMTruncated):
        return "failed", exc.message
    if isinstance(exc, LLMCallFailed):
        return "unfinished", exc.message
    if not asking.calls:  # stopped before its first call: it never started (JobStopped: for want of budget)
        del state.unsaved[job.key]
        state.summary.jobs_not_started += 1
        raise exc
    if isinstance(exc, NotStarted):
        raise exc
    asking.out_of_budget = True
    return "unfinished", OUT_OF_BUDGET


class Asking:
    """The calls one job makes, each paid for from the budget first, and the checks of what comes back."""

    def __init__(self, services: RunServices, state: RunState, job: PlannedJob, calls: list[LLMCallRow]) -> None:
        self.services, self.state, self.job, self.calls = services, state, job, calls
        self.module = services.workspace.modules[job.module_id].module
        self.cohort = job.cohort.as_dict()
        self.wanted: int = state.plan.params["candidates"]
        self.out_of_budget = False

    async def ask(self, messages: Messages, purpose: str, count: int) -> Completion:
        output, llm = output_model(self.module, count), self.services.llm
        return await paid_call(
            self.services,
            self.state,
            self.job,
            self.calls,
            messages,
            purpose,
            lambda m, on_call, before: llm.complete(m, output, on_call=on_call, before_attempt=before),
        )

    async def top_up(self, conversation: Messages, items: list[dict[str, str]]) -> list[dict[str, str]]:
        """One more call for the candidates an answer was short of; what it could not get is counted short."""
        missing = self.wanted - len(items)
        request = [*conversation, {"role": "user", "content": _top_up_request(len(items), missing)}]
        extra: list[dict[str, str]] = []
        try:
            answer = await self.ask(request, "top_up", missing)
            self.state.summary.top_ups += 1
            extra = [as_text(c) for c in answer.items[:missing]]
        except JobStopped:
            self.out_of_budget = True
        self.state.summary.candidates_short += missing - len(extra)
        return extra

    async def reask(
        self, conversation: Messages, candidates: list[Candidate], failing_at: list[int]
    ) -> Completion | None:
        """Quote each failing candidate with its problems and ask again; None when the budget cannot cover it."""
        failures = [
            {"slots": candidates[i].slots, "problems": [*candidates[i].report.problems(), *candidates[i].brand]}
            for i in failing_at
        ]
        request = self.services.prompts.render("reask.jinja", count=len(failing_at), failures=failures)
        try:
            return await self.ask([*conversation, {"role": "user", "content": request}], "reask", len(failing_at))
        except JobStopped:
            self.out_of_budget = True
            return None

    async def check(self, slots_list: list[dict[str, str]]) -> list[Candidate]:
        """The policy checks, then the brand judge on what passed them (``generate --judge``)."""
        checked = await self._policy(slots_list)
        return await self.judge(checked) if self.services.judge else checked

    async def judge(self, candidates: list[Candidate]) -> list[Candidate]:
        """The judged guidelines of the candidates that pass the policy checks, ``JOB_COPIES`` a call (one call for
        a job's three). A refusal, a bad answer or a timeout leaves them not checked; the budget running out stops
        the job like any call. The verdicts ride with the candidate to its variant's brand score."""
        workspace, module, locale = self.services.workspace, self.module, self.job.cohort.locale
        questions = judged_guidelines(workspace.brand, module.kind, list(module.channels))
        passing = [i for i, c in enumerate(candidates) if c.report.passed]
        if not questions or self.out_of_budget:
            return candidates
        judged = list(candidates)
        llm, summary = self.services.llm, self.state.summary
        for start in range(0, len(passing), JOB_COPIES):
            group = passing[start : start + JOB_COPIES]
            texts = [text_slots(module, candidates[i].slots) for i in group]
            try:
                answer = await paid_call(
                    self.services,
                    self.state,
                    self.job,
                    self.calls,
                    judge_messages(questions, texts, locale),
                    "judge",
                    lambda m, on_call, before: llm.ask(m, Verdicts, on_call=on_call, before_attempt=before),
                )
            except JobStopped:
                self.out_of_budget = True
                break
            except LLMCallFailed:  # refused, malformed after retries, timed out: not checked, nothing lost
                summary.judge_failed += len(group)
                continue
            summary.judged += len(group)
            for number, (index, copy) in enumerate(zip(group, texts, strict=True), start=1):
                key = judgement_key(workspace.brand, module.kind, list(module.channels), copy, locale)
                verdicts = read_verdicts(answer[0], questions, copy, key, number)
                problems = tuple(brand_problems(workspace.brand, verdicts))
                judged[index] = replace(judged[index], judgement=verdicts, brand=problems)
        return judged

    async def _policy(self, slots_list: list[dict[str, str]]) -> list[Candidate]:
        """Check in the run's worker thread: the event loop keeps other jobs' calls in flight meanwhile."""
        services, job_id, cohort = self.services, self.job.module_id, self.cohort

        def work() -> list[Candidate]:
            checker = services.checker()
            return [
                _redacted(
                    services,
                    checker,
                    job_id,
                    cohort,
                    Candidate(s, checker.check_slots(services.workspace, job_id, cohort, s)),
                )
                for s in slots_list
            ]

        return await asyncio.get_running_loop().run_in_executor(services.worker, work)


def _after(job: PlannedJob, completion: Completion) -> Messages:
    """The job's prompt and the LLM's last answer (personal data removed): what a follow-up builds on."""
    return [*job.prompt.messages, {"role": "assistant", "content": redact_personal_data(completion.raw)}]


def _redacted(
    services: RunServices, checker: PolicyChecker, module_id: str, cohort: dict[str, str], candidate: Candidate
) -> Candidate:
    """Personal data never leaves the check: not into a re-ask, not into the store.

    The redacted text is checked again so every span in the report points into the text
    that is kept; the personal-data failure stays, now marking the placeholders.
    """
    found = {slot: f.message for slot, f in candidate.report.failed_by(PERSONAL_DATA).items()}
    if not found:
        return candidate
    slots = {name: redact_personal_data(text) for name, text in candidate.slots.items()}
    failures, unchecked = checker.slot_failures(services.workspace, module_id, cohort, slots)  # counted once, before
    for slot, message in found.items():
        spans = tuple((m.start(), m.end()) for m in REDACTED.finditer(slots[slot]))
        failures[slot].append(Failure(validator=PERSONAL_DATA, message=message, spans=spans))
    channels = channel_failures(services.workspace, module_id, cohort, slots)
    report = CheckReport.of(
        failures, checked_under(services.workspace, partly=bool(unchecked)), channels=channels, unchecked=unchecked
    )
    return replace(candidate, slots=slots, report=report, redacted=True)


def _top_up_request(have: int, missing: int) -> str:
    return (
        f"You wrote {have} candidate{'s' if have != 1 else ''}; {have + missing} were asked for. "
        f"Write {missing} more, different from those, following all the rules and the same shape."
    )


def as_text(candidate: dict[str, Any]) -> dict[str, str]:
    return {k: "" if v is None else str(v) for k, v in candidate.items()}
