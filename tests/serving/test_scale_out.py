"""Serving at scale: bounded memory, caps shared between nodes, releases reaching every process.

Redis tests run when ``VARIANTLY_TEST_REDIS_URL`` is set (``.ci/run`` sets it); the
rest run everywhere. Nodes are real uvicorn servers on free ports.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import REDIS_ENV, LiveServer, approve_examples, consenting_profile, free_port, shown, until


def test_a_render_process_keeps_a_bounded_number_of_profiles() -> None:
    from variantly.serving.activity import Activity, Recorded

    activity = Activity(max_pairs=1000)
    activity.capped = {"cta": 7.0}
    now = datetime.now(UTC)
    rows = [Recorded(i, "impression", f"p{i}", "cta", "v1", now) for i in range(1, 5001)]
    rows += [Recorded(i, "impression", f"p{i}", "hero", "v2", now) for i in range(5001, 10001)]  # no cap on hero
    activity.record(rows)
    week_ago = {"cta": now - timedelta(days=7)}
    assert activity.pairs() == 1000  # only capped modules, only the most recent pairs
    assert activity.seen("p5000", week_ago) == {"cta": 1}
    assert activity.seen("p1", week_ago) == {"cta": 0}  # forgotten (with Redis, nothing is)
    assert activity.stats("v1") == (0, 0)  # sampling counts people from the store's exposures, not these rows


def event(key: str, profile_id: str = "p1") -> dict:
    return {
        "idempotency_key": key,
        "type": "impression",
        "profile_id": profile_id,
        "module_id": "cta",
        "variant_id": "v1",
        "arm": "treatment",
        "cohort_key": "locale=en",
        "at": datetime.now(UTC),
    }


def test_an_impression_committed_after_a_later_one_still_counts_toward_the_cap(store, monkeypatch) -> None:
    """On PostgreSQL a slow transaction can commit id N after the poller has read N+1."""
    import sqlalchemy as sa

    from variantly.serving import activity as activity_module
    from variantly.store.schema import EventRow

    if store.engine.dialect.name == "sqlite":
        pytest.skip("SQLite has one writer at a time: ids commit in order")
    activity = activity_module.Activity()
    activity.capped = {"cta": 7.0}
    activity.load(store)
    week_ago = {"cta": datetime.now(UTC) - timedelta(days=7)}
    with store.engine.connect() as slow:
        slow.execute(sa.insert(EventRow).values(event("slow")))  # takes an id, not committed yet
        with store.engine.begin() as quick:
            quick.execute(sa.insert(EventRow).values(event("quick")))  # the next id, committed first
        activity.refresh(store)
        assert activity.seen("p1", week_ago) == {"cta": 1}  # the poller has passed the slow one's id
        slow.commit()
    activity.refresh(store)
    assert activity.seen("p1", week_ago) == {"cta": 2}
    activity.refresh(store)
    assert activity.seen("p1", week_ago) == {"cta": 2}  # counted once

    # an id that never commits (rolled back) is given up after LATE_COMMIT_SECONDS
    with store.engine.connect() as rolled_back:
        rolled_back.execute(sa.insert(EventRow).values(event("rolled-back")))
        with store.engine.begin() as quick:
            quick.execute(sa.insert(EventRow).values(event("after")))
        activity.refresh(store)
        rolled_back.rollback()
    assert len(activity._missing) == 1
    monkeypatch.setattr(activity_module, "LATE_COMMIT_SECONDS", 0.0)
    activity._missing = dict.fromkeys(activity._missing, 0.0)
    activity.refresh(store)
    assert activity._missing == {} and activity.seen("p1", week_ago) == {"cta": 3}


def test_caps_recorded_through_one_node_cap_renders_on_another(
    workspace_dir: Path, database_url: str, shared_caps: dict
) -> None:
    from conftest import make_app

    node_a = make_app(workspace_dir, database_url, render_only=True, **shared_caps)
    node_b = make_app(workspace_dir, database_url, render_only=True, **shared_caps)
    approve_examples(node_a.state.service)
    node_b.state.service.refresh_release()
    me = consenting_profile("capped-1")  # in the treatment arm
    with LiveServer(node_a) as a, LiveServer(node_b) as b:
        pages = [httpx.post(f"{a.url}/v1/render", json={"module": "cta", "profile": me}) for _ in range(5)]
        decisions = [page.json()["decisions"][0] for page in pages]
        assert all(d["outcome"] == "variant" for d in decisions)
        sent = httpx.post(f"{a.url}/v1/events", json={"events": shown(decisions, me["id"])})  # cap: 5 a week
        assert sent.json() == {"accepted": 5, "duplicates": 0, "values_ignored": 0, "erased": 0, "expired": 0}

        def capped_on_b() -> bool:
            answer = httpx.post(f"{b.url}/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
            assert answer["outcome"] == "variant" or answer["reasons"][-1].startswith("default: frequency cap reached")
            return answer["outcome"] == "default"

        until(capped_on_b, 15.0)  # a poll on a busy machine: bounded generously, never raced


def test_an_approval_on_the_review_server_reaches_every_render_node(workspace_dir: Path, database_url: str) -> None:
    from conftest import make_app
    from variantly.auth import create_account
    from variantly.authoring.constraints import check_constraints
    from variantly.authoring.importing import import_variants

    review_server = make_app(workspace_dir, database_url)
    nodes = [make_app(workspace_dir, database_url, render_only=True) for _ in range(2)]
    service = review_server.state.service
    variants = workspace_dir / "examples" / "variants.jsonl"
    import_variants(service.store, service.workspace, variants, actor="t", check=check_constraints, approve=False)
    token = create_account(service.store, "rita", "reviewer")
    anna = {"layout": "landing", "profile": consenting_profile("a-1", company_size=20)}
    with LiveServer(review_server) as review, LiveServer(nodes[0]) as one, LiveServer(nodes[1]) as two:
        headers = {"authorization": f"Bearer {token}"}
        pending = httpx.get(f"{review.url}/v1/variants?status=pending&module=cta", headers=headers).json()["items"]
        wanted = {"segment=startup", "locale=en"}  # what a startup reader in English resolves to, nothing more
        chosen = next(v for v in pending if {p for p in v["cohort"].split(";") if not p.endswith("=*")} == wanted)
        before = {httpx.post(f"{n.url}/v1/render", json=anna).headers["x-variantly-release"] for n in (one, two)}
        approved = httpx.post(
            f"{review.url}/v1/variants/{chosen['id']}/approve", json={"version": chosen["version"]}, headers=headers
        )
        assert approved.status_code == 200, approved.text

        def everywhere() -> bool:
            answers = [httpx.post(f"{n.url}/v1/render", json=anna).json() for n in (one, two)]
            return all(chosen["id"] in {d["variant_id"] for d in answer["decisions"]} for answer in answers)

        until(everywhere, 15.0)
        after = {httpx.post(f"{n.url}/v1/render", json=anna).headers["x-variantly-release"] for n in (one, two)}
    assert len(after) == 1 and after != before


def test_with_redis_gone_render_goes_on_and_healthz_says_so(workspace_dir: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from conftest import make_app

    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    app = make_app(workspace_dir, f"sqlite:///{tmp_path / 's.db'}", render_only=True, redis_url=nobody_listens)
    approve_examples(app.state.service)
    me = consenting_profile("redis-gone")
    with TestClient(app) as client:
        pages = [client.post("/v1/render", json={"module": "cta", "profile": me}) for _ in range(5)]
        decisions = [page.json()["decisions"][0] for page in pages]
        assert all(d["outcome"] == "variant" for d in decisions)
        assert client.post("/v1/events", json={"events": shown(decisions, me["id"])}).status_code == 200
        capped = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        health = client.get("/healthz").json()
    assert capped["outcome"] == "default"  # this process's own count still caps
    assert health["status"] == "degraded"
    assert health["problems"] == ["details for operators: send a reviewer or admin token"]
    assert "redis unreachable" in app.state.service.health().activity_error


def test_serve_with_workers_gets_a_new_release_to_every_worker(workspace_dir: Path, tmp_path: Path) -> None:
    from conftest import make_app
    from variantly.authoring.review import retire
    from variantly.store.variants import approved_rows

    url = f"sqlite:///{tmp_path / 'w.db'}"
    service = make_app(workspace_dir, url).state.service
    approve_examples(service)
    port = free_port()
    command = [sys.executable, "-m", "variantly", "serve", "--workers", "2", "--render-only", "--no-access-log"]
    command += ["--port", str(port), "--workspace", str(workspace_dir), "--database-url", url]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        until(up, 30.0)
        assert len(_children(server.pid)) >= 2  # the workers (and multiprocessing's helper)
        variant = approved_rows(service.store)[0]
        retire(service.store, variant.id, version=variant.version, actor="t", reason="test")
        expected = str(service.store.release_number())

        def all_new() -> bool:
            # a new connection each time, spread over the workers by the kernel
            seen = {httpx.get(f"{base}/v1/render/hero").headers["x-variantly-release"] for _ in range(20)}
            return seen == {expected}

        until(all_new, 15.0)
    finally:
        server.terminate()
        server.wait(timeout=15)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


@pytest.mark.skipif(not os.environ.get(REDIS_ENV), reason=f"set {REDIS_ENV}")
def test_with_redis_caps_count_for_every_profile_not_just_the_recent_ones() -> None:
    import asyncio

    import redis

    from variantly.serving.activity import Activity, Recorded
    from variantly.serving.shared_activity import SharedActivity

    prefix = f"t{uuid.uuid4().hex[:10]}:"
    shared = SharedActivity(os.environ[REDIS_ENV], prefix=prefix, local=Activity(max_pairs=10))
    shared.local.capped = {"cta": 7.0}
    now = datetime.now(UTC)
    try:
        shared.record([Recorded(i, "impression", f"p{i % 100}", "cta", "v1", now) for i in range(1, 301)])
        week = {"cta": now - timedelta(days=7)}
        assert shared.local.pairs() == 10  # this process forgot most profiles ...
        assert shared.seen("p1", week) == {"cta": 3}  # ... Redis did not
        for _ in range(2):  # two event loops, one after the other, as two test clients or a restart would have
            assert asyncio.run(shared.seen_async("p1", week)) == {"cta": 3}
        shared.record([Recorded(1, "impression", "p1", "cta", "v1", now)])  # the same event again counts once
        assert shared.seen("p1", week) == {"cta": 3}
    finally:
        client = redis.Redis.from_url(os.environ[REDIS_ENV])
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
