"""Events over HTTP: each counted once, bad ones refused with the field named."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from conftest import consenting_profile
from variantly.auth import create_account


def test_duplicate_events_are_counted_once(served_app) -> None:
    event = {
        "type": "impression",
        "profile_id": "p1",
        "module": "cta",
        "variant_id": "v1",
        "arm": "treatment",
        "idempotency_key": "send-42:p1:cta",
    }
    derived = {
        "type": "conversion",
        "profile_id": "p1",
        "module": "cta",
        "arm": "treatment",
        "at": "2026-11-20T10:00:00Z",
    }
    sender = {"Authorization": f"Bearer {create_account(served_app.state.service.store, 'email-sender', 'renderer')}"}
    with TestClient(served_app) as client:
        first = client.post("/v1/events", json={"events": [event, event, derived]}, headers=sender).json()
        again = client.post("/v1/events", json={"events": [event, derived]}, headers=sender).json()
    assert first == {"accepted": 2, "duplicates": 1}
    assert again == {"accepted": 0, "duplicates": 2}
    with served_app.state.service.store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from events").scalar() == 2


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"type": "purchase", "profile_id": "p", "arm": "treatment"}, "type"),
        ({"type": "click", "arm": "treatment"}, "profile_id"),
        ({"type": "click", "profile_id": "p", "arm": "test"}, "arm"),
        ({"type": "click", "profile_id": "p", "arm": "control", "at": "soon"}, "at"),
    ],
)
def test_bad_events_get_422_naming_the_field(served_app, event: dict, field: str) -> None:
    with TestClient(served_app) as client:
        response = client.post("/v1/events", json={"events": [event]})
    assert response.status_code == 422 and field in json.dumps(response.json())


def test_event_for_an_unknown_module_is_404(served_app) -> None:
    with TestClient(served_app) as client:
        response = client.post(
            "/v1/events", json={"events": [{"type": "click", "profile_id": "p", "module": "nav", "arm": "none"}]}
        )
    assert response.status_code == 404 and "events.0.module" in response.json()["error"]["message"]


def test_anonymous_events_are_credited_only_for_what_was_served(served_app) -> None:
    """Without a token, an event must carry the signature of the decision it reports: nobody outside can
    invent conversions to steer variant selection or the lift report."""
    with TestClient(served_app) as client:
        decision = client.post("/v1/render", json={"module": "cta", "profile": consenting_profile("p7")}).json()
        decision = decision["decisions"][0]
        served = {
            "type": "conversion",
            "profile_id": "p7",
            "module": "cta",
            "variant_id": decision["variant_id"],
            "arm": decision["arm"],
            "cohort": decision["cohort"],
        }
        unsigned = client.post("/v1/events", json={"events": [served]})
        forged = client.post(
            "/v1/events", json={"events": [served | {"variant_id": "other", "signature": decision["signature"]}]}
        )
        signed = client.post("/v1/events", json={"events": [served | {"signature": decision["signature"]}]})
    assert unsigned.status_code == forged.status_code == 403
    assert "events.0.signature" in unsigned.json()["error"]["message"]
    assert signed.status_code == 200 and signed.json()["accepted"] == 1
