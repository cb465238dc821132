"""Finished jobs into the store, all that are waiting in one transaction.

A wave of answers comes back together, and a transaction per job would keep the worker
thread (whose GIL the event loop shares) busy while the next calls should be going out.
The writer takes every job waiting when the thread is free and saves them at once; if
that transaction fails, it saves them one by one, so a fault in one job's rows costs only
that job.

Nothing handed to the writer is lost when a run is interrupted: a batch already given to
the worker thread completes (the run waits for that thread before it ends), and jobs
still waiting are written by ``flush``, which the run calls on its way out.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from variantly.store import Store
from variantly.store.runs import FinishedJob, save_jobs


class JobWriter:
    def __init__(self, store: Store, worker: ThreadPoolExecutor, *, actor: str) -> None:
        self.store = store
        self.worker = worker
        self.actor = actor
        self._waiting: list[tuple[FinishedJob, asyncio.Future[int]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def save(self, finished: FinishedJob) -> int:
        """Save one finished job; returns the variants added. Cancelling the wait does not cancel the save."""
        loop = asyncio.get_running_loop()
        saved: asyncio.Future[int] = loop.create_future()
        self._waiting.append((finished, saved))
        if self._writing is None or self._writing.done():
            self._writing = loop.create_task(self._write_waiting())
        return await asyncio.shield(saved)

    async def _write_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        while self._waiting:
            batch, self._waiting = self._waiting, []
            # shielded: once handed to the thread, a batch is written even if this task is cancelled
            writing = loop.run_in_executor(self.worker, self._save, [job for job, _ in batch])
            try:
                outcomes = await asyncio.shield(writing)
            except Exception as exc:  # the thread could not take it at all: every job of the batch hears why
                outcomes = [exc] * len(batch)
            for (_, saved), outcome in zip(batch, outcomes, strict=True):
                if saved.done():
                    continue
                if isinstance(outcome, Exception):
                    saved.set_exception(outcome)
                else:
                    saved.set_result(outcome)

    def flush(self) -> None:
        """Write the jobs still waiting, here and now: the run is ending (or interrupted)."""
        batch, self._waiting = self._waiting, []
        if batch:
            errors = [o for o in self._save([job for job, _ in batch]) if isinstance(o, Exception)]
            if errors:
                raise errors[0]

    def _save(self, jobs: list[FinishedJob]) -> list[int | Exception]:
        """All in one transaction; if that fails, each job in its own, so a fault in one job's rows
        costs only that job (the others' answered calls are still recorded)."""
        try:
            return list(save_jobs(self.store, jobs, actor=self.actor))
        except Exception as exc:
            if len(jobs) == 1:
                return [exc]
        outcomes: list[int | Exception] = []
        for job in jobs:
            try:
                outcomes += save_jobs(self.store, [job], actor=self.actor)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes
