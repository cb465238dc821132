"""The holdout control group: a stable, salted hash of the profile id.

Stable so the same person is always in the same arm (analytics can join on it);
salted per workspace so arms are not correlated across unrelated experiments.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any, Literal

Arm = Literal["treatment", "control", "none"]
BUCKETS = 10_000


def bucket(profile_id: str, salt: str) -> int:
    digest = _salted(salt).copy()
    digest.update(profile_id.encode())
    return int.from_bytes(digest.digest()[:8], "big") % BUCKETS


@lru_cache(maxsize=16)
def _salted(salt: str) -> Any:
    """SHA-256 with the salt already in (copied per profile, never updated)."""
    return hashlib.sha256(f"{salt}\x00".encode())


def arm_for(profile_id: str, salt: str, holdout_percent: float) -> Arm:
    return "control" if bucket(profile_id, salt) < holdout_percent * BUCKETS / 100 else "treatment"
