"""An access request returns what was sent about the person, and says what each field means."""

from __future__ import annotations

from decimal import Decimal

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from conftest import consenting_profile, shown
from variantly.auth import create_account
from variantly.cli import app as cli


def test_an_export_holds_every_event_exposure_and_cap_window_sent_for_the_person(served_app) -> None:
    svc = served_app.state.service
    admin = {"Authorization": f"Bearer {create_account(svc.store, 'dpo', 'admin')}"}
    orders = {"Authorization": f"Bearer {create_account(svc.store, 'orders', 'renderer')}"}
    with TestClient(served_app) as client:
        pages = [
            client.post("/v1/render", json={"module": "cta", "profile": consenting_profile("data-subject")})
            for _ in "ab"
        ]
        seen = shown([p.json()["decisions"][0] for p in pages], "data-subject")
        client.post("/v1/events", json={"events": seen})
        order = seen[0] | {"type": "conversion", "value": "499.00", "currency": "SEK", "idempotency_key": "o-1"}
        client.post("/v1/events", json={"events": [order]}, headers=orders)
        stranger = client.post("/v1/render", json={"module": "cta", "profile": consenting_profile("someone-else")})
        client.post("/v1/events", json={"events": shown([stranger.json()["decisions"][0]], "someone-else")})
        answer = client.post("/v1/privacy/export", json={"profile_id": "data-subject"}, headers=admin)
    assert answer.status_code == 200
    body = answer.json()
    assert [e["type"] for e in body["events"]] == ["impression", "impression", "conversion"]
    assert Decimal(body["events"][2]["value"]) == Decimal("499") and body["events"][2]["currency"] == "SEK"
    assert {e["variant_id"] for e in body["events"]} == {d["variant_id"] for d in seen}
    assert len(body["exposures"]) == len({d["variant_id"] for d in seen})
    assert len(body["frequency_windows"]["cta"]) == 2  # the impressions the cap counts
    assert body["stored_as"] == [svc.pseudonyms.subject("data-subject")]  # a pseudonym, never the id
    assert body["retention_days"] == 395 and body["never_stored"]
    assert body["fields"]["events[].arm"].startswith("treatment (personalised)")
    assert all(name in body["fields"] for name in ("events", "exposures", "frequency_windows", "stored_as"))


def test_the_cli_exports_to_a_file(served_app, tmp_path) -> None:
    svc = served_app.state.service
    with TestClient(served_app) as client:
        page = client.post("/v1/render", json={"module": "cta", "profile": consenting_profile("cli-asker")})
        client.post("/v1/events", json={"events": shown([page.json()["decisions"][0]], "cli-asker")})
    out = tmp_path / "asker.json"
    result = CliRunner().invoke(
        cli,
        [
            "privacy",
            "export",
            "cli-asker",
            "--out",
            str(out),
            "--workspace",
            str(svc.root),
            "--database-url",
            svc.store.url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1 event(s)" in result.output and '"type": "impression"' in out.read_text()
