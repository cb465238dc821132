"""Variants and their audit trail: every state change is one audited transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from variantly.errors import Conflict, InvalidTransition, NotFound
from variantly.store.db import Store
from variantly.store.schema import STATUSES, AuditEntry, VariantRow, utcnow

# Which status a variant may move to from which. Anything else is refused.
TRANSITIONS: dict[str, set[str]] = {
    "pending": {"approved", "rejected", "stale", "pending", "guardrail_failed", "retired"},
    "guardrail_failed": {"rejected", "pending", "guardrail_failed", "stale"},
    "approved": {"retired", "stale", "pending", "guardrail_failed", "rejected"},
    "rejected": {"pending"},
    "stale": {"retired"},
    "retired": {"pending"},
}


def snapshot(row: VariantRow) -> dict[str, Any]:
    return {"status": row.status, "slots": row.slots, "version": row.version}


def insert_variants(session: Session, rows: list[VariantRow], *, actor: str, reasons: list[str]) -> set[str]:
    """Add new variants and their 'create' audit entries to ``session``; ids that exist are skipped.
    Returns the ids added.

    One query finds the existing ids and one flush writes the rest: a generation job
    saves its candidates together, and a query and flush per variant would double its cost.
    """
    assert all(row.status in STATUSES for row in rows), [row.status for row in rows]
    existing = set(session.scalars(select(VariantRow.id).where(VariantRow.id.in_([row.id for row in rows]))))
    new = [(row, reason) for row, reason in zip(rows, reasons, strict=True) if row.id not in existing]
    for row, _ in new:
        row.version = 1
    session.add_all([row for row, _ in new])
    session.flush()
    session.add_all(
        AuditEntry(
            variant_id=row.id,
            actor=actor,
            action="create",
            from_status=None,
            to_status=row.status,
            before=None,
            after=snapshot(row),
            reason=reason,
        )
        for row, reason in new
    )
    return {row.id for row, _ in new}


def add_variant(store: Store, row: VariantRow, *, actor: str, reason: str = "") -> bool:
    """Insert one variant in its own transaction. False if the id exists."""
    with store.session() as session:
        return bool(insert_variants(session, [row], actor=actor, reasons=[reason]))


def change_variant(
    store: Store,
    variant_id: str,
    *,
    expected_version: int,
    actor: str,
    action: str,
    to_status: str,
    reason: str = "",
    slots: dict[str, str] | None = None,
    report: dict[str, Any] | None = None,
) -> VariantRow:
    """Move a variant to ``to_status`` if it is still at ``expected_version``.

    The version check is part of the UPDATE's WHERE clause, so of two concurrent
    writers exactly one succeeds; the other gets ``Conflict`` and nothing changes.
    """
    with store.session() as session:
        row = session.get(VariantRow, variant_id)
        if row is None:
            raise NotFound(f"no variant '{variant_id}'")
        if row.version != expected_version:
            raise Conflict(f"variant {variant_id} is at version {row.version}, not {expected_version}: reload it")
        if to_status not in TRANSITIONS[row.status]:
            raise InvalidTransition(f"cannot {action} a variant that is {row.status}")
        before = snapshot(row)
        values: dict[str, Any] = {"status": to_status, "version": row.version + 1, "updated_at": utcnow()}
        if slots is not None:
            values["slots"] = slots
        if report is not None:
            values["report"] = report
        result = session.execute(
            update(VariantRow)
            .where(VariantRow.id == variant_id, VariantRow.version == expected_version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's result has one
            raise Conflict(f"variant {variant_id} changed while you were editing: reload it")
        session.expire(row)
        session.refresh(row)
        session.add(
            AuditEntry(
                variant_id=variant_id,
                actor=actor,
                action=action,
                from_status=before["status"],
                to_status=to_status,
                before=before,
                after=snapshot(row),
                reason=reason,
            )
        )
        return row


def get_variant(store: Store, variant_id: str) -> VariantRow:
    with store.sessions() as session:
        row = session.get(VariantRow, variant_id)
        if row is None:
            raise NotFound(f"no variant '{variant_id}'")
        return row


def history(store: Store, variant_id: str) -> list[AuditEntry]:
    with store.sessions() as session:
        return list(
            session.scalars(select(AuditEntry).where(AuditEntry.variant_id == variant_id).order_by(AuditEntry.id))
        )


def approved_rows(store: Store) -> list[VariantRow]:
    with store.sessions() as session:
        return list(session.scalars(select(VariantRow).where(VariantRow.status == "approved")))


def existing_ids(store: Store, ids: Iterable[str]) -> set[str]:
    ids = list(ids)
    found: set[str] = set()
    with store.sessions() as session:
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            found |= set(session.scalars(select(VariantRow.id).where(VariantRow.id.in_(chunk))))
    return found
