"""An access request: everything stored about one profile id, with what each field means.

A profile id is looked up in every form the store may hold it under (the id itself, and its
pseudonym under each key version: ``serving.pseudonyms``). What is stored is events and
exposures in the store, capped impressions in Redis or a process's memory (a copy of the
impression events, for frequency caps), and earlier erasures of the same id. Profiles sent
to render (traits, consent) are never stored: the answer says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import select

from variantly.serving.profiles import known_id
from variantly.serving.pseudonyms import Pseudonyms
from variantly.store import Store
from variantly.store.schema import EventRow, ExposureRow, PrivacyLogRow

NEVER_STORED = [
    "profile traits and consent sent to render: used for that render and forgotten",
    "the rendered message: computed per request, never kept",
    "IP addresses and user agents: not recorded by Variantly (your proxy's and server's access logs may)",
]


class StoredEvent(BaseModel):
    type: str = Field(description="impression, click, conversion, or a guardrail event such as unsubscribe")
    module: str = Field(description="the content block it concerns; empty for a page-level conversion")
    variant_id: str | None = Field(description="the copy shown; null when the default was shown")
    arm: str = Field(description="treatment (personalised), control (holdout: always the defaults) or none")
    cohort: str | None = Field(description="the audience cohort the decision was made for")
    at: datetime = Field(description="when it happened, as the sender said")
    received_at: datetime = Field(description="when Variantly recorded it")
    value: Decimal | None = Field(description="what a conversion was worth, sent by your order system")
    currency: str | None = Field(description="the currency of value (ISO 4217)")


class StoredExposure(BaseModel):
    variant_id: str = Field(description="a variant this person was shown")
    exposed_at: datetime = Field(description="the first time it was shown")
    converted_at: datetime | None = Field(description="the first conversion after that, if any")


class PersonExport(BaseModel):
    """Everything Variantly stores about one profile id."""

    profile_id: str = Field(description="the id the request was made for")
    stored_as: list[str] = Field(description="the forms it is stored under (pseudonyms, or the id itself)")
    exported_at: datetime
    retention_days: int = Field(description="events and exposures older than this are deleted")
    events: list[StoredEvent] = Field(description="what this person did, as senders reported it")
    exposures: list[StoredExposure] = Field(description="per variant, when first shown and whether converted after")
    frequency_windows: dict[str, list[datetime]] = Field(
        description="per module with a frequency cap, the impressions the cap counts (a copy kept for speed)"
    )
    erased_before: list[datetime] = Field(description="when data under this id was erased on earlier requests")
    never_stored: list[str] = Field(default_factory=lambda: list(NEVER_STORED))
    fields: dict[str, str] = Field(default_factory=dict, description="what each field of this answer means")


def export_person(
    store: Store,
    pseudonyms: Pseudonyms,
    profile_id: str,
    *,
    retention_days: int,
    windows: Mapping[str, list[datetime]] | None = None,
) -> PersonExport:
    """``windows``: the frequency-cap copy (Redis or this process), when there is one to read."""
    forms = pseudonyms.every(known_id(profile_id))
    with store.sessions() as session:
        events = session.scalars(
            select(EventRow).where(EventRow.profile_id.in_(forms)).order_by(EventRow.at, EventRow.id)
        ).all()
        exposures = session.scalars(
            select(ExposureRow).where(ExposureRow.profile_id.in_(forms)).order_by(ExposureRow.exposed_at)
        ).all()
        erased = session.scalars(
            select(PrivacyLogRow.at)
            .where(PrivacyLogRow.action == "erase", PrivacyLogRow.subject == pseudonyms.audit(profile_id))
            .order_by(PrivacyLogRow.id)
        ).all()
    stored_as = sorted({row.profile_id for row in events} | {row.profile_id for row in exposures})
    answer = PersonExport(
        profile_id=profile_id,
        stored_as=stored_as,
        exported_at=datetime.now(UTC),
        retention_days=retention_days,
        events=[
            StoredEvent(
                type=e.type,
                module=e.module_id,
                variant_id=e.variant_id,
                arm=e.arm,
                cohort=e.cohort_key,
                at=e.at,
                received_at=e.received_at,
                value=e.value,
                currency=e.currency,
            )
            for e in events
        ],
        exposures=[
            StoredExposure(variant_id=x.variant_id, exposed_at=x.exposed_at, converted_at=x.converted_at)
            for x in exposures
        ],
        frequency_windows={m: times for m, times in (windows or {}).items() if times},
        erased_before=list(erased),
    )
    answer.fields = _glossary()
    return answer


def _glossary() -> dict[str, str]:
    out = {}
    for model, prefix in ((PersonExport, ""), (StoredEvent, "events[]."), (StoredExposure, "exposures[].")):
        for name, info in model.model_fields.items():
            if info.description and name != "fields":
                out[prefix + name] = info.description
    return out
