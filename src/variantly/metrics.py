"""What an operator scrapes: Prometheus metrics for render, decisions, releases, events, LLM spend and brand scores.

Multi-process safe the way prometheus-client is: with ``PROMETHEUS_MULTIPROC_DIR``
set (to an empty folder, before the processes start), every worker writes its
samples there and ``/metrics`` on any of them adds up all of them. Without it, each
process reports its own. Recording costs about a microsecond; nothing here touches
the store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache

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


def rendered(route: str, seconds: float, decisions: Sequence) -> None:
    """One render answered: its time, and each module's outcome."""
    _render_seconds(route).observe(seconds)
    for decision in decisions:
        _decisions(decision.module, decision.outcome).inc()


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
    (``PROMETHEUS_MULTIPROC_DIR``, which prometheus-client itself reads when it is imported)."""
    if multiprocess_dir:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
