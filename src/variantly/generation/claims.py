"""The jobs a run is generating, claimed in the store so that another run on the same store leaves them alone.

Two ``variantly generate`` at once (an operator's and a schedule's, or one from the API) each planned the
same jobs, and each paid for them: the example cta module in English, twelve jobs, cost 24 calls and put 72
variants in the queue where 36 belonged. Now a job is claimed just before its first call (``store.runs.
claim_job``): one the other run holds, or saved since this run planned it, is left to it and counted
(``RunSummary.jobs_elsewhere``). The claims are renewed while the run works and released once its finished jobs
are saved, not before: released earlier, a job answered but not yet written was free to be made again. A
killed run's are taken over at once when its process is gone from this machine (run it again to resume), and
after ``CLAIM_LEASE`` without renewal when it ran on another.

``generate --batch`` claims the jobs it sends the same way, and a job in a batch not collected yet is left to
that batch; ``--collect`` claims each batch it collects (two collects at once saved every answer twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator

from variantly.generation.plan import PlannedJob
from variantly.store import Store
from variantly.store.runs import CLAIM_RENEWAL, claim_job, release_claims, renew_claims


class Claims:
    """This run's hold on its jobs. The store is written from threads (``asyncio.to_thread``), not the check worker,
    so a job never waits behind another's guardrail checks to start."""

    def __init__(self, store: Store, run_id: str) -> None:
        self.store = store
        self.run_id = run_id

    async def take(self, job: PlannedJob) -> str | None:
        """None when the job is this run's to make; else the run that has it (or sent it in a batch)."""
        return await asyncio.to_thread(claim_job, self.store, job.key, self.run_id, after=job.after_run)

    async def take_batch(self, batch_id: str) -> str | None:
        """None when collecting batch ``batch_id`` is this run's to do; else the run collecting it. Two collects at
        once each checked, re-asked and saved every answer of the same batch."""
        key = "batch:" + hashlib.sha256(batch_id.encode()).hexdigest()[:24]  # a provider's id may be long
        return await asyncio.to_thread(claim_job, self.store, key, self.run_id, after=None)

    @contextlib.asynccontextmanager
    async def renewed(self) -> AsyncIterator[Claims]:
        """Renewed every ``CLAIM_RENEWAL`` seconds while the run works."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(CLAIM_RENEWAL)
                await asyncio.to_thread(renew_claims, self.store, self.run_id)

        renewing = asyncio.ensure_future(renew())
        try:
            yield self
        finally:
            renewing.cancel()

    def release(self) -> None:
        """Once the run's finished jobs are saved: what it did not finish is free for the next run."""
        release_claims(self.store, self.run_id)
