"""Retention: what is older than events.retention_days goes, what is inside stays, and serving never waits."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

from conftest import LiveServer, approve_examples, consenting_profile, make_app, shown
from variantly.privacy.retention import purge_expired
from variantly.serving.events import EventIn, record_events
from variantly.serving.pseudonyms import load_pseudonyms

NOW = datetime.now(UTC)


def backfill(store, count: int, days_ago: float, prefix: str) -> None:
    """Events (and exposures) as an order system backfills them, ``days_ago`` old."""
    at = NOW - timedelta(days=days_ago)
    pseudonyms = load_pseudonyms(store)
    for start in range(0, count, 5000):
        batch = [
            EventIn(
                type="impression", profile_id=f"{prefix}-{i}", module="cta", variant_id="v1", arm="treatment", at=at
            )
            for i in range(start, min(start + 5000, count))
        ]
        record_events(store, batch, pseudonyms=pseudonyms)


def counts(store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        return (
            conn.execute(text("SELECT count(*) FROM events")).scalar(),
            conn.execute(text("SELECT count(*) FROM exposures")).scalar(),
        )


def test_a_purge_deletes_what_is_past_the_window_and_keeps_what_is_inside(store) -> None:
    backfill(store, 1200, days_ago=400, prefix="old")
    backfill(store, 300, days_ago=394, prefix="recent")
    done = purge_expired(store, 395, batch=500)
    again = purge_expired(store, 395, batch=500)
    assert (done.events, done.exposures) == (1200, 1200)
    assert counts(store) == (300, 300)
    assert (again.events, again.exposures) == (0, 0)
    with store.engine.connect() as conn:
        logged = conn.execute(text("SELECT detail FROM privacy_log WHERE action = 'purge'")).scalars().all()
    assert len(logged) == 1  # a purge with nothing to do leaves no entry


def test_ingest_and_render_keep_working_during_a_purge(workspace_dir: Path, database_url: str) -> None:
    app = make_app(workspace_dir, database_url, render_only=True, purge_seconds=0)
    approve_examples(app.state.service)
    store = app.state.service.store
    backfill(store, 20_000, days_ago=500, prefix="expired")
    purged: list = []
    answers: list[int] = []
    with LiveServer(app) as server:
        purge = threading.Thread(target=lambda: purged.append(purge_expired(store, 395, batch=500, pause=0.005)))
        purge.start()
        n = 0
        while purge.is_alive() or n < 20:
            me = consenting_profile(f"live-{n}")
            page = httpx.post(f"{server.url}/v1/render", json={"module": "cta", "profile": me}, timeout=30)
            sent = httpx.post(
                f"{server.url}/v1/events", json={"events": shown([page.json()["decisions"][0]], me["id"])}, timeout=30
            )
            answers += [page.status_code, sent.status_code]
            n += 1
        purge.join()
    assert set(answers) == {200} and n >= 20
    assert purged[0].events == 20_000
    assert counts(store)[0] == n  # every live event kept, every expired one gone
