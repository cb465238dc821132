"""A cohort: the values of a module's dimensions a variant is made for, and its fallback chain.

Variants are made per cohort, never per person (DESIGN invariant 1). Both paths use
cohorts: generation plans one job per cohort, review shows them, render resolves a
profile to one and walks its fallbacks. A dimension left as ``*`` matches anyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import combinations

ANY = "*"


@dataclass(frozen=True)
class Cohort:
    """Values per dimension, in the module's fallback order. ``*`` matches anyone."""

    values: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, dimensions: tuple[str, ...], values: dict[str, str]) -> Cohort:
        return _interned(tuple((d, values.get(d, ANY)) for d in dimensions))

    @cached_property
    def key(self) -> str:
        return ";".join(f"{d}={v}" for d, v in self.values)

    @classmethod
    def from_key(cls, key: str) -> Cohort:
        return cls(tuple(tuple(part.split("=", 1)) for part in key.split(";")))  # type: ignore[misc]

    def as_dict(self) -> dict[str, str]:
        return dict(self.values)

    @property
    def locale(self) -> str:
        return self.as_dict()["locale"]

    def fallbacks(self) -> tuple[Cohort, ...]:
        """This cohort, then the same with fewer dimensions, most specific first.

        Locale is kept throughout. Among cohorts of equal size, those that keep the
        dimensions listed first in ``vary_by`` come first, so the order a marketer
        lists dimensions in says which matters most.
        """
        return _fallbacks(self)


@lru_cache(maxsize=4096)  # one instance per cohort, so its key and fallbacks are worked out once
def _interned(values: tuple[tuple[str, str], ...]) -> Cohort:
    return Cohort(values)


@lru_cache(maxsize=4096)  # a handful of cohorts serve every request: work each chain out once
def _fallbacks(cohort: Cohort) -> tuple[Cohort, ...]:
    named = [d for d, v in cohort.values if d != "locale" and v != ANY]
    chain: list[Cohort] = []
    for size in range(len(named), -1, -1):
        for kept in combinations(named, size):
            chain.append(Cohort(tuple((d, v if d == "locale" or d in kept else ANY) for d, v in cohort.values)))
    return tuple(chain)
