"""Turn a variant and its guardrail report into rows a reviewer reads: text with the
failing spans marked, next to the module's default; its brand guidelines with the words each failure concerns."""

from __future__ import annotations

from typing import Any

from variantly.authoring.brand_score import stored_score
from variantly.authoring.report import Failure, VariantReport
from variantly.store.schema import VariantRow
from variantly.workspace import Workspace
from variantly.workspace.cohorts import Cohort
from variantly.workspace.images import PictureRef
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


def brand_rows(row: VariantRow) -> list[dict[str, Any]]:
    """Each guideline as a reviewer reads it: its verdict, and for a failure the words it concerns shown in their
    sentence (``before``, ``words``, ``after``), the reason and a suggested rewrite."""
    brand = stored_score(row)
    if brand is None:
        return []
    rows = []
    for guideline in sorted(brand.guidelines, key=lambda g: ("failed", "not_checked", "passed").index(g.status)):
        findings = []
        for finding in guideline.findings:
            text = row.slots.get(finding.slot, "") if finding.slot else ""
            start, end = finding.span if finding.span else (0, 0)
            findings.append(
                {
                    "slot": finding.slot or "the copy",
                    "reason": finding.reason,
                    "before": ("…" if start > 40 else "") + text[max(0, start - 40) : start] if end else "",
                    "words": text[start:end],
                    "after": text[end : end + 40] + ("…" if end + 40 < len(text) else "") if end else "",
                    "suggestion": finding.suggestion,
                }
            )
        rows.append({"guideline": guideline, "findings": findings})
    return rows


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


def picture_view(workspace: Workspace, row: VariantRow) -> dict[str, Any] | None:
    """A variant's generated picture as a reviewer sees it: a thumbnail (the smallest copy), the original, its alt
    text, and how it was made (the prompt, the model, what moderation and OCR found)."""
    module_file = workspace.modules.get(row.module_id)
    found = module_file.module.picture_slot if module_file else None
    if found is None:
        return None
    name, spec = found
    ref = PictureRef.parse(row.slots.get(name, ""))
    if ref is None:
        return None
    generation = VariantReport.from_stored(row.report).generation
    return {
        "slot": name,
        "thumb": ref.path(ref.widths(spec.widths)[0]),
        "original": ref.path(),
        "width": ref.width,
        "height": ref.height,
        "alt": row.slots.get(spec.alt_slot, ""),
        "made": generation.picture if generation else None,
    }
