"""Benchmark: a retention purge of 1,000,000 expired events, and event ingest while it runs (PostgreSQL).

    .venv/bin/python bench/purge.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                    [--expired 1000000] [--seconds 8] [--senders 2]

On a fresh schema: ``--expired`` events 500 days old are inserted in SQL, a render-only
server starts with its own purge off, and ``--senders`` clients post batches of 5,000 new
events for ``--seconds`` (ingest alone). Then the same senders go on while this process
runs ``purge_expired`` (the library function ``variantly privacy purge`` and the server's
hourly purge call), and the table prints the purge's rows/s beside the ingest rate during
it. Every new event must survive the purge; every expired one must go.
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
from bench.events import BATCH, schema_url
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from variantly.privacy.retention import purge_expired
from variantly.store import Store

EXPIRED_SQL = """
INSERT INTO events (idempotency_key, type, profile_id, module_id, variant_id, arm, cohort_key, at, received_at)
SELECT 'old-' || g, 'impression', 'ps1.' || substr(md5(g::text), 1, 32), 'hero', NULL, 'treatment', NULL,
       now() - interval '500 days', now() - interval '500 days'
FROM generate_series(1, :n) AS g
"""


class Senders:
    """Clients posting 5,000-event batches until stopped; counts what was accepted and how long each batch took."""

    def __init__(self, base: str, token: str, senders: int) -> None:
        self.base, self.token, self.senders = base, token, senders
        self.accepted = 0
        self.times: list[float] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._run = uuid.uuid4().hex[:8]
        self._next = 0

    def _batch(self) -> list[dict]:
        with self._lock:
            start = self._next
            self._next += BATCH
        return [
            {
                "type": "impression",
                "profile_id": f"p-{i % 50_000}",
                "module": "hero",
                "arm": "treatment",
                "idempotency_key": f"{self._run}-{i}",
            }
            for i in range(start, start + BATCH)
        ]

    def _send(self) -> None:
        with httpx.Client(base_url=self.base, headers={"authorization": f"Bearer {self.token}"}, timeout=60) as c:
            while not self._stop.is_set():
                started = time.perf_counter()
                answer = c.post("/v1/events", json={"events": self._batch()})
                answer.raise_for_status()
                with self._lock:
                    self.accepted += answer.json()["accepted"]
                    self.times.append(time.perf_counter() - started)

    def __enter__(self) -> Senders:
        self.started = time.perf_counter()
        self._threads = [threading.Thread(target=self._send) for _ in range(self.senders)]
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stop.set()
        for t in self._threads:
            t.join()
        self.elapsed = time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        return self.accepted / self.elapsed

    @property
    def p99_ms(self) -> float:
        times = sorted(self.times)
        return times[min(len(times) - 1, int(len(times) * 0.99))] * 1000 if times else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--expired", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--senders", type=int, default=2)
    args = parser.parse_args()
    console = Console(width=120)
    url, drop = schema_url(args.database_url)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root, url = prepared_workspace(Path(tmp), url)
            token = renderer_token(url)
            store = Store(url)
            with console.status(f"inserting {args.expired:,} expired events"), store.engine.begin() as conn:
                conn.execute(sa.text(EXPIRED_SQL), {"n": args.expired})
            with store.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE events"))
            env = {"VARIANTLY_PURGE_SECONDS": "0"}
            with variantly_server(root, url, "--render-only", "--no-access-log", env=env) as server:
                with Senders(server.base, token, args.senders) as alone:
                    time.sleep(args.seconds)
                with Senders(server.base, token, args.senders) as during, Progress(console=console) as progress:
                    task = progress.add_task("purging", total=args.expired)
                    done = purge_expired(store, 395, progress=lambda n: progress.advance(task, n))
            with store.engine.connect() as conn:
                left_old = conn.execute(
                    sa.text("SELECT count(*) FROM events WHERE idempotency_key LIKE 'old-%'")
                ).scalar()
                kept = conn.execute(sa.text("SELECT count(*) FROM events")).scalar()
            store.dispose()
        table = Table(
            title=f"Retention purge of {args.expired:,} expired events while {args.senders} senders post "
            f"5,000-event batches ({args.database_url.split('://')[0]})",
            title_justify="left",
        )
        for column in ("", "rows", "seconds", "rows/s", "ingest events/s", "batch p99 ms"):
            table.add_column(column, justify="right")
        table.add_row("ingest alone", "", f"{alone.elapsed:.1f}", "", f"{alone.rate:,.0f}", f"{alone.p99_ms:,.0f}")
        table.add_row(
            "purge, with ingest",
            f"{done.events:,}",
            f"{done.seconds:.1f}",
            f"{done.rows_per_second:,.0f}",
            f"{during.rate:,.0f} ({during.rate / alone.rate:.0%} of alone)",
            f"{during.p99_ms:,.0f}",
        )
        console.print(table)
        console.print(
            f"expired left: {left_old:,}; new events kept: {kept:,} of {alone.accepted + during.accepted:,} accepted"
        )
    finally:
        drop()


if __name__ == "__main__":
    main()
