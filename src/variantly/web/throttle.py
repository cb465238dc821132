"""Sign-in throttling, per account name and per client address.

After ``FREE_FAILURES`` failed sign-ins, each further attempt must wait, and the wait
doubles with every failure (1 s, 2 s, 4 s ... up to 15 minutes); a success clears the
account's and the address's record. Guessing a password therefore costs hours, not
seconds, while a reviewer who mistypes twice notices nothing. Held in memory per
process: with several workers an attacker gets a few more free tries per worker.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from variantly.errors import TooManyAttempts

FREE_FAILURES = 5
MAX_WAIT_SECONDS = 15 * 60
MAX_TRACKED = 10_000  # keys remembered at most; the oldest are forgotten first


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0


class SignInThrottle:
    def __init__(self, clock=time.monotonic) -> None:
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def check(self, name: str, client: str) -> None:
        """Raise ``TooManyAttempts`` while the account or the address must wait."""
        now = self._clock()
        with self._lock:
            waits = [r.blocked_until - now for r in (self._records.get(k) for k in self._keys(name, client)) if r]
        wait = max(waits, default=0.0)
        if wait > 0:
            raise TooManyAttempts(
                f"too many failed sign-ins: wait {int(wait) + 1} s before trying again", retry_after=int(wait) + 1
            )

    def failed(self, name: str, client: str) -> None:
        now = self._clock()
        with self._lock:
            for key in self._keys(name, client):
                record = self._records.setdefault(key, _Record())
                record.failures += 1
                if record.failures >= FREE_FAILURES:
                    record.blocked_until = now + min(2 ** (record.failures - FREE_FAILURES), MAX_WAIT_SECONDS)
            while len(self._records) > MAX_TRACKED:
                self._records.pop(next(iter(self._records)))

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            for key in self._keys(name, client):
                self._records.pop(key, None)

    @staticmethod
    def _keys(name: str, client: str) -> list[str]:
        return [f"name:{name.casefold()}", f"client:{client}"] if name else [f"client:{client}"]
