"""A variant scored against the brand's guidelines: the share it passes, how risky it is, and why.

For each guideline that applies to the module (its kind, one of its channels), every text
slot is checked: the guideline passes for the variant when it passes on every slot. The
score is the weighted share of checked guidelines passed, 0-100, for the variant and for
each slot; a judged guideline (no judge runs yet) is "not checked" and counts in neither
the share nor the band. The risk band is ``high`` when a high-severity guideline fails,
``medium`` when a medium one does, else ``low``. Every failure carries its reason, the span
of the copy it concerns (checked to lie in that slot's text) and, where a measure can make
one, a rewrite. Measured in ``bench/brand.py``: well under a millisecond a candidate.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from contextlib import suppress
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from variantly import metrics
from variantly.errors import VariantlyError
from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import change_variant
from variantly.workspace.brand import BrandGuidelines, Guideline, Judged
from variantly.workspace.files import Workspace
from variantly.workspace.measures import Finding
from variantly.workspace.models import Module

Band = Literal["low", "medium", "high"]
Status = Literal["passed", "failed", "not_checked"]
BANDS: tuple[Band, ...] = ("low", "medium", "high")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class SlotFinding(_Frozen):
    slot: str  # empty: the copy as a whole
    reason: str
    span: tuple[int, int] | None = None  # in that slot's text
    excerpt: str | None = None  # the text the span covers
    suggestion: str | None = None  # the whole slot rewritten


class GuidelineResult(_Frozen):
    id: str
    rule: str
    severity: Literal["low", "medium", "high"]
    weight: float
    status: Status
    findings: tuple[SlotFinding, ...] = ()
    kappa: float | None = None  # agreement with people, from the calibration (None: not calibrated)
    advisory: bool = False  # under kappa 0.6: never decides the band
    judged: bool = False  # asked of an LLM judge, not measured


class BrandScore(_Frozen):
    """One variant against the guidelines (``brand_hash``: which version of ``guardrails/brand.yml``). Judged
    verdicts are kept under ``judged_key`` (the copy, locale and judged questions): unchanged copy is never judged
    twice, and a changed question is judged again."""

    score: int | None  # None: nothing could be checked
    band: Band
    slots: dict[str, int | None]
    guidelines: tuple[GuidelineResult, ...]
    brand_hash: str = ""
    judged_key: str = ""  # set when a judge answered
    unsupported: int = 0  # judgements dropped: they cited text that is not in the copy

    @property
    def failed(self) -> tuple[GuidelineResult, ...]:
        return tuple(g for g in self.guidelines if g.status == "failed")

    @property
    def not_checked(self) -> tuple[GuidelineResult, ...]:
        return tuple(g for g in self.guidelines if g.status == "not_checked")


def score_variant(
    brand: BrandGuidelines,
    module: Module,
    slots: Mapping[str, str],
    locale: str,
    *,
    brand_hash: str = "",
    judged: Judgement | None = None,
) -> BrandScore:
    """Score one variant's copy (``slots``: slot name to text; asset slots are skipped)."""
    return score_copy(
        brand,
        module.kind,
        list(module.channels),
        text_slots(module, slots),
        locale,
        brand_hash=brand_hash,
        judged=judged,
    )


def text_slots(module: Module, slots: Mapping[str, str]) -> dict[str, str]:
    return {name: text for name, text in slots.items() if _is_text(module, name) and isinstance(text, str)}


class Judgement(_Frozen):
    """What a judge answered for one copy: a verdict per judged guideline it could support, under ``key``."""

    key: str
    results: dict[str, GuidelineResult]
    unsupported: int = 0


def judged_guidelines(brand: BrandGuidelines, kind: str, channels: list[str] | None) -> list[Guideline]:
    return [g for g in _applicable(brand, kind, channels) if g.judged]


def judgement_key(
    brand: BrandGuidelines, kind: str, channels: list[str] | None, texts: Mapping[str, str], locale: str
) -> str:
    """What a judgement depends on: the copy, its locale and each judged question asked of it."""
    asked = [(g.id, g.check.judge) for g in judged_guidelines(brand, kind, channels) if isinstance(g.check, Judged)]
    basis = json.dumps([sorted(texts.items()), locale, asked], ensure_ascii=False)
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def _applicable(brand: BrandGuidelines, kind: str, channels: list[str] | None) -> list[Guideline]:
    return [g for g in brand.every if kind in g.kinds and (channels is None or g.applies_to(kind, channels))]


def score_copy(
    brand: BrandGuidelines,
    kind: str,
    channels: list[str] | None,
    texts: Mapping[str, str],
    locale: str,
    *,
    brand_hash: str = "",
    judged: Judgement | None = None,
) -> BrandScore:
    """Score copy of a kind (``channels`` None: whatever channel a guideline names). A guideline the calibration
    found advisory (kappa under 0.6 against people) is shown and counted in the score, never in the band. Judged
    guidelines take the ``judged`` verdicts when they were made for this copy and these questions."""
    applicable = _applicable(brand, kind, channels)
    if judged is not None and judged.key != judgement_key(brand, kind, channels, texts, locale):
        judged = None  # for other copy or other questions: not checked until judged again
    results = []
    per_slot: dict[str, list[tuple[Guideline, bool]]] = {name: [] for name in texts}
    for guideline in applicable:
        if isinstance(guideline.check, Judged):
            verdict = judged.results.get(guideline.id) if judged else None
            if verdict is None:
                results.append(guideline_result(guideline, "not_checked", brand=brand))
            else:
                results.append(guideline_result(guideline, verdict.status, verdict.findings, brand=brand))
            continue
        findings = []
        if guideline.check.whole_copy:  # one verdict on all the copy: in no slot's score
            joined = "\n".join(texts.values())
            findings = [SlotFinding(slot="", reason=f.reason) for f in guideline.check.findings(joined, locale)]
        else:
            for name, text in texts.items():
                found = [_slot_finding(name, text, f) for f in guideline.check.findings(text, locale)]
                per_slot[name].append((guideline, not found))
                findings += found
        results.append(guideline_result(guideline, "failed" if findings else "passed", tuple(findings), brand=brand))
    return BrandScore(
        score=_share(
            [(g, r.status == "passed") for g, r in zip(applicable, results, strict=True) if r.status != "not_checked"]
        ),
        band=_band([g for g in applicable if g.id not in brand.advisory], results),
        slots={name: _share(checked) for name, checked in per_slot.items()},
        guidelines=tuple(results),
        brand_hash=brand_hash,
        judged_key=judged.key if judged else "",
        unsupported=judged.unsupported if judged else 0,
    )


def rescore(store: Store, workspace: Workspace, ids: Iterable[str] | None = None, *, batch: int = 500) -> int:
    """Score and keep the score of every variant not scored under the current ``guardrails/brand.yml`` (or just
    ``ids``, after an edit). Returns how many were scored. Keeping a score is not a reviewer's change: no version,
    no audit entry; a pending variant under the file's ``floor`` is moved to guardrail_failed, with the reason in
    its history. Cheap enough to run on every import, run and edit (0.2 ms a variant, ``bench/brand.py``)."""
    wanted = select(VariantRow).where(VariantRow.status != "retired")
    if ids is not None:
        wanted = wanted.where(VariantRow.id.in_(list(ids)))
    else:
        wanted = wanted.where((VariantRow.brand_hash != workspace.brand_hash) | VariantRow.brand.is_(None))
    done = 0
    under_floor: list[tuple[str, int, str]] = []  # (id, version, reason): pending variants scoring under the floor
    with store.sessions() as session:
        while rows := list(session.scalars(wanted.order_by(VariantRow.id).limit(batch))):
            for row in rows:
                found = workspace.modules.get(row.module_id)
                if found is None:  # a module gone from the workspace: kept as it was scored, never looked at again
                    row.brand_hash = workspace.brand_hash
                    row.brand = row.brand or {}
                    continue
                scored = score_variant(
                    workspace.brand,
                    found.module,
                    row.slots,
                    row.locale,
                    brand_hash=workspace.brand_hash,
                    judged=stored_judgement(row),
                )
                row.brand = scored.model_dump(mode="json")
                row.brand_score, row.brand_risk, row.brand_hash = scored.score, scored.band, workspace.brand_hash
                metrics.brand_scored(scored.score, [g.id for g in scored.failed])
                if (why := _under_floor(workspace, row, scored)) is not None:
                    under_floor.append((row.id, row.version, why))
                done += 1
            session.commit()
            if ids is not None:
                break
    _hold(store, under_floor)
    return done


def _under_floor(workspace: Workspace, row: VariantRow, scored: BrandScore) -> str | None:
    """Why a pending variant is not queued, when its score is under the brand floor."""
    if row.status != "pending" or scored.score is None or scored.score >= workspace.brand.floor:
        return None
    failed = ", ".join(g.id for g in scored.failed)
    return f"brand score {scored.score} is under the floor of {workspace.brand.floor} ({failed})"


def _hold(store: Store, under_floor: list[tuple[str, int, str]]) -> None:
    for variant_id, version, reason in under_floor:  # not queued: a reviewer sees why in its history
        with suppress(VariantlyError):  # a reviewer acted on it meanwhile: theirs stands
            change_variant(
                store,
                variant_id,
                expected_version=version,
                actor="brand",
                action="brand_floor",
                to_status="guardrail_failed",
                reason=reason,
            )


def rescore_one(store: Store, workspace: Workspace, variant_id: str, judgement: Judgement) -> BrandScore | None:
    """Keep a variant's score with a judge's new verdicts (the measured guidelines scored again with them)."""
    with store.sessions() as session:
        row = session.get(VariantRow, variant_id)
        found = workspace.modules.get(row.module_id) if row is not None else None
        if row is None or found is None:
            return None
        scored = score_variant(
            workspace.brand, found.module, row.slots, row.locale, brand_hash=workspace.brand_hash, judged=judgement
        )
        row.brand = scored.model_dump(mode="json")
        row.brand_score, row.brand_risk, row.brand_hash = scored.score, scored.band, workspace.brand_hash
        why = _under_floor(workspace, row, scored)
        held = [(row.id, row.version, why)] if why else []
        session.commit()
    metrics.brand_scored(scored.score, [g.id for g in scored.failed])
    _hold(store, held)
    return scored


def fixes(scored: BrandScore) -> str:
    """The failed guidelines as reviewer feedback for the next run ("regenerate with these fixes")."""
    said = []
    for g in scored.failed:
        where = "; ".join(f"{f.reason}" + (f" ('{f.excerpt}')" if f.excerpt else "") for f in g.findings[:3])
        said.append(f"{g.rule} {where}".strip())
    return "Brand guidelines not followed: " + " | ".join(said) if said else ""


def stored_score(row: VariantRow) -> BrandScore | None:
    """The score kept with a variant (None before it is scored)."""
    return BrandScore.model_validate(row.brand) if row.brand else None


def stored_judgement(row: VariantRow) -> Judgement | None:
    """The judge's verdicts kept in a variant's score, for scoring it again without asking again."""
    kept = stored_score(row)
    if kept is None or not kept.judged_key:
        return None
    verdicts = {g.id: g for g in kept.guidelines if g.judged and g.status != "not_checked"}
    return Judgement(key=kept.judged_key, results=verdicts, unsupported=kept.unsupported)


def _is_text(module: Module, slot: str) -> bool:
    declared = module.slots.get(slot)
    return declared is None or declared.type == "text"


def guideline_result(
    guideline: Guideline,
    status: Status,
    findings: tuple[SlotFinding, ...] = (),
    *,
    brand: BrandGuidelines | None = None,
) -> GuidelineResult:
    """One guideline's verdict, with its agreement with people when ``brand`` carries the calibration."""
    return GuidelineResult(
        id=guideline.id,
        rule=guideline.rule,
        severity=guideline.severity,
        weight=guideline.weight,
        status=status,
        findings=findings,
        kappa=brand.kappa.get(guideline.id) if brand else None,
        advisory=guideline.id in brand.advisory if brand else False,
        judged=guideline.judged,
    )


def _slot_finding(slot: str, text: str, finding: Finding) -> SlotFinding:
    """A measure's finding in one slot; a span that is not inside the text is dropped (the reason stays)."""
    span = finding.span
    if span is not None and not (0 <= span[0] < span[1] <= len(text)):
        span = None
    return SlotFinding(
        slot=slot,
        reason=finding.reason,
        span=span,
        excerpt=text[span[0] : span[1]] if span else None,
        suggestion=finding.suggestion,
    )


def _share(checked: list[tuple[Guideline, bool]]) -> int | None:
    total = sum(g.weight for g, _ in checked)
    if not total:
        return None
    return round(100 * sum(g.weight for g, passed in checked if passed) / total)


def _band(counted: list[Guideline], results: list[GuidelineResult]) -> Band:
    verdicts = {r.id: r.status for r in results}
    failed = {g.severity for g in counted if verdicts[g.id] == "failed"}
    return "high" if "high" in failed else "medium" if "medium" in failed else "low"
