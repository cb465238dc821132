"""SMS and push go through the same render path as web and email: one registry entry each, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import REPO, approve_examples, make_app
from variantly.workspace.segments import sms_segments


def profile(name: str, **consent) -> dict:
    found = json.loads((REPO / "examples" / "profiles" / f"{name}.json").read_text())
    found["consent"] |= consent
    return found


@pytest.fixture
def client(workspace_dir: Path, database_url: str):
    app = make_app(workspace_dir, database_url)
    approve_examples(app.state.service)
    with TestClient(app) as test_client:
        yield test_client


def test_an_sms_is_plain_text_with_the_approved_copy_the_opt_out_and_an_allowed_link(client: TestClient) -> None:
    ben = profile("ben_fintech_startup_en")
    ben["traits"]["first_name"] = "Ben & <Co>"
    answer = client.post("/v1/render", json={"module": "cta", "channel": "sms", "profile": ben})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["html"] is None and body["subject"] is None
    assert body["text"].startswith("Start a 14-day free trial: https://lumen.example/start\n")
    assert body["text"].endswith("Reply STOP to opt out")
    assert "&amp;" not in body["text"] and "&lt;" not in body["text"]  # never HTML-escaped
    assert sms_segments(body["text"]).count <= 2
    assert body["decisions"][0]["outcome"] == "variant" and body["decisions"][0]["signature"]


def test_an_sms_in_swedish_carries_the_swedish_opt_out(client: TestClient) -> None:
    body = client.post(
        "/v1/render", json={"module": "cta", "channel": "sms", "profile": profile("anna_retail_enterprise_sv")}
    ).json()
    assert body["text"].endswith("Svara STOPP för att avsluta")
    assert sms_segments(body["text"]).encoding == "gsm7"  # å, ä and ö cost no more than a, a and o


def test_merge_fields_in_an_sms_are_filled_as_written(client: TestClient, workspace_dir: Path) -> None:
    dan = profile("dan_retail_recent_purchase_en", marketing_sms=True)
    dan["traits"]["company"] = "Smith & Sons <Ltd>"
    body = client.post("/v1/render", json={"module": "cta", "channel": "sms", "profile": dan}).json()
    assert body["decisions"][0]["outcome"] == "alternative"  # the onboarding note names the company
    assert "Your onboarding guide walks Smith & Sons <Ltd> through the first week." in body["text"]


def test_sms_and_push_need_their_own_consent(client: TestClient) -> None:
    for channel, flag in (("sms", "marketing_sms"), ("push", "marketing_push")):
        refused = client.post(
            "/v1/render", json={"module": "cta", "channel": channel, "profile": profile("greta_no_email_consent_sv")}
        )
        assert refused.status_code == 403
        assert (
            refused.json()["error"]["code"] == "consent_required"
            and f"consent.{flag}" in refused.json()["error"]["message"]
        )
        allowed = client.post(
            "/v1/render",
            json={"module": "cta", "channel": channel, "profile": profile("greta_no_email_consent_sv", **{flag: True})},
        )
        assert allowed.status_code == 200


def test_a_push_is_a_title_and_a_body_as_json_parts(client: TestClient) -> None:
    body = client.post(
        "/v1/render", json={"module": "cta", "channel": "push", "profile": profile("ben_fintech_startup_en")}
    ).json()
    assert (body["title"], body["body"]) == (
        "Start a 14-day free trial",
        "No credit card needed. Bring your customer data and see it in one place.",
    )
    assert body["html"] is None and body["text"] is None


def test_a_module_without_the_channel_is_a_clear_422(client: TestClient) -> None:
    answer = client.post(
        "/v1/render", json={"module": "hero", "channel": "sms", "profile": profile("ben_fintech_startup_en")}
    )
    assert answer.status_code == 422
    assert "module 'hero' has no sms channel (it has: web, email)" in answer.json()["error"]["message"]
    unknown = client.post(
        "/v1/render", json={"module": "cta", "channel": "fax", "profile": profile("ben_fintech_startup_en")}
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["details"][0]["field"] == "body.channel"


def test_an_sms_send_streams_one_line_per_profile_and_refuses_those_without_consent(client: TestClient) -> None:
    people = [
        profile("ben_fintech_startup_en"),
        profile("greta_no_email_consent_sv"),
        profile("anna_retail_enterprise_sv"),
    ]
    sent = client.post(
        "/v1/render/batch?module=cta&channel=sms",
        content="\n".join(json.dumps(p) for p in people),
        headers={"content-type": "application/x-ndjson"},
    )
    lines = [json.loads(line) for line in sent.text.splitlines()]
    assert [line["ok"] for line in lines] == [True, False, True]
    assert lines[1]["error"]["code"] == "consent_required"
    assert all(
        line["text"].endswith(("Reply STOP to opt out", "Svara STOPP för att avsluta")) for line in (lines[0], lines[2])
    )


def test_a_long_merge_field_never_pushes_an_sms_past_the_segments_a_sender_pays_for(client: TestClient) -> None:
    """A company name of 390 characters sent a 4-segment SMS where variantly.yml allows 2: the default stands in."""
    dan = profile("dan_retail_recent_purchase_en", marketing_sms=True)
    dan["traits"]["company"] = "Smith & Sons " * 30
    body = client.post("/v1/render", json={"module": "cta", "channel": "sms", "profile": dan}).json()
    assert "Your onboarding guide walks your team through the first week." in body["text"]
    assert sms_segments(body["text"]).count <= 2
    assert body["decisions"][0]["outcome"] == "alternative" and body["decisions"][0]["signature"]


def test_one_letter_outside_gsm7_does_not_triple_what_an_sms_costs(client: TestClient) -> None:
    """One letter outside GSM-7 makes the whole SMS UCS-2, 70 characters a segment: this one went from 1 to 3."""
    dan = profile("dan_retail_recent_purchase_en", marketing_sms=True)
    dan["traits"]["company"] = "Łódź Retail Group"
    answer = client.post("/v1/render", json={"module": "cta", "channel": "sms", "profile": dan}).json()["text"]
    with_name = answer.replace("your team", "Łódź Retail Group")
    assert sms_segments(with_name).count > 2 >= sms_segments(answer).count
    dan["traits"]["company"] = "Lodz Retail Group"  # the same name in GSM-7 fits, and is sent
    assert (
        "walks Lodz Retail Group through"
        in client.post("/v1/render", json={"module": "cta", "channel": "sms", "profile": dan}).json()["text"]
    )


@pytest.mark.parametrize(
    "company",
    ["Win a prize at evil.com", "see https://lumen.example.evil.com/x", "anna@example.com", "Smith\u202e snoS"],
)
def test_a_profile_value_that_is_a_link_or_hides_characters_is_never_copy(client: TestClient, company: str) -> None:
    """A CDP's company field said "Win a prize at evil.com": every channel sent it as a link the policy refuses in
    any copy. A right-to-left override turned the rest of the message around."""
    dan = profile("dan_retail_recent_purchase_en", marketing_sms=True, marketing_email=True)
    dan["traits"]["company"] = company
    for channel, target in (("sms", {"module": "cta"}), ("email", {"layout": "email"}), ("web", {"module": "cta"})):
        body = client.post("/v1/render", json={**target, "channel": channel, "profile": dan}).json()
        written = " ".join(str(body[part]) for part in ("html", "text", "subject"))
        assert company not in written and "evil" not in written and "\u202e" not in written, channel
        assert "your team" in written, channel


def test_a_preview_of_an_sms_is_what_a_sender_gets(client: TestClient) -> None:
    """The CLI's ``render`` and the previews go through ``render_target``: the same judgement as the API."""
    from variantly.serving.profiles import Profile
    from variantly.serving.render import render_target, viewer_for_profile

    svc = client.app.state.service  # type: ignore[attr-defined]
    dan = profile("dan_retail_recent_purchase_en", marketing_sms=True)
    dan["traits"]["company"] = "Smith & Sons " * 30
    viewer = viewer_for_profile(svc.workspace, Profile.model_validate(dan))
    page = render_target(svc.workspace, svc.release, viewer, channel="sms", module="cta")
    api = client.post("/v1/render", json={"module": "cta", "channel": "sms", "profile": dan}).json()
    assert page.text == api["text"] and "walks your team through" in page.text
