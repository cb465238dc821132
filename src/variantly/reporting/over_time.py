"""The lift as a daily reader saw it: the module row at the end of each day, with both intervals.

Drawn on the lift page so the difference between the two intervals is seen, not explained: the fixed one
crosses zero and back as the data comes in, the anytime-valid one only narrows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from variantly.reporting.history import History, read_history
from variantly.reporting.metrics import CONVERSION, metrics_for
from variantly.reporting.stats import Sample, compare
from variantly.store import Store
from variantly.workspace.models import ReportingSettings


@dataclass(frozen=True)
class Point:
    """The module's lift as it would have read at the end of one day."""

    day: date
    exposed: int
    absolute_lift: float
    absolute_ci: tuple[float, float]
    absolute_cs: tuple[float, float]


def lift_over_time(
    store: Store,
    settings: ReportingSettings,
    module: str,
    *,
    metric: str = CONVERSION.name,
    days: int = 60,
    history: History | None = None,
) -> list[Point]:
    """The module row at the end of each day from its first exposure (the last ``days``): what a daily reader saw.
    ``history``: the store as already read (the lift page's report read it), of this module or of every one."""
    metrics = metrics_for(settings.guardrail_events)
    chosen = metrics.get(metric, CONVERSION)
    if history is None:
        history = read_history(store, settings.guardrail_events, currency=settings.currency, module=module)
    history = history.of_module(module)
    if not history.exposures:
        return []
    first = history.exposures[0].at.date()  # in time order
    last = datetime.now(UTC).date()
    start = max(first, last - timedelta(days=days - 1))
    every_day = [start + timedelta(days=i) for i in range((last - start).days + 1)]
    ends = [datetime.combine(day, time.max, tzinfo=UTC) for day in every_day]
    points = []
    for day, seen in zip(every_day, history.as_of(ends), strict=True):
        arms: dict[str, list[float]] = {"treatment": [], "control": []}
        value = chosen.value
        for exposure, outcome in seen:  # one pass for both arms: this loop is most of a chart's time
            if (v := value(outcome)) is not None:
                arms[exposure.arm].append(v)
        treatment, control = arms["treatment"], arms["control"]
        if len(treatment) < 2 or len(control) < 2:
            continue
        ddof = 0 if chosen.unit == "rate" else 1
        effect = compare(
            Sample.of(treatment, ddof=ddof),
            Sample.of(control, ddof=ddof),
            alpha=settings.alpha,
            tuning=settings.sequential_tuning,
            minimum=settings.minimum_per_arm,
        )
        if math.isfinite(effect.absolute_cs.low):  # too few yet otherwise: nothing a reader could have drawn
            points.append(
                Point(day, len(seen), effect.absolute, effect.absolute_ci.as_tuple(), effect.absolute_cs.as_tuple())
            )
    return points
