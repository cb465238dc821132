"""Data-protection requests over HTTP (admin only): access, erasure, and a purge on demand.

Profile ids travel in the body, never in the path or query, so they stay out of access logs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from variantly.api.deps import admin, service
from variantly.api.schemas import ERRORS
from variantly.auth import Principal
from variantly.privacy.access import PersonExport, export_person
from variantly.privacy.erasure import erase_people
from variantly.privacy.retention import purge_expired
from variantly.serving.profiles import ProfileId, count_first, reject_invalid_text
from variantly.serving.service import RenderService

router = APIRouter(prefix="/v1/privacy", tags=["privacy"])

MAX_IDS = 1000


class PersonRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        return reject_invalid_text(value)

    profile_id: ProfileId = Field(description="the id your CRM or CDP knows the person by")


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _checked(cls, value: Any) -> Any:
        count_first(value, "profile_ids", MAX_IDS, "send them in batches")
        return reject_invalid_text(value)

    profile_ids: list[ProfileId] = Field(
        min_length=1, max_length=MAX_IDS, description="ids to erase, up to 1,000 a call"
    )


class ErasureDone(BaseModel):
    logged_as: str = Field(description="the keyed hash the erasure is recorded under (never the id)")
    events: int = Field(description="events deleted")
    exposures: int = Field(description="exposures deleted")
    erased_before: datetime | None = Field(description="an earlier erasure of the same id, if any")


class ErasuresDone(BaseModel):
    erased: list[ErasureDone] = Field(description="one per id, in the order sent (a repeated id once)")
    note: str = Field(
        default="every render process forgets these people within one poll; reports made earlier are not revised"
    )


class PurgeDone(BaseModel):
    cutoff: datetime = Field(description="events and exposures from before this were deleted")
    events: int
    exposures: int
    seconds: float


@router.post("/export", response_model=PersonExport, responses=ERRORS)
def export(body: PersonRequest, svc: RenderService = Depends(service), who: Principal = Depends(admin)) -> PersonExport:
    """Everything stored about one profile id (an access request), with what each field means."""
    return export_person(
        svc.required_store(),
        svc.pseudonyms,
        body.profile_id,
        retention_days=svc.workspace.settings.events.retention_days,
        windows=svc.activity.windows(body.profile_id),
    )


@router.post("/erase", response_model=ErasuresDone, responses=ERRORS)
def erase(body: ErasureRequest, svc: RenderService = Depends(service), who: Principal = Depends(admin)) -> ErasuresDone:
    """Erase people: their events and exposures, their frequency-cap windows in Redis and in every process."""
    done = erase_people(
        svc.required_store(), svc.pseudonyms, body.profile_ids, actor=who.name, forget=svc.activity.forget
    )
    return ErasuresDone(
        erased=[
            ErasureDone(logged_as=e.logged_as, events=e.events, exposures=e.exposures, erased_before=e.erased_before)
            for e in done
        ]
    )


@router.post("/purge", response_model=PurgeDone, responses=ERRORS)
def purge(svc: RenderService = Depends(service), who: Principal = Depends(admin)) -> PurgeDone:
    """Delete what is older than ``events.retention_days`` now (the server also does it every hour)."""
    done = purge_expired(svc.required_store(), svc.workspace.settings.events.retention_days, actor=who.name)
    return PurgeDone(cutoff=done.cutoff, events=done.events, exposures=done.exposures, seconds=done.seconds)
