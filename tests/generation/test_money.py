"""Generation you can trust with money: no lost cohorts, no overspend, every paid call counted.

At the wire with respx, as in test_generation.py: the real openai SDK, answers in OpenAI's format.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
from pathlib import Path

import httpx
import pytest
import respx
from test_generation import COHORT, GOOD, PUSHY, URL, calls, completion, run, variants, wire_runner

from conftest import CTA_JOBS_PER_LOCALE, REPO
from variantly.generation.llm import LLMClient
from variantly.generation.run import Runner, RunOptions
from variantly.store.schema import GenerationJobRow, LLMCallRow, VariantRow

SWEDISH = {"label": "Prova gratis i dag", "note": "Inget kreditkort behövs. Se alla era kunder på ett ställe."}


@pytest.fixture
def runner(workspace, tmp_path: Path):
    yield from wire_runner(workspace, tmp_path)


def jobs(runner: Runner) -> dict[str, str]:
    with runner.store.sessions() as session:
        return {row.cohort_key: row.status for row in session.query(GenerationJobRow)}


@respx.mock
def test_a_job_where_nothing_passes_is_failed_listed_and_retried_with_the_failure(runner: Runner) -> None:
    route = respx.post(URL).mock(return_value=completion([PUSHY, PUSHY]))
    first = run(runner)
    assert (first.jobs_done, first.jobs_failed, first.left_over) == (0, 1, 1)
    assert jobs(runner) == {COHORT: "failed"}
    assert first.errors[0].status == "failed"
    assert "no candidate passed the guardrails after 2 re-ask(s)" in first.errors[0].error
    assert f"`variantly generate --module cta --cohort '{COHORT}' --candidates 2 --retry-failed`" in first.message

    plan = runner.plan(RunOptions(modules=["cta"], cohorts=[COHORT], candidates=2))
    assert [(f.cohort_key, f.error) for f in plan.failed] == [(COHORT, first.errors[0].error)]
    assert plan.jobs == []

    route.mock(return_value=completion([GOOD, GOOD]))
    retried = run(runner, retry_failed=True)
    assert (retried.jobs_done, retried.left_over) == (1, 0)
    prompt = json.loads(route.calls[-1].request.content)["messages"][-1]["content"]
    assert "An earlier attempt for this cohort failed: no candidate passed" in prompt
    assert jobs(runner) == {COHORT: "done"}  # the same job, now done
    assert runner.plan(RunOptions(modules=["cta"], cohorts=[COHORT], candidates=2)).failed == []


@respx.mock
def test_budget_is_never_exceeded_even_with_reasks_and_the_summary_says_what_was_spent(runner: Runner) -> None:
    # every first answer has a failing candidate, so every job wants a re-ask
    respx.post(URL).mock(
        side_effect=lambda request: completion([GOOD, PUSHY] if "Some of" not in request.content.decode() else [GOOD])
    )
    limit = 0.002
    summary = run(runner, cohorts=None, locales=["en"], concurrency=4, budget_usd=limit)
    assert summary.status == "stopped_budget"
    assert 0 < summary.cost_usd <= limit
    with runner.store.sessions() as session:
        recorded = sum(c.cost_usd for c in session.query(LLMCallRow))
    assert abs(recorded - summary.cost_usd) < 1e-12
    assert f"${summary.cost_usd:.4f} spent" in summary.message and "not started" in summary.message
    assert summary.jobs_not_started > 0 and summary.left_over >= summary.jobs_not_started


@respx.mock
def test_slot_lengths_go_into_the_schema_for_servers_that_enforce_them(runner: Runner) -> None:
    runner.llm.settings = runner.llm.settings.model_copy(update={"schema_string_lengths": True})
    route = respx.post(URL).mock(return_value=completion([GOOD, GOOD]))
    run(runner)
    schema = json.loads(route.calls[0].request.content)["response_format"]["json_schema"]["schema"]
    slot = next(iter(schema["$defs"].values()))["properties"]["label"]
    assert slot["maxLength"] == runner.workspace.modules["cta"].module.slots["label"].max_chars


@respx.mock
def test_a_short_answer_is_topped_up_and_the_schema_states_the_count(runner: Runner) -> None:
    route = respx.post(URL).mock(side_effect=[completion([GOOD]), completion([GOOD | {"label": "See Lumen"}])])
    summary = run(runner, candidates=2)
    assert (summary.candidates_passed, summary.top_ups, summary.candidates_short) == (2, 1, 0)
    first, top_up = (json.loads(c.request.content) for c in route.calls)
    schema = first["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["candidates"]["minItems"] == schema["properties"]["candidates"]["maxItems"] == 2
    slot = next(iter(schema["$defs"].values()))["properties"]["label"]
    limit = runner.workspace.modules["cta"].module.slots["label"].max_chars
    assert f"at most {limit} characters" in slot["description"] and "maxLength" not in slot  # OpenAI refuses it
    assert top_up["response_format"]["json_schema"]["schema"]["properties"]["candidates"]["maxItems"] == 1
    assert "You wrote 1 candidate; 2 were asked for. Write 1 more" in top_up["messages"][-1]["content"]
    assert [c.purpose for c in calls(runner)] == ["generate", "top_up"]


@respx.mock
def test_personal_data_is_redacted_before_a_reask_and_before_storage(runner: Runner) -> None:
    leaky = {"label": "Talk to Anna", "note": "Mail anna.berg@example.com or call +46 70 123 45 67 today."}
    route = respx.post(URL).mock(side_effect=[completion([GOOD, leaky]), completion([leaky]), completion([leaky])])
    run(runner)
    for call in route.calls[1:]:
        sent = call.request.content.decode()
        assert "anna.berg@example.com" not in sent and "123 45 67" not in sent
        assert "[e-mail removed]" in sent and "[phone removed]" in sent
    failed = next(v for v in variants(runner) if v.status == "guardrail_failed")
    stored = json.dumps(failed.slots) + json.dumps(failed.report)
    assert "anna.berg" not in stored and "123 45 67" not in stored
    [pii] = [f for f in failed.report["slots"]["note"] if f["validator"] == "variantly/personal_data"]
    assert pii["message"] == "contains an e-mail address; contains a phone number"
    assert [failed.slots["note"][s:e] for s, e in pii["spans"]] == ["[e-mail removed]", "[phone removed]"]
    assert not [f for f in failed.report["slots"]["note"] if f["validator"] == "variantly/claims_from_facts"]


@respx.mock
def test_identity_numbers_ibans_and_dodged_addresses_never_reach_a_reask_or_the_store(runner: Runner) -> None:
    secrets = ("811218-9876", "SE45 5000 0000 0583 9825 7466", "anna (at) example.se")
    leaky = {"label": "Talk to Anna", "note": f"{secrets[0]}, pay {secrets[1]}, write {secrets[2]}."}
    route = respx.post(URL).mock(side_effect=[completion([GOOD, leaky]), completion([leaky]), completion([leaky])])
    run(runner)
    assert len(route.calls) == 3
    for call in route.calls[1:]:
        sent = json.loads(call.request.content)
        assert not any(secret in json.dumps(sent, ensure_ascii=False) for secret in secrets)
    failed = next(v for v in variants(runner) if v.status == "guardrail_failed")
    stored = json.dumps(failed.slots, ensure_ascii=False) + json.dumps(failed.report, ensure_ascii=False)
    assert not any(secret in stored for secret in secrets)
    assert failed.slots["note"] == "[id number removed], pay [IBAN removed], write [e-mail removed]."


@respx.mock
def test_an_unreachable_endpoint_stops_the_run_within_seconds(runner: Runner) -> None:
    route = respx.post(URL).mock(side_effect=httpx.ConnectError("connection refused"))
    runner.llm.settings = runner.llm.settings.model_copy(update={"max_attempts": 5})
    runner.checker  # noqa: B018 - guardrails-ai imported (seconds) before the run is timed
    summary = run(runner, cohorts=None, concurrency=4)
    # the fifth refusal in a row opens the circuit; up to three calls already in flight may add theirs
    assert summary.status == "failed" and re.search(r"refused [5-8] connections in a row", summary.message)
    assert route.call_count <= 8 and summary.seconds < 5
    assert summary.jobs_not_started >= 2 * CTA_JOBS_PER_LOCALE - 8  # at most one job a slot was started


def test_a_refused_connection_is_named_with_host_and_port(runner: Runner) -> None:
    """No respx: a real port with nothing listening, through the client's real transport."""
    with socket.socket() as probe:  # bound and closed: nothing listens there now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    runner.llm = LLMClient(runner.llm.settings, api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1")
    runner.checker  # noqa: B018 - guardrails-ai imported (seconds) before the run is timed
    summary = run(runner, cohorts=None, concurrency=4)
    assert summary.status == "failed" and re.search(r"refused [5-8] connections in a row", summary.message)
    assert f"127.0.0.1:{port}" in summary.message  # the transport's error, not the SDK's "Request timed out."
    assert summary.seconds < 5


@respx.mock
def test_an_interrupted_run_records_every_answered_call(runner: Runner) -> None:
    answered = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal answered
        await asyncio.sleep(0.2)
        answered += 1
        return completion([GOOD, GOOD])

    respx.post(URL).mock(side_effect=slow)

    async def interrupt_after(answers: int) -> None:
        options = RunOptions(modules=["cta"], candidates=2, concurrency=8)  # 24 jobs, 3 waves of calls
        task = asyncio.ensure_future(runner.run(options, actor="t"))
        for _ in range(400):  # at most 20 s
            if answered >= answers:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(interrupt_after(12))
    summary = runner.last_summary
    assert summary.status == "interrupted" and "Run again to resume" in summary.message
    with runner.store.sessions() as session:
        outcomes = [c.outcome for c in session.query(LLMCallRow)]
        ok_tokens = sum(c.prompt_tokens for c in session.query(LLMCallRow).filter(LLMCallRow.outcome == "ok"))
        stored = session.query(VariantRow).count()
    assert summary.jobs_done < 2 * CTA_JOBS_PER_LOCALE  # cut short
    # every answer is recorded: read in full (ok, with its tokens), or cut off while being read
    assert outcomes.count("ok") + outcomes.count("interrupted") >= answered
    assert outcomes.count("ok") >= answered - 8  # at most one call per slot was in flight
    assert ok_tokens == 500 * outcomes.count("ok")
    assert stored == 2 * summary.jobs_done
    with runner.store.sessions() as session:
        cut_off = session.query(LLMCallRow).filter(LLMCallRow.outcome == "interrupted").all()
        recorded = sum(c.cost_usd for c in session.query(LLMCallRow))
    assert cut_off, "some calls were in flight when the run was interrupted"
    for call in cut_off:  # the provider bills them: their prompt, counted, and the plan's estimate of an answer
        assert call.prompt_tokens > 100 and call.completion_tokens > 0 and call.cost_usd > 0
    assert summary.cost_usd == pytest.approx(recorded)  # they count against the budget as spent


@respx.mock
def test_a_job_the_budget_stopped_goes_on_from_its_last_answer_not_a_new_first_call(runner: Runner) -> None:
    route = respx.post(URL).mock(
        side_effect=lambda request: completion(
            [GOOD, GOOD] if "Some of" in request.content.decode() else [PUSHY, PUSHY]
        )
    )
    stopped = run(runner, budget_usd=0.0009)  # covers the first call's worst case, not a re-ask's after it
    assert stopped.status == "stopped_budget" and stopped.jobs_unfinished == 1
    assert [c.purpose for c in calls(runner)] == ["generate"]
    plan = runner.plan(RunOptions(modules=["cta"], cohorts=[COHORT], candidates=2))
    assert (plan.unfinished, plan.resumed, plan.cost_usd) == (1, 1, 0.0)  # its first answer is not paid again
    first_answer = json.loads(route.calls[0].request.content)
    resumed = run(runner)
    assert (resumed.jobs_done, resumed.left_over) == (1, 0)
    assert [c.purpose for c in calls(runner)] == ["generate", "reask"]
    reask = json.loads(route.calls[1].request.content)["messages"]
    assert reask[: len(first_answer["messages"])] == first_answer["messages"]  # the same conversation, continued
    assert reask[len(first_answer["messages"])]["role"] == "assistant" and "Buy now" in reask[-2]["content"]
    assert "Some of your candidates failed our checks" in reask[-1]["content"]


@respx.mock
def test_under_a_budget_jobs_are_finished_before_new_ones_start(runner: Runner) -> None:
    order = []

    def answer(request: httpx.Request) -> httpx.Response:
        text = request.content.decode()
        order.append(
            ("startup" if "segment: startup" in text else "enterprise", "reask" if "Some of" in text else "first")
        )
        return completion([GOOD] if "Some of" in text else [GOOD, PUSHY])

    respx.post(URL).mock(side_effect=answer)
    cohorts = [COHORT, COHORT.replace("startup", "enterprise")]
    summary = run(runner, cohorts=cohorts, concurrency=1, budget_usd=1.0)
    assert summary.jobs_done == 2
    one, other = order[0][0], order[2][0]  # the plan's order
    assert one != other and order == [(one, "first"), (one, "reask"), (other, "first"), (other, "reask")]


def test_the_redo_command_repeats_the_runs_filters() -> None:
    options = RunOptions(
        modules=["cta"], locales=["en"], cohorts=["segment=startup;behaviour=*;locale=en"], budget_usd=0.5
    )
    assert options.command(retry_failed=True) == (
        "variantly generate --module cta --locale en --cohort 'segment=startup;behaviour=*;locale=en' "
        "--budget-usd 0.5 --retry-failed"
    )
    assert RunOptions().command() == "variantly generate"


def test_language_check_uses_lingua_on_short_copy() -> None:
    from variantly.workspace.copy_checks import detect_language

    assert detect_language("Boka en demo", ("en", "sv")) == "sv"
    assert detect_language("Book a demo", ("en", "sv")) == "en"
    assert detect_language("Fika Labs", ("en", "sv")) is None  # a name: too short to tell
    assert (REPO / "guardrails" / "policy.yml").read_text().count("languages: [en, sv]") == 1


@respx.mock
def test_plan_gives_a_cost_range_with_reasks_from_this_workspaces_history(runner: Runner) -> None:
    options = RunOptions(modules=["cta"], locales=["sv"], candidates=2)
    fresh = runner.plan(options)
    assert fresh.reasks_per_job == runner.settings.max_reasks and "no history yet" in fresh.reask_basis
    assert fresh.cost_with_reasks_usd > fresh.cost_usd > 0
    # history: every job needed exactly one re-ask
    respx.post(URL).mock(
        side_effect=lambda request: completion([GOOD, PUSHY] if "Some of" not in request.content.decode() else [GOOD])
    )
    run(runner, cohorts=None, locales=["en"])  # the English jobs, each re-asked once
    learned = runner.plan(options)
    assert (
        learned.reasks_per_job == 1.0
        and f"from {CTA_JOBS_PER_LOCALE} earlier jobs: 1.00 re-asks per job" in learned.reask_basis
    )
    assert learned.cost_usd < learned.cost_with_reasks_usd < fresh.cost_with_reasks_usd


@respx.mock
def test_cached_prompt_tokens_are_recorded_and_billed_at_the_cached_price(runner: Runner) -> None:
    answer = completion([GOOD, GOOD], usage=(1000, 100))
    body = json.loads(answer.content)
    body["usage"]["prompt_tokens_details"] = {"cached_tokens": 800}
    respx.post(URL).mock(return_value=httpx.Response(200, json=body))
    summary = run(runner)
    assert (summary.prompt_tokens, summary.cached_tokens) == (1000, 800)
    price = runner.settings.prices["gpt-4o-mini"]
    expected = (200 * price.input_per_million + 800 * price.cached_input_per_million + 100 * 0.60) / 1_000_000
    assert abs(summary.cost_usd - expected) < 1e-12
    assert calls(runner)[0].cached_tokens == 800


@respx.mock
def test_many_jobs_failing_for_one_reason_read_as_one_problem_with_their_cohorts(runner: Runner) -> None:
    from variantly.cli.authoring import console, print_summary

    def answer(request: httpx.Request) -> httpx.Response:
        if b"segment: enterprise" in request.content:
            return completion(content='{"candidates": [{"label": "Sta', finish="length")
        return completion(refusal="I can't help with that.")

    respx.post(URL).mock(side_effect=answer)
    summary = run(runner, cohorts=None, concurrency=4)
    enterprise = [p for p in summary.errors if "segment=enterprise" in p.cohort_key]
    assert len(enterprise) > 3 and {p.status for p in summary.errors} == {"failed"}

    with console.capture() as captured:
        print_summary(summary)
    text = " ".join(captured.get().split())
    assert text.count("cut off at max_completion_tokens") == 1 and text.count("I can't help with that.") == 1
    assert f"{len(enterprise)} failed: the answer was cut off" in text
    assert enterprise[0].cohort_key in text and f"and {len(enterprise) - 3} more" in text


@respx.mock
def test_a_refused_response_format_stops_the_run_at_the_first_call_and_says_what_to_change(runner: Runner) -> None:
    message = "Invalid schema for response_format 'CtaCandidates': 'minLength' is not permitted."
    body = {"error": {"message": message, "type": "invalid_request_error", "param": "response_format", "code": None}}
    route = respx.post(URL).mock(return_value=httpx.Response(400, json=body))
    summary = run(runner, cohorts=None, concurrency=1)
    assert (
        summary.status == "failed" and route.call_count == 1 and summary.jobs_not_started == 2 * CTA_JOBS_PER_LOCALE - 1
    )
    assert f"refused 'response_format' ({message})" in summary.message
    assert "generation.response_format: json_object" in summary.message


@respx.mock
def test_a_400_about_one_jobs_prompt_stops_only_that_job_not_the_run(runner: Runner) -> None:
    body = {"error": {"message": "This prompt was flagged.", "type": "invalid_request_error", "param": "messages"}}
    respx.post(URL).mock(return_value=httpx.Response(400, json=body))
    summary = run(runner, cohorts=None, concurrency=1)
    assert (
        summary.status == "done_with_errors"
        and summary.jobs_unfinished == 2 * CTA_JOBS_PER_LOCALE
        and summary.jobs_not_started == 0
    )


def test_a_cohort_that_a_suppression_rule_holds_for_as_a_whole_is_never_planned(runner: Runner) -> None:
    """Everyone in ``behaviour=open_support_ticket`` gets the support message and everyone in ``recent_purchase``
    the onboarding one, so cta copy for those cohorts would be paid for and reviewed, and never served."""
    plan = runner.plan(RunOptions(modules=["cta"], locales=["en", "sv"]))
    behaviours = {job.cohort.as_dict()["behaviour"] for job in plan.jobs}
    assert len(plan.jobs) == 2 * CTA_JOBS_PER_LOCALE and plan.skipped_suppressed == 16
    assert behaviours == {"*", "pricing_researcher", "dormant_customer"}
    hero = runner.plan(RunOptions(modules=["hero"], locales=["en"]))  # no suppression rule: every cohort
    assert hero.skipped_suppressed == 0 and len(hero.jobs) == 4 * 4 * 5
