"""From a profile to its cohort, with the reason for every dimension.

Variants are made per cohort, never per person (DESIGN invariant 1). Resolution is
deterministic: for each dimension the audience rules are tried in file order and the
first match wins; no match means the dimension is unknown (``*``) for this profile.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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

    def in_audience(self, dimension: str, ident: str) -> bool:
        """Is the profile in this audience, whether or not it was the first match of its dimension?"""
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
    now = now or datetime.now(UTC)
    values: dict[str, str] = {}
    reasons: dict[str, str] = {}
    cache: dict[tuple[str, str], bool] = {}

    def is_in(key: tuple[str, str], test: Test) -> bool:
        """Is the profile in audience ``key`` (dimension, id)? Each worked out once per request, and False while
        it is being worked out, so a rule that refers to itself cannot loop."""
        hit = cache.get(key)
        if hit is None:
            cache[key] = False
            hit = cache[key] = test(profile, now, lookup)
        return hit

    def lookup(dimension: str, ident: str, who: RuleProfile) -> bool:
        audience = audiences.find(dimension, ident)
        return audience is not None and is_in((dimension, ident), audience.when.test)

    said: list[tuple[str, str, str]] = []
    for dimension, candidates in audiences.in_order:  # rules in file order: the first that matches wins
        for key, test, reason, statement in candidates:
            if is_in(key, test):
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
    matched = _Matched(
        every=lambda d: tuple(a.id for a in audiences.of(d) if is_in((d, a.id), a.when.test)),
        has=lambda d, ident: lookup(d, ident, profile),
    )
    return Resolution(values, reasons, matched, {d: statement for d, _, statement in said}, tuple(said))


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
