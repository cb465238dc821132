"""Frequency caps and variant statistics in Redis, shared by every render process and node.

Set ``--redis-url`` / ``VARIANTLY_REDIS_URL``. Each capped impression goes into a
sorted set per profile and module (member: the event id, so a retry counts once;
score: when it happened), trimmed to the cap window and expiring with it; variant
statistics are counters in one hash. A render asks for the counts of the capped
modules it shows in one pipelined round trip (none when the target has no caps);
the poller copies the statistics into memory once a second for Thompson sampling.

If Redis goes away, render goes on: caps fall back to this process's own bounded
``Activity`` (what it recorded itself, and what it reads from the store while Redis
is down), ``/healthz`` says so, and each poll tries Redis again. Events recorded
while Redis was down are not replayed into it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from datetime import datetime

import redis
import redis.asyncio

from variantly.serving.activity import Activity, Recorded
from variantly.store import Store
from variantly.workspace import Workspace

log = logging.getLogger("variantly.serving")

TIMEOUT_SECONDS = 0.25  # a render waits this long for Redis at most, then counts locally
STATS = "stats"


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
        if not rows:
            return
        try:
            pipe = self._client.pipeline(transaction=False)
            now = time.time()
            for row in rows:
                if not row.variant_id:
                    continue
                if row.type == "impression":
                    pipe.hincrby(self._key(STATS), f"{row.variant_id}:i", 1)
                    if (days := self.capped.get(row.module_id)) is not None:
                        key = self._impressions_key(row.module_id, row.profile_id)
                        pipe.zadd(key, {str(row.id): row.at.timestamp()})
                        pipe.zremrangebyscore(key, "-inf", now - days * 86400)
                        pipe.expire(key, int(days * 86400) + 60)
                elif row.type == "conversion":
                    pipe.hincrby(self._key(STATS), f"{row.variant_id}:c", 1)
            pipe.execute()
            self._recovered()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)

    def seen(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int]:
        if not windows:
            return {}
        if self.problem is None:
            try:
                pipe = self._client.pipeline(transaction=False)
                for module_id, since in windows.items():
                    pipe.zcount(self._impressions_key(module_id, profile_id), since.timestamp(), "+inf")
                return dict(zip(windows, map(int, pipe.execute()), strict=True))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
        return self.local.seen(profile_id, windows)

    async def seen_async(self, profile_id: str, windows: Mapping[str, datetime]) -> dict[str, int]:
        """One pipelined round trip for all capped modules of a render, without blocking the loop."""
        if not windows:
            return {}
        if self.problem is None:
            try:
                pipe = self._client_for(asyncio.get_running_loop()).pipeline(transaction=False)
                for module_id, since in windows.items():
                    pipe.zcount(self._impressions_key(module_id, profile_id), since.timestamp(), "+inf")
                return dict(zip(windows, map(int, await pipe.execute()), strict=True))
            except (redis.RedisError, OSError) as exc:
                self._failed(exc)
        return self.local.seen(profile_id, windows)

    def load(self, store: Store) -> None:
        self.local.load(store)
        self.refresh(store)

    def refresh(self, store: Store) -> None:
        """Statistics from Redis into memory; while Redis is down, caps catch up from the store instead."""
        try:
            raw = self._client.hgetall(self._key(STATS))
            self._recovered()
        except (redis.RedisError, OSError) as exc:
            self._failed(exc)
            self.local.refresh(store)
            return
        self.local.skip_to_latest(store)  # if Redis fails later, the store catches caps up from here
        stats: dict[str, list[int]] = {}
        for field, value in raw.items():
            variant_id, _, kind = field.decode().rpartition(":")
            stats.setdefault(variant_id, [0, 0])[0 if kind == "i" else 1] = int(value)
        self.local.variant_stats = stats

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
        return f"{self.prefix}imp:{module_id}:{profile_id}"

    def _failed(self, exc: Exception) -> None:
        if self.problem is None:
            log.error("redis unreachable (%s): frequency caps fall back to this process's own count", exc)
        self.problem = f"redis unreachable ({type(exc).__name__}): frequency caps count this process's events only"

    def _recovered(self) -> None:
        if self.problem is not None:
            log.info("redis reachable again: frequency caps and statistics shared again")
            self.problem = None
