"""Two runs on one store never pay for the same job: each job is claimed before its first call."""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from datetime import timedelta

import httpx
import respx
from sqlalchemy import update
from test_batch import answer_line, batch_body, jsonl
from test_generation import BASE, GOOD, URL, completion, variants

from conftest import CTA_JOBS_PER_LOCALE
from variantly.generation.llm import LLMClient
from variantly.generation.run import Runner, RunOptions
from variantly.store import Store
from variantly.store.runs import CLAIM_LEASE, claim_job, release_claims
from variantly.store.schema import BatchRow, JobClaimRow, utcnow


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


def batch_provider(delay: float = 0.02) -> list[str]:
    """respx as the provider's files and batches endpoints, each batch with an id of its own, answering slowly
    enough for two runs to overlap; returns the job keys uploaded, in the order they arrived."""
    uploaded: list[str] = []
    numbers = itertools.count(1)

    async def upload(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(delay)
        body = request.content.decode(errors="replace")
        lines = body[body.index('{"custom_id"') :].split("\r\n")[0].splitlines()
        uploaded.extend(json.loads(line)["custom_id"] for line in lines if line.strip())
        file = {"id": "file-in", "object": "file", "bytes": len(body), "created_at": 1,
                "filename": "variantly-batch.jsonl", "purpose": "batch", "status": "processed"}  # fmt: skip
        return httpx.Response(200, json=file)

    def create(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=batch_body("validating") | {"id": f"batch_{next(numbers)}"})

    respx.post(f"{BASE}/files").mock(side_effect=upload)
    respx.post(f"{BASE}/batches").mock(side_effect=create)
    return uploaded


def two_runs(store: Store, workspace, options: RunOptions):
    async def both():
        return await asyncio.gather(*(runner_on(store, workspace).run(options, actor=who) for who in ("a", "b")))

    return asyncio.run(both())


@respx.mock
def test_two_batch_submits_at_once_send_each_job_once(workspace, database_url: str) -> None:
    """Each planned the twelve jobs and sent them in a batch of its own: both batches were billed."""
    uploaded = batch_provider()
    store = Store(database_url)
    first, second = two_runs(
        store, workspace, RunOptions(modules=["cta"], locales=["en"], candidates=2, batch="submit")
    )
    assert sorted(uploaded) == sorted(set(uploaded)) and len(uploaded) == CTA_JOBS_PER_LOCALE
    assert first.jobs_in_batch + second.jobs_in_batch == CTA_JOBS_PER_LOCALE
    assert first.jobs_elsewhere + second.jobs_elsewhere == CTA_JOBS_PER_LOCALE  # each job sent by one, left by one
    plan = runner_on(store, workspace).plan(RunOptions(modules=["cta"], locales=["en"], candidates=2))
    assert (plan.in_batch, len(plan.jobs)) == (CTA_JOBS_PER_LOCALE, 0)


def test_a_job_sent_in_a_batch_since_a_live_run_planned_it_is_left_to_the_batch(database_url: str) -> None:
    """The batch run releases its claims once its batch is saved; the live run that planned the job before then
    would have made it as well, and the batch's answer would have been paid for on top."""
    store = Store(database_url)
    with store.session() as session:
        session.add(BatchRow(id="batch_1", run_id="run-batch", status="in_progress", model="m",
                             input_file_id="file-in", jobs=[{"key": "job-1"}]))  # fmt: skip
    assert claim_job(store, "job-1", "run-live", after=None) == "run-batch"
    assert claim_job(store, "job-2", "run-live", after=None) is None
    with store.session() as session:
        session.get_one(BatchRow, "batch_1").status = "collected"
    assert claim_job(store, "job-1", "run-live", after=None) is None  # collected and not done: free to make


@respx.mock
def test_two_collects_at_once_save_each_answer_once(workspace, database_url: str) -> None:
    """Each checked and saved every answer of the same batch: the queue held each variant twice."""
    uploaded = batch_provider()
    store = Store(database_url)
    submit = RunOptions(modules=["cta"], locales=["en"], candidates=2, batch="submit")
    asyncio.run(runner_on(store, workspace).run(submit, actor="s"))

    async def output(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)  # a large file: both collects are downloading at once
        return jsonl([answer_line(key, [GOOD, GOOD | {"label": "See Lumen"}]) for key in uploaded])

    done = batch_body("completed", output="file-out", total=CTA_JOBS_PER_LOCALE) | {"id": "batch_1"}
    respx.get(f"{BASE}/batches/batch_1").mock(return_value=httpx.Response(200, json=done))
    respx.get(f"{BASE}/files/file-out/content").mock(side_effect=output)
    live = respx.post(URL).mock(return_value=completion([GOOD]))
    first, second = two_runs(
        store, workspace, RunOptions(modules=["cta"], locales=["en"], candidates=2, batch="collect")
    )
    assert live.call_count == 0  # two candidates asked, two answered and passed: nothing to re-ask
    assert first.jobs_done + second.jobs_done == CTA_JOBS_PER_LOCALE
    assert len(variants(runner_on(store, workspace))) == 2 * CTA_JOBS_PER_LOCALE
    said = first.batch_lines + second.batch_lines
    assert sum("being collected by run" in line for line in said) == 1
