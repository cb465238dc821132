"""The lift as a daily reader saw it: one point per day, the anytime-valid band around the fixed one, narrowing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from variantly.reporting.over_time import lift_over_time
from variantly.serving.events import EventIn, record_events
from variantly.serving.pseudonyms import load_pseudonyms
from variantly.workspace.models import ReportingSettings


def test_each_day_has_a_point_and_the_anytime_valid_band_holds_the_fixed_one_and_narrows(store) -> None:
    rng = random.Random(3)
    start = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=9)
    events = []
    for day in range(10):
        at = start + timedelta(days=day)
        for i in range(1500):
            profile = f"d{day}-{i}"
            arm = "control" if rng.random() < 0.2 else "treatment"
            common = {"profile_id": profile, "module": "cta", "arm": arm, "at": at}
            common["variant_id"] = "v1" if arm == "treatment" else None
            events.append(EventIn(type="impression", **common))
            if rng.random() < (0.09 if arm == "treatment" else 0.06):
                events.append(EventIn(type="conversion", **common | {"at": at + timedelta(minutes=5)}))
    record_events(store, events, pseudonyms=load_pseudonyms(store))  # as a sender with a token backfills them

    points = lift_over_time(store, ReportingSettings(), "cta")
    assert [p.day for p in points] == [(start + timedelta(days=d)).date() for d in range(10)]
    assert [p.exposed for p in points] == [1500 * (d + 1) for d in range(10)]
    for p in points:
        assert p.absolute_cs[0] < p.absolute_ci[0] <= p.absolute_lift <= p.absolute_ci[1] < p.absolute_cs[1]
    widths = [p.absolute_cs[1] - p.absolute_cs[0] for p in points]
    assert widths[-1] < widths[0] / 2
