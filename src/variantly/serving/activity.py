"""What render needs from recorded events: frequency caps and variant statistics, in bounded memory.

A render process never holds per-profile history for the whole audience. It keeps
impressions (a timestamp each) only for modules that have a frequency cap, only
inside the longest cap window, and only for the most recent ``max_pairs`` profile and
module pairs (least recently used go first); and one pair of counters per variant
for Thompson sampling. Caps are fed by the events the process records itself and, by
the poller, from the store: at start the capped impressions in the window, then only
rows newer than the last it read.

Variant statistics count people, not rows: exposed profiles and those of them who
converted after exposure, 0 or 1 each (``exposures``, kept by ``events.record_events``),
so a visitor who replays conversions cannot make a variant win. The poller reads them
from the store every ``STATS_SECONDS`` (one aggregate over one row per profile and
variant).

Ids are not committed in order on PostgreSQL: a slow transaction can commit id 100 after
the poller has read 101. The poller remembers the ids it passed without seeing for
``LATE_COMMIT_SECONDS`` and asks for them again on each poll, so a late commit still
counts; an id that never appears (a rolled-back insert, an idempotent resend) is dropped.

With several processes or nodes, ``variantly.serving.shared_activity`` keeps caps and
statistics in Redis instead, exact for everyone; this class is its fallback.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import func, select

from variantly.serving.pseudonyms import Pseudonyms
from variantly.store import Store
from variantly.store.schema import EventRow, ExposureRow
from variantly.workspace import Workspace

MAX_PAIRS = 25_000  # about 4.5 MB of profile and module pairs; more with VARIANTLY_ACTIVITY_PAIRS, exact with Redis
READ_CHUNK = 5_000  # rows the poller reads at a time: small, so reading leaves no high-water mark
LATE_COMMIT_SECONDS = 10.0  # how long an id the poller passed without seeing is looked for again
MAX_MISSING = 10_000  # such ids remembered at most (most recent kept): an idempotent resend leaves a gap per event
STATS_SECONDS = 10.0  # how often variant statistics are read again: sampling can be a few seconds behind


class Recorded(NamedTuple):
    """A stored event, as little of it as render needs."""

    id: int
    type: str
    profile_id: str
    module_id: str
    variant_id: str | None
    at: datetime


def recorded_columns() -> tuple:
    return (EventRow.id, EventRow.type, EventRow.profile_id, EventRow.module_id, EventRow.variant_id, EventRow.at)


def cap_days(workspace: Workspace) -> dict[str, float]:
    """The modules with a frequency cap and the window each counts over, in days."""
    return {
        ident: file.module.frequency_cap.per_days
        for ident, file in workspace.modules.items()
        if file.module.frequency_cap is not None
    }


def exposure_statistics(store: Store) -> dict[str, tuple[int, int]]:
    """Per variant: profiles exposed to it, and those of them who converted after exposure."""
    query = select(ExposureRow.variant_id, func.count(), func.count(ExposureRow.converted_at)).group_by(
        ExposureRow.variant_id
    )
    with store.sessions() as session:
        return {variant_id: (exposed, converted) for variant_id, exposed, converted in session.execute(query)}


def stored_impressions(store: Store, capped: Mapping[str, float], up_to: int | None = None) -> list[Recorded]:
    """Personalised impressions of capped modules inside the longest cap window, oldest first."""
    if not capped:
        return []
    since = datetime.fromtimestamp(time.time() - max(capped.values()) * 86400).astimezone()
    query = (
        select(*recorded_columns())
        .where(EventRow.type == "impression", EventRow.module_id.in_(list(capped)))
        .where(EventRow.at >= since, EventRow.variant_id.is_not(None))
        .order_by(EventRow.id)
    )
    if up_to is not None:
        query = query.where(EventRow.id <= up_to)
    return _recorded(store, query)


def _latest_id(store: Store) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.max(EventRow.id))) or 0


def _recorded(store: Store, query) -> list[Recorded]:
    with store.sessions() as session:
        return [Recorded(*r) for r in session.execute(query)]


class Activity:
    """Recent events as render needs them, in this process. Thread-safe and bounded."""

    problem: str | None = None  # what /healthz says is wrong with activity (only the shared kind has one)

    def __init__(self, max_pairs: int | None = None) -> None:
        self.max_pairs = max_pairs or MAX_PAIRS
        self.capped: dict[str, float] = {}
        self.last_id = 0
        self.variant_stats: dict[str, tuple[int, int]] = {}  # exposed profiles, converted profiles
        self._stats_read = 0.0
        # "module\x1fprofile" -> impression times (epoch seconds), least recently used first: a plain dict
        # and a tuple take about 180 bytes a pair where an OrderedDict of lists took 400.
        self._impressions: dict[str, tuple[float, ...]] = {}
        self._local: set[int] = set()  # ids this process recorded that the poller has not passed yet
        self._missing: dict[int, float] = {}  # ids the poller passed without seeing -> when to give up on them
        self._lock = threading.Lock()
        self.rng = random.Random()  # Thompson sampling draws; tests seed it
        self.pseudonyms = Pseudonyms()  # the service sets the deployment's: people are keyed by pseudonym here

    def set_caps(self, workspace: Workspace) -> None:
        self.capped = cap_days(workspace)

    def record(self, rows: Iterable[Recorded], *, local: bool = True) -> None:
        """Take in events: ``local`` ones were recorded by this process, and the poller will skip them."""
        with self._lock:
            for row in rows:
                if local:
                    self._local.add(row.id)
                    self._missing.pop(row.id, None)  # committed late by this process: taken in here
                elif row.id in self._local:
                    continue
                if row.variant_id and row.type == "impression" and row.module_id in self.capped:
                    self._add_impression(row)

    def _add_impression(self, row: Recorded) -> None:
        key = f"{row.module_id}\x1f{self.pseudonyms.subject(row.profile_id)}"
        horizon = time.time() - self.capped[row.module_id] * 86400
        at = row.at.timestamp()
        if at < horizon:  # older than the cap window (a catch-up read of history): it can never count
            return
        times = self._impressions.pop(key, ())  # popped and put back: now the most recently used
        self._impressions[key] = (*(t for t in times if t >= horizon), at)
        if len(self._impressions) > self.max_pairs:
            del self._impressions[next(iter(self._impressions))]

    def load(self, store: Store) -> None:
        """At start: statistics from one aggregate query, capped impressions inside their windows."""
        last = _latest_id(store)
        self.read_statistics(store)
        with self._lock:
            self.last_id = last
        rows = stored_impressions(store, self.capped, last)
        with self._lock:
            for row in rows:
                self._add_impression(row)

    def refresh(self, store: Store, limit: int = READ_CHUNK, chunks: int = 40) -> None:
        """Take in what other processes recorded since the last read, a chunk at a time until caught up
        (at most ``chunks`` a poll: 200,000 events a second by default), and the statistics when they are due."""
        if time.monotonic() - self._stats_read >= STATS_SECONDS:
            self.read_statistics(store)
        self._read_missing(store)
        for _ in range(chunks):
            query = select(*recorded_columns()).where(EventRow.id > self.last_id).order_by(EventRow.id).limit(limit)
            rows = _recorded(store, query)
            self.record(rows, local=False)
            if rows:
                self._note_missing(rows)
                self._read_up_to(rows[-1].id)
            if len(rows) < limit:
                return

    def read_statistics(self, store: Store) -> None:
        self.variant_stats = exposure_statistics(store)
        self._stats_read = time.monotonic()

    def _note_missing(self, rows: list[Recorded]) -> None:
        """Remember the ids between ``last_id`` and these rows that were not there (yet)."""
        give_up = time.monotonic() + LATE_COMMIT_SECONDS
        with self._lock:
            expected = self.last_id + 1
            for row in rows:
                for gap in range(max(expected, row.id - MAX_MISSING), row.id):
                    if gap not in self._local:
                        self._missing[gap] = give_up
                expected = row.id + 1
            while len(self._missing) > MAX_MISSING:  # oldest first: the dict keeps insertion order
                del self._missing[next(iter(self._missing))]

    def _read_missing(self, store: Store) -> None:
        """Ask again for the ids passed without seeing; take in those committed since."""
        now = time.monotonic()
        with self._lock:
            self._missing = {i: give_up for i, give_up in self._missing.items() if give_up > now}
            missing = list(self._missing)
        for start in range(0, len(missing), 1000):  # a bounded IN list: SQLite caps parameters
            query = select(*recorded_columns()).where(EventRow.id.in_(missing[start : start + 1000]))
            rows = _recorded(store, query)
            with self._lock:
                rows = [row for row in rows if self._missing.pop(row.id, None) is not None]
            self.record(rows, local=False)

    def _read_up_to(self, last: int) -> None:
        """Events up to id ``last`` are taken in: the ids this process recorded below it can be forgotten."""
        with self._lock:
            self.last_id = max(self.last_id, last)
            self._local = {i for i in self._local if i > self.last_id}

    def seen(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int]:
        """Personalised impressions of ``profile_id`` per module since each module's window start."""
        out = {}
        subject = self.pseudonyms.subject(profile_id)
        with self._lock:
            for module_id, since in windows.items():
                times = self._impressions.get(f"{module_id}\x1f{subject}", ())
                start = since.timestamp()
                out[module_id] = sum(1 for t in times if t >= start)
        return out

    async def seen_async(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int]:
        return self.seen(profile_id, windows)

    def seen_now(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int] | None:
        """``seen``, which never waits: this process counts on its own (``SharedActivity.seen_now`` may not)."""
        return self.seen(profile_id, windows)

    def windows(self, profile_id: str) -> dict[str, list[datetime]]:
        """This process's capped impressions of one person per module (what an access request shows)."""
        subject = self.pseudonyms.subject(profile_id)
        with self._lock:
            found = {
                key.partition("\x1f")[0]: times
                for key, times in self._impressions.items()
                if key.partition("\x1f")[2] == subject
            }
        return {module: [datetime.fromtimestamp(t, UTC) for t in times] for module, times in found.items()}

    def forget(self, subjects: Iterable[str]) -> int:
        """Drop these people (cache keys: ``Pseudonyms.subject``) from this process: an erasure. Returns how many
        module windows went. A scan of at most ``max_pairs`` keys, only when someone was erased."""
        wanted = set(subjects)
        if not wanted:
            return 0
        with self._lock:
            gone = [key for key in self._impressions if key.partition("\x1f")[2] in wanted]
            for key in gone:
                del self._impressions[key]
        return len(gone)

    def stats(self, variant_id: str) -> tuple[int, int]:
        """(exposed profiles, converted profiles) of a variant."""
        return self.variant_stats.get(variant_id, (0, 0))

    def pairs(self) -> int:
        return len(self._impressions)
