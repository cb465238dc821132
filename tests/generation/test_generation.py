"""Generation at the wire: the real openai SDK, respx answering in OpenAI's format."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import respx

import variantly.generation  # noqa: F401  (offline environment)
from conftest import CTA_JOBS_PER_LOCALE, REPO
from variantly.generation.llm import LLMClient
from variantly.generation.run import Runner, RunOptions
from variantly.store.runs import get_run
from variantly.store.schema import LLMCallRow, VariantRow

BASE = "https://llm.test/v1"
URL = f"{BASE}/chat/completions"
COHORT = "segment=startup;behaviour=*;locale=en"
GOOD = {"label": "Start a free trial", "note": "No credit card needed. See your customers in one place."}
PUSHY = {"label": "Buy now", "note": "Hurry, this is your last chance."}


def completion(
    candidates: list[dict] | None = None,
    *,
    content: str | None = None,
    finish: str = "stop",
    refusal: str | None = None,
    usage: tuple[int, int] = (500, 120),
) -> httpx.Response:
    body = content if content is not None else json.dumps({"candidates": candidates or []})
    return httpx.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": finish,
                    "logprobs": None,
                    "message": {"role": "assistant", "content": None if refusal else body, "refusal": refusal},
                }
            ],
            "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": sum(usage)},
        },
    )


def error(status: int, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"error": {"message": f"status {status}", "type": "x"}})


@pytest.fixture
def runner(workspace, tmp_path: Path):
    yield from wire_runner(workspace, tmp_path)


def wire_runner(workspace, tmp_path: Path):
    """A runner against respx at BASE: two candidates a job, fast backoff, three attempts."""
    from variantly.store import Store

    settings = workspace.settings.generation.model_copy(
        update={"backoff_seconds": 0.01, "candidates": 2, "max_attempts": 3}
    )
    store = Store(f"sqlite:///{tmp_path / 'gen.db'}")
    yield Runner(store, workspace, LLMClient(settings, api_key="sk-test", base_url=BASE))
    store.dispose()


def run(runner: Runner, **options):
    options = {"modules": ["cta"], "cohorts": [COHORT], "candidates": 2} | options
    return asyncio.run(runner.run(RunOptions(**options), actor="test"))


def variants(runner: Runner) -> list[VariantRow]:
    with runner.store.sessions() as session:
        return list(session.query(VariantRow).order_by(VariantRow.id))


def calls(runner: Runner) -> list[LLMCallRow]:
    with runner.store.sessions() as session:
        return list(session.query(LLMCallRow).order_by(LLMCallRow.id))


@respx.mock
def test_structured_response_becomes_pending_variants(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=completion([GOOD, GOOD | {"label": "Try Lumen"}]))
    summary = run(runner)
    assert (summary.status, summary.jobs_done, summary.candidates_passed) == ("done", 1, 2)
    rows = variants(runner)
    assert [r.status for r in rows] == ["pending", "pending"]
    assert {r.cohort_key for r in rows} == {COHORT}
    assert rows[0].report["passed"] and rows[0].model == "gpt-4o-mini"
    request = json.loads(route.calls[0].request.content)
    assert request["model"] == "gpt-4o-mini"
    assert request["response_format"]["type"] == "json_schema"
    assert request["response_format"]["json_schema"]["strict"] is True
    assert [m["role"] for m in request["messages"]] == ["system", "user"]
    user = request["messages"][1]["content"]
    assert "Write 2 different candidates" in user and "at most 32 characters" in user
    assert "segment: startup (Companies under 100 employees" in user
    assert user.index("Task:") < user.index("Module: cta") < user.index("Audience cohort:")  # static first
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-test"
    assert summary.prompt_tokens == 500 and summary.cost_usd == pytest.approx((500 * 0.15 + 120 * 0.6) / 1e6)
    assert [c.outcome for c in calls(runner)] == ["ok"]


@respx.mock
def test_429_waits_for_retry_after_then_succeeds(runner: Runner) -> None:
    respx.post(URL).mock(side_effect=[error(429, **{"retry-after": "1"}), completion([GOOD, GOOD])])
    started = time.perf_counter()
    summary = run(runner)
    assert time.perf_counter() - started >= 1.0
    assert summary.jobs_done == 1
    assert [c.outcome for c in calls(runner)] == ["RateLimitError", "ok"]


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "nan"}, None),  # float() reads it and min() kept it: a NaN wait went to the sleep
        ({"retry-after-ms": "nan", "retry-after": "2"}, 2.0),
        ({"retry-after": "NaN"}, None),
        ({"retry-after": "-5"}, 0.0),
        ({"retry-after": "inf"}, 120.0),
        ({"retry-after": "soon"}, None),
    ],
)
def test_a_wait_the_server_asks_for_is_a_number_of_seconds_within_bounds(
    headers: dict[str, str], seconds: float | None
) -> None:
    import openai

    from variantly.generation.wire import retry_after_seconds

    response = httpx.Response(429, headers=headers, request=httpx.Request("POST", URL))
    assert retry_after_seconds(openai.RateLimitError("slow down", response=response, body=None)) == seconds


@respx.mock
def test_500_then_success(runner: Runner) -> None:
    respx.post(URL).mock(side_effect=[error(500), error(503), completion([GOOD, GOOD])])
    assert run(runner).jobs_done == 1
    assert [c.outcome for c in calls(runner)] == ["InternalServerError", "InternalServerError", "ok"]


@respx.mock
def test_timeout_is_retried(runner: Runner) -> None:
    respx.post(URL).mock(side_effect=[httpx.ReadTimeout("slow"), completion([GOOD, GOOD])])
    assert run(runner).jobs_done == 1
    assert [c.outcome for c in calls(runner)] == ["APITimeoutError", "ok"]


@respx.mock
def test_content_that_is_not_json_is_retried_then_given_up(runner: Runner) -> None:
    respx.post(URL).mock(
        side_effect=[
            completion(content="Sure! Here are your candidates:"),
            httpx.Response(200, text="<html>gateway</html>"),
            httpx.Response(200, text='{"id": "x", "choi', headers={"content-type": "application/json"}),
        ]
    )
    summary = run(runner)
    assert (summary.jobs_done, summary.jobs_unfinished) == (0, 1)
    assert "no usable answer after 3 attempt(s)" in summary.errors[0].error
    assert [c.outcome for c in calls(runner)] == ["ValidationError", "NotJSONBody", "JSONDecodeError"]
    assert variants(runner) == []
    # unfinished, not failed: trouble on the way, so the next run tries this job again by itself
    respx.post(URL).mock(return_value=completion([GOOD, GOOD]))
    assert run(runner).jobs_done == 1


@respx.mock
def test_truncated_answer_fails_the_job_without_retrying(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=completion(content='{"candidates": [{"label": "Sta', finish="length"))
    summary = run(runner)
    assert route.call_count == 1 and summary.jobs_failed == 1
    assert "cut off at max_completion_tokens" in summary.errors[0].error
    # the run as GET /v1/runs/{id} shows it: which job, how it ended, why
    [stored] = get_run(runner.store, summary.run_id).progress["errors"]
    assert stored == {"module_id": "cta", "cohort_key": COHORT, "status": "failed", "error": summary.errors[0].error}


@respx.mock
def test_refusal_fails_the_job_without_retrying(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=completion(refusal="I can't help with that."))
    summary = run(runner)
    assert route.call_count == 1 and summary.jobs_failed == 1
    assert "refused: I can't help with that." in summary.errors[0].error
    again = run(runner)  # a refusal would repeat: not paid for again unless asked, but never hidden
    assert (again.jobs_failed_before, again.llm_calls, route.call_count) == (1, 0, 1)
    assert again.left_over == 1 and "--retry-failed" in again.message


@respx.mock
def test_failing_candidate_passes_after_a_reask_that_quotes_the_failures(runner: Runner) -> None:
    route = respx.post(URL).mock(side_effect=[completion([GOOD, PUSHY]), completion([GOOD | {"label": "See Lumen"}])])
    summary = run(runner)
    assert (summary.candidates_passed, summary.candidates_failed, summary.reasks) == (2, 0, 1)
    reask = json.loads(route.calls[1].request.content)["messages"]
    assert [m["role"] for m in reask] == ["system", "user", "assistant", "user"]
    assert "label: banned phrase 'buy now'" in reask[-1]["content"]
    assert "note: banned phrase 'last chance'" in reask[-1]["content"]
    assert "Write 1 new candidate that fix" in reask[-1]["content"]
    fixed = next(v for v in variants(runner) if v.slots["label"] == "See Lumen")
    assert fixed.status == "pending"
    assert fixed.report["attempts"][0]["slots"] == PUSHY
    assert [c.purpose for c in calls(runner)] == ["generate", "reask"]


@respx.mock
def test_candidate_that_never_passes_is_kept_as_guardrail_failed_with_its_report(runner: Runner) -> None:
    respx.post(URL).mock(side_effect=[completion([GOOD, PUSHY]), completion([PUSHY]), completion([PUSHY])])
    summary = run(runner)
    assert (summary.candidates_passed, summary.candidates_failed, summary.reasks) == (1, 1, 2)
    failed = next(v for v in variants(runner) if v.status == "guardrail_failed")
    assert failed.report["slots"]["label"][0] == {
        "validator": "variantly/banned_phrases",
        "message": "banned phrase 'buy now'",
        "spans": [[0, 7]],
    }
    assert len(failed.report["attempts"]) == 2


@respx.mock
def test_json_object_mode_describes_the_shape_in_the_prompt(runner: Runner) -> None:
    runner.settings = runner.settings.model_copy(update={"response_format": "json_object"})
    runner.llm.settings = runner.llm.settings.model_copy(update={"response_format": "json_object"})
    object.__setattr__(runner.workspace.settings, "generation", runner.settings)
    route = respx.post(URL).mock(return_value=completion([GOOD, GOOD]))
    assert run(runner).jobs_done == 1
    request = json.loads(route.calls[0].request.content)
    assert request["response_format"] == {"type": "json_object"}
    assert '{"candidates": [{"label": "...", "note": "..."}, ...]}' in request["messages"][1]["content"]


@respx.mock
def test_rerunning_the_same_plan_makes_zero_calls(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=completion([GOOD, GOOD]))
    first = run(runner, cohorts=None, locales=["en"])
    assert first.jobs_done == CTA_JOBS_PER_LOCALE and route.call_count == CTA_JOBS_PER_LOCALE
    second = run(runner, cohorts=None, locales=["en"])
    assert (second.jobs_planned, second.jobs_skipped, second.llm_calls) == (0, 20, 0)  # done, or never served
    assert route.call_count == CTA_JOBS_PER_LOCALE


@respx.mock
def test_budget_cap_stops_cleanly_and_keeps_what_was_done(runner: Runner) -> None:
    respx.post(URL).mock(return_value=completion([GOOD, GOOD], usage=(1000, 200)))
    summary = run(runner, cohorts=None, concurrency=1, budget_usd=0.0012)
    assert summary.status == "stopped_budget" and "budget" in summary.message
    assert (
        0 < summary.jobs_done < 2 * CTA_JOBS_PER_LOCALE
        and summary.jobs_not_started == 2 * CTA_JOBS_PER_LOCALE - summary.jobs_done
    )
    assert summary.cost_usd <= 0.0012
    assert get_run(runner.store, summary.run_id).status == "stopped_budget"
    assert len(variants(runner)) == 2 * summary.jobs_done


@respx.mock
def test_no_profile_data_reaches_any_prompt(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=completion([GOOD, GOOD]))
    run(runner, cohorts=None)
    profiles = [json.loads(p.read_text()) for p in (REPO / "examples" / "profiles").glob("*.json")]
    personal = {p["id"] for p in profiles} | {
        p["traits"][k] for p in profiles for k in ("first_name",) if k in p["traits"]
    }
    sent = "\n".join(call.request.content.decode() for call in route.calls)
    assert route.call_count >= 2 * CTA_JOBS_PER_LOCALE  # every job, plus re-asks for the Swedish ones (GOOD is English)
    assert not [value for value in personal if value in sent]


def test_generate_without_llm_says_how_to_configure_and_exits_2(workspace_dir: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    out = subprocess.run(
        [sys.executable, "-m", "variantly", "generate", "-w", str(workspace_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert out.returncode == 2
    assert "OPENAI_API_KEY" in out.stderr and "OPENAI_BASE_URL" in out.stderr


@respx.mock
def test_bad_key_stops_the_run_instead_of_failing_every_job(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=error(401))
    summary = run(runner, cohorts=None, concurrency=1)
    assert summary.status == "failed" and "check OPENAI_API_KEY" in summary.message
    assert route.call_count == 1 and summary.jobs_not_started == 2 * CTA_JOBS_PER_LOCALE - 1


@respx.mock
def test_the_prompt_says_what_a_reader_without_a_merge_field_reads_in_the_cohorts_language(runner: Runner) -> None:
    """The model placed {first_name} where "there" reads wrong ("Welcome back, there"): it is told the defaults."""
    route = respx.post(URL).mock(return_value=completion([GOOD, GOOD]))
    run(runner, cohorts=[COHORT, COHORT.replace("locale=en", "locale=sv")])
    sent = {json.loads(c.request.content)["messages"][1]["content"] for c in route.calls}
    english = [s for s in sent if "Language: English" in s]
    swedish = [s for s in sent if "Language: Swedish" in s]
    assert english and swedish
    said = "A reader without a value of their own reads a merge field's default: {company} reads"
    assert all(f'{said} "your team", {{first_name}} reads "there".' in s for s in english)
    assert all(f'{said} "ert team", {{first_name}} reads "du".' in s for s in swedish)
