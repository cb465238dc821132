"""From a profile to its cohort, with the reason for every dimension.

Variants are made per cohort, never per person (DESIGN invariant 1). Resolution is
deterministic: for each dimension the audience rules are tried in file order and the
first match wins; no match means the dimension is unknown (``*``) for this profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property, lru_cache
from itertools import combinations

from variantly.serving.profiles import Profile
from variantly.workspace.models import DIMENSIONS, Audience, Audiences

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


@dataclass(frozen=True)
class Resolution:
    """A profile's value in every dimension and, for each, the rule that decided it."""

    values: dict[str, str]
    reasons: dict[str, str]
    # Every audience the profile is in, per dimension (suppression asks: an open ticket wins over pricing).
    matched: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    statements: dict[str, str] = field(default_factory=dict)  # "segment = enterprise: ...", made once

    def cohort(self, dimensions: tuple[str, ...]) -> Cohort:
        return _cohort_of(dimensions, tuple(self.values.items()))

    def dimension_reasons(self, dimensions: tuple[str, ...]) -> list[str]:
        """ "segment = enterprise: trait company_size >= 1000", one per dimension, as decisions list them."""
        said = self.statements
        return [said.get(d) or _said(d, self.reasons[d]) for d in dimensions]

    def in_audience(self, dimension: str, ident: str) -> bool:
        """Is the profile in this audience, whether or not it was the first match of its dimension?"""
        if isinstance(self.matched, _Matched):
            return self.matched.has(dimension, ident)  # that one rule, not the whole dimension
        return ident in self.matched.get(dimension, ())


@lru_cache(maxsize=4096)  # a Resolution lives for one request; the sentences it says are few
def _said(dimension: str, reason: str) -> str:
    return f"{dimension} = {reason}"


@lru_cache(maxsize=4096)
def _cohort_of(dimensions: tuple[str, ...], values: tuple[tuple[str, str], ...]) -> Cohort:
    return Cohort.of(dimensions, dict(values))


def resolve(
    profile: Profile,
    audiences: Audiences,
    default_locale: str,
    now: datetime | None = None,
) -> Resolution:
    now = now or datetime.now(UTC)
    values: dict[str, str] = {}
    reasons: dict[str, str] = {}
    cache: dict[tuple[str, str], bool] = {}

    def lookup(dimension: str, ident: str, who: Profile) -> bool:
        if (dimension, ident) not in cache:
            cache[(dimension, ident)] = False  # guards against a rule that refers to itself
            audience = audiences.find(dimension, ident)
            cache[(dimension, ident)] = bool(audience and audience.when.matches(who, now, lookup))
        return cache[(dimension, ident)]

    def is_in(dimension: str, audience: Audience) -> bool:
        key = (dimension, audience.id)
        hit = cache.get(key)
        if hit is None:
            cache[key] = False
            hit = cache[key] = audience.when.matches(profile, now, lookup)
        return hit

    for dimension in DIMENSIONS:
        first = next((a for a in audiences.of(dimension) if is_in(dimension, a)), None)  # rules in file order
        if first is not None:
            values[dimension] = first.id
            reasons[dimension] = audiences.reason(dimension, first.id)
        elif dimension == "locale":
            values[dimension] = default_locale
            reasons[dimension] = f"{default_locale}: no locale rule matched, workspace default"
        else:
            values[dimension] = ANY
            reasons[dimension] = "no rule matched"
    matched = _Matched(
        every=lambda d: tuple(a.id for a in audiences.of(d) if is_in(d, a)),
        has=lambda d, ident: lookup(d, ident, profile),
    )
    return Resolution(values, reasons, matched, {d: _said(d, reasons[d]) for d in DIMENSIONS})


class _Matched(Mapping[str, tuple[str, ...]]):
    """Every audience per dimension, worked out when asked (most renders only need the first match)."""

    def __init__(self, every: Callable[[str], tuple[str, ...]], has: Callable[[str, str], bool]) -> None:
        self._evaluate = every
        self.has = has
        self._known: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, dimension: str) -> tuple[str, ...]:
        if dimension not in DIMENSIONS:
            raise KeyError(dimension)
        if dimension not in self._known:
            self._known[dimension] = self._evaluate(dimension)
        return self._known[dimension]

    def __iter__(self) -> Iterator[str]:
        return iter(DIMENSIONS)

    def __len__(self) -> int:
        return len(DIMENSIONS)
