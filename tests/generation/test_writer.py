"""Finished jobs are saved together, and none is lost when the run is interrupted."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import event

from variantly.generation.writer import JobWriter
from variantly.store.runs import FinishedJob
from variantly.store.schema import GenerationJobRow, LLMCallRow, VariantRow


def finished(n: int) -> FinishedJob:
    job = GenerationJobRow(key=f"job-{n}", run_id="r1", module_id="cta", cohort_key=f"c{n}", status="done", passed=1)
    variant = VariantRow(
        id=f"variant-{n}",
        module_id="cta",
        cohort_key=f"c{n}",
        locale="en",
        slots={"label": "Book a demo"},
        status="pending",
        module_hash="m",
        source="generated",
        report={"summary": "passed"},
    )
    call = LLMCallRow(run_id="r1", job_key=f"job-{n}", purpose="generate", attempt=1, model="m", outcome="ok")
    return FinishedJob(job, [variant], [call], ["passed"])


def saved(store) -> tuple[int, int, int]:
    with store.sessions() as session:
        return (
            session.query(GenerationJobRow).count(),
            session.query(VariantRow).count(),
            session.query(LLMCallRow).count(),
        )


def test_jobs_that_finish_while_the_thread_is_busy_are_saved_in_one_transaction(store) -> None:
    commits: list[int] = []
    event.listen(store.engine, "commit", lambda connection: commits.append(1))
    worker = ThreadPoolExecutor(max_workers=1)
    busy = threading.Event()
    worker.submit(busy.wait)  # the thread is checking another job's candidates

    async def main() -> list[int]:
        writer = JobWriter(store, worker, actor="generator:r1")
        waiting = [asyncio.ensure_future(writer.save(finished(n))) for n in range(6)]
        await asyncio.sleep(0.05)
        busy.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(main()) == [1] * 6
    worker.shutdown(wait=True)
    assert len(commits) == 1  # six jobs, one transaction
    assert saved(store) == (6, 6, 6)


def test_jobs_waiting_for_the_writer_are_saved_when_the_run_is_interrupted(store) -> None:
    worker = ThreadPoolExecutor(max_workers=1)
    busy = threading.Event()
    worker.submit(busy.wait)
    writer = JobWriter(store, worker, actor="generator:r1")

    async def interrupted() -> None:
        first = asyncio.ensure_future(writer.save(finished(0)))
        await asyncio.sleep(0.01)  # job 0 is handed to the (busy) thread
        later = [asyncio.ensure_future(writer.save(finished(n))) for n in range(1, 4)]
        await asyncio.sleep(0.01)
        for task in [first, *later]:
            task.cancel()  # Ctrl-C: every job's wait is cancelled, and asyncio.run cancels the writer
        for task in [first, *later]:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(interrupted())
    busy.set()
    worker.shutdown(wait=True)  # what the run does on its way out: the batch in the thread completes
    writer.flush()  # and the jobs still waiting are written
    assert saved(store) == (4, 4, 4)


def test_a_job_whose_rows_fail_costs_only_itself_not_the_jobs_saved_with_it(store) -> None:
    worker = ThreadPoolExecutor(max_workers=1)
    busy = threading.Event()
    worker.submit(busy.wait)
    broken = finished(1)
    broken.calls[0].model = None  # a call row the store refuses (model is required)

    async def main() -> list:
        writer = JobWriter(store, worker, actor="generator:r1")
        waiting = [asyncio.ensure_future(writer.save(job)) for job in (finished(0), broken, finished(2))]
        await asyncio.sleep(0.05)
        busy.set()
        return await asyncio.gather(*waiting, return_exceptions=True)

    good, bad, also_good = asyncio.run(main())
    worker.shutdown(wait=True)
    assert good == also_good == 1 and isinstance(bad, Exception)
    assert saved(store) == (2, 2, 2)  # jobs 0 and 2 with their variants and calls; job 1 not at all
