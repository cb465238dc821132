"""A forest plot of lift intervals as plain SVG coordinates (no chart library)."""

from __future__ import annotations

from dataclasses import dataclass, field

from variantly.reporting.lift import LiftRow


@dataclass
class Chart:
    width: int = 900
    height: int = 60
    low: float = -0.01
    high: float = 0.01
    left: int = 300
    rows: list[dict] = field(default_factory=list)

    def x(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return round(self.left + (value - self.low) / span * (self.width - self.left - 20), 1)

    @property
    def ticks(self) -> list[float]:
        step = max((self.high - self.low) / 6, 0.001)
        step = next(s for s in (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5) if s >= step)
        first = int(self.low / step)
        return [round(i * step, 4) for i in range(first, int(self.high / step) + 1)]


def lift_chart(rows: list[LiftRow], labels: dict[str, str] | None = None) -> Chart:
    """``labels`` names variants by their copy; ids are the fallback."""
    labels = labels or {}
    shown = [r for r in rows if r.level in ("module", "variant")]
    chart = Chart(height=40 + 26 * len(shown))
    if not shown:
        return chart
    chart.low = min(0.0, *(r.absolute_ci[0] for r in shown)) - 0.005
    chart.high = max(0.0, *(r.absolute_ci[1] for r in shown)) + 0.005
    for i, r in enumerate(shown):
        name = labels.get(r.variant_id or "", (r.variant_id or "")[:10])
        label = f"{r.module} · all" if r.level == "module" else f"{r.module} · {name}"
        colour = "#b3261e" if r.warning else ("#11794a" if r.significant else "#5a6478")
        chart.rows.append(
            {
                "y": 20 + 26 * i,
                "label": label,
                "low": r.absolute_ci[0],
                "high": r.absolute_ci[1],
                "mid": r.absolute_lift,
                "colour": colour,
                "title": f"{r.absolute_lift * 100:+.2f} pp, n = {r.treatment_n} vs {r.control_n}",
            }
        )
    return chart
