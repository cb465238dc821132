"""What a lift is measured in: one registry of metrics, each a value per exposed profile.

A profile is exposed to a module at its first impression of it, in the arm the render gave
it; what it did afterwards is its ``Outcome``. A metric turns an outcome into a number (or
leaves the profile out of its sample), so the statistics are the same for all of them:

- ``conversion``: converted after exposure, 0 or 1: the conversion rate;
- ``revenue``: the money of its conversions after exposure, zeros included: revenue per
  exposed visitor, what the business case is stated in;
- ``aov``: the same money among those whose conversions carried money in the report's currency: average
  order value (a conversion without a value, a sign-up say, is no order, and one paid in another currency
  cannot be added: counted as orders of 0, they pulled the average down);
- a guardrail per event type the workspace names (``unsubscribe`` by default): did it
  happen after exposure, 0 or 1; a rate personalisation must not raise.

Adding a metric is one entry here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal


@dataclass
class Outcome:
    """What one exposed profile did after its exposure to a module."""

    converted: bool = False
    revenue: float = 0.0
    events: set[str] = field(default_factory=set)  # guardrail event types that followed
    paid: bool = False  # a conversion carried money in the report's currency: an order


@dataclass(frozen=True)
class Metric:
    name: str
    label: str
    unit: Literal["rate", "money"]
    value: Callable[[Outcome], float | None]  # None: the profile is not in this metric's sample
    higher_is_better: bool = True
    guardrail: bool = False
    description: str = ""


CONVERSION = Metric(
    "conversion",
    "conversion rate",
    "rate",
    lambda o: 1.0 if o.converted else 0.0,
    description="exposed profiles who converted afterwards",
)
REVENUE = Metric(
    "revenue",
    "revenue per visitor",
    "money",
    lambda o: o.revenue,
    description="money of conversions after exposure, per exposed profile (zeros included)",
)
AOV = Metric(
    "aov",
    "average order value",
    "money",
    lambda o: o.revenue if o.paid else None,
    description="money per profile whose conversions carried money (in the report's currency)",
)
METRICS: dict[str, Metric] = {m.name: m for m in (CONVERSION, REVENUE, AOV)}


def guardrail(event_type: str) -> Metric:
    """The rate of a guardrail event after exposure: lower is better, and a rise is flagged."""
    return Metric(
        event_type,
        f"{event_type.replace('_', ' ')} rate",
        "rate",
        lambda o: 1.0 if event_type in o.events else 0.0,
        higher_is_better=False,
        guardrail=True,
        description=f"exposed profiles who sent '{event_type}' afterwards",
    )


def metrics_for(guardrail_events: list[str]) -> dict[str, Metric]:
    """Every metric of a workspace: the built-in ones and a guardrail per event type it names."""
    return METRICS | {name: guardrail(name) for name in guardrail_events}
