"""What the render path makes once and then shares: bounded, and cleared whole when full.

A module's rendered pieces (``compiled.RENDERED``), a decision (``decide.DECISIONS``) and a
prepared answer (``answer.ANSWERS``) are each made once per combination and reused by every
request that comes to the same. Each is keyed by what made it (a release's serial, a file's
source hash, a workspace edit), so what a new release or edit makes is under a new key and an
old entry is never wrong, only unused. Clearing everything when full, rather than evicting the
least recent, keeps a hit to one dictionary lookup with no recency to update.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from enum import Enum
from typing import Generic, TypeVar

V = TypeVar("V")


class Missing(Enum):
    """What ``Kept.find`` answers for a key it does not hold (None can be a kept value)."""

    MISSING = 0


class Kept(Generic[V]):
    """At most ``most`` values by key (0 keeps nothing: every request makes its own)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self._kept: dict[Hashable, V] = {}
        self._lock = threading.Lock()

    def find(self, key: Hashable) -> V | Missing:
        return self._kept.get(key, Missing.MISSING)

    def keep(self, key: Hashable, value: V) -> V:
        """Keep ``value`` under ``key`` (clearing everything first when full) and give it back."""
        if self.most:
            with self._lock:
                if len(self._kept) >= self.most:
                    self._kept.clear()
                self._kept[key] = value
        return value

    def values(self) -> list[V]:
        return list(self._kept.values())

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        return len(self._kept)
