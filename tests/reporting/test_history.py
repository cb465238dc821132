"""Exposures and outcomes read from the store once and cut at any moment give what reading up to it gave."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from variantly.reporting.history import Exposure, History
from variantly.reporting.metrics import Outcome

START = datetime(2026, 11, 1, tzinfo=UTC)


def history(rng: random.Random) -> History:
    """Profiles seeing two modules over ten days; conversions, page-level ones and guardrail events after, and
    some before, their exposures; several at the very moment of an exposure."""
    exposures, later = {}, {}
    for i in range(300):
        profile = f"p{i % 120}"
        module = rng.choice(["cta", "hero"])
        at = START + timedelta(hours=rng.randrange(240))
        exposures.setdefault(
            (module, profile), Exposure(module, profile, at, rng.choice(["treatment", "control"]), "*", None)
        )
    for _ in range(400):
        profile = f"p{rng.randrange(130)}"
        kind = rng.choice(["conversion", "conversion", "unsubscribe"])
        at = START + timedelta(hours=rng.randrange(250))
        money = rng.choice([None, 0.0, 50.0, 100.0])  # None: no money in the report's currency (a sign-up)
        later.setdefault(profile, []).append((kind, rng.choice(["cta", "hero", ""]), at, money))
    for done in later.values():
        done.sort(key=lambda item: item[2])
    return History(sorted(exposures.values(), key=lambda e: e.at), later)


def as_it_stood(history: History, cut: datetime) -> list[tuple[Exposure, Outcome]]:
    """The reference: every exposure up to ``cut`` with its outcome worked out from scratch (the rule of
    ``read_outcomes`` before it read once: what followed it, in its module or the page's, up to ``cut``)."""
    found = []
    for exposure in history.exposures:
        if exposure.at > cut:
            continue
        outcome = Outcome()
        for kind, module, at, worth in history.later.get(exposure.profile_id, ()):
            if exposure.at <= at <= cut and module in (exposure.module, ""):
                if kind == "conversion":
                    outcome.converted = True
                    if worth is not None:
                        outcome.paid, outcome.revenue = True, outcome.revenue + worth
                else:
                    outcome.events.add(kind)
        found.append((exposure, outcome))
    return found


def test_outcomes_brought_forward_day_by_day_are_those_worked_out_afresh_for_each_day() -> None:
    for seed in range(5):
        made = history(random.Random(seed))
        cuts = [START + timedelta(days=d, hours=23, minutes=59) for d in range(-1, 12)]
        cuts.insert(5, cuts[5])  # the same moment twice
        cuts.append(START + timedelta(hours=100))  # exactly the moment of some
        cuts.sort()
        for cut, seen in zip(cuts, made.as_of(cuts), strict=True):
            assert [(e, o) for e, o in seen] == as_it_stood(made, cut), (seed, cut)
        assert made.outcomes() == as_it_stood(made, datetime.max.replace(tzinfo=UTC))


def test_a_moment_with_an_offset_is_cut_as_the_instant_it_names() -> None:
    made = history(random.Random(9))
    stockholm = (START + timedelta(days=3, hours=12)).astimezone(timezone(timedelta(hours=1)))
    assert stockholm.hour == 13 and made.outcomes(stockholm) == as_it_stood(made, START + timedelta(days=3, hours=12))
    assert made.outcomes(stockholm.replace(tzinfo=None)) == as_it_stood(made, START + timedelta(days=3, hours=13))
