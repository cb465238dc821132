"""Caps hold through Redis trouble: a private Redis is killed under load, then comes back empty.

Each render process keeps its own bounded count (what it records and what it reads from the
store) beside Redis, and a render takes the larger; the first poller to find Redis empty fills
it again from the store. Runs wherever ``redis-server`` is installed (CI installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from conftest import LiveServer, approve_examples, consenting_profile, free_port, make_app, shown, until

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


class PrivateRedis:
    """A redis-server of this test's own, on a free port, that the test can kill and start again (empty)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        until(self.answers, 15.0)

    def answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=15)


def test_a_capped_profile_stays_capped_while_redis_is_down_and_after_it_returns_empty(
    workspace_dir: Path, tmp_path: Path
) -> None:
    server = PrivateRedis()
    server.start()
    url = f"sqlite:///{tmp_path / 'caps.db'}"
    settings = {"render_only": True, "redis_url": server.url, "redis_prefix": "caps:", "poll_seconds": 0.2}
    node_a, node_b = make_app(workspace_dir, url, **settings), make_app(workspace_dir, url, **settings)
    approve_examples(node_a.state.service)
    node_b.state.service.refresh_release()
    me = consenting_profile("capped-through-trouble")
    render = {"module": "cta", "profile": me}
    stop = threading.Event()
    try:
        with LiveServer(node_a) as a, LiveServer(node_b) as b:
            decisions = [httpx.post(f"{a.url}/v1/render", json=render).json()["decisions"][0] for _ in range(5)]
            assert all(d["outcome"] == "variant" for d in decisions)
            sent = httpx.post(f"{a.url}/v1/events", json={"events": shown(decisions, me["id"])})
            assert sent.json()["accepted"] == 5  # the cap: 5 personalised impressions a week

            def outcome(node: LiveServer) -> str:
                return httpx.post(f"{node.url}/v1/render", json=render, timeout=10).json()["decisions"][0]["outcome"]

            until(lambda: outcome(a) == "default" and outcome(b) == "default", 15.0)
            week = {"cta": datetime.now(UTC) - timedelta(days=7)}
            for app in (node_a, node_b):  # each node's own copy has read them from the store (within a poll)
                until(lambda app=app: app.state.service.activity.local.seen(me["id"], week) == {"cta": 5}, 15.0)

            def load() -> None:  # other readers keep both nodes busy all along
                n = 0
                while not stop.is_set():
                    for node in (a, b):
                        other = {"module": "cta", "profile": consenting_profile(f"reader-{n}")}
                        assert httpx.post(f"{node.url}/v1/render", json=other, timeout=10).status_code == 200
                        n += 1

            loader = threading.Thread(target=load, daemon=True)
            loader.start()

            server.kill()
            down = [outcome(node) for node in (a, b) * 10]
            until(lambda: "redis unreachable" in (node_a.state.service.health().activity_error or ""), 15.0)
            assert down.count("default") >= 19, down

            server.start()  # back, and empty: no persistence
            until(lambda: node_a.state.service.health().activity_error is None, 15.0)
            after = [outcome(node) for node in (a, b) * 10]
            assert after.count("default") >= 19, after
            refilled = redis.Redis.from_url(server.url)
            subject = node_a.state.service.pseudonyms.subject(me["id"])  # Redis keys people by pseudonym
            until(lambda: refilled.zcard(f"caps:imp:cta:{subject}") == 5, 15.0)  # rebuilt from the store
            stop.set()
            loader.join(timeout=15)
    finally:
        stop.set()
        if server.process is not None and server.process.poll() is None:
            server.kill()
