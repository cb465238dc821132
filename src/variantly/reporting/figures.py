"""How a person reads the numbers of one metric: rates in percent and points, money in the workspace's currency.

The lift page and ``variantly report lift`` write them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figures:
    """How the page writes the numbers of one metric: rates in percent and points, money in the currency."""

    unit: str
    currency: str | None

    def mean(self, value: float) -> str:
        return f"{value * 100:.1f}%" if self.unit == "rate" else f"{value:,.2f} {self.currency or ''}".strip()

    def lift(self, value: float) -> str:
        return f"{value * 100:+.2f} pp" if self.unit == "rate" else f"{value:+,.2f} {self.currency or ''}".strip()

    def interval(self, pair: tuple[float, float] | None, relative: bool = False) -> str:
        if pair is None or float("inf") in map(abs, pair):
            return "—"
        if relative:
            return f"[{pair[0] * 100:+.0f}%, {pair[1] * 100:+.0f}%]"
        if self.unit == "rate":
            return f"[{pair[0] * 100:+.2f}, {pair[1] * 100:+.2f}]"
        return f"[{pair[0]:+,.2f}, {pair[1]:+,.2f}]"

    @staticmethod
    def p(value: float | None) -> str:
        """A p- or q-value as a reader compares it with alpha: never "0.000", which would claim certainty."""
        if value is None:
            return "—"
        return "< 0.001" if value < 0.001 else f"{value:.3f}"

    def axis(self, value: float) -> str:
        return f"{value * 100:+.1f} pp" if self.unit == "rate" else f"{value:+,.0f}"
