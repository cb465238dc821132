"""Events and reports over HTTP."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from variantly import metrics
from variantly.api.deps import renderer, reviewer, service
from variantly.api.schemas import ERRORS
from variantly.auth import ANONYMOUS, Principal
from variantly.serving.events import EventIn, check_events, record_events
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
    duplicates: int = Field(description="already recorded: a retried batch, or a decision's event sent again")
    values_ignored: int = Field(
        default=0, description="conversion values sent without a token: counted as conversions, without the money"
    )
    erased: int = Field(
        default=0,
        description="events about a person from before their erasure (a retry, a late beacon): not recorded again",
    )
    expired: int = Field(default=0, description="events older than the workspace keeps (events.retention_days)")


@router.post("/v1/events", response_model=EventsAccepted, tags=["events"], responses=ERRORS)
def post_events(
    body: EventBatch, svc: RenderService = Depends(service), who: Principal = Depends(renderer)
) -> EventsAccepted:
    """Record impressions, clicks, conversions and guardrail events (up to 5,000 a call). Send each event's
    ``idempotency_key`` (or the same content) again and it still counts once. Without a token each event
    must bring its decision's signature, and one decision credits one event of each type; a conversion's
    ``value`` is taken only with a token (from an order system, not a browser)."""
    anonymous = who.name == ANONYMOUS
    checked = check_events(svc.workspace, body.events, key=svc.event_key, anonymous=anonymous)
    recording = record_events(
        svc.required_store(), checked.events, pseudonyms=svc.pseudonyms, anonymous=anonymous, erasures=svc.erasures
    )
    new_rows = recording.new
    svc.activity.record(new_rows)  # caps (this process's, or Redis) see them at once
    for kind in {row.type for row in new_rows}:
        metrics.EVENTS.labels(kind).inc(sum(1 for row in new_rows if row.type == kind))
    return EventsAccepted(
        accepted=len(new_rows),
        duplicates=recording.duplicates,
        values_ignored=checked.values_ignored,
        erased=recording.erased,
        expired=checked.expired,
    )


class LiftRowOut(BaseModel):
    """One comparison: treatment against control in a module, a cohort of it, or a variant (``level``)."""

    metric: str
    level: Literal["module", "cohort", "variant"]
    module: str
    cohort: str | None
    variant_id: str | None
    treatment_n: int
    control_n: int
    treatment_mean: float
    control_mean: float
    absolute_lift: float
    absolute_ci: tuple[float, float] = Field(description="fixed-horizon interval, valid read once at the horizon")
    absolute_cs: tuple[float, float] = Field(description="anytime-valid confidence sequence, valid read every day")
    relative_lift: float | None
    relative_ci: tuple[float, float] | None
    relative_cs: tuple[float, float] | None
    p_value: float | None
    p_value_sequential: float | None
    q_value: float | None = Field(description="Benjamini-Hochberg, over the cohort and variant rows")
    significant: bool
    verdict: str
    warning: str | None
    guardrail_breached: bool


class SampleRatioOut(BaseModel):
    treatment: int
    control: int
    expected_control_share: float
    p_value: float
    mismatch: bool = Field(description="the arms are not in the planned shares: the data is broken, not the copy")
    control_share: float


class LiftReportOut(BaseModel):
    metric: str
    label: str
    unit: str
    currency: str | None
    decided_by: Literal["anytime-valid", "fixed horizon"]
    alpha: float
    rows: list[LiftRowOut]
    sample_ratios: dict[str, SampleRatioOut]
    compared: int = Field(description="cohort and variant rows adjusted together for many comparisons")
    horizon: str | None
    capped_at: dict[str, float] = Field(description="revenue capped per module (winsorised), in the currency")
    money_elsewhere: dict[str, int] = Field(
        description="conversions whose money is in another currency than the report's, by currency: not added up"
    )


@router.get("/v1/reports/lift", response_model=LiftReportOut, tags=["reports"], responses=ERRORS)
def get_lift(
    module: str | None = None,
    metric: str = Query("conversion", description="conversion, revenue, aov, or a guardrail event's rate"),
    svc: RenderService = Depends(service),
    who: Principal = Depends(reviewer),
) -> LiftReportOut:
    """Treatment against holdout control per module, cohort and variant in one metric: both intervals (fixed
    horizon and anytime-valid), the verdict, the sample-ratio check per module and how many rows were compared."""
    from variantly.reporting.lift import workspace_lift  # scipy stays out of a render process until a report is read

    return LiftReportOut.model_validate(
        workspace_lift(svc.required_store(), svc.workspace, metric=metric, module=module).as_dict()
    )
