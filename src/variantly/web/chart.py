"""The lift as pictures, in plain SVG coordinates (no chart library).

A forest plot of the module and variant rows: each row's anytime-valid interval as the bar
(what decides "significant" unless a fixed horizon was declared) with the fixed-horizon
interval inside it, thinner; and a band over time for one module: the anytime-valid interval
at the end of every day, as a daily reader saw it, which narrows and never needs a planned
moment to be read.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from variantly.reporting.lift import LiftReport
from variantly.reporting.over_time import Point

STEPS = (
    0.0001,
    0.0002,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    20,
    50,
    100,
    200,
    500,
)


@dataclass
class Axis:
    """Values from ``low`` to ``high`` mapped onto pixels ``start`` to ``end``."""

    low: float
    high: float
    start: float
    end: float

    def at(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        value = min(max(value, self.low), self.high)
        return round(self.start + (value - self.low) / span * (self.end - self.start), 1)

    def ticks(self, count: int = 6) -> list[float]:
        step = next((s for s in STEPS if s >= (self.high - self.low) / count), STEPS[-1])
        first = int(self.low / step) - 1
        return [
            t for i in range(first, int(self.high / step) + 2) if self.low <= (t := round(i * step, 6)) <= self.high
        ]


@dataclass
class Forest:
    width: int = 900
    height: int = 60
    left: int = 300
    axis: Axis = field(default_factory=lambda: Axis(-0.01, 0.01, 300, 880))
    rows: list[dict] = field(default_factory=list)

    def x(self, value: float) -> float:
        return self.axis.at(value)

    @property
    def ticks(self) -> list[float]:
        return self.axis.ticks()


def lift_chart(report: LiftReport, labels: dict[str, str] | None = None) -> Forest:
    """``labels`` names variants by their copy; ids are the fallback."""
    labels = labels or {}
    shown = [r for r in report.rows if r.level in ("module", "variant")]
    chart = Forest(height=40 + 26 * len(shown))
    finite = [v for r in shown for v in (r.absolute_lift, *r.absolute_cs, *r.absolute_ci) if abs(v) != float("inf")]
    if not shown:
        return chart
    low, high = min(0.0, *finite), max(0.0, *finite)
    pad = (high - low) * 0.05 or 0.005
    chart.axis = Axis(low - pad, high + pad, chart.left, chart.width - 20)
    for i, r in enumerate(shown):
        name = labels.get(r.variant_id or "", (r.variant_id or "")[:10])
        label = f"{r.module} · all" if r.level == "module" else f"{r.module} · {name}"
        colour = "#b3261e" if r.warning or r.guardrail_breached else ("#11794a" if r.significant else "#5a6478")
        chart.rows.append(
            {
                "y": 20 + 26 * i,
                "label": label,
                "cs": _drawn(r.absolute_cs),  # None: too few to draw an interval, only the estimate
                "ci": _drawn(r.absolute_ci),
                "mid": r.absolute_lift,
                "colour": colour,
                "title": f"{r.verdict}; n = {r.treatment_n} vs {r.control_n}",
            }
        )
    return chart


def _drawn(interval: tuple[float, float]) -> tuple[float, float] | None:
    return interval if all(abs(v) != float("inf") for v in interval) else None


@dataclass
class Band:
    """The anytime-valid interval day by day (a polygon), the fixed-horizon one inside it, the estimate as a line."""

    width: int = 900
    height: int = 220
    x_axis: Axis = field(default_factory=lambda: Axis(0, 1, 60, 880))
    y_axis: Axis = field(default_factory=lambda: Axis(-0.01, 0.01, 190, 20))
    cs: str = ""  # polygon points
    ci: str = ""
    line: str = ""
    days: list[tuple[float, str]] = field(default_factory=list)

    @property
    def ticks(self) -> list[tuple[float, float]]:
        return [(t, self.y_axis.at(t)) for t in self.y_axis.ticks(4)]

    @property
    def zero(self) -> float:
        return self.y_axis.at(0.0)


def band_chart(points: list[Point]) -> Band | None:
    if len(points) < 2:
        return None
    finite = [v for p in points for v in (*p.absolute_cs, *p.absolute_ci) if abs(v) != float("inf")]
    low, high = min(0.0, *finite), max(0.0, *finite)
    band = Band()
    band.x_axis = Axis(0, len(points) - 1, 60, band.width - 20)
    band.y_axis = Axis(low, high, band.height - 30, 20)

    def polygon(pairs: list[tuple[float, float]]) -> str:
        upper = [f"{band.x_axis.at(i)},{band.y_axis.at(hi)}" for i, (_, hi) in enumerate(pairs)]
        lower = [f"{band.x_axis.at(i)},{band.y_axis.at(lo)}" for i, (lo, _) in reversed(list(enumerate(pairs)))]
        return " ".join(upper + lower)

    band.cs = polygon([p.absolute_cs for p in points])
    band.ci = polygon([p.absolute_ci for p in points])
    band.line = " ".join(f"{band.x_axis.at(i)},{band.y_axis.at(p.absolute_lift)}" for i, p in enumerate(points))
    every = max(1, len(points) // 6)
    band.days = [(band.x_axis.at(i), p.day.strftime("%d %b")) for i, p in enumerate(points) if i % every == 0]
    return band
