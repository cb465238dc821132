"""Benchmark: event ingest over HTTP, 5,000-event batches, on PostgreSQL (or any store URL).

    .venv/bin/python bench/events.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                     [--events 200000] [--senders 2] [--erased 0]

Starts ``variantly serve --render-only`` on a fresh schema of that database, then
``--senders`` clients post batches of 5,000 impression events (each with its own
idempotency key) as fast as the server takes them, and prints events/s. Then it
sends the first batches again and checks that every event is counted once.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import sqlalchemy as sa
from bench.common import prepared_workspace, renderer_token, variantly_server
from rich.console import Console
from rich.table import Table

BATCH = 5000


def batches(run: str, total: int) -> list[list[dict]]:
    events = [
        {
            "type": "impression",
            "profile_id": f"p-{i % 50_000}",
            "module": "hero",
            "variant_id": None,
            "arm": "treatment",
            "cohort": "behaviour=*;segment=startup;industry=*;locale=en",
            "idempotency_key": f"{run}-{i}",
            "at": "2026-11-30T12:00:00Z",
        }
        for i in range(total)
    ]
    return [events[i : i + BATCH] for i in range(0, total, BATCH)]


def erase_others(url: str, count: int) -> None:
    """Erasure requests for ``count`` people who send nothing in the run: each batch then hashes its people to look
    them up among the erased (``events.record_events``)."""
    from variantly.privacy.erasure import erase_people
    from variantly.serving.pseudonyms import load_pseudonyms
    from variantly.store import Store

    store = Store(url)
    try:
        erase_people(store, load_pseudonyms(store), [f"gone-{i}" for i in range(count)], actor="bench")
    finally:
        store.dispose()


def schema_url(base: str) -> tuple[str, callable]:
    """A fresh PostgreSQL schema for this run (dropped afterwards); other URLs as given."""
    if not base.startswith("postgresql"):
        return base, lambda: None
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))

    def drop() -> None:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))

    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--senders", type=int, default=2)
    parser.add_argument(
        "--erased", type=int, default=0, help="people erased before the run (none of them in it): the log is read"
    )
    args = parser.parse_args()
    console = Console(width=110)
    url, drop = schema_url(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root, url = prepared_workspace(Path(tmp), url)
            token = renderer_token(url)
            if args.erased:
                erase_others(url, args.erased)
            run = uuid.uuid4().hex[:8]
            work = batches(run, args.events)
            with variantly_server(root, url, "--render-only", "--no-access-log") as server:
                headers = {"authorization": f"Bearer {token}"}
                httpx.post(
                    f"{server.base}/v1/events", json={"events": batches(run + "w", 10)[0]}, headers=headers
                )  # warm up
                queue = list(enumerate(work))
                results: list[tuple[int, int, float]] = []
                lock = threading.Lock()

                def sender() -> None:
                    with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
                        while True:
                            with lock:
                                if not queue:
                                    return
                                _, batch = queue.pop(0)
                            started = time.perf_counter()
                            answer = client.post("/v1/events", json={"events": batch})
                            answer.raise_for_status()
                            body = answer.json()
                            with lock:
                                results.append((body["accepted"], body["duplicates"], time.perf_counter() - started))

                started = time.perf_counter()
                threads = [threading.Thread(target=sender) for _ in range(args.senders)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                elapsed = time.perf_counter() - started
                accepted = sum(r[0] for r in results)
                again = [
                    httpx.post(f"{server.base}/v1/events", json={"events": b}, headers=headers).json() for b in work[:3]
                ]
        table = Table(
            title=f"Event ingest: {args.events:,} events in {BATCH:,}-event batches, {args.senders} senders, "
            f"{args.database_url.split('://')[0]}, {args.erased:,} people erased before",
            title_justify="left",
        )
        for column in ("events/s", "accepted", "duplicates", "batch p50 ms", "batch max ms", "resent: duplicates"):
            table.add_column(column, justify="right")
        times = sorted(r[2] for r in results)
        table.add_row(
            f"{accepted / elapsed:,.0f}",
            f"{accepted:,}",
            f"{sum(r[1] for r in results):,}",
            f"{times[len(times) // 2] * 1000:,.0f}",
            f"{times[-1] * 1000:,.0f}",
            f"{sum(a['duplicates'] for a in again):,} of {sum(len(b) for b in work[:3]):,}",
        )
        console.print(table)
    finally:
        drop()


if __name__ == "__main__":
    main()
