"""Impressions, clicks and conversions: recorded once each, and what render needs from them.

``record_events`` stores a batch; an idempotency key (given, or derived from the
event's content) makes a retried batch count once. ``Activity`` is the in-memory
view a render process keeps of recent events: personalised impressions per profile
and module (for frequency caps) and impressions and conversions per variant (for
Thompson sampling). It is fed by the events a process receives and, incrementally,
from the store by the poller, so render never queries the store per request.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from variantly.store import Store
from variantly.store.schema import EventRow

EventType = Literal["impression", "click", "conversion"]


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: EventType
    profile_id: str = Field(min_length=1, max_length=200)
    module: str = Field(default="", max_length=64, description="the module credited; empty for a page-level conversion")
    variant_id: str | None = Field(
        default=None, max_length=40, description="from the render decision; null for a default"
    )
    arm: Literal["treatment", "control", "none"] = Field(description="from the render decision, for joining lift")
    cohort: str | None = Field(default=None, max_length=255, description="the decision's cohort key")
    at: datetime | None = Field(default=None, description="when it happened; now if omitted")
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="the same key twice counts once; if omitted it is derived from the content including "
        "'at', so send 'at' or a key to make retries safe",
    )

    def key(self, at: datetime) -> str:
        if self.idempotency_key:
            return self.idempotency_key
        basis = "|".join([self.type, self.profile_id, self.module, self.variant_id or "", self.arm, at.isoformat()])
        return "auto:" + hashlib.sha256(basis.encode()).hexdigest()[:40]


def record_events(store: Store, events: list[EventIn]) -> tuple[list[EventRow], int]:
    """Store a batch; returns the rows that were new and how many were duplicates."""
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
    insert = pg_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    with store.session() as session:
        existing = set(
            session.scalars(select(EventRow.idempotency_key).where(EventRow.idempotency_key.in_(list(rows))))
        )
        fresh = [row for key, row in rows.items() if key not in existing]
        if fresh:
            session.execute(insert(EventRow).values(fresh).on_conflict_do_nothing(index_elements=["idempotency_key"]))
        new_rows = (
            list(
                session.scalars(
                    select(EventRow).where(EventRow.idempotency_key.in_([r["idempotency_key"] for r in fresh]))
                )
            )
            if fresh
            else []
        )
    return new_rows, len(events) - len(new_rows)


class Activity:
    """Recent events as render needs them. Thread-safe; bounded by the longest cap window."""

    def __init__(self, window_days: float = 30.0) -> None:
        self.window = timedelta(days=window_days)
        self.last_id = 0
        self._impressions: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self.variant_stats: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # impressions, conversions
        self._seen: set[int] = set()
        self._lock = threading.Lock()
        self.rng = random.Random()  # Thompson sampling draws; tests seed it

    def ingest(self, rows: list[EventRow]) -> None:
        with self._lock:
            for row in rows:
                if row.id in self._seen:
                    continue
                self._seen.add(row.id)
                self.last_id = max(self.last_id, row.id)
                at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
                if row.type == "impression" and row.variant_id:
                    self._impressions[(row.profile_id, row.module_id)].append(at)
                    self.variant_stats[row.variant_id][0] += 1
                elif row.type == "conversion" and row.variant_id:
                    self.variant_stats[row.variant_id][1] += 1
            if len(self._seen) > 200_000:  # ids below last_id are never fetched again
                self._seen = {i for i in self._seen if i > self.last_id - 50_000}

    def refresh(self, store: Store, limit: int = 50_000) -> None:
        """Take in what other processes recorded since the last refresh."""
        with store.sessions() as session:
            rows = list(
                session.scalars(select(EventRow).where(EventRow.id > self.last_id).order_by(EventRow.id).limit(limit))
            )
        self.ingest(rows)

    def personalised_impressions(self, profile_id: str, module_id: str, since: datetime) -> int:
        with self._lock:
            times = self._impressions.get((profile_id, module_id))
            if not times:
                return 0
            cutoff = datetime.now(UTC) - self.window
            while times and times[0] < cutoff:
                times.popleft()
            return sum(1 for t in times if t >= since)

    def stats(self, variant_id: str) -> tuple[int, int]:
        impressions, conversions = self.variant_stats.get(variant_id, (0, 0))
        return impressions, conversions
