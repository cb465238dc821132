"""Copy for one module and cohort, before any check: what generation and import both produce.

A candidate's module, cohort dimensions and slots are checked against the workspace
first (``parse_candidate``); only then do the copy checks run on its text.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from variantly.serving.profiles import NUL_MESSAGE
from variantly.workspace import Workspace
from variantly.workspace.cohorts import ANY, Cohort


class VariantLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    module: str
    cohort: dict[str, str] = Field(description="dimension -> audience id; locale is required")
    slots: dict[str, str]


@dataclass(frozen=True)
class Candidate:
    """Copy for one module and cohort, before any check; ``pictures``: an image slot's picture file, read, not kept
    yet (an import keeps it once every line is good)."""

    module_id: str
    cohort: Cohort
    slots: dict[str, str]
    pictures: dict[str, bytes] = field(default_factory=dict)


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
    # Refused here as the API and the review UI refuse it: before this, a NUL in a picture slot's file name was a
    # traceback (ValueError from the file system) and one in a copy slot went to the approval queue.
    errors += [f"slots.{name}: {NUL_MESSAGE}" for name, text in line.slots.items() if "\x00" in text]
    if errors:
        return None, errors
    cohort = Cohort.of(module.dimensions, line.cohort)
    if rule := module.suppressed_for_cohort(cohort.as_dict()):  # as plan skips it: nobody would ever read it
        return None, [f"cohort: the suppression rule '{rule}' holds for everyone in it, so its copy is never served"]
    return Candidate(module.id, cohort, dict(line.slots)), []


def variant_id(module_hash: str, candidate: Candidate, source: str) -> str:
    basis = json.dumps(
        [candidate.module_id, candidate.cohort.key, candidate.slots, module_hash, source],
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:24]
