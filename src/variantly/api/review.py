"""The approval queue over HTTP (reviewer role)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from variantly.api.deps import reviewer, service
from variantly.api.schemas import ERRORS, Body
from variantly.auth import Principal
from variantly.authoring import review
from variantly.authoring.brand_score import BrandScore, stored_score
from variantly.authoring.report import VariantReport
from variantly.serving.service import RenderService
from variantly.store.schema import AuditEntry, VariantRow
from variantly.store.variants import get_variant
from variantly.workspace.channels import ChannelName

router = APIRouter(tags=["review"])


class VariantOut(BaseModel):
    id: str
    module: str
    cohort: str
    locale: str
    status: str
    version: int
    slots: dict[str, str]
    source: str
    model: str
    report: dict[str, Any]
    brand: BrandScore | None = Field(
        description="the score against guardrails/brand.yml: share passed, risk band, each guideline's verdict; "
        "null until scored"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: VariantRow) -> VariantOut:
        return cls(
            id=row.id,
            module=row.module_id,
            cohort=row.cohort_key,
            locale=row.locale,
            status=row.status,
            version=row.version,
            slots=row.slots,
            source=row.source,
            model=row.model,
            report=VariantReport.from_stored(row.report).stored(),
            brand=stored_score(row),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class AuditOut(BaseModel):
    actor: str
    action: str
    from_status: str | None
    to_status: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    at: datetime

    @classmethod
    def of(cls, row: AuditEntry) -> AuditOut:
        return cls(
            actor=row.actor,
            action=row.action,
            from_status=row.from_status,
            to_status=row.to_status,
            reason=row.reason,
            before=row.before,
            after=row.after,
            at=row.at,
        )


class VariantPage(BaseModel):
    items: list[VariantOut]
    total: int
    counts: dict[str, int]


class VariantDetail(VariantOut):
    history: list[AuditOut]


class Decide(Body):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1, description="the version you saw; a stale one gets 409")
    reason: str = ""


class Reject(Decide):
    reason: str = Field(min_length=1, description="what is wrong: recorded, and used as feedback")
    regenerate: StrictBool = Field(default=False, description="ask the next run to redo this cohort with the reason")


class Edit(Decide):
    slots: dict[str, str] = Field(min_length=1)


class BulkItem(Body):
    model_config = ConfigDict(extra="forbid")

    id: str
    version: int = Field(ge=1)


class BulkApprove(Body):
    model_config = ConfigDict(extra="forbid")

    items: list[BulkItem] = Field(min_length=1, max_length=1000)
    reason: str = ""


def slot_checker(request: Request) -> review.SlotChecker:
    """The server's checker for the served workspace (``app.state.checkers``, rebuilt when the policy changes),
    built when first called."""
    return request.app.state.checkers.slot_checker(request.app.state.service.workspace)


@router.get("/v1/variants", response_model=VariantPage, responses=ERRORS)
def list_variants(
    module: str | None = None,
    cohort: str | None = None,
    locale: str | None = None,
    status: str | None = None,
    guardrail: Literal["passed", "failed"] | None = None,
    risk: Literal["high", "medium", "low"] | None = Query(None, description="the brand risk band"),
    order: Literal["queue", "risk"] = Query("queue", description="queue: by module and cohort; risk: riskiest first"),
    limit: int = Query(50, ge=1, le=review.MOST_LISTED),
    offset: int = Query(0, ge=0, le=review.MOST_ROWS),
    svc: RenderService = Depends(service),
    who: Principal = Depends(reviewer),
) -> VariantPage:
    page = review.list_variants(
        svc.required_store(),
        review.Filters(module, cohort, locale, status, guardrail, risk),
        limit=limit,
        offset=offset,
        order=order,
    )
    return VariantPage(items=[VariantOut.of(v) for v in page.items], total=page.total, counts=page.counts)


# Before /v1/variants/{variant_id}: for this path, that route would answer 405s with the wrong Allow header.
@router.post("/v1/variants/approve", responses=ERRORS)
def bulk(
    body: BulkApprove, request: Request, svc: RenderService = Depends(service), who: Principal = Depends(reviewer)
) -> dict:
    result = review.bulk_approve(
        svc.required_store(),
        [(i.id, i.version) for i in body.items],
        actor=who.name,
        reason=body.reason,
        workspace=svc.workspace,
        check=slot_checker(request),
    )
    return {"approved": result.approved, "conflicts": result.conflicts, "first_approvals": result.first_approvals}


@router.get("/v1/variants/{variant_id}", response_model=VariantDetail, responses=ERRORS)
def show(variant_id: str, svc: RenderService = Depends(service), who: Principal = Depends(reviewer)) -> VariantDetail:
    row = get_variant(svc.required_store(), variant_id)
    history = [AuditOut.of(e) for e in review.variant_history(svc.required_store(), variant_id)]
    return VariantDetail(**VariantOut.of(row).model_dump(), history=history)


@router.post("/v1/variants/{variant_id}/approve", response_model=VariantOut, responses=ERRORS)
def approve(
    variant_id: str,
    body: Decide,
    request: Request,
    svc: RenderService = Depends(service),
    who: Principal = Depends(reviewer),
) -> VariantOut:
    """Approve (or give the first of two approvals); copy checked under another policy is checked again first, and
    one that fails now is refused (409 ``fails_policy``) and moved to guardrail_failed."""
    return VariantOut.of(
        review.approve(
            svc.required_store(),
            variant_id,
            version=body.version,
            actor=who.name,
            reason=body.reason,
            workspace=svc.workspace,
            check=slot_checker(request),
        )
    )


@router.post("/v1/variants/{variant_id}/reject", response_model=VariantOut, responses=ERRORS)
def reject(
    variant_id: str, body: Reject, svc: RenderService = Depends(service), who: Principal = Depends(reviewer)
) -> VariantOut:
    return VariantOut.of(
        review.reject(
            svc.required_store(),
            variant_id,
            version=body.version,
            actor=who.name,
            reason=body.reason,
            regenerate=body.regenerate,
        )
    )


@router.post("/v1/variants/{variant_id}/retire", response_model=VariantOut, responses=ERRORS)
def retire(
    variant_id: str, body: Decide, svc: RenderService = Depends(service), who: Principal = Depends(reviewer)
) -> VariantOut:
    return VariantOut.of(
        review.retire(svc.required_store(), variant_id, version=body.version, actor=who.name, reason=body.reason)
    )


@router.post("/v1/variants/{variant_id}/edit", response_model=VariantOut, responses=ERRORS)
def edit(
    variant_id: str,
    body: Edit,
    request: Request,
    svc: RenderService = Depends(service),
    who: Principal = Depends(reviewer),
) -> VariantOut:
    """Change slot texts; re-validated by the guardrails, back to pending (or guardrail_failed)."""
    return VariantOut.of(
        review.edit(
            svc.required_store(),
            svc.workspace,
            slot_checker(request),
            variant_id,
            version=body.version,
            actor=who.name,
            slots=body.slots,
            reason=body.reason,
        )
    )


@router.get("/v1/variants/{variant_id}/preview", responses={200: {"content": {"text/html": {}}}, **ERRORS})
def preview(
    variant_id: str,
    channel: ChannelName = "web",
    svc: RenderService = Depends(service),
    who: Principal = Depends(reviewer),
) -> Response:
    """The module rendered for the variant's cohort with this variant, whatever its status."""
    from variantly.authoring.preview import preview_variant

    return HTMLResponse(preview_variant(svc.workspace, get_variant(svc.required_store(), variant_id), channel))
