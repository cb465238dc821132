"""Runs, finished jobs and LLM calls. A job and its variants are saved in one
transaction: a run killed at any moment leaves each job either wholly done or not."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from variantly.errors import NotFound
from variantly.store.db import Store, rows_touched
from variantly.store.schema import BatchRow, GenerationJobRow, JobClaimRow, LLMCallRow, RunRow, VariantRow, utcnow
from variantly.store.variants import insert_variants

CLAIM_LEASE = timedelta(minutes=2)  # a claim not renewed this long is a killed run's: another run may take it
CLAIM_RENEWAL = 30.0  # seconds between a live run's renewals: four to a lease


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


def claim_job(store: Store, key: str, run_id: str, *, after: str | None) -> str | None:
    """Take job ``key`` for ``run_id``; None when it is this run's now, else the run that has it: generating it,
    done with it since this run planned it (``after``: the run that had last ended it then, None if none had), or
    waiting for it in a batch it sent. A
    claim whose process is gone is taken over at once (a run killed on this machine, then run again to resume),
    and one its run stopped renewing for ``CLAIM_LEASE`` (a run killed on another machine) after that.

    The claim is taken first and the saved jobs read after: a run releases its claims only once its jobs are saved,
    so a job read as unsaved while its claim is held here stays unsaved. Read the other way round, a run that saved
    the job and released it between the two reads left it free to be made twice (seen under load in CI)."""
    insert = postgres_insert if store.engine.dialect.name == "postgresql" else sqlite_insert
    with store.session() as session:
        now = utcnow()
        mine = {"run_id": run_id, "holder": f"{socket.gethostname()}:{os.getpid()}", "renewed_at": now}
        claim = insert(JobClaimRow).values(key=key, **mine).on_conflict_do_nothing().returning(JobClaimRow.key)
        if session.execute(claim).first() is None:  # RETURNING: PostgreSQL's rowcount said 1 for a conflict
            held = session.execute(
                select(JobClaimRow.run_id, JobClaimRow.holder, JobClaimRow.renewed_at).where(JobClaimRow.key == key)
            ).one_or_none()
            if held is None:  # released between the two statements: try once more
                if session.execute(claim).first() is None:
                    return "another run"
            else:
                holder_run, holder, renewed_at = held
                if holder_run != run_id and renewed_at >= now - CLAIM_LEASE and _alive(holder):
                    return holder_run
                taken_over = session.execute(  # only if nobody took it over first
                    update(JobClaimRow)
                    .where(
                        JobClaimRow.key == key, JobClaimRow.run_id == holder_run, JobClaimRow.renewed_at == renewed_at
                    )
                    .values(**mine)
                )
                if not rows_touched(taken_over):
                    return holder_run
        ended = session.get(GenerationJobRow, key)
        if ended is not None and ended.run_id not in (run_id, after):
            elsewhere: str | None = ended.run_id  # another run saved it since the plan
        else:
            elsewhere = _in_open_batch(session, key)  # or sent it in a batch since: made when that is collected
        if elsewhere is not None:
            session.execute(delete(JobClaimRow).where(JobClaimRow.key == key, JobClaimRow.run_id == run_id))
        return elsewhere


# A batch's job keys, by batch id, once read: a batch's jobs never change after it is saved, and a run asks for every
# job whether an open batch holds it. Reading the batch's jobs each time took 8.2 ms a claim with a batch of 5,000
# jobs open (40 s for a run of 5,000 jobs, SQLite); kept, 0.10 ms.
# (A batch is known by its store, id and time of saving: a process may hold two stores, tests many.)
_BATCH_KEYS: dict[tuple[str, str, datetime], frozenset[str]] = {}


def _in_open_batch(session: Session, key: str) -> str | None:
    """The run that sent job ``key`` in a batch not collected yet, if one did. A batch run releases its claims
    once its batch is saved, so a run that planned the job before then would otherwise make it live as well."""
    store_url = str(session.get_bind().engine.url)
    open_batches = select(BatchRow.id, BatchRow.run_id, BatchRow.created_at).where(BatchRow.status != "collected")
    for batch_id, sender, created_at in session.execute(open_batches):
        known = (store_url, batch_id, created_at)
        keys = _BATCH_KEYS.get(known)
        if keys is None:
            jobs = session.scalar(select(BatchRow.jobs).where(BatchRow.id == batch_id)) or []
            if len(_BATCH_KEYS) > 10_000:  # batches of years: start again rather than grow
                _BATCH_KEYS.clear()
            keys = _BATCH_KEYS[known] = frozenset(job["key"] for job in jobs)
        if key in keys:
            return sender
    return None


def _alive(holder: str) -> bool:
    """Whether the process holding a claim still runs, as far as this machine can tell (one on another machine is
    taken as alive: its claims lapse with the lease)."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def renew_claims(store: Store, run_id: str) -> None:
    """The run is alive: its claims hold for another lease."""
    with store.session() as session:
        session.execute(update(JobClaimRow).where(JobClaimRow.run_id == run_id).values(renewed_at=utcnow()))


def release_claims(store: Store, run_id: str) -> None:
    """The run is over: what it did not finish is free for the next."""
    with store.session() as session:
        session.execute(delete(JobClaimRow).where(JobClaimRow.run_id == run_id))


def save_calls(store: Store, calls: list[LLMCallRow]) -> None:
    """Answered calls of jobs that did not finish (an interrupted run): paid for, so recorded."""
    if calls:
        with store.session() as session:
            session.add_all(calls)
