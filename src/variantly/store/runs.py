"""Runs, finished jobs and LLM calls. A job and its variants are saved in one
transaction: a run killed at any moment leaves each job either wholly done or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from variantly.errors import NotFound
from variantly.store.db import Store
from variantly.store.schema import GenerationJobRow, LLMCallRow, RunRow, VariantRow, utcnow
from variantly.store.variants import insert_variants


def create_run(store: Store, run_id: str, *, actor: str, options: dict[str, Any]) -> None:
    with store.session() as session:
        session.add(RunRow(id=run_id, status="running", actor=actor, options=options, progress={}, message=""))


def update_run(
    store: Store, run_id: str, *, progress: dict[str, Any], status: str | None = None, message: str | None = None
) -> None:
    with store.session() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            return
        row.progress = progress
        if status is not None:
            row.status = status
            if status != "running":
                row.finished_at = utcnow()
        if message is not None:
            row.message = message


def get_run(store: Store, run_id: str) -> RunRow:
    with store.sessions() as session:
        row = session.get(RunRow, run_id)
        if row is None:
            raise NotFound(f"no run '{run_id}'")
        return row


def list_runs(store: Store, limit: int = 20) -> list[RunRow]:
    with store.sessions() as session:
        return list(session.scalars(select(RunRow).order_by(RunRow.started_at.desc()).limit(limit)))


@dataclass(frozen=True)
class FinishedJob:
    """A job's outcome as rows: its own, its variants (with the audit log's reason for each), its calls."""

    job: GenerationJobRow
    variants: list[VariantRow]
    calls: list[LLMCallRow]
    reasons: list[str]  # one per variant: why it is pending or guardrail_failed


def save_jobs(store: Store, jobs: list[FinishedJob], *, actor: str) -> list[int]:
    """Persist finished jobs with their variants and calls in one transaction; returns variants added per job.

    A run saves the jobs that finished together at once: a wave of answers arrives
    together, and one transaction for all of them costs a fraction of one each.
    A job retried after a failure keeps its key: the new outcome replaces the old one.
    """
    with store.session() as session:
        variants = [row for finished in jobs for row in finished.variants]
        reasons = [reason for finished in jobs for reason in finished.reasons]
        added = (  # a batch of failed jobs has none: no query for them
            insert_variants(session, variants, actor=actor, reasons=reasons) if variants else set()
        )
        session.add_all([call for finished in jobs for call in finished.calls])
        keys = [finished.job.key for finished in jobs]
        earlier = set(session.scalars(select(GenerationJobRow.key).where(GenerationJobRow.key.in_(keys))))
        for finished in jobs:
            if finished.job.key in earlier:
                session.merge(finished.job)
            else:
                session.add(finished.job)
    return [sum(row.id in added for row in finished.variants) for finished in jobs]


def save_calls(store: Store, calls: list[LLMCallRow]) -> None:
    """Answered calls of jobs that did not finish (an interrupted run): paid for, so recorded."""
    if calls:
        with store.session() as session:
            session.add_all(calls)
