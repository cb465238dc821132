"""A release: the immutable set of approved variants that the render path serves.

Render processes hold the current release in memory and swap it whole when a newer
one is published, so a request never waits on the store (DESIGN, serving path).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from itertools import count

from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import approved_rows
from variantly.workspace.cohorts import Cohort
from variantly.workspace.files import ModuleFile
from variantly.workspace.images import PictureRef


@dataclass(frozen=True)
class ServedVariant:
    """An approved variant as the render path needs it: plain text per slot."""

    id: str
    module_id: str
    cohort_key: str
    slots: dict[str, str]
    module_hash: str
    version: int = 1

    @cached_property
    def copy_key(self) -> tuple[tuple[str, str], ...]:
        """The copy itself, slot by slot, hashable: what a rendered piece is kept under (ids and versions are not
        unique across edits)."""
        return tuple(self.slots.items())

    @classmethod
    def of(cls, row: VariantRow) -> ServedVariant:
        return cls(row.id, row.module_id, row.cohort_key, dict(row.slots), row.module_hash, row.version)


@dataclass(frozen=True)
class Servable:
    """What a module can serve to a cohort: the most specific cohort with fresh variants (none: the default),
    and the stale variants passed over on the way."""

    cohort: Cohort | None
    variants: tuple[ServedVariant, ...]
    skipped: tuple[str, ...]


_SERIALS = count(1)


@dataclass(frozen=True)
class Release:
    number: int
    variants: dict[tuple[str, str], tuple[ServedVariant, ...]] = field(default_factory=dict)
    loaded_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    pictures: frozenset[str] = frozenset()  # content hashes of the approved variants' pictures: served to anyone
    # This process's own name for this release object: what the caches of decisions and answers key on, since a
    # number can come back (a store made again while a process runs starts its releases at 1 again).
    serial: int = field(default_factory=lambda: next(_SERIALS), compare=False, repr=False)
    # The fallback search per module file and cohort, worked out once: a release never changes.
    _servable: dict[tuple, Servable] = field(default_factory=dict, compare=False, repr=False)

    def servable(self, module_file: ModuleFile, cohort: Cohort) -> Servable:
        """Walk the cohort's fallback chain for fresh (not stale) variants of this module file."""
        key = (module_file.module.id, module_file.content_hash, cohort.key)  # a str: its hash is kept
        found = self._servable.get(key)
        if found is None:
            skipped: list[str] = []
            for candidate in cohort.fallbacks():
                fresh = []
                for variant in self.candidates(module_file.module.id, candidate.key):
                    if variant.module_hash != module_file.content_hash:
                        skipped.append(f"skipped stale variant {variant.id}: module edited since it was approved")
                    else:
                        fresh.append(variant)
                if fresh:
                    found = Servable(candidate, tuple(fresh), tuple(skipped))
                    break
            else:
                found = Servable(None, (), tuple(skipped))
            if len(self._servable) > 50_000:  # cohorts are few; a flood of odd ones must not grow this forever
                self._servable.clear()
            self._servable[key] = found
        return found

    @classmethod
    def build(cls, number: int, variants: Iterable[ServedVariant]) -> Release:
        index: dict[tuple[str, str], list[ServedVariant]] = defaultdict(list)
        pictures: set[str] = set()
        for variant in variants:
            index[(variant.module_id, variant.cohort_key)].append(variant)
            pictures.update(ref.hash for text in variant.slots.values() if (ref := PictureRef.parse(text)))
        by_cohort = {k: tuple(sorted(v, key=lambda x: x.id)) for k, v in index.items()}
        return cls(number, by_cohort, pictures=frozenset(pictures))

    def candidates(self, module_id: str, cohort_key: str) -> tuple[ServedVariant, ...]:
        return self.variants.get((module_id, cohort_key), ())

    def __len__(self) -> int:
        return sum(len(v) for v in self.variants.values())


EMPTY_RELEASE = Release(0)


def load_release(store: Store) -> Release:
    """The current release as the store has it: its number and every approved variant."""
    number = store.release_number()
    return Release.build(number, (ServedVariant.of(row) for row in approved_rows(store)))
