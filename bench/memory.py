"""Benchmark: a render process's memory over 200,000 impression events, without and with Redis.

    .venv/bin/python bench/memory.py [--events 200000] [--redis-url redis://127.0.0.1:6379/0]

Starts ``variantly serve --render-only`` (SQLite store), posts impressions of the
capped ``cta`` module for distinct profiles in 5,000-event batches, renders in
between, and reads the server's resident memory (RSS) before and after. Then the
same with ``--redis-url`` when a Redis answers there.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from bench.common import prepared_workspace, renderer_token, variantly_server
from rich.console import Console
from rich.table import Table

BATCH = 5000


def run(root: Path, url: str, events: int, extra: list[str], env: dict) -> dict:
    with variantly_server(root, url, "--render-only", "--no-access-log", *extra, env=env) as server:
        client = httpx.Client(base_url=server.base, timeout=60)
        me = {
            "id": "mem-1",
            "traits": {"company_size": 20, "locale": "en"},
            "consent": {"personalisation": True, "marketing_email": True},
        }
        decision = client.post("/v1/render", json={"module": "cta", "profile": me}).json()["decisions"][0]
        run_id = uuid.uuid4().hex[:6]

        def batch(start: int, count: int) -> list[dict]:
            return [
                {
                    "type": "impression",
                    "profile_id": f"{run_id}-{i}",
                    "module": "cta",
                    "variant_id": decision["variant_id"],
                    "arm": "treatment",
                    "cohort": decision["cohort"],
                    "signature": None,
                    "idempotency_key": f"{run_id}-{i}",
                }
                for i in range(start, start + count)
            ]

        headers = {"authorization": f"Bearer {env['BENCH_TOKEN']}"}
        client.post("/v1/events", json={"events": batch(0, BATCH)}, headers=headers).raise_for_status()  # warm up
        time.sleep(1.5)
        before = server.rss_mb()
        started = time.perf_counter()
        steps = []
        for start in range(BATCH, events + BATCH, BATCH):
            client.post("/v1/events", json={"events": batch(start, BATCH)}, headers=headers).raise_for_status()
            client.post("/v1/render", json={"module": "cta", "profile": me}).raise_for_status()
            if start % (events // 4) == 0:
                steps.append(server.rss_mb())
        elapsed = time.perf_counter() - started
        time.sleep(1.5)  # let the poller read what the store has
        after = server.rss_mb()
        health = client.get("/healthz").json()
    return {"before": before, "after": after, "seconds": elapsed, "status": health["status"], "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--redis-url", default=os.environ.get("VARIANTLY_REDIS_URL", "redis://127.0.0.1:6379/0"))
    args = parser.parse_args()
    console = Console(width=110)
    table = Table(
        title=f"Render process memory over {args.events:,} impression events (distinct profiles, capped module)",
        title_justify="left",
    )
    columns = (
        "activity",
        "RSS before MB",
        "at 1/4, 1/2, 3/4, all",
        "RSS after MB",
        "growth MB",
        "events/s",
        "/healthz",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "activity" else "right")
    with tempfile.TemporaryDirectory() as tmp:
        root, url = prepared_workspace(Path(tmp))
        token = renderer_token(url)
        setups = [("in process (bounded LRU)", [], {})]
        if _redis_answers(args.redis_url):
            prefix = f"bench{uuid.uuid4().hex[:6]}:"
            setups.append(("Redis", ["--redis-url", args.redis_url], {"VARIANTLY_REDIS_PREFIX": prefix}))
        else:
            console.print(f"no Redis at {args.redis_url}: measuring without it only")
        for name, extra, env in setups:
            r = run(root, url, args.events, extra, env | {"BENCH_TOKEN": token})
            steps = ", ".join(f"{m:.0f}" for m in r["steps"])
            table.add_row(
                name,
                f"{r['before']:.0f}",
                steps,
                f"{r['after']:.0f}",
                f"{r['after'] - r['before']:+.1f}",
                f"{args.events / r['seconds']:,.0f}",
                r["status"],
            )
        if len(setups) > 1:
            import redis

            client = redis.Redis.from_url(args.redis_url)
            for key in client.scan_iter(f"{setups[1][2]['VARIANTLY_REDIS_PREFIX']}*"):
                client.delete(key)
    console.print(table)


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


if __name__ == "__main__":
    main()
