"""Impressions, clicks, conversions and guardrail events (unsubscribes), recorded once each.

``record_events`` stores a batch; an idempotency key (given, or derived from the event's
content) makes a retried batch count once, so a sender can retry freely. An event sent
without a token is keyed by its decision's signature instead (``signatures.py``): one
decision credits one event of each type, however often it is replayed. ``check_events``
refuses, naming the field, what cannot be true: a time in the future or before the
decision, money in another currency than the workspace reports in. Money on a conversion
is taken only from a sender with a token (an order system); a browser's is dropped and
said so. What render needs from recorded events lives in ``variantly.serving.activity``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Table, and_, bindparam, text, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from variantly.errors import Forbidden, InvalidRequest, NotFound
from variantly.serving.activity import Recorded, recorded_columns
from variantly.serving.profiles import ProfileId, in_utc, reject_invalid_text
from variantly.serving.pseudonyms import ErasureLog, Pseudonyms
from variantly.serving.signatures import issued_at, valid
from variantly.store import Store
from variantly.store.schema import EventRow, ExposureRow
from variantly.workspace import Workspace
from variantly.workspace.models import CORE_EVENTS, IDENT

_ISO = re.compile(r"\d{4}-")  # how an ISO 8601 date-time starts (extended format, as the schema's date-time)
CLOCK_SKEW = timedelta(minutes=5)  # how far a sender's clock may run ahead of ours


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        return reject_invalid_text(value)

    type: str = Field(
        pattern=IDENT.pattern,
        examples=["impression"],
        description="impression, click, conversion, or a guardrail event the workspace names (unsubscribe)",
    )
    profile_id: ProfileId
    module: str = Field(default="", max_length=64, description="the module credited; empty for a page-level conversion")
    variant_id: str | None = Field(
        default=None, max_length=40, description="from the render decision; null for a default (always in control)"
    )
    arm: Literal["treatment", "control", "none"] = Field(description="from the render decision, for joining lift")
    cohort: str | None = Field(default=None, max_length=255, description="the decision's cohort key")
    at: datetime | None = Field(default=None, description="when it happened; now if omitted")
    value: Decimal | None = Field(
        default=None,
        ge=0,
        le=Decimal("1e12"),
        decimal_places=4,
        description="what a conversion was worth, in `currency`; taken only from a sender with a token",
    )
    currency: str | None = Field(
        default=None, pattern=r"^[A-Z]{3}$", description="ISO 4217: the workspace's reporting currency"
    )
    signature: str | None = Field(
        default=None,
        max_length=64,
        description="the decision's signature from the render response; required when events are sent without a "
        "token, so that nobody outside can credit a decision that was never made, or credit one twice",
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
        """A date-time string, not a number, nor digits in a string: pydantic reads those as seconds or milliseconds
        since 1970, and a compact date "20261201" was an event of 1970-08-23."""
        if value is not None and not (isinstance(value, datetime) or (isinstance(value, str) and _ISO.match(value))):
            raise ValueError("a date-time string (ISO 8601, such as 2026-12-04T09:30:00Z)")
        return value

    @field_validator("at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else in_utc(value)

    def key(self, at: datetime, *, anonymous: bool = False) -> str:
        """What makes this event count once: a sender's own key, else its content. Without a token it is the
        decision's signature and the type, so a replay is a duplicate whatever key it brings."""
        if anonymous and self.signature:
            return f"sig:{self.type}:{self.signature}"
        if self.idempotency_key:
            return self.idempotency_key
        basis = "|".join([self.type, self.profile_id, self.module, self.variant_id or "", self.arm, at.isoformat()])
        return "auto:" + hashlib.sha256(basis.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Checked:
    """A batch that can be recorded: the events as they will be stored, the money a browser sent (dropped), and the
    events older than the workspace keeps (left out)."""

    events: list[EventIn]
    values_ignored: int = 0
    expired: int = 0


def check_events(
    workspace: Workspace, events: list[EventIn], *, key: bytes, anonymous: bool, now: datetime | None = None
) -> Checked:
    """Refuse what cannot be recorded, naming the field; drop money a browser sent.

    Every event: a known type and module, no variant in the holdout control group (it is shown only defaults), a
    time not in the future (``CLOCK_SKEW`` allowed), money only on a
    conversion and only in the workspace's currency. Without a token: a valid signature of the decision it
    reports, and a time not before that decision was issued. An event older than ``events.retention_days`` is
    left out, not refused: the purge would delete it within the hour, and until then lift would count it.
    """
    now = now or datetime.now(UTC)
    reporting = workspace.settings.reporting
    types = (*CORE_EVENTS, *reporting.guardrail_events)
    oldest = now - timedelta(days=workspace.settings.events.retention_days)
    kept: list[EventIn] = []
    ignored = expired = 0
    for i, event in enumerate(events):
        where = f"events.{i}"
        if event.type not in types:
            raise InvalidRequest(f"{where}.type", f"unknown event type '{event.type}' (types: {', '.join(types)})")
        if event.module and event.module not in workspace.modules:
            raise NotFound(f"{where}.module: unknown module '{event.module}'")
        if event.arm == "control" and event.variant_id:  # a mixed-up arm: it would expose a control profile
            raise InvalidRequest(f"{where}.variant_id", "the holdout control group is shown no variant: send null")
        if event.at is not None and event.at > now + CLOCK_SKEW:
            raise InvalidRequest(f"{where}.at", "is in the future: send the time it happened")
        if event.value is not None or event.currency is not None:
            _check_money(event, where, reporting.currency)
        if anonymous:
            signed = issued_at(event.signature or "")
            decision = (event.profile_id, event.module, event.variant_id, event.arm, event.cohort)
            if not valid(key, event.signature, *decision):
                raise Forbidden(
                    f"{where}.signature: events sent without a token must carry the decision's signature from the "
                    "render response (or send a renderer token)"
                )
            if signed is not None and event.at is not None and event.at < signed - CLOCK_SKEW:
                raise InvalidRequest(f"{where}.at", "is before the decision it reports was made")
            if event.value is not None:
                ignored += 1  # a browser cannot be trusted with money: counted as a conversion without it
                event = event.model_copy(update={"value": None, "currency": None})
        if event.at is not None and event.at < oldest:
            expired += 1
            continue
        kept.append(event)
    return Checked(kept, ignored, expired)


def _check_money(event: EventIn, where: str, currency: str | None) -> None:
    if event.type != "conversion":
        raise InvalidRequest(f"{where}.value", "only a conversion carries a value")
    if event.value is None or event.currency is None:
        raise InvalidRequest(f"{where}.currency", "send value and currency together")
    if currency is None:
        raise InvalidRequest(
            f"{where}.currency", "this workspace takes no money yet: set reporting.currency in variantly.yml"
        )
    if event.currency != currency:
        raise InvalidRequest(
            f"{where}.currency",
            f"'{event.currency}' is not this workspace's reporting currency '{currency}': convert it before sending "
            "(nothing is converted here)",
        )


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
    "value",
    "currency",
)
_TYPES = ("text", "text", "text", "text", "text", "text", "text", "timestamptz", "timestamptz", "numeric", "text")
# PostgreSQL: the batch as arrays, so the statement is the same short text for 1 or 5,000 rows (a
# multi-row VALUES list costs more to build and parse than the insert itself).
_UNNEST_INSERT = text(
    f"INSERT INTO {EventRow.__tablename__} ({', '.join(_COLUMNS)}) "
    f"SELECT * FROM unnest({', '.join(f'CAST(:{c} AS {t}[])' for c, t in zip(_COLUMNS, _TYPES, strict=True))}) "
    "ON CONFLICT (idempotency_key) DO NOTHING "
    "RETURNING id, type, profile_id, module_id, variant_id, at"
)


@dataclass(frozen=True)
class Recording:
    """What a batch did: the events that were new, those already recorded (replays included), and those about a
    person from before their erasure, which are not recorded again."""

    new: list[Recorded]
    duplicates: int
    erased: int = 0


def record_events(
    store: Store,
    events: list[EventIn],
    *,
    pseudonyms: Pseudonyms,
    anonymous: bool = False,
    erasures: ErasureLog | None = None,
) -> Recording:
    """Store a batch: what was new, what was a duplicate, what was from before its person's erasure.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: the store decides what is new in the
    same round trip that writes it, so a retried batch (or the same batch through two
    nodes at once) counts once. PostgreSQL gets the batch as arrays (``_UNNEST_INSERT``),
    SQLite one compiled statement for all rows. In the same transaction the new
    impressions and conversions of variants update ``exposures`` (``_expose``).

    An erasure deletes the rows that would make a retried batch a duplicate, so without a look at the privacy log
    a page's late beacon or an order system's retry brought an erased person back. An event is from before the
    erasure when its time, or its decision's (a signature's issue time), is not after it (``_erased``).
    ``erasures`` is the process's reading of the log, kept between batches (a fresh one reads it all).
    """
    with store.session() as session:  # the log read just before the insert: every erasure committed before is seen
        erased = _erased_among(erasures or ErasureLog(), session, pseudonyms, {event.profile_id for event in events})
        rows, dropped = _rows(events, pseudonyms, erased, anonymous=anonymous, now=datetime.now(UTC))
        if not rows:
            return Recording([], len(events) - dropped, dropped)
        postgres = store.engine.dialect.name == "postgresql"
        if postgres:
            found = session.execute(_UNNEST_INSERT, {c: [r[c] for r in rows.values()] for c in _COLUMNS})
        else:
            statement = (
                sqlite_insert(EventRow)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(*recorded_columns())
            )
            found = session.connection().execute(statement, list(rows.values()))
        new = [Recorded(*r) for r in found]
        _expose(session, new, postgres=postgres)
    new.sort(key=lambda r: r.id)
    return Recording(new, len(events) - dropped - len(new), dropped)


def _rows(
    events: list[EventIn], pseudonyms: Pseudonyms, erased: dict[str, datetime], *, anonymous: bool, now: datetime
) -> tuple[dict[str, dict], int]:
    """The rows to insert by stored idempotency key (the first of a batch's events with a key), and how many events
    were left out as from before their person's erasure."""
    rows: dict[str, dict] = {}
    dropped = 0
    for event in events:
        at = event.at or now
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        if erased and _erased(event, at, erased.get(event.profile_id)):
            dropped += 1
            continue
        key = pseudonyms.stored_key(event.key(at, anonymous=anonymous))
        rows.setdefault(
            key,
            {
                "idempotency_key": key,
                "type": event.type,
                "profile_id": pseudonyms.stored(event.profile_id),
                "module_id": event.module,
                "variant_id": event.variant_id,
                "arm": event.arm,
                "cohort_key": event.cohort,
                "at": at,
                "received_at": now,
                "value": event.value,
                "currency": event.currency,
            },
        )
    return rows, dropped


def _erased_among(log: ErasureLog, session: Any, pseudonyms: Pseudonyms, profile_ids: set[str]) -> dict[str, datetime]:
    """When each of these people was last erased, by id, for those who were (the log names them by keyed hash)."""
    every = log.read(session)
    if not every:  # no erasure yet: no id need be hashed
        return {}
    found = {profile_id: every.get(pseudonyms.audit(profile_id)) for profile_id in profile_ids}
    return {profile_id: at for profile_id, at in found.items() if at is not None}


def _erased(event: EventIn, at: datetime, erased: datetime | None) -> bool:
    """Is the event about its person from before they were erased: did it happen, or was its decision made, then?"""
    if erased is None:
        return False
    issued = issued_at(event.signature) if event.signature else None
    return at <= erased or (issued is not None and issued <= erased)


def _expose(session: Any, new: list[Recorded], *, postgres: bool) -> None:
    """A profile's first impression of a variant is its exposure; its first conversion after that, converted."""
    earliest: dict[tuple[str, str], datetime] = {}
    for row in new:
        if row.type == "impression" and row.variant_id:
            pair = (row.variant_id, row.profile_id)
            if pair not in earliest or row.at < earliest[pair]:
                earliest[pair] = row.at
    exposures = [{"variant_id": v, "profile_id": p, "exposed_at": at} for (v, p), at in earliest.items()]
    if exposures:
        insert = postgres_insert if postgres else sqlite_insert  # Core executemany: no ORM bookkeeping per row
        session.connection().execute(insert(cast(Table, ExposureRow.__table__)).on_conflict_do_nothing(), exposures)
    converted = [
        {"v": row.variant_id, "p": row.profile_id, "at": row.at}
        for row in new
        if row.type == "conversion" and row.variant_id
    ]
    if converted:
        table = cast(Table, ExposureRow.__table__)
        session.connection().execute(  # Core executemany: the ORM would insist on primary keys per row
            update(table)
            .where(
                and_(
                    table.c.variant_id == bindparam("v"),
                    table.c.profile_id == bindparam("p"),
                    table.c.converted_at.is_(None),
                    table.c.exposed_at <= bindparam("at"),
                )
            )
            .values(converted_at=bindparam("at")),
            converted,
        )
