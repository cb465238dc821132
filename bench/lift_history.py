"""Benchmark: the lift page's chart of the lift day by day, against reading the store once for every day drawn.

    .venv/bin/python bench/lift_history.py [--exposures 100000] [--days 30] [--database-url URL]

Writes ``--exposures`` impressions of one module spread over ``--days`` days (a tenth in the
control arm, 5% converting with an order value) into a fresh SQLite store (or the database
given), then times, in turns, three rounds each of: the lift report itself, the chart as the
lift page draws it (``lift_over_time``: the store read once, the days brought forward in
memory), and the baseline, the same chart read as it was before (the store read again for
every day). Then the lift page's report and chart together, each reading the store and from one
read (as the page does). Prints the median seconds of each and the chart's speed-up over the
baseline, and checks both give the same points.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import math

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from variantly.reporting.history import read_history, read_outcomes
from variantly.reporting.lift import lift_report
from variantly.reporting.metrics import REVENUE
from variantly.reporting.over_time import lift_over_time
from variantly.reporting.stats import Sample, compare
from variantly.store import Store
from variantly.store.schema import EventRow
from variantly.workspace.models import ReportingSettings

SETTINGS = ReportingSettings(currency="SEK")


def fill(store: Store, exposures: int, days: int) -> int:
    rng = random.Random(1)
    now = datetime.now(UTC)
    rows = []
    for i in range(exposures):
        at = now - timedelta(days=days * rng.random())
        arm = "control" if rng.random() < 0.1 else "treatment"
        seen = {"profile_id": f"p{i}", "module_id": "cta", "arm": arm, "cohort_key": "segment=*;behaviour=*;locale=en"}
        rows.append(seen | {"idempotency_key": f"i{i}", "type": "impression", "at": at, "variant_id": None})
        if rng.random() < 0.05:
            bought = {"type": "conversion", "at": at + timedelta(hours=1), "value": round(rng.lognormvariate(5, 1), 2)}
            rows.append(seen | bought | {"idempotency_key": f"c{i}", "variant_id": None, "currency": "SEK"})
    with store.session() as session:
        for start in range(0, len(rows), 20_000):
            session.execute(insert(EventRow), rows[start : start + 20_000])
    return len(rows)


def chart_read_per_day(store: Store, days: int) -> list[tuple]:
    """The chart as it was read before: every day's outcomes read from the store again (the baseline)."""
    last = datetime.now(UTC).date()
    points = []
    for back in range(days, -1, -1):
        day = last - timedelta(days=back)
        end = datetime.combine(day, datetime.max.time(), tzinfo=UTC)
        seen = read_outcomes(store, [], currency="SEK", module="cta", until=end)
        arms = [[REVENUE.value(o) or 0.0 for e, o in seen if e.arm == arm] for arm in ("treatment", "control")]
        if min(len(a) for a in arms) < 2:
            continue
        effect = compare(
            Sample.of(arms[0]),
            Sample.of(arms[1]),
            alpha=SETTINGS.alpha,
            tuning=SETTINGS.sequential_tuning,
            minimum=SETTINGS.minimum_per_arm,
        )
        if math.isfinite(effect.absolute_cs.low):
            points.append((day, len(seen), effect.absolute, effect.absolute_cs.as_tuple()))
    return points


PAGE_TWICE = "the page's report and chart, each reading the store"
PAGE_ONCE = "the page's report and chart, the store read once (the lift page)"


def page_read_once(store: Store, days: int) -> tuple:
    history = read_history(store, [], currency="SEK")
    report = lift_report(store, SETTINGS, 10, metric="revenue", history=history)
    return report, lift_over_time(store, SETTINGS, "cta", metric="revenue", days=days + 1, history=history)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exposures", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    console = Console(width=120)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.database_url or f"sqlite:///{Path(tmp) / 'lift.db'}")
        console.print(f"writing {fill(store, args.exposures, args.days):,} events ...")
        runs = {
            "the lift report (revenue)": lambda: lift_report(store, SETTINGS, 10, metric="revenue"),
            "the chart, store read once (lift_over_time)": lambda: [
                (p.day, p.exposed, p.absolute_lift, p.absolute_cs)
                for p in lift_over_time(store, SETTINGS, "cta", metric="revenue", days=args.days + 1)
            ],
            "baseline: the chart, store read per day": lambda: chart_read_per_day(store, args.days),
            PAGE_TWICE: lambda: (
                lift_report(store, SETTINGS, 10, metric="revenue"),
                lift_over_time(store, SETTINGS, "cta", metric="revenue", days=args.days + 1),
            ),
            PAGE_ONCE: lambda: page_read_once(store, args.days),
        }
        taken: dict[str, list[float]] = {name: [] for name in runs}
        answers: dict[str, object] = {}
        for _ in range(args.rounds):
            for name, run in runs.items():
                started = time.perf_counter()
                answers[name] = run()
                taken[name].append(time.perf_counter() - started)
        store.dispose()
    names = list(runs)
    if answers[names[1]] != answers[names[2]]:
        sys.exit("the chart and its baseline drew different points")
    (report_twice, chart_twice), (report_once, chart_once) = answers[PAGE_TWICE], answers[PAGE_ONCE]
    if report_twice.as_dict() != report_once.as_dict() or chart_twice != chart_once:
        sys.exit("the page from one read differs from the page from two")
    baseline = statistics.median(taken[names[2]])
    table = Table(title=f"{args.exposures:,} exposures over {args.days} days, median of {args.rounds} rounds")
    for column in ("what", "seconds", "speed-up over the baseline"):
        table.add_column(column, justify="left" if column == "what" else "right")
    for name in names:
        seconds = statistics.median(taken[name])
        table.add_row(name, f"{seconds:.2f}", f"{baseline / seconds:.1f}x")
    console.print(table)
    once, twice = statistics.median(taken[PAGE_ONCE]), statistics.median(taken[PAGE_TWICE])
    console.print(f"the lift page's report and chart: {once:.2f} s from one read, {twice:.2f} s from two "
                  f"({twice / once:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
