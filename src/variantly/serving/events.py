"""Impressions, clicks and conversions, recorded once each.

``record_events`` stores a batch; an idempotency key (given, or derived from the
event's content) makes a retried batch count once, so a sender can retry freely.
What render needs from recorded events lives in ``variantly.serving.activity``.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from variantly.serving.activity import Recorded, recorded_columns
from variantly.serving.profiles import in_utc, reject_invalid_text
from variantly.store import Store
from variantly.store.schema import EventRow

EventType = Literal["impression", "click", "conversion"]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        return reject_invalid_text(value)

    type: EventType
    profile_id: str = Field(min_length=1, max_length=200)
    module: str = Field(default="", max_length=64, description="the module credited; empty for a page-level conversion")
    variant_id: str | None = Field(
        default=None, max_length=40, description="from the render decision; null for a default"
    )
    arm: Literal["treatment", "control", "none"] = Field(description="from the render decision, for joining lift")
    cohort: str | None = Field(default=None, max_length=255, description="the decision's cohort key")
    at: datetime | None = Field(default=None, description="when it happened; now if omitted")
    signature: str | None = Field(
        default=None,
        max_length=64,
        description="the decision's signature from the render response; required when events are sent without a "
        "token, so that nobody outside can steer variant selection or the lift report",
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the same key twice counts once; if omitted it is derived from the content including "
        "'at', so send 'at' or a key to make retries safe",
    )

    @field_validator("at", mode="before")
    @classmethod
    def _a_time_string(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | datetime):
            raise ValueError("a date-time string (ISO 8601)")
        return value

    @field_validator("at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else in_utc(value)

    def key(self, at: datetime) -> str:
        if self.idempotency_key:
            return self.idempotency_key
        basis = "|".join([self.type, self.profile_id, self.module, self.variant_id or "", self.arm, at.isoformat()])
        return "auto:" + hashlib.sha256(basis.encode()).hexdigest()[:40]


_COLUMNS = (
    "idempotency_key",
    "type",
    "profile_id",
    "module_id",
    "variant_id",
    "arm",
    "cohort_key",
    "at",
    "received_at",
)
_TYPES = ("text", "text", "text", "text", "text", "text", "text", "timestamptz", "timestamptz")
# PostgreSQL: the batch as nine arrays, so the statement is the same short text for 1 or 5,000 rows (a
# multi-row VALUES list costs more to build and parse than the insert itself).
_UNNEST_INSERT = text(
    f"INSERT INTO {EventRow.__tablename__} ({', '.join(_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in zip(_COLUMNS, _TYPES, strict=True))}) "
    "ON CONFLICT (idempotency_key) DO NOTHING "
    "RETURNING id, type, profile_id, module_id, variant_id, at"
)


def record_events(store: Store, events: list[EventIn]) -> tuple[list[Recorded], int]:
    """Store a batch; returns the events that were new and how many were duplicates.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: the store decides what is new in the
    same round trip that writes it, so a retried batch (or the same batch through two
    nodes at once) counts once. PostgreSQL gets the batch as arrays (``_UNNEST_INSERT``),
    SQLite one compiled statement for all rows.
    """
    now = datetime.now(UTC)
    rows: dict[str, dict] = {}
    for event in events:
        at = event.at or now
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        key = event.key(at)
        rows.setdefault(
            key,
            {
                "idempotency_key": key,
                "type": event.type,
                "profile_id": event.profile_id,
                "module_id": event.module,
                "variant_id": event.variant_id,
                "arm": event.arm,
                "cohort_key": event.cohort,
                "at": at,
                "received_at": now,
            },
        )
    if not rows:
        return [], 0
    with store.session() as session:
        if store.engine.dialect.name == "postgresql":
            found = session.execute(_UNNEST_INSERT, {c: [r[c] for r in rows.values()] for c in _COLUMNS})
        else:
            statement = (
                sqlite_insert(EventRow)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(*recorded_columns())
            )
            found = session.connection().execute(statement, list(rows.values()))
        new = [Recorded(*r) for r in found]
    new.sort(key=lambda r: r.id)
    return new, len(events) - len(new)


def decision_signature(
    key: bytes, profile_id: str, module: str, variant_id: str | None, arm: str, cohort: str | None
) -> str:
    """What a render response signs for each decision, and an anonymous event must bring back.

    An event without a token is credited only for what was really served to that
    profile: the signature binds the profile, module, variant, arm and cohort together.
    """
    signer = _keyed(key).copy()
    signer.update("\x1f".join([profile_id, module, variant_id or "", arm, cohort or ""]).encode())
    return signer.hexdigest()[:32]


@lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """The HMAC with its key already absorbed: each signature copies it instead of starting over."""
    return hmac.new(key, digestmod=hashlib.sha256)


def signature_problems(key: bytes, events: list[EventIn]) -> list[str]:
    """The events whose signature is missing or does not match what was served; a page-level conversion
    (no module) is bound to the profile and arm alone."""
    problems = []
    for i, event in enumerate(events):
        expected = decision_signature(key, event.profile_id, event.module, event.variant_id, event.arm, event.cohort)
        if not event.signature or not hmac.compare_digest(event.signature, expected):
            problems.append(f"events.{i}.signature")
    return problems
