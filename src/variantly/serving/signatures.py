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

import hmac
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from variantly.serving.pseudonyms import hmac_pads, hmac_sha256_hex


class Signable(Protocol):
    """A decision as signing sees it (``decide.Decision``): its own part of the signed message."""

    @property
    def signed(self) -> bytes: ...


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


def decision_part(module: str, variant_id: str | None, arm: str, cohort: str | None) -> bytes:
    """What a signature binds of a decision itself; the person comes before it and the time after (``_framing``)."""
    return f"{module}\x1f{variant_id or ''}\x1f{arm}\x1f{cohort or ''}".encode()


def _framing(profile_id: str, issued_us: int) -> tuple[bytes, bytes]:
    return f"{profile_id}\x1f".encode(), f"\x1f{issued_us}".encode()


def _issued(issued_us: int) -> str:
    """What a signature starts with: when it was issued (hex microseconds), then the dot."""
    return f"{issued_us:x}."


def _written(issued: str, mac_hex: str) -> str:
    """A signature as sent: ``_issued``'s start, then the mac's first 32 hex digits."""
    return issued + mac_hex[:32]


def decision_signature(
    key: bytes, profile_id: str, module: str, variant_id: str | None, arm: str, cohort: str | None, issued_us: int
) -> str:
    person, when = _framing(profile_id, issued_us)
    return _written(
        _issued(issued_us), hmac_sha256_hex(key, person + decision_part(module, variant_id, arm, cohort) + when)
    )


def sign_decisions(key: bytes, profile_id: str, decisions: Sequence[Signable], issued_us: int) -> list[str]:
    """``decision_signature`` for each of a page's decisions, issued together: the key's inner hash takes the
    profile once, and each decision's own part (``Decision.signed``) is made once per decision, so a landing page's
    four cost 5.6 us against 8.7 (timeit); the issued time written once for the page, not per decision, 4.2 us
    against 4.8 (timeit, medians of 20 rounds taken in turns). Tests hold it to ``decision_signature``."""
    inner, outer = hmac_pads(key)
    person, when = _framing(profile_id, issued_us)
    started = inner.copy()
    started.update(person)
    issued = _issued(issued_us)
    signatures = []
    for decision in decisions:
        digest = started.copy()
        digest.update(decision.signed + when)
        mac = outer.copy()
        mac.update(digest.digest())
        signatures.append(_written(issued, mac.hexdigest()))
    return signatures


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
    expected = decision_signature(key, profile_id, module, variant_id, arm, cohort, issued_us)
    return hmac.compare_digest(signature, expected)
