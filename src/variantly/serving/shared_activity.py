"""Frequency caps and variant statistics in Redis, shared by every render process and node.

Set ``--redis-url`` / ``VARIANTLY_REDIS_URL``. Each capped impression goes into a
sorted set per profile and module (member: the event id, so a retry counts once;
score: when it happened), trimmed to the cap window and expiring with it. A render asks
for the counts of the capped modules it shows in one pipelined round trip (none when the
target has no caps). Variant statistics (exposed and converted people) come from the store
for every process alike (``activity.exposure_statistics``).

Redis is not the only count. Each process also keeps its own bounded copy (``Activity``:
what it records itself and what the poller reads from the store, as without Redis), and a
render takes the larger of the two counts. So trouble with Redis degrades to the no-Redis
behaviour instead of to no caps: while Redis is down the copy alone decides, and when Redis
comes back empty (a restart without persistence, a failover, a flush) the copy still holds
the caps while the first poller to notice rebuilds Redis from the store's events in the
windows (``rebuild``; a marker key says Redis has been filled). ``/healthz`` says when Redis
is unreachable, and each poll tries it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import redis
import redis.asyncio

from variantly.serving.activity import Activity, Recorded, stored_impressions
from variantly.store import Store
from variantly.workspace import Workspace

log = logging.getLogger("variantly.serving")

TIMEOUT_SECONDS = 0.25  # a render waits this long for Redis at most, then counts locally
FILLED = "filled"  # set once Redis holds the store's windows; gone after a flush or a restart
REBUILDING = "rebuilding"  # one process rebuilds at a time


class SharedActivity:
    """The same interface as ``Activity``; Redis is the truth, ``local`` the fallback."""

    def __init__(self, url: str, *, prefix: str = "variantly:", local: Activity | None = None) -> None:
        self.url = url
        self.prefix = prefix
        self.local = local or Activity()
        self.problem: str | None = None
        self._client = redis.Redis.from_url(url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS)
        self._async: tuple[asyncio.AbstractEventLoop, redis.asyncio.Redis] | None = None  # made on first use

    # --- the Activity interface -------------------------------------------------------

    @property
    def rng(self):
        return self.local.rng

    @property
    def capped(self) -> dict[str, float]:
        return self.local.capped

    def set_caps(self, workspace: Workspace) -> None:
        self.local.set_caps(workspace)

    def stats(self, variant_id: str) -> tuple[int, int]:
        return self.local.stats(variant_id)

    def record(self, rows: Iterable[Recorded], *, local: bool = True) -> None:
        rows = list(rows)
        self.local.record(rows, local=local)
        capped = [r for r in rows if r.type == "impression" and r.variant_id and r.module_id in self.capped]
        if not capped:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            now = time.time()
            for row in capped:
                days = self.capped[row.module_id]
                key = self._impressions_key(row.module_id, row.profile_id)
                pipe.zadd(key, {str(row.id): row.at.timestamp()})
                pipe.zremrangebyscore(key, "-inf", now - days * 86400)
                pipe.expire(key, int(days * 86400) + 60)
            pipe.execute()
            self._recovered()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def seen(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int]:
        if not windows:
            return {}
        local = self.local.seen(profile_id, windows)
        if self.problem is None:
            try:
                pipe = self._client.pipeline(transaction=False)
                for module_id, since in windows.items():
                    pipe.zcount(self._impressions_key(module_id, profile_id), since.timestamp(), "+inf")
                return _larger(local, dict(zip(windows, map(int, pipe.execute()), strict=True)))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
        return local

    def seen_now(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int] | None:
        """``seen`` when it needs no round trip to Redis (no capped module, or Redis down), else None."""
        if not windows:
            return {}
        return self.local.seen(profile_id, windows) if self.problem is not None else None

    async def seen_async(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int]:
        """One pipelined round trip for all capped modules of a render, without blocking the loop; the larger
        of Redis's count and this process's own (an emptied Redis cannot open a cap)."""
        if not windows:
            return {}
        local = self.local.seen(profile_id, windows)
        if self.problem is None:
            try:
                pipe = self._client_for(asyncio.get_running_loop()).pipeline(transaction=False)
                for module_id, since in windows.items():
                    pipe.zcount(self._impressions_key(module_id, profile_id), since.timestamp(), "+inf")
                return _larger(local, dict(zip(windows, map(int, await pipe.execute()), strict=True)))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
        return local

    @property
    def pseudonyms(self):
        return self.local.pseudonyms

    @pseudonyms.setter
    def pseudonyms(self, value) -> None:
        self.local.pseudonyms = value

    def windows(self, profile_id: str) -> dict[str, list[datetime]]:
        """A person's capped impressions per module as Redis holds them (this process's copy if Redis cannot say)."""
        try:
            pipe = self._client.pipeline(transaction=False)
            modules = sorted(self.capped)
            for module_id in modules:
                pipe.zrange(self._impressions_key(module_id, profile_id), 0, -1, withscores=True)
            found = dict(zip(modules, pipe.execute(), strict=True))
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            return self.local.windows(profile_id)
        return {
            module: [datetime.fromtimestamp(score, UTC) for _, score in members]
            for module, members in found.items()
            if members
        }

    def forget(self, subjects: Iterable[str]) -> int:
        """An erasure: the people go from this process and from Redis (every capped module's window)."""
        subjects = set(subjects)
        gone = self.local.forget(subjects)
        if subjects:
            try:
                keys = [self._impressions_key(m, s) for m in self.capped for s in subjects]
                if keys:
                    gone += int(self._client.delete(*keys))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
                raise
        return gone

    def load(self, store: Store) -> None:
        self.local.load(store)
        self.refresh(store)

    def refresh(self, store: Store) -> None:
        """The store's new events into this process's copy (always: it is what holds the caps when Redis
        cannot), the statistics when due, and Redis filled from the store if it came back empty."""
        self.local.refresh(store)
        try:
            if not self._client.exists(self._key(FILLED)):
                self.rebuild(store)
            self._recovered()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def rebuild(self, store: Store) -> None:
        """Fill Redis from the store: capped impressions inside their windows.

        Redis came back empty, or was never filled (events recorded before it was configured). One process
        does it (a lock key with an expiry); members are event ids, so an impression counted twice is one.
        """
        if not self._client.set(self._key(REBUILDING), "1", nx=True, ex=120):
            return  # another process is at it
        try:
            now = time.time()
            pipe = self._client.pipeline(transaction=False)
            for row in stored_impressions(store, self.capped):
                days = self.capped[row.module_id]
                if row.at.timestamp() < now - days * 86400:
                    continue  # inside the longest window, not its own module's
                key = self._impressions_key(row.module_id, row.profile_id)
                pipe.zadd(key, {str(row.id): row.at.timestamp()})
                pipe.expire(key, int(row.at.timestamp() + days * 86400 - now) + 60)
                if len(pipe) >= 5000:
                    pipe.execute()
            pipe.set(self._key(FILLED), str(now))
            pipe.execute()
            log.info("redis filled from the store: capped impressions in their windows")
        finally:
            self._client.delete(self._key(REBUILDING))

    # --- internals --------------------------------------------------------------------

    def _client_for(self, loop: asyncio.AbstractEventLoop) -> redis.asyncio.Redis:
        """The async client of this event loop (its connections belong to the loop that made them)."""
        if self._async is None or self._async[0] is not loop:
            client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
            )
            self._async = (loop, client)
        return self._async[1]

    def _key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def _impressions_key(self, module_id: str, profile_id: str) -> str:
        """A person's window of one module: keyed by pseudonym, so Redis never holds a profile id."""
        return f"{self.prefix}imp:{module_id}:{self.local.pseudonyms.subject(profile_id)}"

    def _failed(self, exc: Exception) -> None:
        if self.problem is None:
            log.error("redis unreachable (%s): frequency caps fall back to this process's own count", exc)
        self.problem = f"redis unreachable ({type(exc).__name__}): frequency caps count this process's events only"

    def _recovered(self) -> None:
        if self.problem is not None:
            log.info("redis reachable again: frequency caps and statistics shared again")
            self.problem = None


def _larger(local: dict[str, int], shared: dict[str, int]) -> dict[str, int]:
    return {module_id: max(count, local.get(module_id, 0)) for module_id, count in shared.items()}
