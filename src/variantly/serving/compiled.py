"""Rendered output reused across requests: each combination rendered once, the person filled in per request.

What a module renders depends on its file, the copy chosen (variant, default or
alternative), the locale and the cohort, and on the person only through merge fields
(``{first_name}``, ``person.company``). So the first request for a combination renders
it with a marker in place of each of the person's fields and keeps the output cut at
the markers; every later request joins the pieces with that person's values, escaped
for HTML, instead of running Jinja again. A layout is kept the same way, per
combination of its modules.

A template that does more with a field than print it (``|upper``, a test on its
length) would make a marked render wrong for real values. So each entry is rendered
twice, with two unlike sets of markers, and kept only if both renders agree piece for
piece; otherwise that combination is rendered per request, as before.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Sequence

from markupsafe import escape

from variantly.serving.kept import Kept, Missing

Pieces = tuple[str | int, ...]  # literal text, or the index of a merge field
Render = Callable[[Sequence[str]], tuple[str, ...]]  # markers (one per field) -> outputs

_MARK = re.compile("\ue000x([0-9]+)\ue001")
MAX_ENTRIES = 2000  # pages of a few KB each: at most about 10 MB


def markers(count: int) -> list[str]:
    return [f"\ue000x{i}\ue001" for i in range(count)]


def check_markers(count: int) -> list[str]:
    """Unlike the first set in length, letters and characters, so a filter or test on a field shows up."""
    return [f"\ue002yY{i}-yyyyyy\ue003" for i in range(count)]


def cut(output: str) -> Pieces:
    parts = _MARK.split(output)
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts) if part or i % 2)


def fill(pieces: Pieces, values: Sequence[str]) -> str:
    return "".join(values[p] if type(p) is int else p for p in pieces)  # type: ignore[misc]  # int or str, by position


def html_values(values: Sequence[str]) -> list[str]:
    return [str(escape(v)) for v in values]


class RenderedOnce:
    """Outputs cut at the merge fields, by key (``kept.Kept``: cleared whole when full). ``max_entries=0`` keeps
    nothing: every request is rendered by Jinja, as before this existed."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._kept: Kept[tuple[Pieces, ...] | None] = Kept(max_entries)

    @property
    def max_entries(self) -> int:
        return self._kept.most

    @max_entries.setter
    def max_entries(self, most: int) -> None:
        self._kept.most = most

    def get(self, key: Hashable, fields: int, render: Render) -> tuple[Pieces, ...] | None:
        """The outputs of ``render`` for ``key``, cut at the merge-field markers; None if they cannot be reused."""
        if not self.max_entries:
            return None
        found = self._kept.find(key)
        if found is not Missing.MISSING:
            return found
        first = render(markers(fields))
        second = render(check_markers(fields))
        pieces = tuple(cut(output) for output in first)
        agree = all(fill(p, check_markers(fields)) == out for p, out in zip(pieces, second, strict=True))
        return self._kept.keep(key, pieces if agree else None)

    def __len__(self) -> int:
        return len(self._kept)


RENDERED = RenderedOnce()
