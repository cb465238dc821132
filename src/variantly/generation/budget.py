"""A spending limit that holds: every LLM call reserves its worst case before it is made.

The worst case of a call is its prompt tokens (counted with the tokenizer before
sending) plus ``max_completion_tokens``, at the model's price. A call is made only if
what has been spent, plus what calls in flight have reserved, plus its own worst case
stays within the limit; when it answers, its reservation is replaced by what it really
cost. So the spend can never pass the limit, whatever the concurrency, re-asks or
retries. Everything runs on the run's event loop, so no lock is needed.
"""

from __future__ import annotations

from dataclasses import dataclass

from variantly.errors import InvalidRequest
from variantly.workspace.models import Price


class BudgetReached(Exception):
    """Internal signal: the next call could cost more than the budget has left."""


def cost(price: Price | None, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
    """What a call costs. Cached prompt tokens are billed at the cached price when the model has one."""
    if price is None:
        return 0.0
    cached_rate = price.cached_input_per_million if price.cached_input_per_million is not None else None
    fresh = prompt_tokens - cached_tokens if cached_rate is not None else prompt_tokens
    total = fresh * price.input_per_million + completion_tokens * price.output_per_million
    if cached_rate is not None:
        total += cached_tokens * cached_rate
    return total / 1_000_000


def checked_limit(limit_usd: float | None) -> float | None:
    """A spending limit as ``--budget-usd`` gives it: None (no limit) or more than nothing. NaN is refused by name:
    no call's cost is ever over it, so ``--budget-usd nan`` ran without any limit at all."""
    if limit_usd is not None and not limit_usd > 0:
        raise InvalidRequest("--budget-usd", f"a number of US dollars over 0, not {limit_usd:g}")
    return limit_usd


@dataclass
class Budget:
    limit_usd: float | None
    spent_usd: float = 0.0
    reserved_usd: float = 0.0

    def __post_init__(self) -> None:
        checked_limit(self.limit_usd)

    def reserve(self, worst_usd: float) -> float:
        """Hold ``worst_usd`` for one call, or raise ``BudgetReached``; returns what was held."""
        if self.limit_usd is not None and self.spent_usd + self.reserved_usd + worst_usd > self.limit_usd:
            raise BudgetReached
        self.reserved_usd += worst_usd
        return worst_usd

    def settle(self, held_usd: float, actual_usd: float) -> None:
        """The call answered (or failed): replace its reservation with what it really cost."""
        self.reserved_usd -= held_usd
        self.spent_usd += actual_usd

    def left_usd(self) -> float | None:
        return None if self.limit_usd is None else self.limit_usd - self.spent_usd
