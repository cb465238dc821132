"""What an operator scrapes: Prometheus metrics for render, decisions, releases, events, LLM spend and brand scores.

Multi-process safe the way prometheus-client is: with ``PROMETHEUS_MULTIPROC_DIR``
set (to an empty folder, before the processes start), every worker writes its
samples there and ``/metrics`` on any of them adds up all of them. Without it, each
process reports its own. Nothing here touches the store.

Renders are held and added up in bulk (``rendered``, ``flush``): counted one at a time
through prometheus-client they were 6% of a landing render's instructions and 9.5% of a
fragment's, held they are 1.6% and 3.9% (``bench/instructions.py``, and with ``--off metrics``).
The rest is recorded as it happens: it is rare.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections import deque
from collections.abc import Sequence
from functools import lru_cache, partial
from itertools import chain
from operator import attrgetter

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

RENDER_SECONDS = Histogram(
    "variantly_render_seconds",
    "Time to answer a render request, by route",
    ["route"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
DECISIONS = Counter("variantly_decisions", "Render decisions, by module and outcome", ["module", "outcome"])
RELEASE = Gauge("variantly_release", "The release number being served", multiprocess_mode="max")
RELEASE_LOADED = Gauge(
    "variantly_release_loaded_at_seconds",
    "When the served release was loaded (its age is time() minus this)",
    multiprocess_mode="max",
)
EVENTS = Counter("variantly_events_ingested", "Events recorded (duplicates not counted), by type", ["type"])
GUARDRAIL_FAILURES = Counter(
    "variantly_guardrail_failures", "Slots that failed a policy check, by validator", ["validator"]
)
LLM_TOKENS = Counter(
    "variantly_llm_tokens", "LLM tokens, by model and kind (prompt, cached, completion)", ["model", "kind"]
)
LLM_COST = Counter("variantly_llm_cost_usd", "What LLM calls cost, by model", ["model"])
BRAND_SCORES = Histogram(
    "variantly_brand_score",
    "Brand scores of variants as they were scored (0-100)",
    buckets=(50, 60, 70, 80, 90, 99, 100),
)
BRAND_FAILURES = Counter(
    "variantly_brand_guideline_failures", "Variants failing a brand guideline, by guideline", ["guideline"]
)


# Renders answered since the last flush: their times per route, and their decisions. Deques, since a render on the
# event loop appends while the poller's thread may be flushing (each append and popleft is atomic).
HELD_RENDERS = 256  # a flush at most every this many renders (and every poll, and before every scrape)
_seconds: dict[str, deque[float]] = {}
_decided: deque[Sequence] = deque()
_flushing = threading.Lock()
_module_and_outcome = attrgetter("module", "outcome")


def rendered(route: str, seconds: float, decisions: Sequence) -> None:
    """One render answered: its time, and each module's outcome (``decide.Decision``). Held until the next flush:
    a scrape flushes first, and the poller flushes each poll, so another process's renders reach a multi-process
    scrape within a poll (a second by default)."""
    held = _seconds.get(route)
    if held is None:
        held = _seconds.setdefault(route, deque())
    held.append(seconds)
    _decided.append(decisions)
    if len(_decided) >= HELD_RENDERS:
        flush()


def flush(*, wait: bool = False) -> None:
    """Add the held renders to the Prometheus metrics, one flush at a time. A render that comes while another flush
    runs goes on (what it holds waits for the next); a scrape, or a process leaving, ``wait``s for it, so it counts
    every render answered before it."""
    if not _flushing.acquire(blocking=wait):
        return
    try:
        for route, held in list(_seconds.items()):
            if held:
                _observe_all(_render_seconds(route), [held.popleft() for _ in range(len(held))])
        decided = [_decided.popleft() for _ in range(len(_decided))]
        for (module, outcome), count in Tally(map(_module_and_outcome, chain.from_iterable(decided))).items():
            _decisions(module, outcome).inc(count)
    finally:
        _flushing.release()


def _observe_all(histogram, amounts: list[float]) -> None:
    """``histogram.observe`` for each amount, in one pass: each bucket and the sum increased once. prometheus-client
    has no call for many observations, so this writes the child's own values (``_buckets``, ``_sum``) as its
    ``observe`` does; a test holds the result to ``observe`` called one by one."""
    for index, count in Tally(map(partial(bisect_left, histogram._upper_bounds), amounts)).items():
        histogram._buckets[index].inc(count)
    histogram._sum.inc(math.fsum(amounts))


@lru_cache(maxsize=16)
def _render_seconds(route: str):
    return RENDER_SECONDS.labels(route)


@lru_cache(maxsize=4096)
def _decisions(module: str, outcome: str):
    return DECISIONS.labels(module, outcome)


def brand_scored(score: int | None, failed: list[str]) -> None:
    """One variant scored against the brand guidelines: its score (None: nothing checked) and what it failed."""
    if score is not None:
        BRAND_SCORES.observe(score)
    for guideline in failed:
        BRAND_FAILURES.labels(guideline).inc()


def release_loaded(number: int) -> None:
    RELEASE.set(number)
    RELEASE_LOADED.set(time.time())


def exposition(multiprocess_dir: str | None = None) -> tuple[bytes, str]:
    """The metrics page and its content type; across every process when multi-process mode is on
    (``PROMETHEUS_MULTIPROC_DIR``, which prometheus-client itself reads when it is imported). This process's held
    renders are flushed first."""
    flush(wait=True)
    if multiprocess_dir:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
