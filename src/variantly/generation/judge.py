"""The brand judge: every judged guideline of a job's copies asked of the LLM in one structured call.

One yes/no question per guideline rather than a holistic grade (CheckEval), all of the
questions for all of a job's candidates (same module and cohort, up to five) in a single
call through the generation client (its retries, circuit breaker and
errors), each call's worst case reserved against the budget before it is made and its cost
recorded like a generation call (``llm_calls``, purpose ``judge``). A "no" must quote the
words it is about: the quote is looked up in the copy, and a judgement citing text that is
not there is dropped as unsupported and counted, the guideline left "not checked". A refusal,
a malformed answer or a timeout leaves every judged guideline "not checked" and loses
nothing. Verdicts are kept with the variant's score under a key of the copy and the
questions (``authoring.brand_score.judgement_key``): unchanged copy is never judged twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from variantly.authoring.brand_score import (
    GuidelineResult,
    Judgement,
    SlotFinding,
    guideline_result,
    judged_guidelines,
    judgement_key,
    rescore_one,
    stored_judgement,
    text_slots,
)
from variantly.errors import VariantlyError
from variantly.generation.budget import Budget, BudgetReached, cost
from variantly.generation.llm import CallRecord, LLMClient
from variantly.generation.prompts import count_tokens
from variantly.store import Store
from variantly.store.runs import claim_job, release_claims, save_calls
from variantly.store.schema import LLMCallRow, VariantRow
from variantly.workspace import Workspace
from variantly.workspace.brand import BrandGuidelines, Guideline, Judged
from variantly.workspace.models import Module, Price

JOB_COPIES = 5  # copies a call: a job's candidates (3 by default) in one call, and the prompt stays small
SYSTEM = (
    "You check marketing copy against a brand's guidelines. For each guideline you are given, answer whether the "
    "copy follows it. When it does not, quote the exact words of the copy the problem is in (copied character for "
    "character) and suggest a rewrite of that slot. Judge only what is asked; do not invent guidelines."
)


class Verdict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    copy_number: int = Field(default=1, ge=1, description="which copy the verdict is on, by its number")
    guideline: str = Field(description="the guideline's id, as given")
    follows: bool = Field(description="true when the copy follows the guideline")
    reason: str = Field(max_length=400, description="why, in one sentence")
    quote: str | None = Field(default=None, max_length=400, description="when it does not: the exact words at fault")
    rewrite: str | None = Field(default=None, max_length=1000, description="when it does not: the slot rewritten")


class Verdicts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdicts: list[Verdict]


@dataclass(frozen=True)
class Copy:
    """One copy as the judge reads it: a stored variant's (``ident`` its id) or a labelled line's."""

    ident: str
    texts: Mapping[str, str]
    key: str
    locale: str


def judge_messages(
    questions: list[Guideline], copies: Sequence[Mapping[str, str]], locale: str
) -> list[dict[str, str]]:
    """Every copy of one job (the same module and cohort) and every question, in one message."""
    asked = "\n".join(f"- {g.id}: {g.check.judge}" for g in questions if isinstance(g.check, Judged))
    shown = "\n\n".join(
        f"Copy {n}:\n" + "\n".join(f"[{slot}] {text}" for slot, text in texts.items())
        for n, texts in enumerate(copies, start=1)
    )
    user = (
        f"Locale: {locale}\n\n{shown}\n\nGuidelines (id: question):\n{asked}\n\n"
        f"Answer every guideline for every copy (copy numbers 1 to {len(copies)})."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


VERDICT_TOKENS = 55  # one verdict's JSON, cl100k: a pass with its reason 46 tokens, a fail with quote and rewrite 66


def judge_estimate(
    workspace: Workspace, module: Module, locale: str, copy_tokens: int, copies: int
) -> tuple[int, tuple[int, int]]:
    """What judging a job's ``copies`` costs before they exist (for ``variantly plan``): the calls, and their prompt
    and completion tokens. The copies are as long as the job's estimated answer (``copy_tokens``)."""
    questions = judged_guidelines(workspace.brand, module.kind, list(module.channels))
    if not questions or copies <= 0:
        return 0, (0, 0)
    calls = -(-copies // JOB_COPIES)
    asked = count_tokens(judge_messages(questions, [], locale), workspace.settings.generation.tokenizer)
    return calls, (calls * asked + copy_tokens, copies * len(questions) * VERDICT_TOKENS)


def read_verdicts(
    answer: Verdicts, questions: list[Guideline], texts: Mapping[str, str], key: str, copy: int = 1
) -> Judgement:
    """The verdicts on copy number ``copy`` the copy supports: a "no" whose quote is in a slot is a failure with its
    span; one quoting words that are not there is dropped and counted."""
    asked = {g.id for g in questions}
    results: dict[str, GuidelineResult] = {}
    unsupported = 0
    for verdict in answer.verdicts:
        if verdict.copy_number != copy or verdict.guideline not in asked or verdict.guideline in results:
            continue
        guideline = next(g for g in questions if g.id == verdict.guideline)
        if verdict.follows:
            results[guideline.id] = guideline_result(guideline, "passed")
            continue
        found = _locate(verdict.quote, texts)
        if found is None:
            unsupported += 1  # cites words that are not in the copy: not believed
            continue
        slot, start = found
        end = start + len(verdict.quote or "")
        finding = SlotFinding(
            slot=slot,
            reason=verdict.reason,
            span=(start, end),
            excerpt=texts[slot][start:end],
            suggestion=verdict.rewrite,
        )
        results[guideline.id] = guideline_result(guideline, "failed", (finding,))
    return Judgement(key=key, results=results, unsupported=unsupported)


def brand_problems(brand: BrandGuidelines, judgement: Judgement) -> list[str]:
    """The judged guidelines a copy fails that count (not advisory), one line each as a re-ask quotes them back."""
    rules = {g.id: g.rule for g in brand.every}
    lines = []
    for guideline, result in judgement.results.items():
        if result.status != "failed" or guideline in brand.advisory:
            continue
        where = "; ".join(f"[{f.slot}] '{f.excerpt}': {f.reason}" for f in result.findings)
        lines.append(f"brand guideline {guideline} ({rules.get(guideline, '')}): {where}")
    return lines


def _locate(quote: str | None, texts: Mapping[str, str]) -> tuple[str, int] | None:
    if not quote or not quote.strip():
        return None
    for slot, text in texts.items():
        at = text.find(quote)
        if at >= 0:
            return slot, at
    return None


@dataclass
class JudgeRun:
    """What ``judge_variants`` did: how many copies were judged, kept from before, or left unjudged and why."""

    run_id: str
    judged: int = 0
    cached: int = 0
    failed: list[str] = field(default_factory=list)  # "variant id: why"
    unsupported: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    budget_reached: bool = False
    records: list[LLMCallRow] = field(default_factory=list)  # every attempt, for the cost report


async def judge_variants(
    store: Store,
    workspace: Workspace,
    llm: LLMClient,
    rows: list[VariantRow],
    *,
    budget: Budget,
    per_call: int = JOB_COPIES,
    run_id: str | None = None,
) -> JudgeRun:
    """Judge the judged guidelines of each variant not judged for its copy yet, the candidates of one job (module
    and cohort) together, up to ``per_call`` a call; keep the verdicts with each score. Stops calling when the next
    call could pass the budget; every answered or failed attempt is recorded with its cost."""
    run = JudgeRun(run_id=run_id or uuid.uuid4().hex)
    brand = workspace.brand
    price = workspace.settings.generation.prices.get(llm.model)
    jobs: dict[tuple[str, str, str], list[Copy]] = {}
    for row in rows:
        found = workspace.modules.get(row.module_id)
        if found is None:
            continue
        module = found.module
        texts = text_slots(module, row.slots)
        questions = judged_guidelines(brand, module.kind, list(module.channels))
        key = judgement_key(brand, module.kind, list(module.channels), texts, row.locale)
        kept = stored_judgement(row)
        if not questions:
            continue
        if kept is not None and kept.key == key:
            run.cached += 1
            continue
        jobs.setdefault((row.module_id, row.cohort_key, row.locale), []).append(Copy(row.id, texts, key, row.locale))
    claimer = f"judge-{run.run_id}"[:32]  # claims of its own: a run's job claims are released after its writer
    try:
        for (module_id, _, _), found_copies in jobs.items():
            copies = await asyncio.to_thread(_taken, store, found_copies, claimer)
            if not copies:
                continue
            module = workspace.modules[module_id].module
            questions = judged_guidelines(brand, module.kind, list(module.channels))
            for copy, judgement in await judge_copies(llm, questions, copies, price, budget, run, per_call=per_call):
                run.judged += 1
                run.unsupported += judgement.unsupported
                rescore_one(store, workspace, copy.ident, judgement)
            if run.budget_reached:
                break
    finally:
        save_calls(store, run.records)  # what was paid for, answered or not
        release_claims(store, claimer)  # after the verdicts are saved: a copy claimed is judged or left to the next
    return run


def _taken(store: Store, copies: list[Copy], claimer: str) -> list[Copy]:
    """The copies this judge may ask about: claimed (another judging them at the same time has them), then read
    again (judged by another since they were listed: it saves its verdicts before it lets go of them)."""
    claimed = [c for c in copies if claim_job(store, _claim_key(c), claimer, after=None) is None]
    with store.sessions() as session:
        rows = {
            row.id: row
            for row in session.scalars(select(VariantRow).where(VariantRow.id.in_(c.ident for c in claimed)))
        }
    return [c for c in claimed if c.ident in rows and _judged_key(rows[c.ident]) != c.key]


def _judged_key(row: VariantRow) -> str | None:
    kept = stored_judgement(row)
    return kept.key if kept is not None else None


def _claim_key(copy: Copy) -> str:
    return "judge:" + hashlib.sha256(f"{copy.ident}:{copy.key}".encode()).hexdigest()[:24]


async def judge_copies(
    llm: LLMClient,
    questions: list[Guideline],
    copies: list[Copy],
    price: Price | None,
    budget: Budget,
    run: JudgeRun,
    *,
    per_call: int = JOB_COPIES,
) -> list[tuple[Copy, Judgement]]:
    """Copies of one kind and locale asked together, ``per_call`` a call: the judgements that came back."""
    out = []
    for start in range(0, len(copies), per_call):
        group = copies[start : start + per_call]
        judgements = await _judge_group(llm, questions, group, price, budget, run)
        if run.budget_reached:
            break
        out += [(copy, j) for copy, j in zip(group, judgements, strict=True) if j is not None]
    return out


async def _judge_group(
    llm: LLMClient,
    questions: list[Guideline],
    group: list[Copy],
    price: Price | None,
    budget: Budget,
    run: JudgeRun,
) -> list[Judgement | None]:
    messages = judge_messages(questions, [c.texts for c in group], group[0].locale)
    worst = cost(price, _rough_tokens(messages), llm.settings.max_completion_tokens)
    held: list[float] = []
    records: list[CallRecord] = []

    def reserve() -> None:
        held.append(budget.reserve(worst))

    try:
        answer, _, _ = await llm.ask(messages, Verdicts, on_call=records.append, before_attempt=reserve)
    except BudgetReached:
        run.budget_reached = True
        return [None for _ in group]
    except VariantlyError as exc:  # refused, malformed after retries, timed out: not checked, nothing lost
        run.failed += [f"{c.ident}: {exc.message}" for c in group]
        return [None for _ in group]
    finally:
        _settle(budget, held, records, price)
        _record(run, records, group[0].ident, llm.model, price)
    return [read_verdicts(answer, questions, c.texts, c.key, n) for n, c in enumerate(group, start=1)]


def _rough_tokens(messages: list[dict[str, str]]) -> int:
    """An upper bound without the tokenizer: a token is at least one character of these prompts."""
    return sum(len(m["content"]) for m in messages)


def _settle(budget: Budget, held: list[float], records: list[CallRecord], price: Price | None) -> None:
    for i, amount in enumerate(held):
        record = records[i] if i < len(records) else None
        actual = cost(price, record.prompt_tokens, record.completion_tokens, record.cached_tokens) if record else 0.0
        budget.settle(amount, actual)


def _record(run: JudgeRun, records: list[CallRecord], ident: str, model: str, price: Price | None) -> None:
    run.calls += len(records)
    run.prompt_tokens += sum(r.prompt_tokens for r in records)
    run.completion_tokens += sum(r.completion_tokens for r in records)
    spent = [cost(price, r.prompt_tokens, r.completion_tokens, r.cached_tokens) for r in records]
    run.cost_usd += sum(spent)
    run.records.extend(r.row(run.run_id, ident[:40], "judge", model, c) for r, c in zip(records, spent, strict=True))


def unjudged(store: Store, status: str | None) -> list[VariantRow]:
    query = select(VariantRow).where(VariantRow.status != "retired").order_by(VariantRow.id)
    if status:
        query = query.where(VariantRow.status == status)
    with store.sessions() as session:
        return list(session.scalars(query))
