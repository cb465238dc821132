"""Clear profile ids already in a store turned into pseudonyms, in batches (``variantly privacy pseudonymise``).

Migration 0010 does the same once for stores made before pseudonymisation; this is for a
store that ran with ``events.pseudonymise: false`` and is switched on. Rows already holding
a pseudonym are left alone, so it can be run again after an interruption.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select, update

from variantly.serving.pseudonyms import Pseudonyms, is_pseudonym
from variantly.store import Store
from variantly.store.schema import EventRow, ExposureRow, PrivacyLogRow

BATCH = 5000


@dataclass(frozen=True)
class Converted:
    events: int
    exposures: int


def pseudonymise_store(store: Store, pseudonyms: Pseudonyms, *, actor: str, batch: int = BATCH) -> Converted:
    events_table, exposures_table = cast(Table, EventRow.__table__), cast(Table, ExposureRow.__table__)
    events = exposures = 0
    last = 0
    while True:
        with store.session() as session:
            rows = session.execute(
                select(EventRow.id, EventRow.profile_id, EventRow.idempotency_key)
                .where(EventRow.id > last)
                .order_by(EventRow.id)
                .limit(batch)
            ).all()
            changed = [
                {"row": i, "profile": pseudonyms.subject(p), "key": pseudonyms.stored_key(k)}
                for i, p, k in rows
                if not is_pseudonym(p)
            ]
            if changed:
                session.connection().execute(
                    update(events_table)
                    .where(events_table.c.id == bindparam("row"))
                    .values(profile_id=bindparam("profile"), idempotency_key=bindparam("key")),
                    changed,
                )
        events += len(changed)
        if len(rows) < batch:
            break
        last = rows[-1][0]
    with store.session() as session:
        clear = [p for p in session.scalars(select(ExposureRow.profile_id).distinct()) if not is_pseudonym(p)]
        for start in range(0, len(clear), batch):
            pairs = [{"old": p, "new": pseudonyms.subject(p)} for p in clear[start : start + batch]]
            session.connection().execute(
                update(exposures_table)
                .where(exposures_table.c.profile_id == bindparam("old"))
                .values(profile_id=bindparam("new")),
                pairs,
            )
        exposures = len(clear)
        session.add(
            PrivacyLogRow(
                action="pseudonymise", detail={"events": events, "profiles_in_exposures": exposures}, actor=actor
            )
        )
    return Converted(events, exposures)
