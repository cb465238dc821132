"""The run's concurrency slots, handed to follow-ups first.

A semaphore serves calls in the order they ask, so a job's re-ask would wait behind the
first calls of every job that has not begun. Here a waiting follow-up (a re-ask or a
top-up) takes the next free slot before any waiting first call: jobs under way finish
sooner. Under a budget the run also admits no more jobs than there are slots
(``run.Runner._jobs``), so money goes to finishing jobs before starting new ones.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

FOLLOW_UP, FIRST_CALL = 0, 1


class CallSlots:
    def __init__(self, size: int) -> None:
        self.size = size
        self.free = size
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def slot(self, *, first_call: bool) -> AsyncIterator[None]:
        await self._take(FIRST_CALL if first_call else FOLLOW_UP)
        try:
            yield
        finally:
            self._give_back()

    async def _take(self, priority: int) -> None:
        if self.free > 0 and not self._waiting:
            self.free -= 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (priority, next(self._order), turn))
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # the slot was handed over as this was cancelled: pass it on
                self._give_back()
            raise

    def _give_back(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)
                return
        self.free += 1
