"""Humans decide what is served: the approval queue over HTTP, its rules and its audit trail."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from conftest import LiveServer, make_app
from variantly.auth import create_account
from variantly.authoring.constraints import check_constraints
from variantly.authoring.importing import import_variants
from variantly.store.variants import history

DORMANT_EN = {
    "id": "p-dormant",
    "traits": {"is_customer": True, "locale": "en"},
    "consent": {"personalisation": True, "marketing_email": True},
}


@pytest.fixture
def app(workspace_dir: Path, database_url: str):
    app = make_app(workspace_dir, database_url, poll_seconds=0.2)
    svc = app.state.service
    import_variants(
        svc.store, svc.workspace, workspace_dir / "examples" / "variants.jsonl", actor="agency", check=check_constraints
    )
    return app


@pytest.fixture
def tokens(app) -> dict[str, str]:
    store = app.state.service.store
    return {
        name: create_account(store, name, role)
        for name, role in (("pages", "renderer"), ("rita", "reviewer"), ("sam", "reviewer"), ("ops", "admin"))
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def pulled_within(client: TestClient, token: str, ident: str, seconds: float = 30) -> dict:
    """The variant once a re-check in the background has moved it from approved (failing after ``seconds``)."""
    deadline = time.monotonic() + seconds
    while (detail := client.get(f"/v1/variants/{ident}", headers=auth(token)).json())["status"] == "approved":
        assert time.monotonic() < deadline, f"{ident} still approved {seconds} s later"
        time.sleep(0.1)
    return detail


def first(client: TestClient, token: str, **filters) -> dict:
    return client.get("/v1/variants", params=filters, headers=auth(token)).json()["items"][0]


def test_queue_lists_filters_and_counts(app, tokens) -> None:
    with TestClient(app) as client:
        page = client.get("/v1/variants", params={"module": "cta", "locale": "sv"}, headers=auth(tokens["rita"])).json()
    assert page["total"] == 4 and {v["module"] for v in page["items"]} == {"cta"}
    assert page["counts"]["pending"] == 4 and page["counts"]["approved"] == 0


def test_unauthenticated_gets_401_and_renderer_cannot_approve(app, tokens) -> None:
    with TestClient(app) as client:
        assert client.get("/v1/variants").status_code == 401
        variant = first(client, tokens["rita"], module="cta")
        response = client.post(
            f"/v1/variants/{variant['id']}/approve", json={"version": 1}, headers=auth(tokens["pages"])
        )
    assert response.status_code == 403 and "needs the reviewer role" in response.json()["error"]["message"]


def test_two_reviewers_at_once_exactly_one_wins(app, tokens) -> None:
    with LiveServer(app) as server:
        variant = httpx.get(
            f"{server.url}/v1/variants", params={"module": "hero"}, headers=auth(tokens["rita"])
        ).json()["items"][0]
        barrier = threading.Barrier(2)
        statuses: list[int] = []

        def act(who: str, action: str, body: dict) -> None:
            barrier.wait()
            response = httpx.post(
                f"{server.url}/v1/variants/{variant['id']}/{action}", json=body, headers=auth(tokens[who]), timeout=30
            )
            statuses.append(response.status_code)

        threads = [
            threading.Thread(target=act, args=("rita", "approve", {"version": 1})),
            threading.Thread(target=act, args=("sam", "reject", {"version": 1, "reason": "off brand"})),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert sorted(statuses) == [200, 409]
    decisions = [e for e in history(app.state.service.store, variant["id"]) if e.action != "create"]
    assert len(decisions) == 1


def test_reject_needs_a_reason_and_edit_is_revalidated(app, tokens) -> None:
    with TestClient(app) as client:
        variant = first(client, tokens["rita"], module="cta", locale="en")
        no_reason = client.post(
            f"/v1/variants/{variant['id']}/reject", json={"version": 1, "reason": ""}, headers=auth(tokens["rita"])
        )
        assert no_reason.status_code == 422 and "reason" in no_reason.text
        edited = client.post(
            f"/v1/variants/{variant['id']}/edit",
            json={"version": 1, "slots": {"label": "Buy now, only today"}},
            headers=auth(tokens["rita"]),
        )
        assert edited.status_code == 200
        body = edited.json()
        assert body["status"] == "guardrail_failed" and body["version"] == 2
        assert "banned phrase 'buy now'" in body["report"]["summary"]
        detail = client.get(f"/v1/variants/{variant['id']}", headers=auth(tokens["rita"])).json()
    edit = detail["history"][-1]
    assert (edit["actor"], edit["action"], edit["before"]["slots"]["label"], edit["after"]["slots"]["label"]) == (
        "rita",
        "edit",
        variant["slots"]["label"],
        "Buy now, only today",
    )


def test_approving_changes_render_within_5_seconds_without_restart(app, tokens, workspace_dir, database_url) -> None:
    # A separate render-only process image: its own service, polling the same store.
    render_node = make_app(workspace_dir, database_url, poll_seconds=0.5, render_only=True)
    with LiveServer(render_node) as node, TestClient(app) as review_client:

        def cta() -> dict:
            return httpx.post(f"{node.url}/v1/render", json={"module": "cta", "profile": DORMANT_EN}).json()

        assert cta()["decisions"][0]["outcome"] == "default"
        variant = first(review_client, tokens["rita"], module="cta", cohort="behaviour=dormant_customer;locale=en")
        approved_at = time.monotonic()
        assert (
            review_client.post(
                f"/v1/variants/{variant['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"])
            ).status_code
            == 200
        )
        while (body := cta())["decisions"][0]["outcome"] != "variant":
            assert time.monotonic() - approved_at < 5, "approval not served within 5 seconds"
            time.sleep(0.1)
    from markupsafe import escape

    assert str(escape(variant["slots"]["label"])) in body["html"]
    assert body["decisions"][0]["variant_id"] == variant["id"]


def test_bulk_approve_reports_stale_versions(app, tokens) -> None:
    with TestClient(app) as client:
        items = client.get("/v1/variants", params={"module": "hero_image"}, headers=auth(tokens["rita"])).json()[
            "items"
        ]
        body = {"items": [{"id": v["id"], "version": 1} for v in items] + [{"id": items[0]["id"], "version": 1}]}
        result = client.post("/v1/variants/approve", json=body, headers=auth(tokens["rita"])).json()
    assert len(result["approved"]) == len(items) == 6
    assert result["conflicts"][0]["id"] == items[0]["id"]


def test_policy_change_pulls_approved_variants_that_now_fail(app, tokens, workspace_dir: Path) -> None:
    svc = app.state.service
    with TestClient(app) as client:
        variant = first(client, tokens["rita"], module="cta", cohort="segment=startup;behaviour=*;locale=en")
        client.post(f"/v1/variants/{variant['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"]))
        release_before = svc.store.release_number()
        policy = workspace_dir / "guardrails" / "policy.yml"
        policy.write_text(policy.read_text().replace("  - hurry\n", "  - hurry\n  - free trial\n"))
        svc.poll_once()  # the server notices the edit and re-checks in the background
        detail = pulled_within(client, tokens["rita"], variant["id"])
    assert detail["status"] == "guardrail_failed"
    assert "banned phrase 'free trial'" in detail["history"][-1]["reason"]
    assert detail["history"][-1]["action"] == "policy_recheck"
    assert svc.store.release_number() > release_before


def test_rejection_with_regeneration_feeds_the_next_run(app, tokens) -> None:
    from variantly.authoring.review import pending_feedback

    with TestClient(app) as client:
        variant = first(client, tokens["rita"], module="cta", cohort="segment=enterprise;behaviour=*;locale=en")
        client.post(
            f"/v1/variants/{variant['id']}/reject",
            headers=auth(tokens["rita"]),
            json={"version": 1, "reason": "Too formal: speak to operations leads", "regenerate": True},
        )
    feedback = pending_feedback(app.state.service.store)
    assert feedback == {("cta", "segment=enterprise;behaviour=*;locale=en"): ["Too formal: speak to operations leads"]}
    from variantly.generation.plan import make_plan
    from variantly.generation.prompts import PromptSet

    svc = app.state.service
    plan = make_plan(
        svc.store,
        svc.workspace,
        PromptSet(svc.root),
        model="m",
        modules=["cta"],
        feedback=feedback,
        cohorts=["segment=enterprise;behaviour=*;locale=en"],
    )
    assert len(plan.jobs) == 1
    assert "Too formal: speak to operations leads" in plan.jobs[0].prompt.messages[1]["content"]


def test_lift_page_needs_sign_in_and_shows_the_chart(app, tokens) -> None:
    import re

    from variantly.auth import create_account

    create_account(app.state.service.store, "lena", "reviewer", password="pw-for-lena", token=False)
    events = [
        {
            "type": "impression",
            "profile_id": f"p{i}",
            "module": "cta",
            "variant_id": "v1" if i % 10 else None,
            "arm": "treatment" if i % 10 else "control",
            "cohort": "segment=*;behaviour=*;locale=en",
        }
        for i in range(200)
    ]
    with TestClient(app) as client:
        sent = client.post("/v1/events", json={"events": events}, headers=auth(tokens["pages"]))  # a trusted sender
        assert sent.status_code == 200
        assert client.get("/ui/lift", follow_redirects=False).status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
        signed_in = client.post("/ui/login", data={"csrf": csrf, "name": "lena", "password": "pw-for-lena"})
        assert signed_in.status_code == 200 and "Queue" in signed_in.text
        page = client.get("/ui/lift").text
    assert "<svg" in page and "cta · all" in page and "too few to conclude" in page


def test_an_approved_variant_can_be_rejected_and_leaves_serving(app, tokens) -> None:
    svc = app.state.service
    with TestClient(app) as client:
        variant = first(client, tokens["rita"], module="cta", cohort="behaviour=dormant_customer;locale=en")
        client.post(f"/v1/variants/{variant['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"]))
        before = svc.store.release_number()
        rejected = client.post(
            f"/v1/variants/{variant['id']}/reject",
            headers=auth(tokens["sam"]),
            json={"version": 2, "reason": "Too casual for dormant enterprise customers"},
        )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert svc.store.release_number() == before + 1


def test_store_failure_on_a_review_call_is_503_not_500(app, tokens, tmp_path) -> None:
    from variantly.store import Store

    with TestClient(app) as client:
        app.state.service.store = Store(f"sqlite:///{tmp_path / 'gone' / 'x.db'}", migrate=False)
        response = client.get("/v1/variants/abc", headers=auth(tokens["rita"]))
    assert response.status_code == 503 and response.json()["error"]["code"] == "store_unavailable"


def test_tampered_form_version_is_refused_not_a_crash(app) -> None:
    import re

    create_account(app.state.service.store, "tess", "reviewer", password="pw-for-tess", token=False)
    with TestClient(app) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
        client.post("/ui/login", data={"csrf": csrf, "name": "tess", "password": "pw-for-tess"})
        queue = client.get("/ui/?module=cta").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', queue).group(1)
        variant_id = re.search(r"/ui/variants/([0-9a-f]+)", queue).group(1)
        response = client.post(f"/ui/variants/{variant_id}/approve", data={"csrf": csrf, "version": "x"})
    assert response.status_code == 200 and "version 1, not 0" in response.text


def test_a_variant_for_a_cohort_that_is_always_suppressed_says_it_is_never_served(app, tmp_path) -> None:
    """Copy for ``behaviour=open_support_ticket`` (generated before plans skipped such cohorts; import refuses it
    now) is never shown: everyone in the cohort gets the support message. Its page says so, and what to do."""
    import re

    from variantly.store.schema import VariantRow
    from variantly.store.variants import add_variant

    svc = app.state.service
    slots = {"label": "Plan your rollout", "note": "Talk to us about your next step."}
    cohort = "segment=*;behaviour=open_support_ticket;locale=en"
    module_hash = svc.workspace.modules["cta"].content_hash
    row = VariantRow(id="v-never", module_id="cta", cohort_key=cohort, locale="en", slots=slots, status="pending",
                     module_hash=module_hash, source="generated")  # fmt: skip
    add_variant(svc.store, row, actor="run:earlier")
    create_account(svc.store, "lena", "reviewer", password="pw-for-lena", token=False)
    with TestClient(app) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
        client.post("/ui/login", data={"csrf": csrf, "name": "lena", "password": "pw-for-lena"})
        token = create_account(svc.store, "r", "reviewer")
        listed = client.get("/v1/variants", params={"module": "cta", "limit": 500}, headers=auth(token)).json()
        ids = {v["cohort"]: v["id"] for v in listed["items"]}
        never = client.get(f"/ui/variants/{ids['segment=*;behaviour=open_support_ticket;locale=en']}").text
        served = client.get(f"/ui/variants/{next(i for k, i in ids.items() if 'open_support' not in k)}").text
    assert 'id="never-served"' in never and "'open_ticket_no_sales'" in never
    assert 'id="never-served"' not in served


def test_policy_edited_while_no_server_ran_is_applied_when_the_review_server_starts(
    app, tokens, workspace_dir: Path, database_url: str
) -> None:
    """A policy edit usually arrives with a deploy, not while a server watches the file: the server that starts on
    it re-checks what was approved under the old one."""
    with TestClient(app) as client:
        variant = first(client, tokens["rita"], module="cta", cohort="segment=startup;behaviour=*;locale=en")
        client.post(f"/v1/variants/{variant['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"]))
    policy = workspace_dir / "guardrails" / "policy.yml"
    policy.write_text(policy.read_text().replace("  - hurry\n", "  - hurry\n  - free trial\n"))
    restarted = make_app(workspace_dir, database_url)
    with TestClient(restarted) as client:
        detail = pulled_within(client, tokens["rita"], variant["id"])
    assert detail["status"] == "guardrail_failed"
    assert "banned phrase 'free trial'" in detail["history"][-1]["reason"]


def test_variant_approved_before_a_built_in_check_existed_is_checked_again(app) -> None:
    """Recorded under the policy's files alone (as before the checks had a revision), a label with a zero-width
    space in it was approved; the checks of today pull it, and keep the clean one, now recorded as checked under
    them."""
    from variantly.authoring.policy_checks import BuiltInChecker, checked_under
    from variantly.authoring.review import approved_unchecked, recheck_policy
    from variantly.store.schema import VariantRow
    from variantly.store.variants import add_variant

    svc = app.state.service
    workspace = svc.workspace
    cohort = "segment=startup;behaviour=*;locale=en"
    note = "No credit card needed. Bring your customer data and see it in one place."
    for ident, label in (("v-hidden", "Start a 14-day\u200b free trial"), ("v-clean", "Start a 14-day free trial")):
        row = VariantRow(id=ident, module_id="cta", cohort_key=cohort, locale="en", status="approved",
                         slots={"label": label, "note": note}, module_hash=workspace.modules["cta"].content_hash,
                         policy_hash=workspace.policy_hash, source="import")  # fmt: skip
        add_variant(svc.store, row, actor="t")
    assert {r.id for r in approved_unchecked(svc.store, workspace)} == {"v-hidden", "v-clean"}
    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)
    assert recheck_policy(svc.store, workspace, checker.check_slots) == ["v-hidden"]
    with svc.store.sessions() as session:  # checked without guardrails-ai: its custom validator is still to run
        assert session.get_one(VariantRow, "v-clean").policy_hash == checked_under(workspace, partly=True)
        assert session.get_one(VariantRow, "v-hidden").status == "guardrail_failed"
    assert [r.id for r in approved_unchecked(svc.store, workspace)] == ["v-clean"]


def test_personal_data_in_a_rejection_reason_never_reaches_the_llm(app, tokens) -> None:
    """A reviewer quoting a complaint gives the customer's address and number; the next run's prompt, sent to the
    provider, says what was wrong without them."""
    from variantly.authoring.review import pending_feedback
    from variantly.generation.plan import make_plan
    from variantly.generation.prompts import PromptSet

    reason = "jane.doe@example.com (+46 70 123 45 67) found this pushy: speak to operations leads"
    with TestClient(app) as client:
        variant = first(client, tokens["rita"], module="cta", cohort="segment=enterprise;behaviour=*;locale=en")
        client.post(
            f"/v1/variants/{variant['id']}/reject",
            headers=auth(tokens["rita"]),
            json={"version": 1, "reason": reason, "regenerate": True},
        )
    svc = app.state.service
    cohort = "segment=enterprise;behaviour=*;locale=en"
    feedback = pending_feedback(svc.store)
    plan = make_plan(svc.store, svc.workspace, PromptSet(svc.root), model="m", modules=["cta"], feedback=feedback,
                     cohorts=[cohort])  # fmt: skip
    sent = plan.jobs[0].prompt.messages[1]["content"]
    assert "found this pushy: speak to operations leads" in sent
    assert "jane.doe@example.com" not in sent and "123 45 67" not in sent
    assert "[e-mail removed]" in sent and "[phone removed]" in sent


def test_a_variant_changed_during_a_recheck_is_left_and_the_rest_still_checked(app) -> None:
    """Each worker of a review server re-checks at its start: the one that pulls a variant first wins, and the
    other's re-check ended at that variant (a Conflict), leaving the rest unchecked."""
    from variantly.authoring.policy_checks import BuiltInChecker
    from variantly.authoring.review import recheck_policy, reject
    from variantly.store.schema import VariantRow
    from variantly.store.variants import add_variant

    svc = app.state.service
    workspace = svc.workspace
    for ident in ("v-1", "v-2"):
        row = VariantRow(id=ident, module_id="cta", cohort_key="segment=startup;behaviour=*;locale=en", locale="en",
                         status="approved", slots={"label": "Buy now", "note": "No credit card needed."},
                         module_hash=workspace.modules["cta"].content_hash, policy_hash="older",
                         source="import")  # fmt: skip
        add_variant(svc.store, row, actor="t")
    checker = BuiltInChecker(workspace.policy, workspace.policy_hash)

    def check(*args):
        if not getattr(check, "raced", False):  # another process gets to v-1 while this one reads it
            check.raced = True
            reject(svc.store, "v-1", version=1, actor="other worker", reason="pulled first")
        return checker.check_slots(*args)

    assert recheck_policy(svc.store, workspace, check) == ["v-2"]
    assert {r["id"]: r["status"] for r in _statuses(svc.store, "v-1", "v-2")} == {
        "v-1": "rejected",
        "v-2": "guardrail_failed",
    }


def _statuses(store, *idents: str) -> list[dict]:
    from variantly.store.variants import get_variant

    return [{"id": i, "status": get_variant(store, i).status} for i in idents]


def test_removing_a_merge_field_pulls_the_approved_copy_that_uses_it(
    app, tokens, workspace_dir: Path, tmp_path: Path
) -> None:
    """Approved copy with "{company}" in it went on being served after variantly.yml dropped the field: customers
    read "{company}", and lint said ok (it reads the files, not the store). The module's own file did not change,
    so nothing made the copy stale."""
    svc = app.state.service
    line = {"module": "customer_example", "cohort": {"segment": "enterprise", "industry": "retail", "locale": "en"},
            "slots": {"customer": "Penny", "story": "Penny's team and {company} share one view of every customer.",
                      "metric": "One view of every customer"}}  # fmt: skip
    (tmp_path / "agency.jsonl").write_text(json.dumps(line))
    import_variants(svc.store, svc.workspace, tmp_path / "agency.jsonl", actor="agency", check=check_constraints)
    with TestClient(app) as client:
        listed = client.get("/v1/variants", params={"module": "customer_example", "limit": 100},
                            headers=auth(tokens["rita"])).json()["items"]  # fmt: skip
        [variant] = [v for v in listed if v["slots"]["customer"] == "Penny"]
        client.post(f"/v1/variants/{variant['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"]))
        settings = workspace_dir / "variantly.yml"
        settings.write_text(
            settings.read_text().replace(
                '  company:\n    trait: company\n    default: {en: "your team", sv: "ert team"}\n', ""
            )
        )
        for module in ("hero", "cta"):  # their own defaults stop using it too, or the edit would not lint
            path = workspace_dir / "modules" / f"{module}.jinja"
            path.write_text(path.read_text().replace("{company}", "your team"))
        svc.poll_once()  # the server notices the edit and re-checks in the background
        detail = pulled_within(client, tokens["rita"], variant["id"])
    assert detail["status"] == "guardrail_failed"
    assert "'{company}' is not a merge field" in detail["history"][-1]["reason"]


def test_pending_copy_checked_under_an_older_policy_is_checked_again_before_it_is_approved(app, tokens) -> None:
    """A review server re-checks approved copy when the policy changes, not pending copy. A variant pending then
    still said "All checks passed" under the old policy, and approved, it was served with the phrase the new policy
    bans."""
    svc = app.state.service
    policy = svc.root / "guardrails" / "policy.yml"
    policy.write_text(policy.read_text().replace("  - hurry\n", "  - hurry\n  - free trial\n"))
    svc.refresh_workspace()
    assert svc.workspace_error is None
    with TestClient(app) as client:
        listed = client.get("/v1/variants", params={"module": "cta", "locale": "en", "limit": 100},
                            headers=auth(tokens["rita"])).json()["items"]  # fmt: skip
        trial = next(v for v in listed if v["slots"]["label"] == "Start a 14-day free trial")
        expert = next(v for v in listed if v["slots"]["label"] == "Compare plans with an expert")
        assert trial["status"] == expert["status"] == "pending"

        refused = client.post(f"/v1/variants/{trial['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"]))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "fails_policy"
        detail = client.get(f"/v1/variants/{trial['id']}", headers=auth(tokens["rita"])).json()
        assert detail["status"] == "guardrail_failed"
        assert (
            detail["history"][-1]["reason"]
            == "fails the policy as it is checked now: label: banned phrase 'free trial'"
        )

        approved = client.post(
            f"/v1/variants/{expert['id']}/approve", json={"version": 1}, headers=auth(tokens["rita"])
        )
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
    svc.refresh_release()
    served = {v.id for variants in svc.release.variants.values() for v in variants}
    assert expert["id"] in served and trial["id"] not in served
    from variantly.authoring.policy_checks import checked_under
    from variantly.store.variants import get_variant

    assert get_variant(svc.store, expert["id"]).policy_hash.startswith(checked_under(svc.workspace))


def test_a_bulk_approval_refuses_what_fails_the_policy_now_and_approves_the_rest(app, tokens) -> None:
    svc = app.state.service
    policy = svc.root / "guardrails" / "policy.yml"
    policy.write_text(policy.read_text().replace("  - hurry\n", "  - hurry\n  - free trial\n"))
    svc.refresh_workspace()
    with TestClient(app) as client:
        listed = client.get("/v1/variants", params={"module": "cta", "locale": "en", "limit": 100},
                            headers=auth(tokens["rita"])).json()["items"]  # fmt: skip
        items = [{"id": v["id"], "version": v["version"]} for v in listed]
        result = client.post("/v1/variants/approve", json={"items": items}, headers=auth(tokens["rita"])).json()
    trial = next(v["id"] for v in listed if "free trial" in v["slots"]["label"])
    assert [c["id"] for c in result["conflicts"]] == [trial]
    assert "fails the policy as it is checked now" in result["conflicts"][0]["message"]
    assert sorted(result["approved"]) == sorted(v["id"] for v in listed if v["id"] != trial)


def test_changing_a_merge_field_default_checks_approved_copy_again(workspace) -> None:
    """A default is what a sentence starting with its field reads: approved copy was checked with the old one."""
    from dataclasses import replace

    from variantly.authoring.policy_checks import checked_under

    fields = dict(workspace.settings.merge_fields)
    fields["first_name"] = fields["first_name"].model_copy(update={"default": {"en": "Friend", "sv": "du"}})
    changed = replace(workspace, settings=workspace.settings.model_copy(update={"merge_fields": fields}))
    assert checked_under(changed) != checked_under(workspace)
    assert checked_under(replace(workspace)) == checked_under(workspace)
