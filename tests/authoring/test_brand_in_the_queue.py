"""The brand score travels with each variant: made at import and edit, made again when brand.yml changes, and the
queue filters and sorts by it in the API, the UI and the CLI."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import add_cta, approve_examples, make_app, until
from variantly.auth import create_account
from variantly.authoring.brand_score import rescore, stored_score
from variantly.authoring.review import Filters, approve, edit, first_approver, list_variants, pending_feedback
from variantly.errors import SecondReviewerNeeded
from variantly.store.variants import get_variant, history
from variantly.workspace import load_workspace

PUSHY = {"label": "BUY NOW!!", "note": "The best plan for your team, last chance."}


def pushy_variant(store, ident: str = "v-pushy") -> None:
    add_cta(store, ident, PUSHY)


def test_imported_variants_are_scored_and_the_riskiest_lists_first(served_app) -> None:
    from variantly import metrics

    svc = served_app.state.service
    scored = list_variants(svc.store, Filters(), limit=1000).items
    assert scored and all(row.brand_hash == svc.workspace.brand_hash and row.brand_risk for row in scored)
    pushy_variant(svc.store)
    failures = metrics.BRAND_FAILURES.labels("calm_not_urgent")
    before = failures._value.get()
    assert rescore(svc.store, svc.workspace) == 1  # only what is not scored yet
    assert failures._value.get() == before + 1  # in /metrics: failures per guideline
    first = list_variants(svc.store, Filters(), limit=5, order="risk").items[0]
    assert first.id == "v-pushy" and first.brand_risk == "high"
    assert [r.id for r in list_variants(svc.store, Filters(risk="high")).items] == ["v-pushy"]


def test_a_variant_under_the_floor_is_not_queued_and_an_edit_is_scored_again(served_app) -> None:
    svc = served_app.state.service
    pushy_variant(svc.store)
    rescore(svc.store, svc.workspace)
    refused = get_variant(svc.store, "v-pushy")
    assert refused.status == "guardrail_failed" and refused.brand_score < svc.workspace.brand.floor
    why = history(svc.store, "v-pushy")[-1]
    assert why.actor == "brand" and why.reason.startswith(f"brand score {refused.brand_score} is under the floor")
    assert "calm_not_urgent" in why.reason
    calm = {"label": "Plan a rollout", "note": "With your team, when it suits you."}
    edit(
        svc.store,
        svc.workspace,
        lambda ws, module, cohort, slots: _passing(svc, ws, module, cohort, slots),
        "v-pushy",
        version=refused.version,
        actor="rita",
        slots=calm,
    )
    row = get_variant(svc.store, "v-pushy")
    assert row.status == "pending" and row.brand_risk == "low" and stored_score(row).score == 100


def test_high_brand_risk_needs_two_different_reviewers(served_app) -> None:
    """Pressure alone (a high-severity guideline) scores above the floor but is high risk: the example asks two."""
    svc = served_app.state.service
    add_cta(
        svc.store,
        "v-urgent",
        {"label": "Book a demo", "note": "Hurry, your team will see every customer in one place."},
    )
    rescore(svc.store, svc.workspace)
    assert get_variant(svc.store, "v-urgent").brand_risk == "high"
    once = approve(svc.store, "v-urgent", version=1, actor="rita", workspace=svc.workspace)
    assert once.status == "pending" and first_approver(svc.store, "v-urgent") == "rita"
    with pytest.raises(SecondReviewerNeeded):
        approve(svc.store, "v-urgent", version=once.version, actor="rita", workspace=svc.workspace)
    twice = approve(svc.store, "v-urgent", version=once.version, actor="mia", workspace=svc.workspace)
    assert twice.status == "approved"
    assert [e.action for e in history(svc.store, "v-urgent")][-2:] == ["approve_first", "approve"]


def _passing(svc, workspace, module, cohort, slots):
    from variantly.authoring.policy_checks import BuiltInChecker

    return BuiltInChecker(workspace.policy, workspace.policy_hash).check_slots(workspace, module, cohort, slots)


def test_a_changed_brand_file_scores_every_variant_again(workspace_dir: Path, database_url: str) -> None:
    """The review server notices the edit within a poll and scores again under the new hash."""
    app = make_app(workspace_dir, database_url, poll_seconds=0.2)
    approve_examples(app.state.service)
    svc = app.state.service
    brand = workspace_dir / "guardrails" / "brand.yml"
    brand.write_text(
        brand.read_text() + "\n  - id: name_lumen\n    rule: Name Lumen.\n    kinds: [cta]\n"
        "    severity: high\n    check: {measure: required_word, words: [Lumen]}\n"
    )
    with TestClient(app):
        until(lambda: svc.workspace.brand_hash == load_workspace(workspace_dir).brand_hash, 20)
        ctas = lambda: list_variants(svc.store, Filters(module="cta"), limit=100).items  # noqa: E731
        until(lambda: all(r.brand_hash == svc.workspace.brand_hash for r in ctas()), 20)
    assert all(r.brand_risk == "high" for r in ctas())  # no example CTA names Lumen


def test_the_api_and_the_ui_filter_and_sort_by_brand_risk(served_app) -> None:
    svc = served_app.state.service
    pushy_variant(svc.store)
    rescore(svc.store, svc.workspace)
    token = create_account(svc.store, "rita", "reviewer", password="pw-for-rita")
    with TestClient(served_app) as client:
        headers = {"Authorization": f"Bearer {token}"}
        page = client.get("/v1/variants?order=risk&limit=3", headers=headers).json()
        assert page["items"][0]["id"] == "v-pushy" and page["items"][0]["brand"]["band"] == "high"
        high = client.get("/v1/variants?risk=high", headers=headers).json()
        assert [i["id"] for i in high["items"]] == ["v-pushy"]
        assert client.get("/v1/variants?risk=extreme", headers=headers).status_code == 422
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/ui/login").text).group(1)
        client.post("/ui/login", data={"csrf": csrf, "name": "rita", "password": "pw-for-rita"})
        queue = client.get("/ui/?order=risk").text
        assert queue.index("/ui/variants/v-pushy") < queue.index("low risk")
        assert '<option value="risk" selected>' in queue
        variant = client.get("/ui/variants/v-pushy").text
        assert "<mark>BUY NOW</mark>" in variant and "presses the reader to act at once" in variant
        assert "Suggested:</span> BUY NOW." in variant  # the calmer rewrite of the exclamations
        form = re.search(r'id="regenerate-with-fixes">(.*?)</form>', variant, re.S).group(1)
        fields = {k: html.unescape(v) for k, v in re.findall(r'name="([a-z]+)" value="([^"]*)"', form)}  # as a browser
        done = client.post("/ui/variants/v-pushy/reject", data=fields, follow_redirects=False)
        assert done.status_code == 303 and get_variant(svc.store, "v-pushy").status == "rejected"
    feedback = [r for rows in pending_feedback(svc.store).values() for r in rows]
    assert any("Never press the reader to act at once" in f and "'BUY NOW'" in f for f in feedback)


def test_import_approve_never_approves_copy_the_brand_gates_hold(workspace_dir: Path, tmp_path: Path) -> None:
    """`variantly import --approve` approves what passes the policy, but not copy under the floor (it goes to
    guardrail_failed) nor copy of a risk band that needs two reviewers (it stays pending for them)."""
    import json

    from variantly.authoring.constraints import check_constraints
    from variantly.authoring.importing import import_variants
    from variantly.store import Store

    lines = [
        {"module": "cta", "cohort": {"segment": "startup", "locale": "en"}, "slots": PUSHY},
        {
            "module": "cta",
            "cohort": {"segment": "enterprise", "locale": "en"},
            "slots": {"label": "Book a demo", "note": "Hurry, your team will see every customer in one place."},
        },
        {
            "module": "cta",
            "cohort": {"behaviour": "pricing_researcher", "locale": "en"},
            "slots": {"label": "Compare plans", "note": "A call to match a plan to your teams."},
        },
    ]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    store = Store(f"sqlite:///{tmp_path / 'import.db'}")
    workspace = load_workspace(workspace_dir)
    summary = import_variants(store, workspace, path, actor="t", check=check_constraints, approve=True)
    assert (summary.approved, summary.brand_held) == (1, 2)
    by_note = {r.slots["note"]: r for r in list_variants(store, Filters(), limit=10).items}
    assert by_note[PUSHY["note"]].status == "guardrail_failed"
    assert by_note["Hurry, your team will see every customer in one place."].status == "pending"
    assert by_note["A call to match a plan to your teams."].status == "approved"
