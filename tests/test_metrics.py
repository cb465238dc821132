"""Render metrics are held and added up in bulk: what a scrape reads must be what one-by-one counting would give."""

from __future__ import annotations

import random
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from conftest import until
from variantly import metrics
from variantly.serving.service import RenderService
from variantly.settings import ProcessSettings
from variantly.store import Store


@dataclass(frozen=True)
class Decided:
    module: str
    outcome: str


def scraped(wanted: str) -> float:
    """One sample of this process's metrics as a scrape reads it (0 before any)."""
    text = metrics.exposition()[0].decode()
    return next((float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(wanted + " ")), 0.0)


def sample(route: str, name: str = "count") -> float:
    return scraped(f'variantly_render_seconds_{name}{{route="{route}"}}')


def decisions(module: str, outcome: str) -> float:
    return scraped(f'variantly_decisions_total{{module="{module}",outcome="{outcome}"}}')


def test_render_times_added_in_bulk_read_as_prometheus_observing_each_one() -> None:
    """The reference is prometheus-client's own ``observe``, one call per render, on a histogram with the same
    buckets: the held times must give the same bucket counts and sum (bounds themselves included)."""
    rng = random.Random(7)
    bounds = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
    amounts = [rng.expovariate(1 / 0.004) for _ in range(3000)] + list(bounds) + [0.0, 2.5, 1000.0]
    one_by_one, in_bulk = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("t", "t", buckets=bounds, registry=one_by_one)
    tested = Histogram("t", "t", buckets=bounds, registry=in_bulk)
    for amount in amounts:
        reference.observe(amount)
    metrics._observe_all(tested, amounts[:1000])
    metrics._observe_all(tested, amounts[1000:])

    def samples(registry: CollectorRegistry) -> dict[str, float]:
        lines = generate_latest(registry).decode().splitlines()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith("t_")}

    expected, got = samples(one_by_one), samples(in_bulk)
    assert got.pop("t_sum") == pytest.approx(expected.pop("t_sum"), rel=1e-12)
    got.pop("t_created"), expected.pop("t_created")
    assert got == expected
    assert expected['t_bucket{le="0.001"}'] > expected['t_bucket{le="0.0005"}'] > 0  # the test sees every bucket


def test_a_scrape_counts_every_render_answered_before_it() -> None:
    count, total = sample("test-scrape"), sample("test-scrape", "sum")
    shown = decisions("test-hero", "variant")
    for _ in range(10):  # fewer than a flush holds: only the scrape's own flush can show them
        metrics.rendered("test-scrape", 0.002, [Decided("test-hero", "variant"), Decided("test-cta", "default")])
    assert sample("test-scrape") == count + 10
    assert sample("test-scrape", "sum") == pytest.approx(total + 0.02)
    assert decisions("test-hero", "variant") == shown + 10
    assert decisions("test-cta", "default") >= 10


def test_renders_recorded_from_several_threads_while_flushing_are_all_counted() -> None:
    before = sample("test-threads")
    done = threading.Event()

    def record() -> None:
        for _ in range(5000):
            metrics.rendered("test-threads", 0.001, [Decided("test-threads", "variant")])

    def flush_until_done() -> None:
        while not done.is_set():
            metrics.flush()

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads change places as often as they can: a gap between two steps shows
    try:
        flusher = threading.Thread(target=flush_until_done)
        flusher.start()
        recorders = [threading.Thread(target=record) for _ in range(4)]
        for thread in recorders:
            thread.start()
        for thread in recorders:
            thread.join()
        done.set()
        flusher.join()
    finally:
        sys.setswitchinterval(switching)
    assert sample("test-threads") == before + 20000
    assert decisions("test-threads", "variant") == 20000


def test_a_busy_process_flushes_without_waiting_for_a_scrape() -> None:
    """Another worker's scrape cannot flush this process: a flush comes every ``HELD_RENDERS`` renders."""
    held = metrics._seconds.setdefault("test-busy", deque())
    metrics.flush(wait=True)  # what earlier tests' renders held would move this process's next flush forward
    for _ in range(metrics.HELD_RENDERS):
        metrics.rendered("test-busy", 0.001, [])
    assert len(held) == 0


def test_the_poller_flushes_renders_held_by_a_quiet_process(workspace_dir: Path, tmp_path: Path) -> None:
    settings = ProcessSettings(
        workspace=workspace_dir, database_url=f"sqlite:///{tmp_path / 's.db'}", poll_seconds=0.05
    )
    service = RenderService(settings, Store(settings.database_url))
    held = metrics._seconds.setdefault("test-quiet", deque())
    metrics.rendered("test-quiet", 0.001, [])
    service.start()
    try:
        until(lambda: len(held) == 0, 10)
    finally:
        service.stop()
        service.store.dispose()
