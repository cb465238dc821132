"""An erasure request: nothing of the person left in any table, in Redis, or in another node's memory; the act
logged under a keyed hash; asked twice, answered twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from conftest import LiveServer, approve_examples, consenting_profile, make_app, shown, until
from variantly.auth import create_account
from variantly.cli import app as cli
from variantly.store.schema import PrivacyLogRow

WEEK = {"cta": datetime.now(UTC) - timedelta(days=7)}


def every_row_about(store, forms: list[str]) -> dict[str, int]:
    """Rows naming any form of the person, read straight from the tables (not through the API)."""
    found = {}
    with store.engine.connect() as conn:
        for table in ("events", "exposures"):
            marks = ", ".join(f":p{i}" for i in range(len(forms)))
            query = text(f"SELECT count(*) FROM {table} WHERE profile_id IN ({marks})")
            found[table] = conn.execute(query, {f"p{i}": f for i, f in enumerate(forms)}).scalar()
    return found


def test_an_erased_person_is_gone_from_the_store_redis_and_every_node(
    workspace_dir: Path, database_url: str, shared_caps: dict
) -> None:
    node_a = make_app(workspace_dir, database_url, render_only=True, poll_seconds=0.2, **shared_caps)
    node_b = make_app(workspace_dir, database_url, render_only=True, poll_seconds=0.2, **shared_caps)
    approve_examples(node_a.state.service)
    node_b.state.service.refresh_release()
    svc = node_a.state.service
    admin = {"Authorization": f"Bearer {create_account(svc.store, 'dpo', 'admin')}"}
    me, other = consenting_profile("erase-me"), consenting_profile("keep-me")  # both in the treatment arm
    with LiveServer(node_a) as a, LiveServer(node_b) as b:
        for person in (me, other):
            pages = [httpx.post(f"{a.url}/v1/render", json={"module": "cta", "profile": person}) for _ in range(5)]
            seen = shown([p.json()["decisions"][0] for p in pages], person["id"])
            httpx.post(f"{a.url}/v1/events", json={"events": [*seen, seen[0] | {"type": "conversion"}]})
        b_activity = node_b.state.service.activity
        until(lambda: b_activity.seen(me["id"], WEEK) == {"cta": 5}, 15.0)  # node b caps the person too

        erased = httpx.post(f"{a.url}/v1/privacy/erase", json={"profile_ids": [me["id"]]}, headers=admin).json()
        again = httpx.post(f"{a.url}/v1/privacy/erase", json={"profile_ids": [me["id"]]}, headers=admin).json()

        until(lambda: b_activity.seen(me["id"], WEEK) == {"cta": 0}, 15.0)  # node b forgot, within a poll
        fresh = httpx.post(f"{b.url}/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
    assert erased["erased"][0]["events"] == 6 and erased["erased"][0]["exposures"] == 1
    assert erased["erased"][0]["erased_before"] is None
    assert again["erased"][0]["events"] == 0 and again["erased"][0]["erased_before"] is not None
    assert every_row_about(svc.store, svc.pseudonyms.every(me["id"])) == {"events": 0, "exposures": 0}
    assert every_row_about(svc.store, svc.pseudonyms.every(other["id"])) == {"events": 6, "exposures": 1}
    assert svc.activity.seen(me["id"], WEEK) == {"cta": 0}
    assert fresh["outcome"] == "variant"  # treated as new: the cap no longer counts what was erased
    if shared_caps:
        import redis

        client = redis.Redis.from_url(shared_caps["redis_url"])
        keys = [k.decode() for k in client.scan_iter(f"{shared_caps['redis_prefix']}imp:*")]
        assert not [k for k in keys if svc.pseudonyms.subject(me["id"]) in k]
        assert [k for k in keys if svc.pseudonyms.subject(other["id"]) in k]
    with svc.store.engine.connect() as conn:
        logged = conn.execute(text("SELECT subject, detail, actor FROM privacy_log WHERE action = 'erase'")).all()
        dumped = json.dumps([list(map(str, row)) for row in logged])
    assert [row[0] for row in logged] == [svc.pseudonyms.audit(me["id"])] * 2 and me["id"] not in dumped


def test_erasure_is_for_admins_only(served_app) -> None:
    reviewer = {"Authorization": f"Bearer {create_account(served_app.state.service.store, 'rev', 'reviewer')}"}
    with TestClient(served_app) as client:
        anonymous = client.post("/v1/privacy/erase", json={"profile_ids": ["x"]})
        refused = client.post("/v1/privacy/erase", json={"profile_ids": ["x"]}, headers=reviewer)
        exported = client.post("/v1/privacy/export", json={"profile_id": "x"}, headers=reviewer)
    assert anonymous.status_code == 401 and refused.status_code == exported.status_code == 403


def test_many_people_are_erased_from_a_file_and_the_ids_are_not_printed(served_app, tmp_path: Path) -> None:
    svc = served_app.state.service
    people = [f"crm-{i}" for i in range(60)]
    with TestClient(served_app) as client:
        for pid in people:
            decision = client.post("/v1/render", json={"module": "cta", "profile": consenting_profile(pid)})
            client.post("/v1/events", json={"events": shown([decision.json()["decisions"][0]], pid)})
    kept = every_row_about(svc.store, [f for pid in people[50:] for f in svc.pseudonyms.every(pid)])
    assert kept["events"] == 10
    listed = tmp_path / "erase.txt"
    listed.write_text("\n".join(people[:50]) + "\n\n")
    result = CliRunner().invoke(
        cli,
        ["privacy", "erase", "--file", str(listed), "--workspace", str(svc.root), "--database-url", svc.store.url],
    )
    assert result.exit_code == 0, result.output
    assert "50 erased" in result.output and "crm-" not in result.output
    assert every_row_about(svc.store, [f for pid in people[:50] for f in svc.pseudonyms.every(pid)]) == {
        "events": 0,
        "exposures": 0,
    }
    assert every_row_about(svc.store, [f for pid in people[50:] for f in svc.pseudonyms.every(pid)]) == kept


def test_an_id_no_profile_can_have_is_refused_before_anyone_is_erased(served_app, tmp_path: Path) -> None:
    """An empty id (a stray argument) or a pasted paragraph was erased as if it were a person, and logged."""
    svc = served_app.state.service
    with TestClient(served_app) as client:
        decision = client.post("/v1/render", json={"module": "cta", "profile": consenting_profile("crm-1")})
        client.post("/v1/events", json={"events": shown([decision.json()["decisions"][0]], "crm-1")})
        admin = {"Authorization": f"Bearer {create_account(svc.store, 'adm', 'admin')}"}
        for body in ({"profile_ids": ["crm-1", ""]}, {"profile_ids": ["crm-1", "x" * 201]}):
            refused = client.post("/v1/privacy/erase", json=body, headers=admin)
            assert refused.status_code == 422 and "body.profile_ids.1" in refused.text, refused.text
        exported = client.post("/v1/privacy/export", json={"profile_id": ""}, headers=admin)
        assert exported.status_code == 422 and "body.profile_id" in exported.text, exported.text
    where = ["--workspace", str(svc.root), "--database-url", svc.store.url]
    for words in (["privacy", "erase", "crm-1", ""], ["privacy", "export", ""]):
        result = CliRunner().invoke(cli, words + where)
        assert result.exit_code == 1 and "a profile id is 1 to 200 characters" in result.output, result.output
    assert every_row_about(svc.store, svc.pseudonyms.every("crm-1"))["events"] == 1  # crm-1 was not erased either
    with svc.store.sessions() as session:
        assert session.scalar(select(func.count()).select_from(PrivacyLogRow)) == 0


def test_an_event_from_before_an_erasure_does_not_bring_the_person_back(served_app) -> None:
    """A page's impressions sent again after the person was erased (a retry, a late beacon) and an order system's
    conversion retried with its time: each was recorded anew (the erasure had taken the rows that made them
    duplicates), and the erased person was back in the store and the lift. What happens after the erasure counts."""
    svc = served_app.state.service
    admin = {"Authorization": f"Bearer {create_account(svc.store, 'dpo', 'admin')}"}
    orders = {"Authorization": f"Bearer {create_account(svc.store, 'orders', 'renderer')}"}
    person = consenting_profile("late-1")
    with TestClient(served_app) as client:
        client.post("/v1/privacy/erase", json={"profile_ids": ["someone-else"]}, headers=admin)  # the log read on
        decision = client.post("/v1/render", json={"module": "cta", "profile": person}).json()["decisions"][0]
        impressions = {"events": shown([decision], "late-1")}
        paid = datetime.now(UTC) - timedelta(minutes=1)
        order = {"events": [shown([decision], "late-1")[0] | {"type": "conversion", "at": paid.isoformat()}]}
        order["events"][0] |= {"signature": None, "idempotency_key": "order-77", "value": "120", "currency": "SEK"}
        assert client.post("/v1/events", json=impressions).json()["accepted"] == 1
        assert client.post("/v1/events", json=order, headers=orders).json()["accepted"] == 1
        assert client.post("/v1/privacy/erase", json={"profile_ids": ["late-1"]}, headers=admin).status_code == 200

        beacon = client.post("/v1/events", json=impressions).json()
        retried = client.post("/v1/events", json=order, headers=orders).json()
        assert every_row_about(svc.store, svc.pseudonyms.every("late-1")) == {"events": 0, "exposures": 0}

        again = client.post("/v1/render", json={"module": "cta", "profile": person}).json()["decisions"][0]
        after = client.post("/v1/events", json={"events": shown([again], "late-1")}).json()
    assert beacon == {"accepted": 0, "duplicates": 0, "values_ignored": 0, "erased": 1, "expired": 0}
    assert retried == {"accepted": 0, "duplicates": 0, "values_ignored": 0, "erased": 1, "expired": 0}
    # a new decision after the erasure: a new start
    assert after == {"accepted": 1, "duplicates": 0, "values_ignored": 0, "erased": 0, "expired": 0}
    assert every_row_about(svc.store, svc.pseudonyms.every("late-1")) == {"events": 1, "exposures": 1}
