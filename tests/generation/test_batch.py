"""Half the cost for big runs: jobs through the Batch API, collected later, in every state the provider reports.

respx answers /v1/files, /v1/batches and the file contents in OpenAI's format.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import respx
from test_generation import BASE, GOOD, PUSHY, URL, calls, completion, run, variants, wire_runner

from conftest import CTA_JOBS_PER_LOCALE
from variantly.generation.run import Runner, RunOptions
from variantly.store.schema import BatchRow, GenerationJobRow

BATCH_ID = "batch_abc123"
ENGLISH_CTA = CTA_JOBS_PER_LOCALE  # cta jobs for the English locale


@pytest.fixture
def runner(workspace, tmp_path: Path):
    yield from wire_runner(workspace, tmp_path)


def batch_body(status: str, *, output: str | None = None, error: str | None = None, total: int = 0) -> dict:
    return {
        "id": BATCH_ID,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": status,
        "created_at": 1,
        "output_file_id": output,
        "error_file_id": error,
        "errors": {"object": "list", "data": [{"code": "invalid_json_line", "message": "line 3 is not JSON"}]}
        if status == "failed"
        else None,
        "request_counts": {"total": total, "completed": total if status == "completed" else 0, "failed": 0},
    }


def answer_line(custom_id: str, candidates: list[dict]) -> dict:
    body = {
        "id": "chatcmpl-b",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "logprobs": None,
                "message": {"role": "assistant", "content": json.dumps({"candidates": candidates}), "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": 500, "completion_tokens": 120, "total_tokens": 620},
    }
    return {
        "id": f"req-{custom_id}",
        "custom_id": custom_id,
        "response": {"status_code": 200, "body": body},
        "error": None,
    }


def jsonl(lines: list[dict]) -> httpx.Response:
    return httpx.Response(200, content="\n".join(json.dumps(line) for line in lines).encode())


def submit(runner: Runner) -> tuple[list[dict], respx.Route]:
    """Send the English cta jobs as a batch; returns the request lines the provider received."""
    uploaded: list[dict] = []

    def upload(request: httpx.Request) -> httpx.Response:
        body = request.content.decode(errors="replace")
        start = body.index('{"custom_id"')
        uploaded.extend(json.loads(line) for line in body[start:].split("\r\n")[0].splitlines() if line.strip())
        return httpx.Response(
            200,
            json={
                "id": "file-in",
                "object": "file",
                "bytes": len(body),
                "created_at": 1,
                "filename": "variantly-batch.jsonl",
                "purpose": "batch",
                "status": "processed",
            },
        )

    respx.post(f"{BASE}/files").mock(side_effect=upload)
    create = respx.post(f"{BASE}/batches").mock(
        return_value=httpx.Response(200, json=batch_body("validating", total=ENGLISH_CTA))
    )
    summary = run(runner, cohorts=None, locales=["en"], batch="submit")
    assert summary.jobs_in_batch == ENGLISH_CTA and summary.llm_calls == 0
    assert f"batch {BATCH_ID}: sent {ENGLISH_CTA} job(s)" in summary.batch_lines[-1]
    return uploaded, create


def open_batches(runner: Runner) -> list[BatchRow]:
    with runner.store.sessions() as session:
        return list(session.query(BatchRow))


def job_status(runner: Runner) -> dict[str, str]:
    with runner.store.sessions() as session:
        return {row.key: row.status for row in session.query(GenerationJobRow)}


@respx.mock
def test_submit_sends_one_request_per_job_and_remembers_the_batch(runner: Runner) -> None:
    uploaded, create = submit(runner)
    assert len(uploaded) == ENGLISH_CTA
    first = uploaded[0]
    assert first["url"] == "/v1/chat/completions" and first["method"] == "POST"
    assert first["body"]["response_format"]["json_schema"]["strict"] is True
    assert json.loads(create.calls[0].request.content) == {
        "input_file_id": "file-in",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    [row] = open_batches(runner)
    assert (row.id, row.status, len(row.jobs)) == (BATCH_ID, "validating", ENGLISH_CTA)
    # the jobs wait in the batch: a plain run does not send them again
    plan = runner.plan(RunOptions(modules=["cta"], locales=["en"], candidates=2))
    assert (plan.in_batch, len(plan.jobs)) == (ENGLISH_CTA, 0)


@pytest.mark.parametrize("status", ["validating", "in_progress", "finalizing", "cancelling"])
@respx.mock
def test_a_batch_still_running_is_left_for_a_later_collect(runner: Runner, status: str) -> None:
    submit(runner)
    respx.get(f"{BASE}/batches/{BATCH_ID}").mock(
        return_value=httpx.Response(200, json=batch_body(status, total=ENGLISH_CTA))
    )
    summary = run(runner, cohorts=None, locales=["en"], batch="collect")
    assert summary.batches_waiting == 1 and f"{status}, 0/{ENGLISH_CTA} answered" in summary.batch_lines[0]
    assert open_batches(runner)[0].status == status and job_status(runner) == {}


@respx.mock
def test_a_completed_batch_is_checked_reasked_live_and_saved_at_the_batch_price(runner: Runner) -> None:
    uploaded, _ = submit(runner)
    keys = [line["custom_id"] for line in uploaded]
    respx.get(f"{BASE}/batches/{BATCH_ID}").mock(
        return_value=httpx.Response(200, json=batch_body("completed", output="file-out", total=ENGLISH_CTA))
    )
    # every answer has one pushy candidate: it is re-asked with a live call
    respx.get(f"{BASE}/files/file-out/content").mock(return_value=jsonl([answer_line(k, [GOOD, PUSHY]) for k in keys]))
    live = respx.post(URL).mock(return_value=completion([GOOD | {"label": "See Lumen"}]))
    summary = run(runner, cohorts=None, locales=["en"], batch="collect")
    assert summary.jobs_done == ENGLISH_CTA and live.call_count == ENGLISH_CTA
    assert summary.candidates_passed == 2 * ENGLISH_CTA
    assert open_batches(runner)[0].status == "collected"
    assert set(job_status(runner).values()) == {"done"}
    batch_calls = [c for c in calls(runner) if c.purpose == "batch"]
    assert len(batch_calls) == ENGLISH_CTA
    full = (500 * 0.15 + 120 * 0.60) / 1_000_000
    assert all(abs(c.cost_usd - full / 2) < 1e-12 for c in batch_calls)  # half the price
    # a batch answer is each job's first call, the live re-ask its one follow-up: plans learn one re-ask a job
    learned = runner.plan(RunOptions(modules=["cta"], locales=["sv"], candidates=2))
    assert f"from {ENGLISH_CTA} earlier jobs: 1.00 re-asks per job" in learned.reask_basis
    # collected: nothing is planned or collected again
    again = run(runner, cohorts=None, locales=["en"], batch="collect")
    assert again.llm_calls == 0 and again.batch_lines == []


@pytest.mark.parametrize("status", ["expired", "cancelled"])
@respx.mock
def test_an_expired_or_cancelled_batch_keeps_what_was_answered_and_replans_the_rest(
    runner: Runner, status: str
) -> None:
    uploaded, _ = submit(runner)
    keys = [line["custom_id"] for line in uploaded]
    answered, unanswered = keys[:5], keys[5:]
    respx.get(f"{BASE}/batches/{BATCH_ID}").mock(
        return_value=httpx.Response(
            200, json=batch_body(status, output="file-out", error="file-err", total=ENGLISH_CTA)
        )
    )
    respx.get(f"{BASE}/files/file-out/content").mock(
        return_value=jsonl([answer_line(k, [GOOD, GOOD]) for k in answered])
    )
    expired = [
        {"id": f"req-{k}", "custom_id": k, "response": None, "error": {"code": "batch_expired", "message": "not run"}}
        for k in unanswered
    ]
    respx.get(f"{BASE}/files/file-err/content").mock(return_value=jsonl(expired))
    summary = run(runner, cohorts=None, locales=["en"], batch="collect")
    left = ENGLISH_CTA - 5
    assert summary.jobs_done == 5 and summary.jobs_unfinished == left
    assert f"{status}: 5 answered, {left} unanswered" in summary.batch_lines[0]
    assert "batch: batch_expired: not run" in summary.errors[0].error
    plan = runner.plan(RunOptions(modules=["cta"], locales=["en"], candidates=2))
    assert len(plan.jobs) == left and plan.unfinished == left  # the next run sends them again


@respx.mock
def test_a_failed_batch_replans_every_job_with_the_reason(runner: Runner) -> None:
    submit(runner)
    respx.get(f"{BASE}/batches/{BATCH_ID}").mock(
        return_value=httpx.Response(200, json=batch_body("failed", total=ENGLISH_CTA))
    )
    summary = run(runner, cohorts=None, locales=["en"], batch="collect")
    assert summary.jobs_unfinished == ENGLISH_CTA and summary.jobs_done == 0
    assert "the batch failed: invalid_json_line: line 3 is not JSON" in summary.errors[0].error
    assert open_batches(runner)[0].status == "collected"
    assert len(runner.plan(RunOptions(modules=["cta"], locales=["en"], candidates=2)).jobs) == ENGLISH_CTA


@respx.mock
def test_a_batch_answer_for_an_edited_module_is_discarded(runner: Runner, workspace_dir: Path) -> None:
    uploaded, _ = submit(runner)
    respx.get(f"{BASE}/batches/{BATCH_ID}").mock(
        return_value=httpx.Response(200, json=batch_body("completed", output="file-out", total=ENGLISH_CTA))
    )
    respx.get(f"{BASE}/files/file-out/content").mock(
        return_value=jsonl([answer_line(line["custom_id"], [GOOD, GOOD]) for line in uploaded])
    )
    module = runner.workspace.modules["cta"]
    module.content_hash = "edited-since"  # what reloading an edited module file gives
    summary = run(runner, cohorts=None, locales=["en"], batch="collect")
    assert summary.jobs_done == 0 and f"{ENGLISH_CTA} discarded" in summary.batch_lines[0]
    assert variants(runner) == []
