"""Events and reports over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from variantly import metrics
from variantly.api.deps import renderer, reviewer, service
from variantly.api.schemas import ERRORS
from variantly.auth import ANONYMOUS, Principal
from variantly.errors import Forbidden, NotFound
from variantly.reporting.lift import lift_report
from variantly.serving.events import EventIn, record_events, signature_problems
from variantly.serving.profiles import count_first
from variantly.serving.service import RenderService

router = APIRouter()


MAX_EVENTS = 5000


class EventBatch(BaseModel):  # each EventIn refuses text no store can hold, after the count
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)

    @model_validator(mode="before")
    @classmethod
    def _count_first(cls, value: Any) -> Any:
        count_first(value, "events", MAX_EVENTS, "send them in batches")
        return value


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int


@router.post("/v1/events", response_model=EventsAccepted, tags=["events"], responses=ERRORS)
def post_events(
    body: EventBatch, svc: RenderService = Depends(service), who: Principal = Depends(renderer)
) -> EventsAccepted:
    """Record impressions, clicks and conversions (up to 5,000 a call). Send each event's
    ``idempotency_key`` (or the same content) again and it still counts once."""
    modules = svc.workspace.modules
    for i, event in enumerate(body.events):
        if event.module and event.module not in modules:
            raise NotFound(f"events.{i}.module: unknown module '{event.module}'")
    if who.name == ANONYMOUS and (unsigned := signature_problems(svc.event_key, body.events)):
        raise Forbidden(
            f"{', '.join(unsigned[:5])}: events sent without a token must carry the decision's signature from the "
            "render response (or send a renderer token)"
        )
    new_rows, duplicates = record_events(svc.required_store(), body.events)
    svc.activity.record(new_rows)  # caps and statistics (this process's, or Redis) see them at once
    for kind in ("impression", "click", "conversion"):
        if count := sum(1 for row in new_rows if row.type == kind):
            metrics.EVENTS.labels(kind).inc(count)
    return EventsAccepted(accepted=len(new_rows), duplicates=duplicates)


@router.get("/v1/reports/lift", tags=["reports"], responses=ERRORS)
def get_lift(
    module: str | None = None, svc: RenderService = Depends(service), who: Principal = Depends(reviewer)
) -> dict:
    """Treatment against holdout control per module, cohort and variant, with 95% intervals."""
    return {"rows": [row.as_dict() for row in lift_report(svc.required_store(), module)]}
