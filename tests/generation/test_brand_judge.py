"""The brand judge at the wire (respx): one call a variant, verdicts kept and believed only when the copy bears them
out, nothing lost when the judge fails, the budget never passed, unchanged copy never judged twice."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import respx
from test_generation import completion

from conftest import add_cta
from variantly.authoring.brand_score import rescore, stored_score
from variantly.generation.budget import Budget
from variantly.generation.judge import judge_variants, unjudged
from variantly.generation.llm import LLMClient
from variantly.generation.run import RunOptions
from variantly.store import Store
from variantly.store.schema import LLMCallRow, VariantRow
from variantly.store.variants import get_variant

BASE = "https://llm.test/v1"
URL = f"{BASE}/chat/completions"
NOTE = "Our team of young digital natives sets it up in a day."
CTA = {"label": "Book a demo", "note": NOTE}
ASKED = {"specific_not_hype", "cta_starts_with_a_verb", "ethics_gender", "ethics_age", "ethics_ethnicity",
         "ethics_disability", "ethics_religion"}  # fmt: skip


def answer(verdicts: list[dict] | None = None, *, content: str | None = None, refusal: str | None = None):
    """A chat completion carrying a judge's verdicts (the generation tests' ``completion``, other content)."""
    body = content if content is not None else json.dumps({"verdicts": verdicts or []})
    return completion(content=body, refusal=refusal, usage=(400, 90))


def all_follow(**instead: dict) -> list[dict]:
    return [{"guideline": g, "follows": True, "reason": "fine"} | instead.get(g, {}) for g in sorted(ASKED)]


@pytest.fixture
def setup(workspace, tmp_path: Path):
    settings = workspace.settings.generation.model_copy(update={"backoff_seconds": 0.01, "max_attempts": 2})
    store = Store(f"sqlite:///{tmp_path / 'judge.db'}")
    add_cta(store, "v-young", CTA)
    rescore(store, workspace)
    yield store, workspace, LLMClient(settings, api_key="sk-test", base_url=BASE)
    store.dispose()


def judge(setup, budget: float | None = None):
    store, workspace, llm = setup
    return asyncio.run(judge_variants(store, workspace, llm, unjudged(store, "pending"), budget=Budget(budget)))


def guideline(store, ident: str):
    return next(g for g in stored_score(get_variant(store, "v-young")).guidelines if g.id == ident)


@respx.mock
def test_a_judged_failure_quoting_the_copy_is_kept_with_its_span_and_decides_the_band(setup) -> None:
    store = setup[0]
    age = {"follows": False, "reason": "assumes the team is young", "quote": "young digital natives",
           "rewrite": "Our team sets it up in a day."}  # fmt: skip
    route = respx.post(URL).mock(return_value=answer(all_follow(ethics_age=age)))
    run = judge(setup)
    assert (run.judged, run.calls, route.call_count) == (1, 1, 1)  # every question of the copy in one call
    asked = json.loads(route.calls[0].request.content)["messages"][-1]["content"]
    assert all(f"- {g}:" in asked for g in ASKED)
    verdict = guideline(store, "ethics_age")
    assert verdict.status == "failed" and verdict.findings[0].excerpt == "young digital natives"
    assert NOTE[slice(*verdict.findings[0].span)] == "young digital natives"
    assert get_variant(store, "v-young").brand_risk == "high"  # a high-severity judged guideline failed
    assert guideline(store, "specific_not_hype").status == "passed"


@respx.mock
def test_a_judgement_citing_words_not_in_the_copy_is_dropped_and_counted(setup) -> None:
    store = setup[0]
    invented = {"follows": False, "reason": "ageist", "quote": "only for millennials"}
    respx.post(URL).mock(return_value=answer(all_follow(ethics_age=invented)))
    run = judge(setup)
    assert run.unsupported == 1 and guideline(store, "ethics_age").status == "not_checked"
    assert stored_score(get_variant(store, "v-young")).unsupported == 1
    assert get_variant(store, "v-young").brand_risk == "low"


@pytest.mark.parametrize(
    "failure",
    [
        answer(refusal="I can't help with that"),
        answer(content='{"verdicts": [{"guideline": 3'),
        httpx.ConnectTimeout("timed out"),
    ],
    ids=["a refusal", "a malformed answer", "a timeout"],
)
@respx.mock
def test_a_failing_judge_leaves_the_guidelines_not_checked_and_loses_nothing(setup, failure) -> None:
    store = setup[0]
    before = get_variant(store, "v-young")
    respx.post(URL).mock(side_effect=failure) if isinstance(failure, Exception) else respx.post(URL).mock(
        return_value=failure
    )
    run = judge(setup)
    assert run.judged == 0 and len(run.failed) == 1 and run.failed[0].startswith("v-young: ")
    after = get_variant(store, "v-young")
    assert after.status == before.status == "pending" and after.slots == CTA
    assert guideline(store, "ethics_age").status == "not_checked"
    with store.sessions() as session:
        recorded = list(session.query(LLMCallRow).filter(LLMCallRow.purpose == "judge"))
    assert recorded and all(r.job_key == "v-young" for r in recorded)  # every attempt recorded, paid or not


@respx.mock
def test_unchanged_copy_is_never_judged_twice_and_an_edit_is_judged_again(setup) -> None:
    store, workspace, _ = setup
    route = respx.post(URL).mock(return_value=answer(all_follow()))
    judge(setup)
    again = judge(setup)
    assert route.call_count == 1 and again.cached == 1
    rescore(store, workspace, ["v-young"])  # scored again (a brand.yml edit does this): the verdicts stay
    assert guideline(store, "ethics_age").status == "passed"
    with store.sessions() as session:
        session.get(VariantRow, "v-young").slots = {"label": "Book a demo", "note": "Set up in a day."}
        session.commit()
    rescore(store, workspace, ["v-young"])
    assert guideline(store, "ethics_age").status == "not_checked"  # other copy: judged again, not assumed
    judge(setup)
    assert route.call_count == 2


@respx.mock
def test_the_budget_is_reserved_before_the_call_and_never_passed(setup) -> None:
    route = respx.post(URL).mock(return_value=answer(all_follow()))
    run = judge(setup, budget=0.0000001)
    assert run.budget_reached and route.call_count == 0 and run.cost_usd == 0


def test_brand_judge_from_the_command_line_against_a_local_server(workspace_dir: Path, tmp_path: Path) -> None:
    """As a user runs it: the example variants plus one saying "young", judged by an OpenAI-compatible server."""
    import os
    import subprocess
    import sys

    from conftest import LiveServer, approve_examples, make_app
    from fake_openai import create_app

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app = make_app(workspace_dir, url)
    approve_examples(app.state.service)
    store = app.state.service.store
    add_cta(store, "v-young", CTA)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_", "VARIANTLY_"))}
    with LiveServer(create_app()) as llm:
        command = [sys.executable, "-m", "variantly", "brand", "judge", "-w", str(workspace_dir),
                   "--database-url", url, "--budget-usd", "1"]  # fmt: skip
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=300,
            env=env | {"OPENAI_BASE_URL": f"{llm.url}/v1", "OPENAI_API_KEY": "sk-local"},
        )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    said = " ".join(out.stdout.split())
    assert said.startswith("judged 1 variant(s)") and "in 1 call(s)" in said  # only the pending one
    young = get_variant(store, "v-young")
    assert young.brand_risk == "high" and any(
        g.id == "ethics_age" and g.status == "failed" and g.findings[0].excerpt == "young"
        for g in stored_score(young).guidelines
    )


@respx.mock
def test_a_jobs_candidates_are_judged_in_one_call_each_verdict_on_its_own_copy(setup) -> None:
    store, workspace, _ = setup
    for n, note in ((2, "Set up by our team in a day."), (3, "Ready in a day, with your data.")):
        add_cta(store, f"v-{n}", {"label": "Book a demo", "note": note})
    rescore(store, workspace)
    ids = [r.id for r in unjudged(store, "pending")]
    age = {"follows": False, "reason": "assumes an age", "quote": "young digital natives"}
    verdicts = [v | {"copy_number": ids.index("v-young") + 1} for v in all_follow(ethics_age=age)]
    verdicts += [v | {"copy_number": n} for n in (1, 2, 3) if n != ids.index("v-young") + 1 for v in all_follow()]
    route = respx.post(URL).mock(return_value=answer(verdicts))
    run = judge(setup)
    assert route.call_count == 1 and run.judged == 3  # one call for the job's three candidates
    asked = json.loads(route.calls[0].request.content)["messages"][-1]["content"]
    assert all(f"Copy {n}:" in asked for n in (1, 2, 3))
    risks = {i: get_variant(store, i).brand_risk for i in ids}
    assert risks == {"v-young": "high", "v-2": "low", "v-3": "low"}


def test_calibrate_with_the_judge_measures_the_judged_guidelines_too(workspace_dir: Path, tmp_path: Path) -> None:
    """The plumbing, with the fake server as the judge (it passes everything but a copy saying "young"): the
    judged guidelines the labelled set names get agreement figures instead of "no judge yet"."""
    import os
    import subprocess
    import sys

    from conftest import REPO, LiveServer
    from fake_openai import create_app

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OTEL_", "VARIANTLY_"))}
    labelled = REPO / "examples" / "brand_labelled.jsonl"
    with LiveServer(create_app()) as llm:
        command = [sys.executable, "-m", "variantly", "brand", "calibrate", str(labelled), "--judge",
                   "-w", str(workspace_dir), "--database-url", f"sqlite:///{tmp_path / 'c.db'}"]  # fmt: skip
        out = subprocess.run(
            command, capture_output=True, text=True, timeout=300,
            env=env | {"OPENAI_BASE_URL": f"{llm.url}/v1", "OPENAI_API_KEY": "sk-local", "COLUMNS": "200"},
        )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "judged 65 of 65 labelled copies" in out.stdout
    written = json.loads((workspace_dir / "guardrails" / "brand_calibration.json").read_text())
    figures = {a["guideline"]: a for a in written["agreements"]}
    labels = [json.loads(line)["labels"] for line in labelled.read_text().splitlines()]
    for judged in ("specific_not_hype", "cta_starts_with_a_verb"):
        assert figures[judged]["checked"] and figures[judged]["n"] == sum(judged in line for line in labels)


@respx.mock
def test_check_again_in_the_ui_asks_the_judge_and_says_what_it_found(workspace_dir: Path, tmp_path: Path) -> None:
    import re

    from fastapi.testclient import TestClient

    from conftest import make_app
    from variantly.auth import create_account

    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'ui.db'}", openai_base_url=BASE, openai_api_key="sk-test")
    svc = app.state.service
    add_cta(svc.store, "v-young", CTA)
    rescore(svc.store, svc.workspace)
    create_account(svc.store, "rita", "reviewer", password="pw-for-rita", token=False)
    age = {"follows": False, "reason": "assumes the team is young", "quote": "young digital natives"}
    route = respx.post(URL).mock(return_value=answer(all_follow(ethics_age=age)))
    respx.route(host="testserver").pass_through()
    with TestClient(app) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
        client.post("/ui/login", data={"csrf": csrf, "name": "rita", "password": "pw-for-rita"})
        page = client.get("/ui/variants/v-young").text
        assert 'id="judge-again"' in page and "not checked" in page
        csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
        said = client.post("/ui/variants/v-young/judge", data={"csrf": csrf, "version": "1"})
        assert "judged again in 1 call(s)" in said.text and route.call_count == 1
        assert "<mark>young digital natives</mark>" in said.text
        again = client.post("/ui/variants/v-young/judge", data={"csrf": csrf, "version": "1"})
        assert "already judged for this copy" in again.text and route.call_count == 1


@respx.mock
def test_generate_with_judge_judges_the_new_candidates_in_one_call_from_the_same_budget(workspace, tmp_path) -> None:
    """A run with --judge: the job's two candidates, then one judge call for both, costs and calls in the run."""
    from test_generation import GOOD, run, wire_runner

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["response_format"]["json_schema"]["name"] == "Verdicts":
            return answer([v | {"copy_number": n} for n in (1, 2) for v in all_follow()])
        return completion([GOOD, GOOD | {"label": "Try Lumen"}])

    route = respx.post(URL).mock(side_effect=respond)
    runner = next(wire_runner(workspace, tmp_path))
    summary = run(runner, judge=True)
    assert (summary.status, summary.jobs_done, summary.judged) == ("done", 1, 2)
    assert route.call_count == 2 and summary.llm_calls == 2  # one generation call, one judge call
    with runner.store.sessions() as session:
        purposes = sorted(r.purpose for r in session.query(LLMCallRow).filter(LLMCallRow.run_id == summary.run_id))
        rows = list(session.query(VariantRow))
    assert purposes == ["generate", "judge"]
    assert all(
        g.status == "passed" for r in rows for g in stored_score(r).guidelines if g.judged
    )  # judged, not "not checked"
    assert "--judge" in RunOptions(modules=["cta"], judge=True).command()


def judging_server(answers):
    """Generation answers from ``answers`` in turn; the judge's verdicts as the fake server gives them (every
    guideline followed, except that copy saying "young" fails ethics_age quoting the word)."""
    from fake_openai import verdicts_for

    answers = iter(answers)

    def respond(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["response_format"]["json_schema"]["name"] == "Verdicts":
            return answer(verdicts_for(body["messages"][-1]["content"]))
        return next(answers)

    return respx.post(URL).mock(side_effect=respond)


def purposes(store: Store, run_id: str) -> list[str]:
    with store.sessions() as session:
        return [
            r.purpose for r in session.query(LLMCallRow).filter(LLMCallRow.run_id == run_id).order_by(LLMCallRow.id)
        ]


@respx.mock
def test_a_candidate_failing_a_judged_guideline_is_reasked_with_the_reason_and_judged_again(
    workspace, tmp_path
) -> None:
    from test_generation import GOOD, run, wire_runner

    route = judging_server([completion([GOOD, GOOD | {"note": NOTE}]), completion([GOOD | {"label": "Try Lumen"}])])
    runner = next(wire_runner(workspace, tmp_path))
    summary = run(runner, judge=True)
    assert (summary.jobs_done, summary.reasks, summary.judged) == (1, 1, 3)  # two candidates, then the re-asked one
    assert purposes(runner.store, summary.run_id) == ["generate", "judge", "reask", "judge"]
    reask = json.loads(route.calls[2].request.content)["messages"][-1]["content"]
    assert "brand guideline ethics_age" in reask and "'young': assumes an age" in reask
    with runner.store.sessions() as session:
        rows = {r.slots["label"]: r for r in session.query(VariantRow)}
    fixed = rows["Try Lumen"]
    assert fixed.status == "pending" and fixed.report["attempts"][0]["slots"]["note"] == NOTE
    assert "ethics_age" in fixed.report["attempts"][0]["brand"][0]
    assert all(g.status == "passed" for g in stored_score(fixed).guidelines if g.judged)  # judged in the job, kept


@respx.mock
def test_a_candidate_still_failing_the_judge_after_the_reasks_is_kept_with_its_score_saying_why(
    workspace, tmp_path
) -> None:
    from test_generation import GOOD, run, wire_runner

    young = GOOD | {"note": NOTE}
    judging_server([completion([GOOD, young]), completion([young]), completion([young])])
    runner = next(wire_runner(workspace, tmp_path))
    summary = run(runner, judge=True)
    assert (summary.status, summary.jobs_done, summary.reasks) == ("done", 1, 2)
    assert purposes(runner.store, summary.run_id) == ["generate", "judge", "reask", "judge", "reask", "judge"]
    with runner.store.sessions() as session:
        kept = next(r for r in session.query(VariantRow) if r.slots["note"] == NOTE)
    assert kept.status == "pending" and kept.brand_risk == "high"  # passes the policy: a person decides
    assert len(kept.report["attempts"]) == 2
    age = next(g for g in stored_score(kept).guidelines if g.id == "ethics_age")
    assert age.status == "failed" and age.findings[0].excerpt == "young"


@respx.mock
def test_a_judge_refusing_in_the_job_keeps_the_candidates_not_checked_and_asks_once(workspace, tmp_path) -> None:
    from test_generation import GOOD, run, wire_runner

    def respond(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["response_format"]["json_schema"]["name"] == "Verdicts":
            return answer(refusal="I can't help with that.")
        return completion([GOOD, GOOD | {"label": "Try Lumen"}])

    respx.post(URL).mock(side_effect=respond)
    runner = next(wire_runner(workspace, tmp_path))
    summary = run(runner, judge=True)
    assert (summary.status, summary.jobs_done, summary.judged, summary.judge_failed) == ("done", 1, 0, 2)
    assert purposes(runner.store, summary.run_id) == ["generate", "judge"]  # not asked again after the run
    with runner.store.sessions() as session:
        rows = list(session.query(VariantRow))
    assert len(rows) == 2 and all(r.status == "pending" for r in rows)
    assert all(g.status == "not_checked" for r in rows for g in stored_score(r).guidelines if g.judged)


@respx.mock
def test_plan_with_judge_prices_the_judge_calls_the_run_then_makes(workspace, tmp_path) -> None:
    from test_generation import COHORT, GOOD, run, wire_runner

    from variantly.generation.judge import judge_estimate
    from variantly.generation.prompts import count_tokens

    route = judging_server([completion([GOOD, GOOD | {"label": "Try Lumen"}])])
    runner = next(wire_runner(workspace, tmp_path))
    options = {"modules": ["cta"], "cohorts": [COHORT], "candidates": 2}
    bare, judged = runner.plan(RunOptions(**options)), runner.plan(RunOptions(**options, judge=True))
    assert judged.judge_calls == len(judged.jobs) == 1 and bare.judge_calls == 0
    assert judged.judge_cost_usd > 0 and judged.cost_usd == pytest.approx(bare.cost_usd + judged.judge_cost_usd)
    summary = run(runner, judge=True)
    assert purposes(runner.store, summary.run_id).count("judge") == judged.judge_calls
    # the estimate of the judge's prompt against the tokenizer's count of the prompt it sent
    job = judged.jobs[0]
    _, (estimated, _) = judge_estimate(workspace, workspace.modules["cta"].module, "en", job.completion_tokens, 2)
    sent = json.loads(route.calls[1].request.content)["messages"]
    actual = count_tokens(sent, workspace.settings.generation.tokenizer)
    assert 0.7 < estimated / actual < 1.5


@respx.mock
def test_collected_batch_answers_are_judged_live_with_judge(workspace, tmp_path) -> None:
    from test_batch import BATCH_ID, ENGLISH_CTA, answer_line, batch_body, jsonl, submit
    from test_generation import GOOD, run, wire_runner

    runner = next(wire_runner(workspace, tmp_path))
    uploaded, _ = submit(runner)
    respx.get(f"{BASE}/batches/{BATCH_ID}").mock(
        return_value=httpx.Response(200, json=batch_body("completed", output="file-out", total=ENGLISH_CTA))
    )
    lines = [answer_line(line["custom_id"], [GOOD, GOOD | {"label": "Try Lumen"}]) for line in uploaded]
    respx.get(f"{BASE}/files/file-out/content").mock(return_value=jsonl(lines))
    judging_server([])
    summary = run(runner, cohorts=None, locales=["en"], batch="collect", judge=True)
    assert (summary.jobs_done, summary.judged) == (ENGLISH_CTA, 2 * ENGLISH_CTA)
    assert purposes(runner.store, summary.run_id).count("judge") == ENGLISH_CTA  # one live call a job
    with runner.store.sessions() as session:
        rows = list(session.query(VariantRow))
    assert all(g.status == "passed" for r in rows for g in stored_score(r).guidelines if g.judged)


@respx.mock
def test_two_judges_at_once_ask_about_each_copy_once(setup) -> None:
    """Two `generate --judge` at once each listed the same pending copy and each paid to judge it."""
    store, workspace, llm = setup

    async def slow(request):
        await asyncio.sleep(0.05)  # the judge takes a while: the second lists the copy before the first has saved
        return answer(all_follow())

    route = respx.post(URL).mock(side_effect=slow)

    async def both():
        listed = [unjudged(store, "pending"), unjudged(store, "pending")]
        return await asyncio.gather(
            *(judge_variants(store, workspace, llm, rows, budget=Budget(None)) for rows in listed)
        )

    first, second = asyncio.run(both())
    assert route.call_count == 1 and first.judged + second.judged == 1
    assert guideline(store, "ethics_age").status == "passed"
    later = judge(setup)  # and once the first let go, a judge listing it again finds it judged
    assert (later.judged, later.cached) == (0, 1)
