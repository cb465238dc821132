"""From a profile to its cohort, with the reason for every dimension.

Variants are made per cohort, never per person (DESIGN invariant 1). Resolution is
deterministic: for each dimension the audience rules are tried in file order and the
first match wins; no match means the dimension is unknown (``*``) for this profile.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from variantly.serving.profiles import Profile
from variantly.workspace.cohorts import ANY, Cohort
from variantly.workspace.models import DIMENSIONS, Audiences
from variantly.workspace.rules import Profile as RuleProfile
from variantly.workspace.rules import Test


@dataclass
class Resolution:
    """A profile's value in every dimension and, for each, the rule that decided it. Never changed once made (not
    declared frozen for the cost of that: ``Viewer``)."""

    values: dict[str, str]
    reasons: dict[str, str]
    # Every audience the profile is in, per dimension (suppression asks: an open ticket wins over pricing).
    matched: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    statements: dict[str, str] = field(default_factory=dict)  # "segment = enterprise: ...", made once
    # (dimension, value, statement) for every dimension: what its cohorts and their reasons are made of.
    said: tuple[tuple[str, str, str], ...] = ()
    # Per set of dimensions, the cohort and its reasons: a landing page asks for each of its modules.
    _by_dimensions: dict[tuple[str, ...], tuple[Cohort, tuple[str, ...]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def cohort(self, dimensions: tuple[str, ...]) -> Cohort:
        return self.cohort_and_reasons(dimensions)[0]

    def dimension_reasons(self, dimensions: tuple[str, ...]) -> list[str]:
        """ "segment = enterprise: trait company_size >= 1000", one per dimension, as decisions list them."""
        return list(self.cohort_and_reasons(dimensions)[1])

    def cohort_and_reasons(self, dimensions: tuple[str, ...]) -> tuple[Cohort, tuple[str, ...]]:
        """The cohort over ``dimensions`` and the reason for each of its values: worked out once per set of
        dimensions and values in this process (``_cohort_and_reasons``), and kept here for the rest of the request."""
        found = self._by_dimensions.get(dimensions)
        if found is None:
            said = self.said or tuple(
                (d, v, self.statements.get(d) or _said(d, self.reasons[d])) for d, v in self.values.items()
            )
            found = self._by_dimensions[dimensions] = _cohort_and_reasons(dimensions, said)
        return found

    def in_audience(self, dimension: str, ident: str, who: object = None) -> bool:
        """Is the profile in this audience, whether or not it was the first match of its dimension? Suppression
        rules ask through this (an ``AudienceLookup``): a profile can match several behaviours while its cohort
        records only the first, and "open ticket" must win over "pricing researcher"."""
        if isinstance(self.matched, _Matched):
            return self.matched.has(dimension, ident)  # that one rule, not the whole dimension
        return ident in self.matched.get(dimension, ())


@lru_cache(maxsize=4096)  # a Resolution lives for one request; the sentences it says are few
def _said(dimension: str, reason: str) -> str:
    return f"{dimension} = {reason}"


@lru_cache(maxsize=4096)
def _cohort_and_reasons(
    dimensions: tuple[str, ...], said: tuple[tuple[str, str, str], ...]
) -> tuple[Cohort, tuple[str, ...]]:
    values = {dimension: value for dimension, value, _ in said}
    statements = {dimension: statement for dimension, _, statement in said}
    return Cohort.of(dimensions, values), tuple(statements[d] for d in dimensions)


def resolve(
    profile: Profile,
    audiences: Audiences,
    default_locale: str,
    now: datetime | None = None,
) -> Resolution:
    membership = _Membership(profile, audiences, now or datetime.now(UTC))
    known, lookup, now = membership.known, membership.lookup, membership.now
    values: dict[str, str] = {}
    reasons: dict[str, str] = {}
    said: list[tuple[str, str, str]] = []
    for dimension, candidates in audiences.in_order:  # rules in file order: the first that matches wins
        for key, test, reason, statement in candidates:
            # ``membership.is_in`` written out: Anna's seven rules in 9.4-9.9 us against 10.1-10.3 (timeit, in turns)
            hit = known.get(key)
            if hit is None:
                known[key] = False  # while it is worked out: a rule that refers to itself cannot loop
                hit = known[key] = test(profile, now, lookup)
            if hit:
                values[dimension] = key[1]
                reasons[dimension] = reason
                said.append(statement)
                break
        else:
            if dimension == "locale":
                values[dimension] = default_locale
                reasons[dimension] = f"{default_locale}: no locale rule matched, workspace default"
            else:
                values[dimension] = ANY
                reasons[dimension] = "no rule matched"
            said.append((dimension, values[dimension], _said(dimension, reasons[dimension])))
    return Resolution(values, reasons, _Matched(membership), {d: statement for d, _, statement in said}, tuple(said))


class _Membership:
    """Which audiences one profile is in, each worked out once per request (and False while it is being worked
    out, so a rule that refers to itself cannot loop).

    A class rather than two closures that call each other: those made a reference cycle holding the whole profile,
    so every request left 25 objects for the cycle collector, whose collections cost a landing render about 4 us
    on average (``gc.callbacks``, in-process) and kept the freed memory out of reuse until they ran."""

    __slots__ = ("audiences", "known", "now", "profile")

    def __init__(self, profile: Profile, audiences: Audiences, now: datetime) -> None:
        self.profile = profile
        self.audiences = audiences
        self.now = now
        self.known: dict[tuple[str, str], bool] = {}

    def is_in(self, key: tuple[str, str], test: Test) -> bool:
        """Is the profile in audience ``key`` (dimension, id), whose rule's check is ``test``?"""
        hit = self.known.get(key)
        if hit is None:
            self.known[key] = False
            hit = self.known[key] = test(self.profile, self.now, self.lookup)
        return hit

    def lookup(self, dimension: str, ident: str, who: RuleProfile | None = None) -> bool:
        """The named audience's membership (``matches`` rules, suppression): False for one that does not exist."""
        audience = self.audiences.find(dimension, ident)
        return audience is not None and self.is_in((dimension, ident), audience.when.test)

    def every(self, dimension: str) -> tuple[str, ...]:
        return tuple(a.id for a in self.audiences.of(dimension) if self.is_in((dimension, a.id), a.when.test))


class _Matched(Mapping[str, tuple[str, ...]]):
    """Every audience per dimension, worked out when asked (most renders only need the first match)."""

    def __init__(self, membership: _Membership) -> None:
        self.has = membership.lookup
        self._membership = membership
        self._known: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, dimension: str) -> tuple[str, ...]:
        if dimension not in DIMENSIONS:
            raise KeyError(dimension)
        if dimension not in self._known:
            self._known[dimension] = self._membership.every(dimension)
        return self._known[dimension]

    def __iter__(self) -> Iterator[str]:
        return iter(DIMENSIONS)

    def __len__(self) -> int:
        return len(DIMENSIONS)
