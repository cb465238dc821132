"""An erasure request: a person's events and exposures deleted, their caps forgotten everywhere, the act recorded.

The store's rows go in one transaction per person. Redis keys go at once (when there is a
Redis); every render process drops the person from its own memory at its next poll, because
the erasure is written to ``privacy_log`` with the cache keys to forget
(``RenderService.refresh_erasures``). The log names the person only by a keyed hash that
never rotates, so a repeated request is recognised ("already erased on ...") and nothing in
it reveals the id. Idempotent: erasing twice deletes what arrived in between, and says so.

Later renders and caps treat the id as new, and later lift reports no longer count it.
Figures reported before the erasure are not revised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from variantly.serving.profiles import known_id
from variantly.serving.pseudonyms import Pseudonyms
from variantly.store import Store, rows_touched
from variantly.store.schema import EventRow, ExposureRow, PrivacyLogRow


@dataclass(frozen=True)
class Erasure:
    """What one erasure did: the keyed hash it is logged under, the rows deleted, and an earlier erasure if any."""

    logged_as: str
    events: int
    exposures: int
    caps_forgotten: int
    erased_before: datetime | None

    @property
    def summary(self) -> str:
        again = f"; already erased on {self.erased_before:%Y-%m-%d %H:%M} UTC" if self.erased_before else ""
        return f"{self.events} event(s), {self.exposures} exposure(s) deleted{again}"


def erase_people(
    store: Store,
    pseudonyms: Pseudonyms,
    profile_ids: Iterable[str],
    *,
    actor: str,
    forget: Callable[[set[str]], int] | None = None,
) -> list[Erasure]:
    """Erase each id (duplicates once). ``forget`` drops cache keys from this process and Redis at once; other
    processes follow within a poll. Every id is checked before any is erased (``known_id``)."""
    done = []
    for profile_id in [known_id(i, "profile_ids") for i in dict.fromkeys(profile_ids)]:
        forms = pseudonyms.every(profile_id)
        subjects = sorted({pseudonyms.under(v, profile_id) for v in pseudonyms.keys})
        logged_as = pseudonyms.audit(profile_id)
        with store.session() as session:
            before = session.scalar(
                select(PrivacyLogRow.at)
                .where(PrivacyLogRow.action == "erase", PrivacyLogRow.subject == logged_as)
                .order_by(PrivacyLogRow.id.desc())
                .limit(1)
            )
            events = rows_touched(session.execute(delete(EventRow).where(EventRow.profile_id.in_(forms))))
            exposures = rows_touched(session.execute(delete(ExposureRow).where(ExposureRow.profile_id.in_(forms))))
            session.add(
                PrivacyLogRow(
                    action="erase",
                    subject=logged_as,
                    forget=subjects,
                    detail={"events": events, "exposures": exposures, "again": before is not None},
                    actor=actor,
                )
            )
        forgotten = forget(set(subjects)) if forget is not None else 0
        done.append(Erasure(logged_as, events, exposures, forgotten, before))
    return done
