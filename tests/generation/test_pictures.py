"""Pictures generated like copy, against the OpenAI-compatible fake (real PNG bytes: plain, with text, flagged by
moderation, blank): planned and priced, paid from the budget, checked, described, kept by content, redone with the
reason, idempotent, and once approved served with a srcset, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import LiveServer, make_app
from fake_openai import create_app as fake_llm
from variantly.authoring.review import approve
from variantly.generation.llm import LLMClient
from variantly.generation.run import Runner, RunOptions
from variantly.store.schema import LLMCallRow, VariantRow

COHORT = "industry=retail;segment=startup;locale=en"
RETAIL_STARTUP = {
    "id": "p-shop",
    "traits": {"industry": "retail", "company_size": 20, "locale": "en"},
    "consent": {"personalisation": True},
}


def runner_for(app, llm: LiveServer, **settings) -> Runner:
    svc = app.state.service
    generation = svc.workspace.settings.generation.model_copy(update={"backoff_seconds": 0.01} | settings)
    return Runner(svc.store, svc.workspace, LLMClient(generation, api_key="sk-local", base_url=f"{llm.url}/v1"))


def run(runner: Runner, **options):
    options = {"modules": ["hero_image"], "cohorts": [COHORT], "candidates": 2} | options
    return asyncio.run(runner.run(RunOptions(**options), actor="test"))


def rows(app) -> list[VariantRow]:
    with app.state.service.store.sessions() as session:
        return list(session.query(VariantRow).filter(VariantRow.module_id == "hero_image").order_by(VariantRow.id))


def calls(app, run_id: str) -> list[LLMCallRow]:
    with app.state.service.store.sessions() as session:
        query = session.query(LLMCallRow).filter(LLMCallRow.run_id == run_id).order_by(LLMCallRow.id)
        return list(query)


def test_a_picture_with_text_is_redone_and_the_approved_picture_is_served_with_a_srcset(
    workspace_dir: Path, database_url: str
) -> None:
    app = make_app(workspace_dir, database_url)
    with LiveServer(fake_llm()) as llm:
        runner = runner_for(app, llm)
        plan = runner.plan(RunOptions(modules=["hero_image"], cohorts=[COHORT], candidates=2))
        price = app.state.service.workspace.settings.images.prices["gpt-image-1-mini"].of("medium", "1536x1024")
        assert (len(plan.jobs), plan.pictures) == (1, 2) and plan.pictures_cost_usd >= 2 * price
        llm.app.state.pictures = ["text", "plain"]  # the first picture has "BUY NOW 50% OFF" in it
        summary = run(runner)
        assert (summary.status, summary.jobs_done, summary.reasks) == ("done", 1, 1)
        made = calls(app, summary.run_id)
        assert [c.purpose for c in made] == ["picture", "describe", "picture", "describe"]
        asked = llm.app.state.picture_requests
        assert [r["n"] for r in asked] == [2, 1] and asked[0]["size"] == "1536x1024"
        assert "No text in the picture" in asked[0]["prompt"] and "retail" in asked[0]["prompt"]
        assert "BUY NOW 50% OFF" in asked[1]["prompt"]  # the redo is told what was wrong
        assert len(llm.app.state.moderation_requests) == 3  # every picture moderated
        # billed as the provider's table says: pictures made x the per-image price, plus the prompt's text tokens
        for call, request in zip([c for c in made if c.purpose == "picture"], asked, strict=True):
            words = len(request["prompt"].split())
            assert call.cost_usd == pytest.approx(request["n"] * price + words * 5.0 / 1e6)
            assert call.model == "gpt-image-1-mini"

        variants = rows(app)
        assert len(variants) == 2 and {v.status for v in variants} == {"pending"}
        redone = next(v for v in variants if v.report.get("attempts"))
        tried = redone.report["attempts"][0]["report"]["slots"]["picture"]
        assert tried[0]["validator"] == "variantly/picture_text"
        assert "where the module allows none: 'BUY NOW 50% OFF'" in tried[0]["message"]
        assert redone.report["picture"]["moderated"] and redone.report["picture"]["text"] == ""
        assert redone.slots["picture"].startswith("image:") and redone.slots["alt"]

        # a second run makes nothing: the job is done
        again = run(runner)
        assert again.llm_calls == 0 and len(llm.app.state.picture_requests) == 2

    svc = app.state.service
    approve(svc.store, redone.id, version=redone.version, actor="rita", workspace=svc.workspace)
    svc.store.publish("rita", "hero picture")
    svc.refresh_release()
    client = TestClient(app)
    page = client.post("/v1/render", json={"layout": "landing", "profile": RETAIL_STARTUP}).json()
    hero = next(d for d in page["decisions"] if d["module"] == "hero_image")
    assert hero["outcome"] == "variant" and hero["variant_id"] == redone.id
    digest = redone.slots["picture"][6:70]
    assert f'srcset="/assets/{digest}-480.webp 480w, /assets/{digest}-960.webp 960w' in page["html"]
    assert 'width="1536" height="1024"' in page["html"]
    webp = client.get(f"/assets/{digest}-480.webp")
    assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
    assert webp.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/assets/{digest}-480.webp", headers={"If-None-Match": webp.headers["etag"]}).status_code == 304
    original = client.get(f"/assets/{digest}.png")
    assert original.status_code == 200 and original.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_flagged_and_a_blank_picture_fail_with_reasons_a_reviewer_understands(workspace_dir, tmp_path) -> None:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        runner = runner_for(app, llm)
        llm.app.state.pictures = ["flagged", "blank"] * 3  # and so are the redone ones
        summary = run(runner)
    assert summary.jobs_failed == 1 and summary.candidates_failed == 2
    said = {v.report["slots"]["picture"][0]["message"] for v in rows(app)}
    assert "the moderation endpoint flagged it: violence" in said
    assert any(m.startswith("is blank or nearly: one colour") for m in said)
    assert {v.status for v in rows(app)} == {"guardrail_failed"}
    with LiveServer(fake_llm()) as llm:  # --retry-failed: made again, told why the last run failed
        again = run(runner_for(app, llm), retry_failed=True)
        assert "an earlier run failed: no picture passed the checks" in llm.app.state.picture_requests[0]["prompt"]
    assert again.jobs_done == 1 and any(v.status == "pending" for v in rows(app))


def test_the_budget_is_reserved_before_a_picture_is_asked_for(workspace_dir, tmp_path) -> None:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        summary = run(runner_for(app, llm), budget_usd=0.02)  # two pictures cost 0.03
        assert llm.app.state.picture_requests == []
    assert summary.status == "stopped_budget" and summary.jobs_not_started == 1 and summary.cost_usd == 0


def test_alt_text_that_says_image_of_fails_like_copy(workspace) -> None:
    from variantly.authoring.policy_checks import BuiltInChecker

    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)
    slots = {"picture": "store_floor", "alt": "Image of a shop worker at a screen", "caption": "One view."}
    failures, _ = checker.slot_failures(workspace, "hero_image", {"industry": "retail", "locale": "en"}, slots)
    assert [f.message for f in failures["alt"]] == ["alt text starts with 'Image of': say what the picture shows"]


def test_with_batch_the_pictures_go_in_their_own_batch_and_are_checked_when_collected(workspace_dir, tmp_path) -> None:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    cta = "segment=startup;behaviour=*;locale=en"
    with LiveServer(fake_llm()) as llm:
        runner = runner_for(app, llm)
        sent = run(runner, modules=["hero_image", "cta"], cohorts=[COHORT, cta], batch="submit")
        assert sent.jobs_in_batch == 2 and sent.llm_calls == 0 and len(llm.app.state.batches) == 2
        endpoints = sorted(line.split('"url": "')[1].split('"')[0] for content in llm.app.state.files.values()
                           for line in content.decode().splitlines())  # fmt: skip
        assert endpoints == ["/v1/chat/completions", "/v1/images/generations"]
        assert llm.app.state.picture_requests == []  # nothing made until the provider runs the batch
        llm.app.state.pictures = ["text", "plain"]
        waiting = run(runner, modules=["hero_image", "cta"], cohorts=[COHORT, cta], batch="collect")
        assert waiting.batches_waiting == 2  # the fake's batches read in_progress once
        collected = run(runner, modules=["hero_image", "cta"], cohorts=[COHORT, cta], batch="collect")
        assert collected.jobs_done == 2 and collected.reasks == 1
        assert [r["n"] for r in llm.app.state.picture_requests] == [2, 1]  # the batch's two, then one redone live
    made = calls(app, collected.run_id)
    price = app.state.service.workspace.settings.images.prices["gpt-image-1-mini"].of("medium", "1536x1024")
    batched = next(c for c in made if c.purpose == "batch" and c.model == "gpt-image-1-mini")
    live = next(c for c in made if c.purpose == "picture")
    assert batched.cost_usd == pytest.approx((2 * price + batched.prompt_tokens * 5.0 / 1e6) / 2)  # half price
    assert live.cost_usd == pytest.approx(price + live.prompt_tokens * 5.0 / 1e6)
    assert {v.status for v in rows(app)} == {"pending"} and len(rows(app)) == 2


def test_reference_images_go_through_images_edit_and_feedback_reaches_the_next_picture(workspace_dir, tmp_path) -> None:
    from variantly.authoring.review import reject

    module = workspace_dir / "modules" / "hero_image.jinja"
    module.write_text(
        module.read_text().replace("widths: [480, 960]", "widths: [480, 960]\n      references: [team_dashboard.png]")
    )
    assets = workspace_dir / "modules" / "assets"
    (assets / "team_dashboard.png").write_bytes((workspace_dir / "examples" / "pictures" / "retail.png").read_bytes())
    module.write_text(module.read_text().replace("/assets/team_dashboard.svg", "/assets/team_dashboard.png"))
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        runner = runner_for(app, llm)
        first = run(runner)
        assert first.jobs_done == 1 and llm.app.state.picture_requests[0]["references"] == 1  # multipart: an edit
        assert "Show the product exactly as in the reference images" in llm.app.state.picture_requests[0]["prompt"]
        one = rows(app)[0]
        reject(app.state.service.store, one.id, version=one.version, actor="rita",
               reason="Show a shop counter, not an office", regenerate=True)  # fmt: skip
        again = run(runner)
        assert again.jobs_done == 1
        assert "Show a shop counter, not an office" in llm.app.state.picture_requests[-1]["prompt"]


def test_a_new_picture_style_makes_the_pictures_made_before_stale(workspace_dir, tmp_path) -> None:
    from variantly.authoring.staleness import mark_stale
    from variantly.workspace import load_workspace

    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        assert run(runner_for(app, llm)).jobs_done == 1
    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text() + "\nimages:\n  style: {palette: warm earth tones}\n")
    changed = load_workspace(workspace_dir)
    assert mark_stale(app.state.service.store, changed, None, actor="test") == 2
    assert {v.status for v in rows(app)} == {"stale"}
    with app.state.service.store.sessions() as session:
        from variantly.store.schema import AuditEntry

        reasons = {e.reason for e in session.query(AuditEntry).filter(AuditEntry.action == "stale")}
    assert reasons == {"the image model or the brand's picture style (images: in variantly.yml) changed"}


def test_text_a_module_allows_in_its_pictures_goes_through_the_copy_policy_and_brand(workspace_dir, tmp_path) -> None:
    module = workspace_dir / "modules" / "hero_image.jinja"
    module.write_text(module.read_text().replace("widths: [480, 960]", "widths: [480, 960]\n      allow_text: true"))
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        llm.app.state.pictures = ["text", "plain"]
        summary = run(runner_for(app, llm))
        assert "Text may appear in the picture only where it belongs" in llm.app.state.picture_requests[0]["prompt"]
    assert summary.reasks == 1
    redone = next(v for v in rows(app) if v.report.get("attempts"))
    said = [f["message"] for f in redone.report["attempts"][0]["report"]["slots"]["picture"]]
    assert "text in the picture 'BUY NOW 50% OFF': banned phrase 'buy now'" in said
    assert any(m.startswith("text in the picture 'BUY NOW 50% OFF': brand guideline") for m in said)


def test_alt_text_that_fails_is_asked_again_with_the_picture_in_view_and_no_new_picture(
    workspace_dir, tmp_path
) -> None:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        llm.app.state.slot_texts = {"alt": ["Image of a shop worker at a screen"]}
        summary = run(runner_for(app, llm))
        asked_again = llm.app.state.requests[-1]["messages"][-1]["content"]
        assert len(llm.app.state.picture_requests) == 1  # the pictures passed: none made again
    assert (summary.jobs_done, summary.reasks) == (1, 1)
    assert [c.purpose for c in calls(app, summary.run_id)] == ["picture", "describe", "describe"]
    said = " ".join(p["text"] for p in asked_again if p["type"] == "text")
    assert "the words written for it before were refused: alt: alt text starts with 'Image of'" in said
    assert sum(p["type"] == "image_url" for p in asked_again) == 1  # the one picture, shown again
    fixed = next(v for v in rows(app) if v.report.get("attempts"))
    assert fixed.status == "pending" and not fixed.slots["alt"].startswith("Image of")
    assert fixed.slots["picture"] == fixed.report["attempts"][0]["slots"]["picture"]  # the same picture


def test_in_one_redo_a_bad_picture_is_drawn_again_and_bad_words_alone_are_rewritten(workspace_dir, tmp_path) -> None:
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        llm.app.state.pictures = ["text", "plain", "plain"]  # the first picture fails for its text
        llm.app.state.slot_texts = {"alt": ["A shop worker beside one screen", "Image of a shop worker"]}
        summary = run(runner_for(app, llm))
        assert [r["n"] for r in llm.app.state.picture_requests] == [2, 1]  # only the bad picture is drawn again
    assert (summary.jobs_done, summary.reasks, summary.candidates_passed) == (1, 1, 2)
    assert [c.purpose for c in calls(app, summary.run_id)] == ["picture", "describe", "picture", "describe", "describe"]
    tried = {v.slots["picture"] == v.report["attempts"][0]["slots"]["picture"] for v in rows(app)}
    assert tried == {True, False}  # one kept its picture (new words), one got a new picture


def test_an_image_model_without_a_price_is_named_by_plan_and_refused_under_a_budget(workspace_dir, tmp_path) -> None:
    from variantly.errors import ConfigurationError

    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text() + "\nimages:\n  model: dall-e-4\n")
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        runner = runner_for(app, llm)
        assert runner.plan(RunOptions(modules=["hero_image"], cohorts=[COHORT])).unpriced_pictures == "dall-e-4"
        with pytest.raises(ConfigurationError, match="per-image price of model dall-e-4"):
            run(runner, budget_usd=1.0)
        assert llm.app.state.picture_requests == []


def test_a_picture_not_approved_yet_is_shown_to_reviewers_only(workspace_dir, tmp_path) -> None:
    from variantly.auth import create_account

    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        run(runner_for(app, llm))
    svc = app.state.service
    pending = rows(app)[0]
    name = pending.slots["picture"][6:70] + "-480.webp"
    client = TestClient(app)
    assert client.get(f"/assets/{name}").status_code == 404  # anonymous: no hint that it exists
    renderer = {"Authorization": f"Bearer {create_account(svc.store, 'site', 'renderer')}"}
    assert client.get(f"/assets/{name}", headers=renderer).status_code == 404
    reviewer = {"Authorization": f"Bearer {create_account(svc.store, 'rita', 'reviewer')}"}
    svc.refresh_accounts()
    seen = client.get(f"/assets/{name}", headers=reviewer)
    assert seen.status_code == 200 and seen.headers["cache-control"] == "private, max-age=31536000, immutable"
    approve(svc.store, pending.id, version=pending.version, actor="rita", workspace=svc.workspace)
    svc.refresh_release()
    public = client.get(f"/assets/{name}")
    assert public.status_code == 200 and public.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_where_ocr_cannot_run_a_picture_fails_until_a_person_looks_and_the_run_goes_on(
    workspace_dir, tmp_path, monkeypatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "rapidocr_onnxruntime", None)  # as if the package (or libGL) were missing
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'p.db'}")
    with LiveServer(fake_llm()) as llm:
        summary = run(runner_for(app, llm))
    assert summary.status == "done_with_errors" and summary.jobs_failed == 1
    said = {f["message"] for v in rows(app) for f in v.report["slots"]["picture"]}
    assert any(m.startswith("the text in it could not be read here (ModuleNotFoundError") for m in said), said
    assert all(not v.report["picture"]["text_read"] for v in rows(app))
