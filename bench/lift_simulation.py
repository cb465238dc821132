"""Benchmark: are the lift report's intervals honest? Simulated experiments where the truth is known.

    .venv/bin/python bench/lift_simulation.py [--experiments 1000] [--days 30] [--seed 2026]

1. **Read every day** (A/A: personalisation does nothing): 10% holdout, 5% conversion, 400
   visitors a day for ``--days`` days, the report read at the end of every day and a winner
   called at the first look whose interval excludes zero. The fixed-horizon interval is only
   valid read once, so the share of false winners is far above 5%; the anytime-valid one
   (what decides unless a fixed horizon is declared) stays below 5%.
2. **Read once** (A/A): the same experiments read only at the end: both near or below 5%.
3. **Money** (A/B): conversion 5% against 6%, order values log-normal (heavy-tailed),
   revenue per visitor: the 95% fixed-horizon interval covers the true difference about 95%
   of the time, and the anytime-valid one at least as often.

Every figure comes from ``variantly.reporting.stats.compare``, the function the report uses,
with its default minimum of 10 profiles with a value per arm before any interval.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import numpy as np
from rich.console import Console
from rich.progress import track
from rich.table import Table

from variantly.reporting.stats import Sample, compare


def read_daily(rng: np.random.Generator, days: int, per_day: int) -> tuple[bool, bool, bool, bool]:
    """One A/A experiment: (fixed wins at some look, anytime-valid wins at some look, each at the end)."""
    control = rng.random((days, per_day)) < 0.10
    converted = rng.random((days, per_day)) < 0.05
    n_c = np.cumsum(control.sum(axis=1))
    n_t = np.cumsum((~control).sum(axis=1))
    c_c = np.cumsum((converted & control).sum(axis=1))
    c_t = np.cumsum((converted & ~control).sum(axis=1))
    fixed = anytime = False
    effect = None
    for ct, nt, cc, nc in zip(c_t, n_t, c_c, n_c, strict=True):
        effect = compare(Sample.proportion(int(ct), int(nt)), Sample.proportion(int(cc), int(nc)))
        fixed |= effect.absolute_ci.excludes_zero()
        anytime |= effect.absolute_cs.excludes_zero()
    assert effect is not None
    return fixed, anytime, effect.absolute_ci.excludes_zero(), effect.absolute_cs.excludes_zero()


def revenue_covered(rng: np.random.Generator, visitors: int) -> tuple[bool, bool]:
    mean_order = math.exp(5 + 0.5)  # log-normal(5, 1)
    truth = (0.06 - 0.05) * mean_order
    control = rng.random(visitors) < 0.10
    rate = np.where(control, 0.05, 0.06)
    revenue = np.where(rng.random(visitors) < rate, rng.lognormal(5, 1, visitors), 0.0)
    effect = compare(Sample.of(list(revenue[~control])), Sample.of(list(revenue[control])))
    ci, cs = effect.absolute_ci, effect.absolute_cs
    return ci.low <= truth <= ci.high, cs.low <= truth <= cs.high


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--experiments", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--per-day", type=int, default=400)
    parser.add_argument("--visitors", type=int, default=20_000, help="per A/B revenue experiment")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    console = Console()
    started = time.monotonic()
    daily = [read_daily(rng, args.days, args.per_day) for _ in track(range(args.experiments), "A/A, read daily")]
    money = [revenue_covered(rng, args.visitors) for _ in track(range(args.experiments), "A/B, revenue")]
    n = args.experiments

    def share(values: list[bool]) -> str:
        return f"{sum(values) / n:.1%}"

    table = Table(title=f"{n:,} simulated experiments per row (seed {args.seed})")
    for column in ("question", "fixed-horizon interval", "anytime-valid interval", "honest if"):
        table.add_column(column)
    table.add_row(
        f"A/A read every day for {args.days} days: called a winner at some look",
        share([d[0] for d in daily]),
        share([d[1] for d in daily]),
        "<= 5%",
    )
    table.add_row(
        f"A/A read once, on day {args.days}: called a winner",
        share([d[2] for d in daily]),
        share([d[3] for d in daily]),
        "~5% (fixed), <= 5% (anytime)",
    )
    table.add_row(
        f"A/B revenue per visitor ({args.visitors:,} visitors): interval covers the truth",
        share([m[0] for m in money]),
        share([m[1] for m in money]),
        "~95% (fixed), >= 95% (anytime)",
    )
    console.print(table)
    console.print(f"{time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
