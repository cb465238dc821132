"""Turn a variant and its guardrail report into rows a reviewer reads: text with the
failing spans marked, next to the module's default."""

from __future__ import annotations

from typing import Any

from variantly.authoring.report import Failure, VariantReport
from variantly.store.schema import VariantRow
from variantly.workspace import Workspace
from variantly.workspace.cohorts import Cohort
from variantly.workspace.models import localized


def segments(text: str, failures: tuple[Failure, ...]) -> list[dict[str, str | None]]:
    """Split ``text`` into plain and marked pieces; overlapping spans merge."""
    marks: list[str | None] = [None] * len(text)
    for failure in failures:
        for start, end in failure.spans:
            for i in range(max(0, start), min(len(text), end)):
                marks[i] = failure.message if marks[i] is None else marks[i]
    out: list[dict[str, str | None]] = []
    for ch, reason in zip(text, marks, strict=True):
        if out and out[-1]["reason"] == reason:
            out[-1]["text"] = str(out[-1]["text"]) + ch
        else:
            out.append({"text": ch, "reason": reason})
    return out


def slot_rows(workspace: Workspace, row: VariantRow) -> list[dict[str, Any]]:
    module_file = workspace.modules.get(row.module_id)
    locale = Cohort.from_key(row.cohort_key).as_dict().get("locale", workspace.settings.default_locale)
    report_slots = VariantReport.from_stored(row.report).check.slots
    rows = []
    for name, text in row.slots.items():
        slot = module_file.module.slots.get(name) if module_file else None
        limits = []
        if slot is not None and slot.min_chars:
            limits.append(f"min {slot.min_chars}")
        if slot is not None and slot.max_chars:
            limits.append(f"max {slot.max_chars}")
        rows.append(
            {
                "name": name,
                "text": text,
                "length": len(text),
                "limits": ", ".join(limits),
                "type": slot.type if slot else "text",
                "assets": [a.id for a in module_file.module.assets] if module_file else [],
                "default": localized(slot.default, locale, workspace.settings.default_locale) if slot else "",
                "segments": segments(text, report_slots.get(name, ())),
            }
        )
    return rows
