"""Retention: events and exposures older than ``events.retention_days`` deleted, in batches that never block.

Each batch is its own short transaction of at most ``batch`` rows, chosen through the index
on the time column (oldest first). On PostgreSQL the rows are picked ``FOR UPDATE SKIP
LOCKED``, so two purges (two servers, or a server and a cron) share the work instead of
waiting on each other, and ingest, which only inserts, never waits on a purge. SQLite has
one writer: a batch holds it for milliseconds, and a pause between batches lets ingest in.
``bench/purge.py`` measures the rate, and ingest while it runs.

The erasure records in ``privacy_log`` keep their keyed hash (the proof a request was
answered) but drop the cache keys they broadcast once a day has passed: every running
process has long read them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, tuple_, update

from variantly.store import Store, rows_touched
from variantly.store.schema import EventRow, ExposureRow, PrivacyLogRow

log = logging.getLogger("variantly.privacy")

BATCH = 5000
BROADCAST_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class Purge:
    cutoff: datetime
    events: int
    exposures: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return (self.events + self.exposures) / self.seconds if self.seconds > 0 else 0.0


def purge_expired(
    store: Store,
    retention_days: int,
    *,
    batch: int = BATCH,
    pause: float = 0.0,
    now: datetime | None = None,
    actor: str = "retention",
    progress: Callable[[int], None] | None = None,
) -> Purge:
    """Delete what is older than the window, ``batch`` rows at a time; ``progress`` gets the rows of each batch."""
    started = time.monotonic()
    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention_days)
    postgres = store.engine.dialect.name == "postgresql"
    counts = []
    for table, key, column in (
        (EventRow, (EventRow.id,), EventRow.at),
        (ExposureRow, (ExposureRow.variant_id, ExposureRow.profile_id), ExposureRow.exposed_at),
    ):
        total = 0
        while True:
            oldest = select(*key).where(column < cutoff).order_by(column).limit(batch)
            if postgres:
                oldest = oldest.with_for_update(skip_locked=True)
            with store.session() as session:
                target = key[0].in_(oldest.scalar_subquery()) if len(key) == 1 else tuple_(*key).in_(oldest)
                deleted = rows_touched(session.execute(delete(table).where(target)))
            total += deleted
            if progress is not None and deleted:
                progress(deleted)
            if deleted < batch:
                break
            if pause:
                time.sleep(pause)
        counts.append(total)
    with store.session() as session:
        session.execute(
            update(PrivacyLogRow)
            .where(PrivacyLogRow.action == "erase", PrivacyLogRow.at < datetime.now(UTC) - BROADCAST_KEPT)
            .values(forget=None)
        )
        if any(counts):
            session.add(
                PrivacyLogRow(
                    action="purge",
                    detail={"cutoff": cutoff.isoformat(), "events": counts[0], "exposures": counts[1]},
                    actor=actor,
                )
            )
    return Purge(cutoff, counts[0], counts[1], time.monotonic() - started)


class Purger:
    """The server's background purge: every ``every`` seconds in a thread of its own, never on a request."""

    def __init__(self, store: Store, retention_days: Callable[[], int], every: float) -> None:
        self.store = store
        self.retention_days = retention_days
        self.every = every
        self.last: Purge | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.every > 0:
            self._thread = threading.Thread(target=self._run, name="variantly-purge", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.last = purge_expired(self.store, self.retention_days(), pause=0.01)
                if self.last.events or self.last.exposures:
                    log.info(
                        "purged %d events and %d exposures older than %s",
                        self.last.events,
                        self.last.exposures,
                        self.last.cutoff.date(),
                    )
            except Exception as exc:  # the store is down: tried again next time
                log.warning("purge failed: %s", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
