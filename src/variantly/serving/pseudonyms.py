"""Profile ids as the store, Redis and every process's memory keep them: a keyed hash, never the CRM's id.

A profile id from a CRM is personal data. With ``events.pseudonymise`` on (the default) the
store keeps ``ps1.<32 hex>``: HMAC-SHA256 of the id under the deployment's key, version 1.
A copied events table then names nobody; a lookup for a person (caps, export, erasure)
hashes the id it is given the same way. Idempotency keys a sender made are hashed too (they
often carry the id: ``send-42:p1:cta``).

The keys live in the store's ``secrets`` table (``pseudonym_key.N``). Rotating adds version
N+1: new events use it, and lookups for a person try every version still held, so
``variantly privacy export`` and ``erase`` find rows written under any of them (see the
README for the procedure). Caches (in-process and Redis) always key by the current version,
even with pseudonymisation off: memory and Redis never hold a clear id either way.

With it off, the store keeps clear ids (rows already hashed stay hashed: nothing can undo a
hash), and ``variantly privacy pseudonymise`` converts the clear ones later.

Cost: one HMAC per render that reads a frequency cap (0.8 us beside the render's 100-200
us), and two per recorded event. Recording 150,000 events into SQLite in batches of 5,000,
ids and keys random as CRMs and senders make them: 24,100 events/s clear, 18,800
pseudonymised (in-process, this machine; the rest of the difference is longer index keys).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import func, select

from variantly.auth import shared_secret
from variantly.store import Store
from variantly.store.schema import PrivacyLogRow, SecretRow

KEY_PREFIX = "pseudonym_key."
AUDIT_KEY = "erasure_key"  # never rotated: a repeated erasure request is recognised by its hash
PSEUDONYM = re.compile(r"^ps\d+\.[0-9a-f]{32}$")


def is_pseudonym(value: str) -> bool:
    return bool(PSEUDONYM.match(value))


@dataclass(frozen=True)
class Pseudonyms:
    """The deployment's keys and whether the store writes pseudonyms. ``Pseudonyms()`` (no keys) is clear mode
    for tests and tools that never touch a store."""

    keys: dict[int, bytes] = field(default_factory=dict)
    audit_key: bytes = b""
    on: bool = True

    @cached_property
    def current(self) -> int | None:
        """The newest key's version (worked out once: every render with caps asks)."""
        return max(self.keys) if self.keys else None

    def under(self, version: int, profile_id: str) -> str:
        return f"ps{version}.{hmac_sha256_hex(self.keys[version], profile_id.encode())[:32]}"

    def subject(self, profile_id: str) -> str:
        """What caches key a person by: the pseudonym under the current key (the id itself if there is none)."""
        if self.current is None or (profile_id.startswith("ps") and is_pseudonym(profile_id)):
            return profile_id
        return self.under(self.current, profile_id)

    def stored(self, profile_id: str) -> str:
        """What the store writes for a person: the current pseudonym when on, else the id."""
        return self.subject(profile_id) if self.on else profile_id

    def stored_key(self, idempotency_key: str) -> str:
        """An idempotency key as stored: hashed when on. A sender's often carries the profile id, and a derived one
        (``auto:``) is a plain hash of content that includes it; a signature's (``sig:``) is keyed already."""
        if not self.on or self.current is None or idempotency_key.startswith(("sig:", "key.")):
            return idempotency_key
        hashed = hmac_sha256_hex(self.keys[self.current], b"key\x1f" + idempotency_key.encode())
        return f"key.{hashed[:40]}"

    def every(self, profile_id: str) -> list[str]:
        """Every form the store may hold this person under: the clear id and a pseudonym per key version."""
        return [profile_id, *(self.under(v, profile_id) for v in sorted(self.keys))]

    def audit(self, profile_id: str) -> str:
        """The keyed hash an erasure is recorded under: the same for the same person, whatever key is current."""
        return "erased." + hmac_sha256_hex(self.audit_key, profile_id.encode())[:32]


def hmac_sha256_hex(key: bytes, data: bytes) -> str:
    """HMAC-SHA256 (RFC 2104) of ``data`` as hex, from the key's inner and outer hashes made once per key: 0.8 us a
    call against 1.9 us copying an ``hmac.HMAC`` and 3.6 us for ``hmac.digest`` (timeit, a 43-byte key). A render
    with caps hashes the profile id once and signs each decision; an event is hashed twice."""
    inner, outer = hmac_pads(key)
    digest = inner.copy()
    digest.update(data)
    result = outer.copy()
    result.update(digest.digest())
    return result.hexdigest()


@lru_cache(maxsize=16)
def hmac_pads(key: bytes) -> tuple[Any, Any]:
    """The key's inner and outer SHA-256 states (RFC 2104), to be copied, never updated."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    return hashlib.sha256(bytes(b ^ 0x36 for b in key)), hashlib.sha256(bytes(b ^ 0x5C for b in key))


def load_pseudonyms(store: Store, *, on: bool = True) -> Pseudonyms:
    """The keys from the store, made on first use (every process of a deployment shares them)."""
    with store.sessions() as session:
        rows = session.scalars(select(SecretRow).where(SecretRow.name.like(f"{KEY_PREFIX}%"))).all()
    keys = {int(row.name.removeprefix(KEY_PREFIX)): row.value.encode() for row in rows}
    if not keys:
        keys = {1: shared_secret(store, f"{KEY_PREFIX}1").encode()}
    return Pseudonyms(keys, shared_secret(store, AUDIT_KEY).encode(), on)


def rotate(store: Store) -> int:
    """Add the next key version; processes use it from their next start. Returns the new version."""
    version = (load_pseudonyms(store).current or 0) + 1
    shared_secret(store, f"{KEY_PREFIX}{version}")
    return version


def latest_erasure(store: Store) -> int:
    with store.sessions() as session:
        return session.scalar(select(func.coalesce(func.max(PrivacyLogRow.id), 0))) or 0


def erased_since(store: Store, after: int) -> tuple[int, set[str]]:
    """Who was erased since log entry ``after`` (what caches hold them under), and the last entry read: every
    process drops them at its next poll."""
    with store.sessions() as session:
        rows = _erasures_after(session, after, PrivacyLogRow.forget)
    subjects = {s for _, forget in rows for s in (forget or [])}
    return (rows[-1][0] if rows else after), subjects


def _erasures_after(session: Any, after: int, *columns: Any) -> list[Any]:
    """The log's erasures after entry ``after``, oldest first: each entry's id, then ``columns``. Caches read them for
    whom to forget (``erased_since``), event ingest for whom not to record again (``ErasureLog``)."""
    query = select(PrivacyLogRow.id, *columns).where(PrivacyLogRow.id > after, PrivacyLogRow.action == "erase")
    return list(session.execute(query.order_by(PrivacyLogRow.id)).all())


class ErasureLog:
    """When each erased person was last erased (by the keyed hash the log names them by), as far as the log has been
    read. Each read goes on from the last entry read, just before the caller writes: recording a batch of events
    sees every erasure committed before it (``events.record_events``), for the cost of a primary-key range that is
    usually empty. Looking up the batch's 5,000 people in the log instead (5,000 hashes in an ``IN`` list) took
    event ingest on PostgreSQL from 19,000-20,000 events/s to 14,000-16,000 (``bench/events.py``). Read on, and the
    batch's people hashed only once anyone has been erased: 19,500 events/s with nobody erased and 19,000 with 1,000
    people erased, against 21,000 without the check (medians of three interleaved runs, which strayed by a fifth).

    Holds every erasure the deployment has made: about 150 bytes each, rare next to events. An erasure's log entry
    takes its id as its transaction commits (``erasure.erase_people`` adds it last), so a later id committing
    before an earlier one, which this reading would skip, needs two erasures committing within that moment."""

    def __init__(self) -> None:
        self._read = 0
        self._at: dict[str, datetime] = {}

    def read(self, session: Any) -> dict[str, datetime]:
        """Every erasure so far, by keyed hash: the log read on from where the last read ended."""
        rows = _erasures_after(session, self._read, PrivacyLogRow.subject, PrivacyLogRow.at)
        for _, subject, at in rows:
            if subject is not None and (subject not in self._at or at > self._at[subject]):
                self._at[subject] = at
        if rows:
            self._read = max(self._read, rows[-1][0])
        return self._at
