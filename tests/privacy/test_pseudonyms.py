"""Pseudonymised at rest: a copied events table names nobody, and every lookup for a person still finds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient
from sqlalchemy import insert, text

from conftest import consenting_profile, make_app, shown
from variantly.auth import create_account
from variantly.privacy.access import export_person
from variantly.privacy.at_rest import pseudonymise_store
from variantly.privacy.erasure import erase_people
from variantly.serving.activity import Activity
from variantly.serving.events import EventIn, record_events
from variantly.serving.pseudonyms import is_pseudonym, load_pseudonyms, rotate
from variantly.store import Store
from variantly.store.db import MIGRATIONS
from variantly.store.schema import EventRow, ExposureRow

WEEK = {"cta": datetime.now(UTC) - timedelta(days=7)}


def stored(store) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT profile_id, idempotency_key FROM events ORDER BY id"))]


def test_the_events_table_names_nobody_and_caps_still_count(served_app) -> None:
    svc = served_app.state.service
    sender = {"Authorization": f"Bearer {create_account(svc.store, 'mail', 'renderer')}"}
    me = consenting_profile("crm-4711")
    with TestClient(served_app) as client:
        for i in range(5):
            page = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
            event = shown([page], "crm-4711")[0] | {"idempotency_key": f"send-{i}:crm-4711:cta"}
            client.post("/v1/events", json={"events": [event]}, headers=sender)
        capped = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
    rows = stored(svc.store)
    assert len(rows) == 5 and all(is_pseudonym(p) and "crm-4711" not in k for p, k in rows)
    assert capped["outcome"] == "default"  # looked up under the same keyed hash


def test_a_store_made_before_pseudonyms_is_migrated_and_still_counts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url, migrate=False)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with old.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0009")
    now = datetime.now(UTC)
    with old.engine.begin() as conn:  # written through the store's own column types, as the app wrote them
        conn.execute(
            insert(EventRow.__table__),
            [
                {
                    "idempotency_key": f"send-{i}:crm-1",
                    "type": "impression",
                    "profile_id": "crm-1",
                    "module_id": "cta",
                    "variant_id": "v1",
                    "arm": "treatment",
                    "at": now - timedelta(hours=i),
                    "received_at": now,
                }
                for i in range(3)
            ],
        )
        conn.execute(insert(ExposureRow.__table__), [{"variant_id": "v1", "profile_id": "crm-1", "exposed_at": now}])
    old.dispose()

    store = Store(url)  # migrates to head
    pseudonyms = load_pseudonyms(store)
    rows = stored(store)
    assert all(p == pseudonyms.subject("crm-1") and k.startswith("key.") for p, k in rows) and len(rows) == 3
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT profile_id FROM exposures")).scalar() == pseudonyms.subject("crm-1")
    activity = Activity()
    activity.capped, activity.pseudonyms = {"cta": 7.0}, pseudonyms
    activity.load(store)
    assert activity.seen("crm-1", WEEK) == {"cta": 3}
    assert len(export_person(store, pseudonyms, "crm-1", retention_days=395).events) == 3


def test_with_pseudonymisation_off_ids_are_kept_clear_and_can_be_converted_later(
    workspace_dir: Path, tmp_path: Path
) -> None:
    settings = workspace_dir / "variantly.yml"
    settings.write_text(settings.read_text().replace("  pseudonymise: true", "  pseudonymise: false"))
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 'clear.db'}")
    svc = app.state.service
    me = consenting_profile("crm-clear")
    with TestClient(app) as client:
        page = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        client.post("/v1/events", json={"events": shown([page], "crm-clear")})
    assert [p for p, _ in stored(svc.store)] == ["crm-clear"]
    converted = pseudonymise_store(svc.store, svc.pseudonyms, actor="dpo")
    again = pseudonymise_store(svc.store, svc.pseudonyms, actor="dpo")
    assert converted.events == 1 and again.events == 0
    assert [p for p, _ in stored(svc.store)] == [svc.pseudonyms.subject("crm-clear")]


def test_after_a_key_rotation_export_and_erase_find_rows_under_every_key(store) -> None:
    first = load_pseudonyms(store)
    event = EventIn(type="impression", profile_id="crm-9", module="cta", variant_id="v1", arm="treatment")
    record_events(store, [event.model_copy(update={"idempotency_key": "a"})], pseudonyms=first)
    assert rotate(store) == 2
    second = load_pseudonyms(store)
    record_events(store, [event.model_copy(update={"idempotency_key": "b"})], pseudonyms=second)
    assert {p for p, _ in stored(store)} == {first.subject("crm-9"), second.subject("crm-9")}
    assert len(export_person(store, second, "crm-9", retention_days=395).events) == 2
    assert erase_people(store, second, ["crm-9"], actor="dpo")[0].events == 2
    assert stored(store) == []


def test_the_fast_keyed_hash_is_hmac_sha256_for_every_key_length() -> None:
    """Pseudonyms and decision signatures are HMAC-SHA256 made from cached inner and outer hashes: checked against
    the standard library's ``hmac`` for keys shorter than, equal to and longer than SHA-256's 64-byte block."""
    import hashlib
    import hmac

    from variantly.serving.pseudonyms import hmac_sha256_hex

    for key in (b"", b"k", b"x" * 43, b"y" * 64, b"z" * 65, bytes(range(256))):
        for data in (b"", b"anna-2041", "Åsa \u2603".encode() * 50):
            assert hmac_sha256_hex(key, data) == hmac.new(key, data, hashlib.sha256).hexdigest()
