"""Two runs on one store never pay for the same job: each job is claimed before its first call."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta

import respx
from sqlalchemy import update
from test_generation import BASE, GOOD, URL, completion, variants

from conftest import CTA_JOBS_PER_LOCALE
from variantly.generation.llm import LLMClient
from variantly.generation.run import Runner, RunOptions
from variantly.store import Store
from variantly.store.runs import CLAIM_LEASE, claim_job, release_claims
from variantly.store.schema import JobClaimRow, utcnow


def runner_on(store: Store, workspace) -> Runner:
    settings = workspace.settings.generation.model_copy(update={"backoff_seconds": 0.01, "candidates": 2})
    return Runner(store, workspace, LLMClient(settings, api_key="sk-test", base_url=BASE))


@respx.mock
def test_two_runs_started_together_make_each_job_once(workspace, database_url: str) -> None:
    """An operator's run and a schedule's, at the same moment: before, each planned and paid for all twelve jobs."""

    async def slow(request):
        await asyncio.sleep(0.02)  # answers take a while, as a provider's do: the two runs overlap
        return completion([GOOD, GOOD])

    route = respx.post(URL).mock(side_effect=slow)
    store = Store(database_url)
    options = RunOptions(modules=["cta"], locales=["en"], candidates=2)

    async def both():
        return await asyncio.gather(*(runner_on(store, workspace).run(options, actor=who) for who in ("a", "b")))

    first, second = asyncio.run(both())
    assert route.call_count == CTA_JOBS_PER_LOCALE  # each job asked once, by one run or the other
    assert first.jobs_done + second.jobs_done == CTA_JOBS_PER_LOCALE
    assert len(variants(runner_on(store, workspace))) == 2 * CTA_JOBS_PER_LOCALE
    for summary in (first, second):  # each of cta's 20 English cohorts: made here, left to the other, or skipped
        assert summary.jobs_done + summary.jobs_elsewhere + summary.jobs_skipped == 20  # (done, or never served)
        assert summary.status == "done"
        assert ("left to another run" in summary.message) == (summary.jobs_elsewhere > 0)
    with store.sessions() as session:
        assert session.query(JobClaimRow).count() == 0  # released as each run ended


def test_a_claim_is_taken_over_when_its_process_is_gone_or_its_lease_lapsed(database_url: str) -> None:
    store = Store(database_url)
    assert claim_job(store, "job-1", "run-a", after=None) is None
    assert claim_job(store, "job-1", "run-b", after=None) == "run-a"  # run-a is this live process
    assert claim_job(store, "job-1", "run-a", after=None) is None  # its own, again
    with store.session() as session:  # run-a was killed: a process that no longer exists on this machine
        session.execute(update(JobClaimRow).values(holder=f"{socket.gethostname()}:{2**22 + 12345}"))
    assert claim_job(store, "job-1", "run-b", after=None) is None
    with store.session() as session:  # run-b runs on another machine and stopped renewing a lease ago
        session.execute(update(JobClaimRow).values(holder="elsewhere:1", renewed_at=utcnow() - CLAIM_LEASE))
    assert claim_job(store, "job-1", "run-c", after=None) is None
    with store.session() as session:  # and run-c on another machine, renewing: held
        session.execute(update(JobClaimRow).values(holder="elsewhere:1", renewed_at=utcnow() - timedelta(seconds=5)))
    assert claim_job(store, "job-1", "run-d", after=None) == "run-c"
    release_claims(store, "run-c")
    assert claim_job(store, "job-1", "run-d", after=None) is None


def test_a_job_another_run_saved_since_this_run_planned_it_is_left_to_that_run(database_url: str) -> None:
    from variantly.store.schema import GenerationJobRow

    store = Store(database_url)
    with store.session() as session:  # run-a finished it after run-b read the store (which saw no row)
        session.add(GenerationJobRow(key="job-1", run_id="run-a", module_id="cta", cohort_key="c", status="done"))
    assert claim_job(store, "job-1", "run-b", after=None) == "run-a"
    assert claim_job(store, "job-1", "run-b", after="run-a") is None  # the row run-b planned from: run-b redoes it
