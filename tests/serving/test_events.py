"""Events over HTTP: each counted once, bad ones refused with the field named."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from conftest import consenting_profile, shown
from variantly.auth import create_account
from variantly.reporting.history import read_outcomes


def rendered(client: TestClient, profile_id: str, times: int = 1) -> list[dict]:
    """The cta decisions a page got for ``profile_id``, one per render."""
    me = consenting_profile(profile_id)
    return [
        client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0] for _ in range(times)
    ]


def conversion(decision: dict, profile_id: str, **extra) -> dict:
    return shown([decision], profile_id)[0] | {"type": "conversion"} | extra


def token(app, role: str = "renderer") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_account(app.state.service.store, f'{role}-sender', role)}"}


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
    assert first == {"accepted": 2, "duplicates": 1, "values_ignored": 0, "erased": 0, "expired": 0}
    assert again == {"accepted": 0, "duplicates": 2, "values_ignored": 0, "erased": 0, "expired": 0}
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


def test_a_replayed_decision_counts_once_whatever_idempotency_keys_it_brings(served_app) -> None:
    """A script replaying one signed conversion with 1,000 fresh keys is one conversion, and sampling is unmoved."""
    svc = served_app.state.service
    with TestClient(served_app) as client:
        decision = rendered(client, "replayer")[0]
        assert decision["outcome"] == "variant"
        impression = shown([decision], "replayer")
        client.post("/v1/events", json={"events": impression})
        replays = [conversion(decision, "replayer", idempotency_key=f"k{i}") for i in range(1000)]
        answer = client.post("/v1/events", json={"events": replays}).json()
        again = client.post("/v1/events", json={"events": replays[:10]}).json()
    assert answer == {"accepted": 1, "duplicates": 999, "values_ignored": 0, "erased": 0, "expired": 0}
    assert again["accepted"] == 0
    svc.activity.read_statistics(svc.store)
    assert svc.activity.stats(decision["variant_id"]) == (1, 1)  # one person exposed, one converted
    outcomes = read_outcomes(svc.store, ["unsubscribe"], currency="SEK", module="cta")
    assert [(e.profile_id, o.converted) for e, o in outcomes] == [(svc.pseudonyms.stored("replayer"), True)]  # one


def test_an_event_in_the_future_or_before_its_decision_is_refused(served_app) -> None:
    with TestClient(served_app) as client:
        decision = rendered(client, "time-traveller")[0]
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        last_week = (datetime.now(UTC) - timedelta(days=7)).isoformat()
        future = client.post("/v1/events", json={"events": [conversion(decision, "time-traveller", at=tomorrow)]})
        early = client.post("/v1/events", json={"events": [conversion(decision, "time-traveller", at=last_week)]})
        sender = token(served_app)
        backfill = conversion(decision, "time-traveller", at=last_week, idempotency_key="order-1")
        from_orders = client.post("/v1/events", json={"events": [backfill]}, headers=sender)
    assert future.status_code == 422 and "events.0.at" in future.json()["error"]["message"]
    assert "future" in future.json()["error"]["message"]
    assert early.status_code == 422 and "before the decision" in early.json()["error"]["message"]
    assert from_orders.status_code == 200  # a sender with a token may backfill what happened before
    # the field in the details too, where a client reads each bad field of a 422
    assert future.json()["error"]["details"] == [
        {"field": "events.0.at", "message": "is in the future: send the time it happened"}
    ]


def test_money_comes_only_from_a_sender_with_a_token_in_the_workspace_currency(served_app) -> None:
    svc = served_app.state.service
    with TestClient(served_app) as client:
        decision = rendered(client, "buyer")[0]
        browser = client.post(
            "/v1/events", json={"events": [conversion(decision, "buyer", value="999999", currency="SEK")]}
        )
        sender = token(served_app)
        order = conversion(decision, "buyer", value="1249.50", currency="SEK", idempotency_key="order-77")
        euros = client.post("/v1/events", json={"events": [order | {"currency": "EUR"}]}, headers=sender)
        alone = client.post("/v1/events", json={"events": [order | {"currency": None}]}, headers=sender)
        on_click = client.post("/v1/events", json={"events": [order | {"type": "click"}]}, headers=sender)
        sent = client.post("/v1/events", json={"events": [order]}, headers=sender)
    assert browser.status_code == 200 and browser.json()["values_ignored"] == 1
    assert euros.status_code == 422 and "'EUR' is not this workspace's reporting currency 'SEK'" in euros.text
    assert alone.status_code == 422 and "events.0.currency" in alone.text
    assert on_click.status_code == 422 and "only a conversion carries a value" in on_click.text
    assert sent.status_code == 200 and sent.json()["accepted"] == 1
    with svc.store.engine.connect() as conn:
        stored = conn.exec_driver_sql("select value, currency from events where type = 'conversion' order by id").all()
    assert [(None if v is None else Decimal(str(v)), c) for v, c in stored] == [
        (None, None),
        (Decimal("1249.5"), "SEK"),
    ]


def test_a_guardrail_event_the_workspace_names_is_recorded_and_others_are_refused(served_app) -> None:
    with TestClient(served_app) as client:
        decision = rendered(client, "leaver")[0]
        left = shown([decision], "leaver")[0] | {"type": "unsubscribe"}
        accepted = client.post("/v1/events", json={"events": [left]})
        unknown = client.post("/v1/events", json={"events": [left | {"type": "complaint"}]})
    assert accepted.status_code == 200 and accepted.json()["accepted"] == 1
    assert unknown.status_code == 422 and "unknown event type 'complaint'" in unknown.text


def test_an_event_time_in_digits_alone_is_refused_not_read_as_seconds_since_1970(served_app) -> None:
    """A backfill dated "20261201" (a compact date) was stored as an event of 1970-08-23, and purged as expired."""
    with TestClient(served_app) as client:
        decision = rendered(client, "compact-dater")[0]
        sender = token(served_app)
        answers = [
            client.post("/v1/events", json={"events": [conversion(decision, "compact-dater", at=at)]}, headers=sender)
            for at in ("20261201", "1764806400", "2026-12-01T09:00:00Z")
        ]
    assert [a.status_code for a in answers] == [422, 422, 200]
    assert answers[0].json()["error"]["details"][0]["field"] == "body.events.0.at"
    assert "ISO 8601" in answers[0].json()["error"]["message"]


def test_an_event_older_than_the_workspace_keeps_events_is_not_recorded(served_app) -> None:
    """A backfill reaching past ``events.retention_days`` was stored and counted in lift until the next purge (up to
    an hour), then deleted: data the workspace says it does not keep. It is left out, and counted in ``expired``."""
    kept = served_app.state.service.workspace.settings.events.retention_days
    now = datetime.now(UTC)
    backfill = [
        {"type": "conversion", "profile_id": f"old-{days}", "module": "cta", "arm": "control", "at": at.isoformat()}
        for days, at in ((kept + 1, now - timedelta(days=kept + 1)), (kept - 1, now - timedelta(days=kept - 1)))
    ]
    with TestClient(served_app) as client:
        answer = client.post("/v1/events", json={"events": backfill}, headers=token(served_app)).json()
    assert answer == {"accepted": 1, "duplicates": 0, "values_ignored": 0, "erased": 0, "expired": 1}
    with served_app.state.service.store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from events").scalar() == 1


def test_a_holdout_event_naming_a_variant_is_refused_naming_the_field(served_app) -> None:
    """The holdout control group is never shown a variant: a sender's event saying so (a mixed-up arm) was recorded,
    and its impression wrote an exposure of that variant for a profile lift counts as control."""
    event = {"type": "impression", "profile_id": "h-1", "module": "cta", "variant_id": "v-1", "arm": "control"}
    with TestClient(served_app) as client:
        refused = client.post("/v1/events", json={"events": [event]}, headers=token(served_app))
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["details"][0]["field"] == "events.0.variant_id"
    with served_app.state.service.store.engine.connect() as conn:
        assert conn.exec_driver_sql("select count(*) from exposures").scalar() == 0
