"""What render needs from recent events, held in memory by each render process.

Personalised impressions per profile and module (for frequency caps) and impressions
and conversions per variant (for Thompson sampling). It is fed by the events a process
receives and, incrementally, from the store by the poller, so render never queries
the store per request.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict, deque
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from variantly.store import Store
from variantly.store.schema import EventRow


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
