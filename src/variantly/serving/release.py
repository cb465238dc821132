"""A release: the immutable set of approved variants that the render path serves.

Render processes hold the current release in memory and swap it whole when a newer
one is published, so a request never waits on the store (DESIGN, serving path).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import approved_rows


@dataclass(frozen=True)
class ServedVariant:
    """An approved variant as the render path needs it: plain text per slot."""

    id: str
    module_id: str
    cohort_key: str
    slots: dict[str, str]
    module_hash: str
    version: int = 1

    @classmethod
    def of(cls, row: VariantRow) -> ServedVariant:
        return cls(row.id, row.module_id, row.cohort_key, dict(row.slots), row.module_hash, row.version)


@dataclass(frozen=True)
class Release:
    number: int
    variants: dict[tuple[str, str], tuple[ServedVariant, ...]] = field(default_factory=dict)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def build(cls, number: int, variants: Iterable[ServedVariant]) -> Release:
        index: dict[tuple[str, str], list[ServedVariant]] = defaultdict(list)
        for variant in variants:
            index[(variant.module_id, variant.cohort_key)].append(variant)
        return cls(number, {k: tuple(sorted(v, key=lambda x: x.id)) for k, v in index.items()})

    def candidates(self, module_id: str, cohort_key: str) -> tuple[ServedVariant, ...]:
        return self.variants.get((module_id, cohort_key), ())

    def __len__(self) -> int:
        return sum(len(v) for v in self.variants.values())


EMPTY_RELEASE = Release(0)


def load_release(store: Store) -> Release:
    """The current release as the store has it: its number and every approved variant."""
    number = store.release_number()
    return Release.build(number, (ServedVariant.of(row) for row in approved_rows(store)))
