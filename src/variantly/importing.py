"""Import variants written elsewhere (an agency, a copywriter, the examples).

A variants file is JSON Lines, one variant a line::

    {"module": "hero", "cohort": {"segment": "enterprise", "locale": "sv"},
     "slots": {"headline": "...", "subheadline": "..."}}

The whole file is read and checked before anything is written: a bad line is
reported as ``file:line: field: message`` and nothing is imported, so a half-applied
file never has to be untangled. Every variant then passes the same checks as
generated copy, and what fails is kept as ``guardrail_failed`` with its report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from variantly.cohorts import ANY, Cohort
from variantly.errors import ImportFileError
from variantly.store import Store
from variantly.store.schema import VariantRow
from variantly.store.variants import add_variant, change_variant
from variantly.workspace import Workspace


class VariantLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str
    cohort: dict[str, str] = Field(description="dimension -> audience id; locale is required")
    slots: dict[str, str]


@dataclass(frozen=True)
class Candidate:
    """Copy for one module and cohort, before any check."""

    module_id: str
    cohort: Cohort
    slots: dict[str, str]


@dataclass
class ImportSummary:
    added: int = 0
    already_present: int = 0
    approved: int = 0
    pending: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)


# A check returns (passed, report); issue 3's guardrails plug in here.
Check = Callable[[Workspace, Candidate], tuple[bool, dict[str, Any]]]


def parse_candidate(workspace: Workspace, line: VariantLine) -> tuple[Candidate | None, list[str]]:
    """Turn one line into a candidate, or say what is wrong with it."""
    module_file = workspace.modules.get(line.module)
    if module_file is None:
        return None, [f"module: unknown module '{line.module}' (modules: {', '.join(sorted(workspace.modules))})"]
    module = module_file.module
    errors = []
    for dim, value in line.cohort.items():
        if dim not in module.dimensions:
            errors.append(
                f"cohort.{dim}: module '{module.id}' does not vary by {dim}"
                f" (it varies by {', '.join(module.dimensions)})"
            )
        elif value != ANY and value not in {a.id for a in workspace.audiences.of(dim)}:
            errors.append(f"cohort.{dim}: unknown {dim} '{value}'")
    if "locale" not in line.cohort:
        errors.append(f"cohort.locale: required (one of {', '.join(workspace.locales)})")
    missing = sorted(set(module.slots) - set(line.slots))
    unknown = sorted(set(line.slots) - set(module.slots))
    if missing:
        errors.append(f"slots: missing {', '.join(missing)}")
    if unknown:
        errors.append(f"slots: module '{module.id}' has no slot {', '.join(unknown)}")
    if errors:
        return None, errors
    return Candidate(module.id, Cohort.of(module.dimensions, line.cohort), dict(line.slots)), []


def read_variants_file(workspace: Workspace, path: str | Path) -> list[Candidate]:
    path = Path(path)
    try:
        raw_lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ImportFileError(f"{path}: cannot read: {exc.strerror}") from exc
    candidates, problems = [], []
    for number, raw in enumerate(raw_lines, start=1):
        if not raw.strip() or raw.lstrip().startswith("//"):
            continue
        try:
            line = VariantLine.model_validate_json(raw)
        except ValidationError as exc:
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "line"
                problems.append(f"{path}:{number}: {where}: {err['msg']}")
            continue
        candidate, errors = parse_candidate(workspace, line)
        problems += [f"{path}:{number}: {e}" for e in errors]
        if candidate:
            candidates.append(candidate)
    if problems:
        raise ImportFileError(f"{path} has {len(problems)} problem(s); nothing was imported:\n" + "\n".join(problems))
    return candidates


def variant_id(module_hash: str, candidate: Candidate, source: str) -> str:
    basis = json.dumps(
        [candidate.module_id, candidate.cohort.key, candidate.slots, module_hash, source],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:24]


def import_variants(
    store: Store,
    workspace: Workspace,
    path: str | Path,
    *,
    actor: str,
    check: Check,
    approve: bool = False,
    reason: str = "",
) -> ImportSummary:
    """Check every candidate and queue it; ``approve`` also approves what passes."""
    summary = ImportSummary()
    for candidate in read_variants_file(workspace, path):
        module_hash = workspace.modules[candidate.module_id].content_hash
        passed, report = check(workspace, candidate)
        row = VariantRow(
            id=variant_id(module_hash, candidate, "import"),
            module_id=candidate.module_id,
            cohort_key=candidate.cohort.key,
            locale=candidate.cohort.locale,
            slots=candidate.slots,
            status="pending" if passed else "guardrail_failed",
            module_hash=module_hash,
            policy_hash=workspace.policy_hash,
            source="import",
            report=report,
            params={"file": str(path)},
        )
        if not add_variant(store, row, actor=actor, reason=f"imported from {Path(path).name}"):
            summary.already_present += 1
            continue
        summary.added += 1
        if not passed:
            summary.failed += 1
            summary.failures.append(f"{candidate.module_id} {candidate.cohort.key}: {report.get('summary', 'failed')}")
        elif approve:
            change_variant(
                store,
                row.id,
                expected_version=1,
                actor=actor,
                action="approve",
                to_status="approved",
                reason=reason or "approved on import",
            )
            summary.approved += 1
        else:
            summary.pending += 1
    if summary.approved:
        store.publish(actor, f"import of {Path(path).name}")
    return summary
