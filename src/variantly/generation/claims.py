"""The jobs a run is generating, claimed in the store so that another run on the same store leaves them alone.

Two ``variantly generate`` at once (an operator's and a schedule's, or one from the API) each planned the
same jobs, and each paid for them: the example cta module in English, twelve jobs, cost 24 calls and put 72
variants in the queue where 36 belonged. Now a job is claimed just before its first call (``store.runs.
claim_job``): one the other run holds, or finished after this run planned it, is left to it and counted
(``RunSummary.jobs_elsewhere``). The claims are renewed while the run lives and released when it ends. A
killed run's are taken over at once when its process is gone from this machine (run it again to resume), and
after ``CLAIM_LEASE`` without renewal when it ran on another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

from variantly.store import Store
from variantly.store.runs import CLAIM_RENEWAL, claim_job, release_claims, renew_claims
from variantly.store.schema import utcnow


class Claims:
    """This run's hold on its jobs. The store is written from threads (``asyncio.to_thread``), not the check worker,
    so a job never waits behind another's guardrail checks to start."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.since: datetime = utcnow()  # jobs other runs finish after this were not done when this run planned

    async def take(self, key: str) -> str | None:
        """None when the job is this run's to make; else the run that has it."""
        return await asyncio.to_thread(claim_job, self.store, key, self.run_id, since=self.since)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[Claims]:
        """Renewed every ``CLAIM_RENEWAL`` seconds while the run works, released when it ends, however it ends."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(CLAIM_RENEWAL)
                await asyncio.to_thread(renew_claims, self.store, self.run_id)

        renewing = asyncio.ensure_future(renew())
        try:
            yield self
        finally:
            renewing.cancel()
            release_claims(self.store, self.run_id)  # at once, even while the run is being cancelled
